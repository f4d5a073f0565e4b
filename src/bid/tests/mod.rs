//! Scenario tests of sealed bidding against a real database: a SQLite file per test, and
//! all scenarios again on a fresh PostgreSQL database when `SUNBID_TEST_PG_URL` (an admin
//! URL) is set. Bids are sealed with `seal_stream` exactly as a bidder's client does. The
//! fixtures are here; the scenarios live by concern in the files beside this one, and are
//! instantiated below for each database.
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

macro_rules! open_for_bids_sql {
    () => {
        " exists (select 1 from tender where tender_id = $1 and state = 'published' and bid_deadline_at > $2)"
    };
}

mod confidentiality;
mod http_contract;
mod opening_day;
mod publication;
mod submission;
mod uploads;

use confidentiality::*;
use http_contract::*;
use opening_day::*;
use publication::*;
use submission::*;
use uploads::*;

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

/// A typed view as the JSON the routes answer with.
fn js<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).expect("serialise")
}
