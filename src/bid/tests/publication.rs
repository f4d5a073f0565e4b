//! Publication issues the opening key only once every custodian has enrolled.

use super::*;

/// Publication issues the opening key only when every custodian has enrolled; the key is
/// public, the shares sealed, enrolment refuses weak passphrases and a second key.
pub(crate) async fn scenario_publication_and_enrolment(kit: &Kit) {
    let lazy = user(kit.db(), Role::Custodian, None, "active").await;
    let code = kit.code("K");
    let mut input = kit.input(&code, 20);
    input.custodians = vec![
        kit.custodians[0].clone(),
        kit.custodians[1].clone(),
        lazy.user.user_id.clone(),
    ];
    tenders::create_draft(kit.db(), kit.books(), kit.now(), &kit.agent, &input)
        .await
        .expect("draft");
    tenders::upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &code,
        NewDocument {
            filename: "a.pdf".into(),
            content_type: None,
            amendment_id: None,
            bytes: Bytes::from_static(b"a"),
        },
    )
    .await
    .expect("doc");
    let err = tenders::publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code)
        .await
        .unwrap_err();
    let api = crate::http::ApiError::from(err);
    assert_eq!(api.code, "CUSTODIANS_NOT_ENROLLED", "{api}");
    assert_eq!(api.status.as_u16(), 422);
    assert!(api.message.contains(&lazy.user.user_id), "{api}");
    assert!(matches!(
        custodian::opening_key(kit.db(), &code).await,
        Err(BidError::Common(Common::NotFound(_)))
    ));

    // Weak passphrase, then a real enrolment, then a second one.
    let weak = custodian::enrol(kit.db(), kit.now(), &lazy, "short".into()).await;
    assert!(matches!(weak, Err(BidError::WeakPassphrase(_))), "{weak:?}");
    let key = custodian::enrol(
        kit.db(),
        kit.now(),
        &lazy,
        "a long enough passphrase".into(),
    )
    .await
    .expect("enrol");
    assert_eq!(key.iterations, Some(600_000));
    assert!(matches!(
        custodian::enrol(
            kit.db(),
            kit.now(),
            &lazy,
            "a long enough passphrase".into()
        )
        .await,
        Err(BidError::AlreadyEnrolled)
    ));
    assert_eq!(
        custodian::my_key(kit.db(), &lazy)
            .await
            .expect("mine")
            .public_key,
        key.public_key
    );
    assert!(matches!(
        custodian::enrol(
            kit.db(),
            kit.now(),
            &kit.bidder,
            "a long enough passphrase".into()
        )
        .await,
        Err(BidError::Common(Common::Forbidden(_)))
    ));

    let t = tenders::publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code)
        .await
        .expect("publish");
    let view = custodian::opening_key(kit.db(), &code).await.expect("key");
    assert_eq!(
        (view.k, view.n, view.tender_id.as_str()),
        (2, 3, t.tender_id.as_str())
    );
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&view.public_key)
        .expect("base64url, no padding");
    assert_eq!(pk.len(), 65);
    assert_eq!(pk[0], 4);
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from tender_key_share where tender_id = $1",
            &t.tender_id
        )
        .await,
        3
    );
    let publish_event = actions(kit.db(), &t.tender_id)
        .await
        .into_iter()
        .find(|e| e["action"] == "tender.publish")
        .expect("publish event");
    assert_eq!(
        publish_event["payload"]["opening_key"]["public_key"],
        view.public_key
    );
}
