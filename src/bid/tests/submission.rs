//! Submission, receipts, replacement, withdrawal and the deadline.

use super::*;

/// Submission, receipts, replacement, withdrawal, and the deadline enforced by the
/// recording transaction.
pub(crate) async fn scenario_submission_and_deadline(kit: &Kit) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let me = org_of(&kit.bidder);

    // Parts must be this company's own uploads for this tender, with exactly one form.
    let theirs = upload(
        kit,
        &kit.bidder2,
        &t.code,
        "form",
        &seal(&pk, &t.tender_id, &org_of(&kit.bidder2), "f", &form(1)),
    )
    .await
    .expect("theirs");
    let att = upload(
        kit,
        &kit.bidder,
        &t.code,
        "attachment",
        &seal(&pk, &t.tender_id, &me, "a", b"attachment"),
    )
    .await
    .expect("att");
    for parts in [
        vec![theirs.part_id.clone()],
        vec![att.part_id.clone()],
        vec![],
        vec!["x".to_string()],
    ] {
        let e = service::submit(&kit.state.bids(), &kit.bidder, &t.code, &parts)
            .await
            .unwrap_err();
        assert_eq!(code_of(&e), "BAD_BID_PARTS", "{parts:?}");
    }

    let first = bid(kit, &t, &pk, &kit.bidder, &form(1_000), b"v1").await;
    assert!(
        first
            .receipt
            .verify(&kit.state.platform_key.public(), &first.signature)
    );
    assert_eq!(first.receipt.bidder_id, me);
    assert_eq!(first.receipt.tender_code, t.code);
    assert_eq!(first.receipt.parts.len(), 2);
    assert_eq!(first.vkey, crate::audit::routes::vkey(&kit.state));
    let second = bid(kit, &t, &pk, &kit.bidder, &form(900), b"v2").await;
    assert!(second.receipt.audit_index > first.receipt.audit_index);
    let mine = service::my_bid(&kit.state.bids(), &kit.bidder, &t.code)
        .await
        .expect("mine");
    let mine = js(&mine);
    assert_eq!(mine["bid"]["bid_id"], second.receipt.bid_id);
    assert_eq!(mine["bid"]["state"], "submitted");
    assert_eq!(mine["submissions"], 2);
    let stored: crate::bid::receipt::Receipt =
        serde_json::from_value(mine["bid"]["receipt"].clone()).expect("receipt");
    assert!(stored.verify(
        &kit.state.platform_key.public(),
        mine["bid"]["signature"].as_str().unwrap()
    ));
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from bid where tender_id = $1 and state = 'replaced'",
            &t.tender_id
        )
        .await,
        1
    );

    // Withdraw (撤回), then nothing to withdraw, then bid again.
    let w = js(
        &service::withdraw(kit.db(), kit.now(), &kit.bidder, &t.code)
            .await
            .expect("withdraw"),
    );
    assert_eq!(w["state"], "withdrawn");
    let e = service::withdraw(kit.db(), kit.now(), &kit.bidder, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "NO_BID");
    let events = actions(kit.db(), &t.tender_id).await;
    let wev = events
        .iter()
        .find(|e| e["action"] == "bid.withdraw")
        .expect("withdraw event");
    assert!(
        wev["payload"]["article"]
            .as_str()
            .unwrap()
            .contains("第35条")
    );
    let third = bid(kit, &t, &pk, &kit.bidder, &form(800), b"v3").await;

    // A part uploaded before the deadline but submitted after it is refused.
    let late_part = upload(
        kit,
        &kit.bidder2,
        &t.code,
        "form",
        &seal(&pk, &t.tender_id, &org_of(&kit.bidder2), "f", &form(2)),
    )
    .await
    .expect("in time");
    past_deadline(kit, &t);
    let e = service::submit(
        &kit.state.bids(),
        &kit.bidder2,
        &t.code,
        &[late_part.part_id],
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "BID_DEADLINE_PASSED");
    let api = crate::http::ApiError::from(e);
    assert_eq!(api.status.as_u16(), 409);
    assert!(api.message.contains("NOT recorded"), "{api}");
    let e = upload(
        kit,
        &kit.bidder2,
        &t.code,
        "form",
        &seal(&pk, &t.tender_id, &org_of(&kit.bidder2), "f", &form(2)),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "BID_DEADLINE_PASSED");
    let e = service::withdraw(kit.db(), kit.now(), &kit.bidder, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "BID_DEADLINE_PASSED");
    let mine = service::my_bid(&kit.state.bids(), &kit.bidder, &t.code)
        .await
        .expect("mine");
    let mine = js(&mine);
    assert_eq!(
        mine["bid"]["bid_id"], third.receipt.bid_id,
        "the last submission counts"
    );

    // The guard is part of the recording statement itself: past the deadline it matches
    // nothing even for a caller that skipped every check before it.
    let mut tx = kit.db().begin().await.expect("begin");
    let n = q_exec!(
        tx,
        concat!(
            "update bid set state = 'withdrawn' where tender_id = $1 and",
            open_for_bids_sql!()
        ),
        t.tender_id.clone(),
        to_millis(kit.now())
    )
    .expect("update");
    assert_eq!(n, 0);
}
