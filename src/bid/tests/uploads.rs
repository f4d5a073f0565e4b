//! Uploads that are not well-formed envelopes are refused, and nothing is stored.

use super::*;

/// Uploads that are not well-formed envelopes for this tender and this bidder are refused
/// with a clear message, and nothing is stored.
pub(crate) async fn scenario_refused_uploads(kit: &Kit) {
    let t = published(kit).await;
    let other = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let me = org_of(&kit.bidder);
    let good = seal(&pk, &t.tender_id, &me, "form", &form(100));

    let refused = |r: Result<UploadedPart, BidError>| r.expect_err("refused");
    let e = refused(
        upload(
            kit,
            &kit.bidder,
            &t.code,
            "form",
            b"%PDF-1.7 plain text bid, price 100",
        )
        .await,
    );
    assert_eq!(code_of(&e), "SEAL_NOT_AN_ENVELOPE");
    let api = crate::http::ApiError::from(e);
    assert_eq!(api.status.as_u16(), 422);
    assert!(api.message.contains("NOT accepted"), "{}", api.message);

    let for_other = seal(&pk, &other.tender_id, &me, "form", &form(100));
    let e = refused(upload(kit, &kit.bidder, &t.code, "form", &for_other).await);
    assert_eq!(code_of(&e), "SEAL_WRONG_TENDER");
    let as_other = seal(&pk, &t.tender_id, &org_of(&kit.bidder2), "form", &form(100));
    let e = refused(upload(kit, &kit.bidder, &t.code, "form", &as_other).await);
    assert_eq!(code_of(&e), "SEAL_WRONG_BIDDER");
    let e = refused(upload(kit, &kit.bidder, &t.code, "form", &good[..good.len() - 1]).await);
    assert_eq!(code_of(&e), "SEAL_TRUNCATED");
    let e = refused(upload(kit, &kit.bidder, &t.code, "form", &good[..40]).await);
    assert_eq!(code_of(&e), "SEAL_TRUNCATED");
    let mut longer = good.clone();
    longer.extend_from_slice(b"x");
    let e = refused(upload(kit, &kit.bidder, &t.code, "form", &longer).await);
    assert_eq!(code_of(&e), "SEAL_TRAILING_DATA");
    let e = refused(upload(kit, &kit.bidder, &t.code, "price", &good).await);
    assert_eq!(code_of(&e), "BAD_PART_LABEL");
    let e = refused(upload(kit, &kit.pending_bidder, &t.code, "form", &good).await);
    assert_eq!(code_of(&e), "COMPANY_NOT_ACTIVE");
    let e = refused(upload(kit, &kit.agent, &t.code, "form", &good).await);
    assert_eq!(code_of(&e), "FORBIDDEN");

    // Over the cap (a small one): refused from Content-Length, from the header, and while
    // streaming.
    let mut small = kit.state.clone();
    small.config = Arc::new(crate::config::Config {
        max_bid_part_bytes: 1000,
        ..(*kit.state.config).clone()
    });
    let big = seal(&pk, &t.tender_id, &me, "big.bin", &vec![7u8; 5000]);
    let e = refused(upload_with(&small, &kit.bidder, &t.code, "attachment", &big).await);
    assert_eq!(code_of(&e), "BID_PART_TOO_LARGE");
    let api = crate::http::ApiError::from(e);
    assert_eq!(api.status.as_u16(), 413, "{api}");
    let declared = service::upload_part(
        &small.bids(),
        &kit.bidder,
        &t.code,
        UploadMeta {
            label: "attachment".into(),
            declared_len: Some(1001),
            ..UploadMeta::default()
        },
        futures_util::stream::iter(Vec::<Result<Bytes, std::convert::Infallible>>::new()),
    )
    .await;
    assert!(matches!(
        declared,
        Err(BidError::PartTooLarge { limit: 1000 })
    ));

    assert_eq!(
        count(
            kit.db(),
            "select count(*) from bid_part where tender_id = $1",
            &t.tender_id
        )
        .await,
        0
    );
    let blobs = kit.state.config.blob_dir();
    assert!(
        blob_files(&blobs.join("tmp")).is_empty(),
        "no temporary file is left behind"
    );
    for f in blob_files(&blobs) {
        let bytes = std::fs::read(&f).expect("read");
        assert!(
            !bytes.starts_with(b"SUNBIDSEAL"),
            "a refused envelope was stored: {f:?}"
        );
    }
    // The good one is accepted and audited (withheld from the public until the opening).
    let part = upload(kit, &kit.bidder, &t.code, "form", &good)
        .await
        .expect("accepted");
    assert_eq!(part.size, good.len() as u64);
    assert_eq!(part.sha256, crate::store::blob::sha256_hex(&good));
    let mut tx = kit.db().read().await.expect("read");
    let ev = crate::audit::tender_events(&mut tx, &t.tender_id)
        .await
        .expect("events");
    let upload_ev = ev
        .into_iter()
        .find(|e| e.entry.as_deref().is_some_and(|x| x.contains("bid.upload")))
        .expect("upload event");
    assert_eq!(upload_ev.withheld_stage.as_deref(), Some("opening"));
    let entry = upload_ev.entry.clone().expect("entry");
    assert!(
        entry.contains("device-42") && entry.contains(&part.sha256),
        "{entry}"
    );
    assert!(upload_ev.for_reader(kit.now(), false).entry.is_none());
}
