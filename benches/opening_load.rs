//! Opening and last-minute submission load (issue 3), in process (the service functions, no
//! HTTP), on SQLite in a temp dir:
//!
//! (a) N bidder companies each submit one sealed bid (a small JSON form + an attachment of
//!     PART bytes); past the deadline the agent starts the opening and custodians 1 and 2
//!     unlock; the second unlock (decrypt + verify every part + record) is timed, and the
//!     process's peak RSS (VmHWM) read around it.
//! (b) N other submissions (form + attachment each) start together at deadline − 60 s on a
//!     running clock; each submission's latency (both uploads + submit) is recorded; the
//!     database must then hold exactly N current bids.
//!
//! `OPENING_LOAD_N` (default 1000), `OPENING_LOAD_PART` (bytes, default 1 MiB).
//! `cargo bench --bench opening_load`. Figures: docs/BENCHMARKS.md.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use chrono::{DateTime, TimeDelta, Utc};
use ring::rand::SystemRandom;
use sunbid::audit::Actor;
use sunbid::bid::service::{self, UploadMeta};
use sunbid::bid::{custodian, opening};
use sunbid::clock::{Clock, from_millis, to_millis};
use sunbid::config::Config;
use sunbid::http::AppState;
use sunbid::http::ctx::SessionUser;
use sunbid::identity::Role;
use sunbid::ids::new_id;
use sunbid::seal::{PartInfo, PublicKey, seal_stream};
use sunbid::store::Db;
use sunbid::tender::model::{Criterion, EvaluationMethod, ExpertQuota, Tender, TenderInput};
use sunbid::tender::service::{self as tenders, Caller, NewDocument};
use sunbid::{q_exec, q_one};

const PASSPHRASES: [&str; 3] = [
    "custodian-one passphrase",
    "custodian-two passphrase",
    "custodian-three passphrase",
];
/// Upload chunk size (what a network read typically hands over).
const CHUNK: usize = 64 * 1024;

/// A clock set by hand that keeps running from the instant it was set.
struct BenchClock(Mutex<(DateTime<Utc>, Instant)>);

impl BenchClock {
    fn set(&self, t: DateTime<Utc>) {
        *self.0.lock().unwrap() = (t, Instant::now());
    }
}

impl Clock for BenchClock {
    fn now(&self) -> DateTime<Utc> {
        let (t, at) = *self.0.lock().unwrap();
        t + TimeDelta::from_std(at.elapsed()).unwrap()
    }
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `VmHWM` (peak RSS) of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resets VmHWM to the current RSS (Linux ≥ 4.0); false when refused.
fn reset_hwm() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

async fn org(db: &Db, kind: &str) -> String {
    let id = new_id();
    let mut tx = db.begin().await.unwrap();
    q_exec!(
        tx,
        "insert into organisation (org_id, kind, name, uscc, status, created_at) values ($1, $2, $3, null, 'active', 0)",
        id.clone(),
        kind.to_string(),
        format!("{kind} {id}")
    )
    .unwrap();
    tx.commit().await.unwrap();
    id
}

async fn user(db: &Db, role: Role, org_id: Option<&str>) -> Caller {
    let id = new_id();
    let mut tx = db.begin().await.unwrap();
    q_exec!(
        tx,
        "insert into app_user (user_id, org_id, username, display_name, role, password_hash, status, created_at)
         values ($1, $2, $3, $4, $5, 'x', 'active', 0)",
        id.clone(),
        org_id.map(str::to_string),
        format!("u-{id}"),
        format!("{} {id}", role.as_str()),
        role.as_str()
    )
    .unwrap();
    tx.commit().await.unwrap();
    Caller {
        user: SessionUser {
            user_id: id.clone(),
            role,
            org_id: org_id.map(str::to_string),
            name: format!("{} {id}", role.as_str()),
        },
        actor: Actor {
            user_id: Some(id),
            role: Some(role.as_str().to_string()),
            request_id: None,
            client_ip: Some("192.0.2.7".to_string()),
        },
        user_agent: Some("opening_load/1".to_string()),
    }
}

struct World {
    state: AppState,
    clock: Arc<BenchClock>,
    t0: DateTime<Utc>,
    tenderee: String,
    agent: Caller,
    custodians: Vec<Caller>,
    bidders: Vec<Caller>,
}

fn input(w: &World, code: &str) -> TenderInput {
    let docs = w.t0 + TimeDelta::hours(1);
    let deadline = docs + TimeDelta::days(20);
    TenderInput {
        code: code.to_string(),
        title: "滨江新区污水处理厂扩建工程施工招标".to_string(),
        description: "本项目为污水处理厂二期扩建，含土建与设备安装。".to_string(),
        category: "construction".to_string(),
        procedure: "open".to_string(),
        tenderee_org_id: w.tenderee.clone(),
        estimated_price_fen: 12_000_000_000,
        ceiling_price_fen: Some(12_500_000_000),
        bid_security_fen: 100_000_000,
        documents_available_at: docs.to_rfc3339(),
        documents_available_until: None,
        clarification_cutoff_at: (deadline - TimeDelta::days(5)).to_rfc3339(),
        bid_deadline_at: deadline.to_rfc3339(),
        opening_place: "开标室1 / Opening room 1".to_string(),
        evaluation_method: EvaluationMethod::Comprehensive,
        criteria: vec![
            Criterion {
                name: "技术".into(),
                weight: 60,
            },
            Criterion {
                name: "价格".into(),
                weight: 40,
            },
        ],
        expert_quotas: vec![ExpertQuota {
            specialty: "给排水".into(),
            count: 5,
        }],
        custodians: w
            .custodians
            .iter()
            .map(|c| c.user.user_id.clone())
            .collect(),
    }
}

/// Drafts, documents and publishes a tender at t0; returns it and its opening key.
async fn published(w: &World, code: &str) -> (Tender, PublicKey) {
    w.clock.set(w.t0);
    let now = w.clock.now();
    tenders::create_draft(
        &w.state.db,
        &w.state.rulebooks,
        now,
        &w.agent,
        &input(w, code),
    )
    .await
    .expect("draft");
    tenders::upload_document(
        w.state.tender_documents(),
        now,
        &w.agent,
        code,
        NewDocument {
            filename: "招标文件.pdf".into(),
            content_type: None,
            amendment_id: None,
            bytes: Bytes::from_static(b"%PDF tender"),
        },
    )
    .await
    .expect("document");
    let t = tenders::publish(&w.state.db, &w.state.rulebooks, now, &w.agent, code)
        .await
        .expect("publish");
    let view = custodian::opening_key(&w.state.db, code)
        .await
        .expect("key");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&view.public_key)
        .expect("base64url");
    (t, PublicKey::from_bytes(&bytes).expect("point"))
}

fn seal(pk: &PublicKey, tender_id: &str, bidder_id: &str, label: &str, plain: &[u8]) -> Bytes {
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
    Bytes::from(out)
}

fn form(i: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "price_fen": 11_000_000_000i64 + i as i64 * 1_000, "duration_days": 240,
        "quality": "合格", "project_manager": format!("项目经理{i}"),
        "declarations": ["投标保证金已缴纳", "响应招标文件全部条款"],
    }))
    .expect("json")
}

fn attachment(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i + j) % 251) as u8).collect()
}

/// One bidder's sealed parts (form, attachment).
fn sealed_bid(pk: &PublicKey, t: &Tender, who: &Caller, i: usize, part: usize) -> [Bytes; 2] {
    let o = who.user.org_id.clone().expect("org");
    [
        seal(pk, &t.tender_id, &o, "bid-form.json", &form(i)),
        seal(pk, &t.tender_id, &o, "tech.pdf", &attachment(i, part)),
    ]
}

/// Uploads both parts in CHUNK-sized pieces and submits.
async fn submit(
    state: &AppState,
    who: &Caller,
    code: &str,
    parts: &[Bytes; 2],
) -> Result<(), String> {
    let mut ids = Vec::new();
    for (label, envelope) in ["form", "attachment"].iter().zip(parts) {
        let chunks: Vec<Result<Bytes, std::convert::Infallible>> = (0..envelope.len())
            .step_by(CHUNK)
            .map(|s| Ok(envelope.slice(s..(s + CHUNK).min(envelope.len()))))
            .collect();
        let meta = UploadMeta {
            label: (*label).into(),
            name: Some(format!("{label}.bin")),
            declared_len: Some(envelope.len() as u64),
            device_id: None,
        };
        let part = service::upload_part(
            &state.bids(),
            who,
            code,
            meta,
            futures_util::stream::iter(chunks),
        )
        .await
        .map_err(|e| format!("{label} upload: {e}"))?;
        ids.push(part.part_id);
    }
    service::submit(&state.bids(), who, code, &ids)
        .await
        .map_err(|e| format!("submit: {e}"))?;
    Ok(())
}

async fn current_bids(db: &Db, tender_id: &str) -> i64 {
    let mut tx = db.read().await.unwrap();
    q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and state = 'submitted'",
        tender_id.to_string()
    )
    .unwrap()
    .0
}

async fn setup(dir: &std::path::Path, n: usize) -> World {
    let t0 = from_millis(to_millis(Utc::now()));
    let clock = Arc::new(BenchClock(Mutex::new((t0, Instant::now()))));
    let config = Config {
        data_dir: dir.to_path_buf(),
        database_url: Some(format!("sqlite://{}", dir.join("bench.db").display())),
        ..Config::default()
    };
    let state = sunbid::server::build_state(config, clock.clone())
        .await
        .expect("state");
    let db = state.db.clone();
    let tenderee = org(&db, "tenderee").await;
    let agent_org = org(&db, "agent").await;
    let agent = user(&db, Role::Agent, Some(&agent_org)).await;
    let mut custodians = Vec::new();
    for p in PASSPHRASES {
        let c = user(&db, Role::Custodian, Some(&agent_org)).await;
        custodian::enrol(&db, t0, &c, p.into())
            .await
            .expect("enrol");
        custodians.push(c);
    }
    let mut bidders = Vec::with_capacity(n);
    for _ in 0..n {
        let o = org(&db, "bidder").await;
        bidders.push(user(&db, Role::Bidder, Some(&o)).await);
    }
    World {
        state,
        clock,
        t0,
        tenderee,
        agent,
        custodians,
        bidders,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn opening_bench(w: &World, n: usize, part: usize) {
    let (t, pk) = published(w, &format!("OPEN-{}", &new_id()[24..])).await;
    w.clock.set(t.bid_deadline_at - TimeDelta::days(1));
    let started = Instant::now();
    for (i, who) in w.bidders.iter().enumerate() {
        let parts = sealed_bid(&pk, &t, who, i, part);
        submit(&w.state, who, &t.code, &parts)
            .await
            .unwrap_or_else(|e| panic!("bid {i}: {e}"));
    }
    let setup = started.elapsed();
    assert_eq!(current_bids(&w.state.db, &t.tender_id).await, n as i64);
    println!(
        "(a) {n} bids sealed+uploaded+submitted one after another in {:.1} s (setup, not the figure)",
        setup.as_secs_f64()
    );

    w.clock.set(t.bid_deadline_at + TimeDelta::minutes(1));
    let now = w.clock.now();
    let s = Instant::now();
    let v = opening::start(&w.state.opening_env(), now, &w.agent, &t.code)
        .await
        .expect("start");
    let v = js(&v);
    assert_eq!(v["state"], "unlocking", "{v}");
    let start_t = s.elapsed();
    let s = Instant::now();
    let v = opening::unlock(
        &w.state.opening_env(),
        &w.state,
        &w.custodians[0],
        &t.code,
        PASSPHRASES[0].into(),
    )
    .await
    .expect("unlock 1");
    let v = js(&v);
    assert_eq!(v["state"], "unlocking", "{v}");
    let unlock1 = s.elapsed();

    let hwm_before = vm_hwm_kib();
    let reset = reset_hwm();
    let rss_at_reset = vm_hwm_kib();
    let s = Instant::now();
    let v = opening::unlock(
        &w.state.opening_env(),
        &w.state,
        &w.custodians[1],
        &t.code,
        PASSPHRASES[1].into(),
    )
    .await
    .expect("unlock 2");
    let v = js(&v);
    let open = s.elapsed();
    let hwm_after = vm_hwm_kib();
    assert_eq!(v["state"], "opened", "{v}");
    let opened = {
        let mut tx = w.state.db.read().await.unwrap();
        q_one!(
            tx,
            (i64,),
            "select count(*) from bid_part where tender_id = $1 and plain_sha256 is not null",
            t.tender_id.clone()
        )
        .unwrap()
        .0
    };
    assert_eq!(opened, 2 * n as i64, "every part decrypted and verified");
    let plain_mib = (n * part) as f64 / (1024.0 * 1024.0);
    let secs = open.as_secs_f64();
    println!(
        "(a) start {:.0} ms, unlock 1 {:.0} ms; unlock 2 (the opening, {n} bids, {opened} parts): \
         {secs:.2} s = {:.1} bids/s, {:.1} MiB/s of attachments ({plain_mib:.0} MiB)",
        ms(start_t),
        ms(unlock1),
        n as f64 / secs,
        plain_mib / secs
    );
    if reset {
        println!(
            "(a) peak RSS (VmHWM): {:.1} MiB before the opening (whole run so far); reset to \
             {:.1} MiB, {:.1} MiB peak during the opening",
            mib(hwm_before),
            mib(rss_at_reset),
            mib(hwm_after)
        );
    } else {
        println!(
            "(a) peak RSS (VmHWM, no reset possible): {:.1} MiB before, {:.1} MiB after the opening",
            mib(hwm_before),
            mib(hwm_after)
        );
    }
}

async fn concurrency_bench(w: &World, n: usize, part: usize) {
    let (t, pk) = published(w, &format!("RUSH-{}", &new_id()[24..])).await;
    // Sealing is the bidders' clients' work: done before the clock starts.
    let sealed: Vec<[Bytes; 2]> = w
        .bidders
        .iter()
        .enumerate()
        .map(|(i, who)| sealed_bid(&pk, &t, who, i, part))
        .collect();
    let gate = Arc::new(tokio::sync::Barrier::new(n + 1));
    let code = Arc::new(t.code.clone());
    let mut tasks = Vec::with_capacity(n);
    for (who, parts) in w.bidders.iter().cloned().zip(sealed) {
        let (gate, state, code) = (gate.clone(), w.state.clone(), code.clone());
        tasks.push(tokio::spawn(async move {
            gate.wait().await;
            let s = Instant::now();
            let r = submit(&state, &who, &code, &parts).await;
            (s.elapsed(), r)
        }));
    }
    w.clock.set(t.bid_deadline_at - TimeDelta::seconds(60));
    let wall = Instant::now();
    gate.wait().await;
    let mut lat = Vec::with_capacity(n);
    let mut failures = Vec::new();
    for task in tasks {
        let (d, r) = task.await.expect("task");
        match r {
            Ok(()) => lat.push(d),
            Err(e) => failures.push(e),
        }
    }
    let wall = wall.elapsed();
    let clock_left = t.bid_deadline_at - w.clock.now();
    lat.sort();
    let current = current_bids(&w.state.db, &t.tender_id).await;
    println!(
        "(b) {n} concurrent submissions (form + {part} B attachment each) from deadline − 60 s: \
         all done in {:.2} s wall ({:.1} s of the minute left on the clock)",
        wall.as_secs_f64(),
        clock_left.num_milliseconds() as f64 / 1e3
    );
    println!(
        "(b) latency (2 uploads + submit) p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms; \
         failures {}; current bids in the database {current} (expected {n})",
        ms(percentile(&lat, 50.0)),
        ms(percentile(&lat, 95.0)),
        ms(percentile(&lat, 99.0)),
        ms(lat.last().copied().unwrap_or_default()),
        failures.len()
    );
    for e in failures.iter().take(5) {
        println!("(b)   failure: {e}");
    }
}

fn main() {
    // `cargo bench` passes `--bench`; no other arguments are taken.
    let n = env_or("OPENING_LOAD_N", 1000);
    let part = env_or("OPENING_LOAD_PART", 1024 * 1024);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Instant::now();
        let w = setup(dir.path(), n).await;
        println!(
            "opening_load: N = {n}, attachment {part} B, {} tokio workers, SQLite in {} \
             (setup {:.1} s)",
            std::thread::available_parallelism().map_or(0, |p| p.get()),
            dir.path().display(),
            s.elapsed().as_secs_f64()
        );
        opening_bench(&w, n, part).await;
        concurrency_bench(&w, n, part).await;
    });
}

/// A typed view as the JSON the routes answer with.
fn js<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("serialise")
}
