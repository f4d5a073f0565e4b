//! The opening: its rules, the happy path with 2 of 3 custodians, and parts that fail.

use super::*;

/// Opening before the deadline, by someone else, with too few bids (流标, nothing
/// decrypted), and a second time.
pub(crate) async fn scenario_opening_rules(kit: &Kit) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    bid(kit, &t, &pk, &kit.bidder, &form(100), b"a").await;
    bid(kit, &t, &pk, &kit.bidder2, &form(200), b"b").await;
    let e = opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_TOO_EARLY");
    past_deadline(kit, &t);
    let e = opening::start(
        &kit.state.opening_env(),
        kit.now(),
        &kit.other_agent,
        &t.code,
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "FORBIDDEN");
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 0),
        &t.code,
        CUSTODIAN_PASSPHRASES[0].into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_NOT_UNLOCKING");
    let blobs_before = blob_files(&kit.state.config.blob_dir()).len();

    let v = opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .expect("start");
    let v = js(&v);
    assert_eq!(v["state"], "failed", "{v}");
    assert_eq!(v["tender_state"], "failed");
    assert_eq!(v["record"]["bids_received"], 2);
    assert_eq!(v["record"]["min_required"], 3);
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from bid_part where tender_id = $1 and plain_sha256 is not null",
            &t.tender_id
        )
        .await,
        0
    );
    assert_eq!(
        blob_files(&kit.state.config.blob_dir()).len(),
        blobs_before,
        "nothing decrypted"
    );
    assert!(
        actions(kit.db(), &t.tender_id)
            .await
            .iter()
            .any(|e| e["action"] == "tender.fail")
    );
    let e = opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_ALREADY_STARTED");
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 0),
        &t.code,
        CUSTODIAN_PASSPHRASES[0].into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_ALREADY_STARTED");
}

/// Three bids sealed with `seal_stream`, opened by 2 of 3 custodians after a wrong
/// passphrase and a lone custodian's attempt; prices in the record; receipts verify; the
/// bidders confirm or object and the agent answers.
pub(crate) async fn scenario_happy_path(kit: &Kit) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let third = new_bidder(kit).await;
    let big: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let r1 = bid(kit, &t, &pk, &kit.bidder, &form(11_800_000_000), &big).await;
    let r2 = bid(kit, &t, &pk, &kit.bidder2, &form(12_150_000_000), b"tech 2").await;
    let r3 = bid(kit, &t, &pk, &third, &form(11_990_000_000), b"tech 3").await;
    for r in [&r1, &r2, &r3] {
        assert!(
            r.receipt
                .verify(&kit.state.platform_key.public(), &r.signature)
        );
    }
    // The agent seals a base price (标底); a second one replaces the first.
    let bp_id = service::BASE_PRICE_BIDDER_ID;
    let first = post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(&pk, &t.tender_id, bp_id, "base-price.json", &base_price(1)),
    )
    .await
    .expect("base price");
    assert!(!first.replaced);
    let sealed = post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(
            &pk,
            &t.tender_id,
            bp_id,
            "base-price.json",
            &base_price(11_950_000_000),
        ),
    )
    .await
    .expect("base price replaced");
    assert!(sealed.replaced);
    // Sealed for another tender, or as a bidder's envelope: refused 422.
    let other = published(kit).await;
    let other_pk = opening_pk(kit, &other.code).await;
    let e = post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(&other_pk, &other.tender_id, bp_id, "b", &base_price(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "SEAL_WRONG_TENDER");
    assert_eq!(crate::http::ApiError::from(e).status.as_u16(), 422);
    let e = post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(&pk, &t.tender_id, &org_of(&kit.bidder), "b", &base_price(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "SEAL_WRONG_BIDDER");
    assert_eq!(crate::http::ApiError::from(e).status.as_u16(), 422);
    // A base-price envelope is not a bid part either.
    let e = upload(
        kit,
        &kit.bidder,
        &t.code,
        "form",
        &seal(&pk, &t.tender_id, bp_id, "bid-form.json", &form(1)),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "SEAL_WRONG_BIDDER");
    // A bidder, or another agent, may not seal it.
    for who in [&kit.bidder, &kit.other_agent] {
        let e = post_base_price(
            kit,
            who,
            &t.code,
            &seal(&pk, &t.tender_id, bp_id, "b", &base_price(5)),
        )
        .await
        .unwrap_err();
        assert_eq!(crate::http::ApiError::from(e).status.as_u16(), 403);
    }
    // Withheld from the public until the opening.
    let mut tx = kit.db().read().await.expect("read");
    let seals: Vec<_> = crate::audit::tender_events(&mut tx, &t.tender_id)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| {
            e.entry
                .as_deref()
                .is_some_and(|x| x.contains("\"base_price.seal\""))
        })
        .collect();
    drop(tx);
    assert_eq!(seals.len(), 2);
    assert!(
        seals
            .into_iter()
            .all(|e| e.for_reader(kit.now(), false).entry.is_none())
    );
    past_deadline(kit, &t);
    let e = post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(&pk, &t.tender_id, bp_id, "b", &base_price(5)),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "BID_DEADLINE_PASSED");
    assert_eq!(crate::http::ApiError::from(e).status.as_u16(), 409);
    let v = opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .expect("start");
    let v = js(&v);
    assert_eq!(v["state"], "unlocking", "{v}");
    assert_eq!(v["tender_state"], "closed");

    // A wrong passphrase: clear error, nothing recorded, may retry.
    let c0 = custodian(kit, 0);
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &c0,
        &t.code,
        "not my passphrase at all".into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "WRONG_PASSPHRASE");
    assert_eq!(crate::http::ApiError::from(e).status.as_u16(), 422);
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from opening_unlock where tender_id = $1",
            &t.tender_id
        )
        .await,
        0
    );
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from opening_share where tender_id = $1",
            &t.tender_id
        )
        .await,
        0
    );
    // Someone who is not a custodian of the tender.
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &kit.bidder,
        &t.code,
        "x".repeat(12).into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "NOT_A_CUSTODIAN");

    // One custodian alone cannot open, even by trying twice.
    let v = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &c0,
        &t.code,
        CUSTODIAN_PASSPHRASES[0].into(),
    )
    .await
    .expect("unlock 1");
    let v = js(&v);
    assert_eq!(v["state"], "unlocking");
    assert_eq!(v["unlocked"].as_array().unwrap().len(), 1);
    assert_eq!(v["shares_held"], 1);
    assert_eq!(v["opening_now"], false);
    assert!(
        v["bids_decrypted"].is_null(),
        "no progress while nobody decrypts"
    );

    // While a process decrypts, the page sees its progress from the lease renewals,
    // whichever process answers; it goes when the decryption is given back.
    let mut tx = kit.db().begin().await.unwrap();
    q_exec!(
        tx,
        "update opening_share_key set running_until = $2 where tender_id = $1",
        t.tender_id.clone(),
        i64::MAX
    )
    .unwrap();
    tx.commit().await.unwrap();
    let now = crate::clock::Clock::now(&*kit.clock);
    crate::bid::opening::shares::renew(kit.db(), &t.tender_id, now, (3, 10))
        .await
        .unwrap();
    let seen = js(&opening::view(kit.db(), &t.code).await.unwrap());
    assert_eq!(seen["opening_now"], true);
    assert_eq!(seen["bids_decrypted"], 3);
    assert_eq!(seen["bids_to_decrypt"], 10);
    let mut tx = kit.db().begin().await.unwrap();
    q_exec!(
        tx,
        "update opening_share_key set running_until = null where tender_id = $1",
        t.tender_id.clone()
    )
    .unwrap();
    tx.commit().await.unwrap();
    let seen = js(&opening::view(kit.db(), &t.code).await.unwrap());
    assert!(seen["bids_to_decrypt"].is_null());
    assert!(v["record"].is_null());
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &c0,
        &t.code,
        CUSTODIAN_PASSPHRASES[0].into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "ALREADY_UNLOCKED");
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from bid_part where tender_id = $1 and plain_sha256 is not null",
            &t.tender_id
        )
        .await,
        0
    );

    // The second custodian completes the quorum: the opening runs.
    let v = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 2),
        &t.code,
        CUSTODIAN_PASSPHRASES[2].into(),
    )
    .await
    .expect("unlock 2");
    let v = js(&v);
    assert_eq!(v["state"], "opened", "{v}");
    assert_eq!(v["tender_state"], "opened");
    assert_eq!(v["shares_held"], 0, "shares are wiped after the opening");
    // Who bid was withheld from the public log until now; the opening reveals it.
    let mut tx = kit.db().read().await.expect("read");
    let submits: Vec<_> = crate::audit::tender_events(&mut tx, &t.tender_id)
        .await
        .expect("events")
        .into_iter()
        .filter(|e| {
            e.entry
                .as_deref()
                .is_some_and(|x| x.contains("\"bid.submit\""))
        })
        .map(|e| e.for_reader(kit.now(), false))
        .collect();
    drop(tx);
    assert!(!submits.is_empty());
    assert!(
        submits.iter().all(|e| e.entry.is_some()),
        "revealed at the opening"
    );
    let record = &v["record"];
    assert_eq!(record["valid_bids"], 3);
    assert_eq!(record["base_price_fen"], 11_950_000_000i64, "{record}");
    assert!(record.get("base_price_error").is_none());
    let bids = record["bids"].as_array().unwrap();
    let price_of = |org: &str| {
        bids.iter()
            .find(|b| b["bidder_id"] == org)
            .map(|b| (b["status"].clone(), b["price_fen"].clone()))
            .unwrap()
    };
    assert_eq!(
        price_of(&org_of(&kit.bidder)),
        ("opened".into(), 11_800_000_000i64.into())
    );
    assert_eq!(
        price_of(&org_of(&kit.bidder2)),
        ("opened".into(), 12_150_000_000i64.into())
    );
    assert_eq!(
        price_of(&org_of(&third)),
        ("opened".into(), 11_990_000_000i64.into())
    );
    for b in bids {
        assert_eq!(b["project_manager"], "张建国");
        for p in b["parts"].as_array().unwrap() {
            assert_eq!(p["outcome"], "opened", "{p}");
        }
    }
    // Each opened part matches its receipt digest, and its plaintext is kept for evaluation.
    let b1 = bids
        .iter()
        .find(|b| b["bid_id"] == r1.receipt.bid_id)
        .unwrap();
    for (p, rp) in b1["parts"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&r1.receipt.parts)
    {
        assert_eq!(p["sha256"], rp.sha256);
    }
    let att = &b1["parts"][1];
    assert_eq!(
        att["plaintext_sha256"],
        crate::store::blob::sha256_hex(&big)
    );
    assert_eq!(
        kit.state
            .blobs
            .get(att["plaintext_sha256"].as_str().unwrap())
            .await
            .unwrap()
            .as_ref(),
        &big[..]
    );
    let acts = actions(kit.db(), &t.tender_id).await;
    for a in [
        "opening.start",
        "opening.unlock",
        "opening.part",
        "opening.record",
    ] {
        assert!(acts.iter().any(|e| e["action"] == a), "{a}");
    }
    assert_eq!(
        acts.iter()
            .filter(|e| e["action"] == "opening.part")
            .count(),
        6
    );
    // After the deadline the withheld bid events are public.
    let mut tx = kit.db().read().await.unwrap();
    for e in crate::audit::tender_events(&mut tx, &t.tender_id)
        .await
        .unwrap()
    {
        assert!(e.for_reader(kit.now(), false).entry.is_some());
    }
    drop(tx);

    // A second opening, and a late unlock, are refused.
    let e = opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_ALREADY_STARTED");
    let e = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 1),
        &t.code,
        CUSTODIAN_PASSPHRASES[1].into(),
    )
    .await
    .unwrap_err();
    assert_eq!(code_of(&e), "OPENING_ALREADY_STARTED");

    // Bidders confirm or object; the agent answers; all audited.
    opening::confirm(kit.db(), kit.now(), &kit.bidder, &t.code)
        .await
        .expect("confirm");
    let e = opening::confirm(kit.db(), kit.now(), &kit.bidder, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "ALREADY_CONFIRMED");
    let outsider = new_bidder(kit).await;
    let e = opening::confirm(kit.db(), kit.now(), &outsider, &t.code)
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "NOT_IN_OPENING_RECORD");
    let o = js(&opening::object(
        kit.db(),
        kit.now(),
        &kit.bidder2,
        &t.code,
        "工期读错了，应为240天",
    )
    .await
    .expect("object"));
    let id = o["objection_id"].as_str().unwrap().to_string();
    let e = opening::answer(kit.db(), kit.now(), &kit.other_agent, &t.code, &id, "x")
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "FORBIDDEN");
    opening::answer(
        kit.db(),
        kit.now(),
        &kit.agent,
        &t.code,
        &id,
        "已核对，记录无误。",
    )
    .await
    .expect("answer");
    let e = opening::answer(kit.db(), kit.now(), &kit.agent, &t.code, &id, "again")
        .await
        .unwrap_err();
    assert_eq!(code_of(&e), "ALREADY_ANSWERED");
    let v = opening::view(&kit.state.db, &t.code).await.expect("view");
    let v = js(&v);
    assert_eq!(v["confirmations"].as_array().unwrap().len(), 1);
    assert_eq!(v["objections"][0]["answer"], "已核对，记录无误。");
    let acts = actions(kit.db(), &t.tender_id).await;
    for a in [
        "opening.confirm",
        "opening.objection",
        "opening.objection.answer",
    ] {
        assert!(acts.iter().any(|e| e["action"] == a), "{a}");
    }
}

/// Parts that fail at the opening: an altered chunk and an invalid bid form are the
/// bidder's fault (撤销); a stored envelope changed on the platform's disk is the platform's
/// (撤回). The other bids are opened.
pub(crate) async fn scenario_failures_at_opening(kit: &Kit) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let (c, d) = (new_bidder(kit).await, new_bidder(kit).await);
    bid(kit, &t, &pk, &kit.bidder, &form(10_000), b"fine").await;

    // B: one byte of the first chunk flipped before upload (same length: accepted).
    let o = org_of(&kit.bidder2);
    let mut altered = seal(&pk, &t.tender_id, &o, "tech.pdf", &vec![1u8; 1000]);
    let at = altered.len() - 20;
    altered[at] ^= 0x55;
    let f = upload(
        kit,
        &kit.bidder2,
        &t.code,
        "form",
        &seal(&pk, &t.tender_id, &o, "f", &form(20_000)),
    )
    .await
    .unwrap();
    let a = upload(kit, &kit.bidder2, &t.code, "attachment", &altered)
        .await
        .expect("accepted at upload");
    service::submit(
        &kit.state.bids(),
        &kit.bidder2,
        &t.code,
        &[f.part_id, a.part_id],
    )
    .await
    .unwrap();

    // C: a form that is not a bid form.
    bid(kit, &t, &pk, &c, br#"{"price": "cheap"}"#, b"c").await;

    // D: valid, but its stored attachment is changed on disk afterwards.
    let rd = bid(kit, &t, &pk, &d, &form(40_000), b"d attachment").await;
    let path = kit
        .state
        .blobs
        .local_path(&rd.receipt.parts[1].sha256)
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    // A base price whose plaintext is not the expected JSON: recorded, the opening goes on.
    post_base_price(
        kit,
        &kit.agent,
        &t.code,
        &seal(
            &pk,
            &t.tender_id,
            service::BASE_PRICE_BIDDER_ID,
            "base-price.json",
            b"about 100 yuan",
        ),
    )
    .await
    .expect("base price");

    past_deadline(kit, &t);
    opening::start(&kit.state.opening_env(), kit.now(), &kit.agent, &t.code)
        .await
        .expect("start");
    opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 1),
        &t.code,
        CUSTODIAN_PASSPHRASES[1].into(),
    )
    .await
    .expect("unlock");
    let v = opening::unlock(
        &kit.state.opening_env(),
        &kit.state,
        &custodian(kit, 0),
        &t.code,
        CUSTODIAN_PASSPHRASES[0].into(),
    )
    .await
    .expect("unlock");
    let v = js(&v);
    assert_eq!(v["state"], "opened", "{v}");
    let bids = v["record"]["bids"].as_array().unwrap();
    let of = |org: &str| bids.iter().find(|b| b["bidder_id"] == org).unwrap().clone();
    assert_eq!(of(&org_of(&kit.bidder))["status"], "opened");
    assert_eq!(of(&org_of(&kit.bidder))["price_fen"], 10_000);
    let b = of(&o);
    assert_eq!(b["status"], "revoked", "{b}");
    assert!(
        b["reason"].as_str().unwrap().contains("SEAL_CHUNK_ALTERED"),
        "{b}"
    );
    assert_eq!(b["parts"][1]["fault"], "bidder");
    assert!(b.get("price_fen").is_none(), "no price from a revoked bid");
    let cb = of(&org_of(&c));
    assert_eq!(cb["status"], "revoked");
    assert!(
        cb["reason"].as_str().unwrap().contains("BID_FORM_INVALID"),
        "{cb}"
    );
    let db_ = of(&org_of(&d));
    assert_eq!(db_["status"], "withdrawn", "{db_}");
    assert!(
        db_["reason"]
            .as_str()
            .unwrap()
            .contains("PLATFORM_STORED_ENVELOPE_CHANGED")
    );
    assert_eq!(db_["parts"][1]["fault"], "platform");
    assert_eq!(v["record"]["valid_bids"], 1);
    assert!(v["record"]["base_price_fen"].is_null());
    assert!(
        v["record"]["base_price_error"]
            .as_str()
            .unwrap()
            .starts_with("BASE_PRICE_INVALID"),
        "{}",
        v["record"]
    );
    let mut tx = kit.db().read().await.unwrap();
    let states = q_all!(
        tx,
        (String, String, Option<String>),
        "select bidder_org_id, state, withdrawn_by from bid where tender_id = $1 and state <> 'replaced'",
        t.tender_id.clone()
    )
    .unwrap();
    assert!(states.contains(&(o.clone(), "revoked".into(), None)));
    assert!(states.contains(&(org_of(&d), "withdrawn".into(), Some("platform".into()))));
    drop(tx);
    // Only the valid bid's plaintext is kept.
    assert_eq!(
        count(
            kit.db(),
            "select count(*) from bid_part where tender_id = $1 and plain_sha256 is not null",
            &t.tender_id
        )
        .await,
        2
    );
    let acts = actions(kit.db(), &t.tender_id).await;
    assert!(acts.iter().any(|e| e["action"] == "bid.revoke"));
    assert!(
        acts.iter()
            .any(|e| e["action"] == "bid.withdraw" && e["payload"]["by"] == "opening")
    );
    assert!(blob_files(&kit.state.config.blob_dir().join("tmp")).is_empty());
}
