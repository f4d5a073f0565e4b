//! Scenario tests of sealed bidding against a real database: a SQLite file per test, and
//! all scenarios again on a fresh PostgreSQL database when `SUNBID_TEST_PG_URL` (an admin
//! URL) is set. Bids are sealed with `seal_stream` exactly as a bidder's client does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::error::{Coded, Common};
use std::sync::Arc;

use axum::body::Bytes;
use base64::Engine;
use chrono::TimeDelta;
use ring::rand::SystemRandom;
use serde_json::Value;

use super::BidError;
use super::model::UploadedPart;
use super::service::{self, UploadMeta};
use super::{custodian, opening};
use crate::audit::Actor;
use crate::clock::to_millis;
use crate::http::ctx::SessionUser;
use crate::identity::Role;
use crate::seal::{PartInfo, PublicKey, seal_stream};
use crate::store::Db;
use crate::tender::model::Tender;
use crate::tender::service::{self as tenders, Caller, NewDocument};
use crate::tender::testkit::{CUSTODIAN_PASSPHRASES, Kit, org, user};
use crate::{q_all, q_exec, q_one};

// ---- fixtures -------------------------------------------------------------------------------

async fn published(kit: &Kit) -> Tender {
    let code = kit.code("B");
    tenders::create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await
    .expect("draft");
    tenders::upload_document(
        kit.state.tender_documents(),
        kit.now(),
        &kit.agent,
        &code,
        NewDocument {
            filename: "招标文件.pdf".into(),
            content_type: None,
            amendment_id: None,
            bytes: Bytes::from_static(b"%PDF tender"),
        },
    )
    .await
    .expect("document");
    tenders::publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code)
        .await
        .expect("publish")
}

async fn new_bidder(kit: &Kit) -> Caller {
    let o = org(kit.db(), "bidder", "active").await;
    user(kit.db(), Role::Bidder, Some(&o), "active").await
}

fn custodian(kit: &Kit, i: usize) -> Caller {
    let id = kit.custodians[i].clone();
    Caller {
        user: SessionUser {
            user_id: id.clone(),
            role: Role::Custodian,
            org_id: None,
            name: format!("custodian {i}"),
        },
        actor: Actor {
            user_id: Some(id),
            role: Some("custodian".into()),
            request_id: None,
            client_ip: None,
        },
        user_agent: None,
    }
}

async fn opening_pk(kit: &Kit, code: &str) -> PublicKey {
    let view = custodian::opening_key(kit.db(), code).await.expect("key");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&view.public_key)
        .expect("base64url");
    PublicKey::from_bytes(&bytes).expect("point")
}

fn org_of(c: &Caller) -> String {
    c.user.org_id.clone().expect("org")
}

fn seal(pk: &PublicKey, tender_id: &str, bidder_id: &str, label: &str, plain: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    seal_stream(
        &mut &plain[..],
        &mut out,
        pk,
        &PartInfo {
            tender_id,
            bidder_id,
            label,
            plaintext_len: plain.len() as u64,
        },
        &SystemRandom::new(),
    )
    .expect("seal");
    out
}

fn form(price_fen: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "price_fen": price_fen, "duration_days": 240, "quality": "合格",
        "project_manager": "张建国", "declarations": ["投标保证金已缴纳", "响应招标文件全部条款"],
    }))
    .expect("json")
}

async fn upload_with(
    state: &crate::http::AppState,
    caller: &Caller,
    code: &str,
    label: &str,
    bytes: &[u8],
) -> Result<UploadedPart, BidError> {
    // Several chunks of odd sizes, as a network delivers them.
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = bytes
        .chunks(7_001)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    service::upload_part(
        &state.bids(),
        caller,
        code,
        UploadMeta {
            label: label.into(),
            name: Some(format!("{label}.bin")),
            declared_len: None,
            device_id: Some("device-42".into()),
        },
        futures_util::stream::iter(chunks),
    )
    .await
}

async fn upload(
    kit: &Kit,
    caller: &Caller,
    code: &str,
    label: &str,
    bytes: &[u8],
) -> Result<UploadedPart, BidError> {
    upload_with(&kit.state, caller, code, label, bytes).await
}

/// Seals and submits a bid (form + one attachment); returns the receipt answer.
async fn bid(
    kit: &Kit,
    t: &Tender,
    pk: &PublicKey,
    who: &Caller,
    form_bytes: &[u8],
    attachment: &[u8],
) -> service::SignedReceipt {
    let o = org_of(who);
    let f = upload(
        kit,
        who,
        &t.code,
        "form",
        &seal(pk, &t.tender_id, &o, "bid-form.json", form_bytes),
    )
    .await
    .expect("form upload");
    let a = upload(
        kit,
        who,
        &t.code,
        "attachment",
        &seal(pk, &t.tender_id, &o, "tech.pdf", attachment),
    )
    .await
    .expect("attachment upload");
    service::submit(&kit.state.bids(), who, &t.code, &[f.part_id, a.part_id])
        .await
        .expect("submit")
}

async fn post_base_price(
    kit: &Kit,
    who: &Caller,
    code: &str,
    bytes: &[u8],
) -> Result<service::SealedBasePrice, BidError> {
    let chunks: Vec<Result<Bytes, std::convert::Infallible>> = bytes
        .chunks(301)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    service::seal_base_price(
        &kit.state.bids(),
        who,
        code,
        futures_util::stream::iter(chunks),
    )
    .await
}

fn base_price(fen: i64) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "base_price_fen": fen })).expect("json")
}

fn past_deadline(kit: &Kit, t: &Tender) {
    kit.clock.set(t.bid_deadline_at + TimeDelta::minutes(1));
}

fn code_of(e: &BidError) -> &'static str {
    e.code()
}

async fn count(db: &Db, sql: &'static str, id: &str) -> i64 {
    let mut tx = db.read().await.expect("read");
    q_one!(tx, (i64,), sql, id.to_string()).expect("count").0
}

async fn actions(db: &Db, tender_id: &str) -> Vec<Value> {
    let mut tx = db.read().await.expect("read");
    crate::audit::tender_events(&mut tx, tender_id)
        .await
        .expect("events")
        .into_iter()
        .filter_map(|e| e.entry.and_then(|t| serde_json::from_str(&t).ok()))
        .collect()
}

fn blob_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

// ---- scenarios ------------------------------------------------------------------------------

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

macro_rules! open_for_bids_sql {
    () => {
        " exists (select 1 from tender where tender_id = $1 and state = 'published' and bid_deadline_at > $2)"
    };
}

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
    let w = service::withdraw(kit.db(), kit.now(), &kit.bidder, &t.code)
        .await
        .expect("withdraw");
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
    let o = opening::object(
        kit.db(),
        kit.now(),
        &kit.bidder2,
        &t.code,
        "工期读错了，应为240天",
    )
    .await
    .expect("object");
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

/// THE KEY TEST: with a copy of the whole database and blob directory taken right after the
/// submissions (before the deadline), trying everything stored recovers no bid plaintext.
pub(crate) async fn scenario_stolen_copy_reveals_nothing(kit: &Kit, dump: &dyn Fn() -> CopyDump) {
    let t = published(kit).await;
    let pk = opening_pk(kit, &t.code).await;
    let third = new_bidder(kit).await;
    let secret_attachment =
        b"TECHNICAL PROPOSAL: secret method no. 7731 for sludge dewatering".to_vec();
    let prices = [98_765_432_101i64, 87_654_321_098, 76_543_210_987];
    let mut envelopes = Vec::new();
    for (who, price) in [&kit.bidder, &kit.bidder2, &third].into_iter().zip(prices) {
        let o = org_of(who);
        let f = seal(&pk, &t.tender_id, &o, "bid-form.json", &form(price));
        let a = seal(&pk, &t.tender_id, &o, "tech.pdf", &secret_attachment);
        let fp = upload(kit, who, &t.code, "form", &f).await.unwrap();
        let ap = upload(kit, who, &t.code, "attachment", &a).await.unwrap();
        service::submit(&kit.state.bids(), who, &t.code, &[fp.part_id, ap.part_id])
            .await
            .unwrap();
        envelopes.push((o.clone(), f));
        envelopes.push((o, a));
    }

    // The thief's copy, taken now.
    let copy = dump();
    let plaintexts: Vec<Vec<u8>> = prices
        .iter()
        .map(|p| form(*p))
        .chain([secret_attachment.clone()])
        .collect();

    // 1. No stored byte string contains any plaintext, nor any price.
    for (name, bytes) in copy.blobs.iter().chain(copy.values.iter()) {
        for p in &plaintexts {
            assert!(!contains(bytes, p), "{name} contains a bid's plaintext");
        }
        for price in prices {
            assert!(
                !contains(bytes, price.to_string().as_bytes()),
                "{name} contains a bid price"
            );
        }
        assert!(!contains(bytes, b"secret method"), "{name}");
    }

    // 2. Every sealed share with every plausible passphrase (none of them the real one).
    let guesses = [
        "sunbid-demo-2026",
        "correct-horse-battery",
        "password123456",
        "custodian passphrase",
    ];
    let mut tried = 0;
    for (user_id, sealed_json) in &copy.shares {
        let sealed: crate::seal::SealedShare = serde_json::from_str(sealed_json).unwrap();
        if sealed.tender_id != t.tender_id {
            continue;
        }
        tried += 1;
        let locked = copy
            .custodian_keys
            .iter()
            .find(|(u, _)| u == user_id)
            .map(|(_, k)| serde_json::from_str::<crate::seal::LockedCustodianKey>(k).unwrap())
            .expect("locked key of the custodian");
        for g in guesses {
            assert!(
                crate::seal::decrypt_share(&locked, g, &sealed, &t.tender_id).is_err(),
                "a guessed passphrase opened a share"
            );
        }
    }

    assert_eq!(tried, 3, "every share of the tender was attacked");

    // 3. Anything key-shaped — every stored value, decoded as text, hex, base64 or
    //    base64url, and every 32- or 33-byte window of it — used as an opening seed, a
    //    private scalar or a share: no envelope opens.
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    for (_, bytes) in &copy.values {
        let mut forms = vec![bytes.clone()];
        if let Ok(text) = std::str::from_utf8(bytes) {
            for piece in text.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=-_".contains(c))) {
                if piece.len() < 40 {
                    continue;
                }
                if let Ok(b) = hex::decode(piece) {
                    forms.push(b);
                }
                for engine in [
                    &base64::engine::general_purpose::STANDARD,
                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                    &base64::engine::general_purpose::STANDARD_NO_PAD,
                ] {
                    if let Ok(b) = engine.decode(piece) {
                        forms.push(b);
                    }
                }
            }
        }
        for f in forms {
            if f.len() == 32 || f.len() == 33 {
                candidates.push(f);
            }
        }
    }
    candidates.sort();
    candidates.dedup();
    assert!(!candidates.is_empty(), "the attack tried nothing");
    let mut shares_tried = Vec::new();
    for c in &candidates {
        let mut keys = Vec::new();
        if let Ok(seed) = <[u8; 32]>::try_from(c.as_slice()) {
            keys.push(crate::seal::derive_keypair(&seed).0);
            if let Ok(k) = crate::seal::PrivateKey::from_scalar_bytes(&seed) {
                keys.push(k);
            }
        }
        if let Ok(s) = crate::seal::Share::from_bytes(c) {
            shares_tried.push(s);
        }
        for key in keys {
            assert_ne!(key.public_key(), pk, "a stored value is the opening key");
            for (bidder, env) in &envelopes {
                let mut out = Vec::new();
                assert!(
                    crate::seal::open_stream(&mut &env[..], &mut out, &key, &t.tender_id, bidder)
                        .is_err(),
                    "a stored value opened a bid"
                );
            }
        }
    }
    // Any pair of share-shaped values combined.
    for (i, a) in shares_tried.iter().enumerate() {
        for b in shares_tried.iter().skip(i + 1) {
            assert!(crate::seal::rebuild_and_check(&[a.clone(), b.clone()], &pk).is_err());
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// What a thief copied: every blob file, every stored value (as bytes), and the key tables.
pub(crate) struct CopyDump {
    blobs: Vec<(String, Vec<u8>)>,
    values: Vec<(String, Vec<u8>)>,
    shares: Vec<(String, String)>,
    custodian_keys: Vec<(String, String)>,
}

/// Copies the SQLite database files and the blob directory, then reads the copy with a
/// plain connection (no application code).
fn sqlite_copy(data_dir: &std::path::Path) -> CopyDump {
    let dest = tempfile::tempdir().unwrap();
    for f in blob_files(data_dir) {
        let rel = f.strip_prefix(data_dir).unwrap();
        let to = dest.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&f, &to).unwrap();
    }
    let blobs = blob_files(&dest.path().join("blobs"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let db_path = dest.path().join("t.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (values, shares, custodian_keys) = rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db_path.display()))
            .await
            .unwrap();
        let tables: Vec<String> =
            sqlx::query("select name from sqlite_master where type = 'table'")
                .fetch_all(&mut conn)
                .await
                .unwrap()
                .iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
        let mut values = Vec::new();
        for table in tables {
            let cols: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
                "select name from pragma_table_info('{table}')"
            )))
            .fetch_all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>(0))
            .collect();
            for col in cols {
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "select hex(\"{col}\") from \"{table}\""
                )))
                .fetch_all(&mut conn)
                .await
                .unwrap();
                for r in rows {
                    let h: Option<String> = r.get(0);
                    if let Some(bytes) = h.and_then(|h| hex::decode(h).ok()) {
                        values.push((format!("{table}.{col}"), bytes));
                    }
                }
            }
        }
        let shares: Vec<(String, String)> =
            sqlx::query_as("select user_id, sealed_json from tender_key_share")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        let keys: Vec<(String, String)> =
            sqlx::query_as("select user_id, locked_json from custodian_key")
                .fetch_all(&mut conn)
                .await
                .unwrap();
        (values, shares, keys)
    });
    CopyDump {
        blobs,
        values,
        shares,
        custodian_keys,
    }
}

/// The HTTP surface as the CLI and the page call it (routing, status codes, bodies).
pub(crate) async fn scenario_http_contract(kit: &Kit) {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let t = published(kit).await;
    let app = crate::server::router(kit.state.clone());
    let token = async |c: &Caller| {
        crate::identity::session_store::open_for(
            &kit.state.db,
            &kit.state.sessions,
            kit.now(),
            &c.user.user_id,
            c.user.role.as_str(),
            c.user.org_id.as_deref(),
            &c.user.name,
        )
        .await
        .unwrap()
    };
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let (s, key) = send(
        Request::get(format!("/api/v1/tenders/{}/opening-key", t.code))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(key["tender_id"], t.tender_id);
    assert_eq!((key["k"].as_u64(), key["n"].as_u64()), (Some(2), Some(3)));
    let (s, pkey) = send(
        Request::get("/api/v1/platform-key")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pkey["vkey"], crate::audit::routes::vkey(&kit.state));
    assert_eq!(
        pkey["public_key"],
        base64::engine::general_purpose::STANDARD.encode(kit.state.platform_key.public())
    );

    let pk = opening_pk(kit, &t.code).await;
    let me = org_of(&kit.bidder);
    let bearer = format!("Bearer {}", token(&kit.bidder).await);
    let post = |path: String, ct: &str, body: Vec<u8>| {
        Request::post(path)
            .header("authorization", bearer.clone())
            .header("content-type", ct)
            .header("x-device-id", "dev-1")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, e) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=form&name=bid.json",
            t.code
        ),
        "application/octet-stream",
        b"plain".to_vec(),
    ))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "SEAL_NOT_AN_ENVELOPE");
    // Bigger than the 2 MB default body limit: streamed, accepted.
    let big = vec![3u8; 3 * 1024 * 1024];
    let (s, a) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=attachment&name=%E6%8A%80%E6%9C%AF.pdf",
            t.code
        ),
        "application/octet-stream",
        seal(&pk, &t.tender_id, &me, "tech.pdf", &big),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, f) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=form&name=bid.json",
            t.code
        ),
        "application/octet-stream",
        seal(&pk, &t.tender_id, &me, "bid.json", &form(5)),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    let (s, r) = send(post(
        format!("/api/v1/tenders/{}/bid/submit", t.code),
        "application/json",
        serde_json::to_vec(&serde_json::json!({"parts": [f["part_id"], a["part_id"]]})).unwrap(),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["receipt"]["parts"][1]["name"], "技术.pdf");
    assert_eq!(r["receipt"]["v"], 1);
    let receipt: crate::bid::receipt::Receipt =
        serde_json::from_value(r["receipt"].clone()).unwrap();
    assert!(receipt.verify(
        &kit.state.platform_key.public(),
        r["signature"].as_str().unwrap()
    ));
    let (s, mine) = send(
        Request::get(format!("/api/v1/tenders/{}/bid", t.code))
            .header("authorization", bearer.clone())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["bid"]["state"], "submitted");
    let (s, o) = send(
        Request::get(format!("/api/v1/tenders/{}/opening", t.code))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["state"], "not_started");
    let (s, w) = send(post(
        format!("/api/v1/tenders/{}/bid/withdraw", t.code),
        "application/json",
        b"{}".to_vec(),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    // Drafts have no opening key.
    let draft = kit.code("D");
    tenders::create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&draft, 20),
    )
    .await
    .unwrap();
    let (s, _) = send(
        Request::get(format!("/api/v1/tenders/{draft}/opening-key"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// ---- instantiations -------------------------------------------------------------------------

#[tokio::test]
async fn publication_needs_enrolled_custodians_sqlite() {
    scenario_publication_and_enrolment(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn refused_uploads_sqlite() {
    scenario_refused_uploads(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn submission_and_deadline_sqlite() {
    scenario_submission_and_deadline(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn opening_rules_and_failed_tender_sqlite() {
    scenario_opening_rules(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn happy_path_two_of_three_sqlite() {
    scenario_happy_path(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn failures_at_opening_revoke_or_withdraw_sqlite() {
    scenario_failures_at_opening(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn stolen_copy_before_deadline_reveals_nothing_sqlite() {
    let kit = Kit::sqlite().await;
    let dir = kit.state.config.data_dir.clone();
    // The copy is read on its own thread and runtime (a plain SQLite connection).
    let dump = move || {
        let dir = dir.clone();
        std::thread::spawn(move || sqlite_copy(&dir))
            .join()
            .unwrap()
    };
    scenario_stolen_copy_reveals_nothing(&kit, &dump).await;
}

#[tokio::test]
async fn http_contract_sqlite() {
    scenario_http_contract(&Kit::sqlite().await).await;
}

/// Every scenario on a fresh PostgreSQL database when `SUNBID_TEST_PG_URL` is set (the
/// key test reads the copy of the blob directory plus every text column of the database).
#[tokio::test]
async fn all_scenarios_postgres() {
    let Some(url) = crate::store::testdb::fresh_postgres("sunbid_bid").await else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let kit = Kit::build(url.clone(), dir, false).await;
    scenario_publication_and_enrolment(&kit).await;
    scenario_refused_uploads(&kit).await;
    kit.clock.set(kit.t0);
    scenario_submission_and_deadline(&kit).await;
    kit.clock.set(kit.t0);
    scenario_opening_rules(&kit).await;
    kit.clock.set(kit.t0);
    scenario_happy_path(&kit).await;
    kit.clock.set(kit.t0);
    scenario_failures_at_opening(&kit).await;
    kit.clock.set(kit.t0);
    scenario_http_contract(&kit).await;
    kit.clock.set(kit.t0);
    let data_dir = kit.state.config.data_dir.clone();
    let pg_url = url.clone();
    let dump = move || {
        let (dir, url) = (data_dir.clone(), pg_url.clone());
        std::thread::spawn(move || pg_copy(&dir, &url))
            .join()
            .unwrap()
    };
    scenario_stolen_copy_reveals_nothing(&kit, &dump).await;
    kit.state.db.close().await;
    crate::store::testdb::drop_postgres(&url).await;
}

/// The PostgreSQL variant of the thief's copy: every column of every table, as text.
fn pg_copy(data_dir: &std::path::Path, url: &str) -> CopyDump {
    let blobs = blob_files(&data_dir.join("blobs"))
        .into_iter()
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::{Connection, Row};
        let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
        let cols: Vec<(String, String)> = sqlx::query_as(
            "select table_name::text, column_name::text from information_schema.columns where table_schema = 'public'",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let mut values = Vec::new();
        for (table, col) in cols {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("select \"{col}\"::text from \"{table}\"")))
                .fetch_all(&mut conn)
                .await
                .unwrap();
            for r in rows {
                let v: Option<String> = r.get(0);
                if let Some(v) = v {
                    // bytea renders as \x<hex>: keep both the text and the raw bytes.
                    if let Some(b) = v.strip_prefix("\\x").and_then(|h| hex::decode(h).ok()) {
                        values.push((format!("{table}.{col}"), b));
                    }
                    values.push((format!("{table}.{col}"), v.into_bytes()));
                }
            }
        }
        let shares: Vec<(String, String)> = sqlx::query_as("select user_id, sealed_json from tender_key_share")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let custodian_keys: Vec<(String, String)> = sqlx::query_as("select user_id, locked_json from custodian_key")
            .fetch_all(&mut conn)
            .await
            .unwrap();
        CopyDump {
            blobs,
            values,
            shares,
            custodian_keys,
        }
    })
}

/// A typed view as the JSON the routes answer with.
fn js<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serialise")
}
