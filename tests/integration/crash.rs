//! kill -9 in the middle of each long operation (issue 11, safety nets): the real `sunbid
//! serve --demo` binary runs as a child process on its own data folder (SQLite, or a fresh
//! PostgreSQL database), is killed with SIGKILL while a bid part streams in, while the last
//! custodian's unlock opens the bids, while the supervisor's input performs an expert draw,
//! and while a member's passkey signature of the evaluation report is recorded, then started
//! again on the same data. After the restart nothing committed is lost (the earlier bid's
//! receipt still verifies against the server, earlier signatures stay), nothing is half done
//! (no part from the cut upload; the opening, the draw and the signature either happened
//! with their audit event or not at all), `sunbid audit verify` accepts the log, and the
//! operation can be completed.
//!
//! The short operations are killed a few milliseconds after the request is sent, while it is
//! in flight; each test prints which side of the commit the kill fell on, and checks both.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::harness::{Backend, json_of, run_cli};

/// The demo's password (printed by `serve --demo`).
const DEMO_PASSWORD: &str = "sunbid-demo-2026";

/// A `sunbid serve --demo` child process on a fixed data folder, database and port.
struct Server {
    child: Option<Child>,
    data: PathBuf,
    database_url: Option<String>,
    port: u16,
    base: String,
    client: reqwest::Client,
    /// More environment for the process (an S3 store, shared keys: see `multiprocess`).
    env: Vec<(String, String)>,
    /// The port of the public URL: this process's own, or the proxy's in front of it.
    public_port: u16,
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Server {
    async fn start(data: &Path, database_url: Option<String>) -> Server {
        let port = free_port();
        Self::start_with(data, database_url, Vec::new(), port, port).await
    }

    async fn start_with(
        data: &Path,
        database_url: Option<String>,
        env: Vec<(String, String)>,
        port: u16,
        public_port: u16,
    ) -> Server {
        let mut s = Server {
            child: None,
            data: data.to_path_buf(),
            database_url,
            port,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            env,
            public_port,
        };
        s.spawn().await;
        s
    }

    /// Starts the binary (again) and waits until it is ready.
    async fn spawn(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sunbid"));
        cmd.arg("serve")
            .arg("--demo")
            .arg("--data-dir")
            .arg(&self.data)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--public-url")
            .arg(format!("http://localhost:{}", self.public_port))
            .env("NO_COLOR", "1")
            // One process on this host: the temp files a killed upload leaves are swept at
            // the next start whatever their age (live uploads are locked, see blob.rs).
            .env("SUNBID_UPLOAD_TMP_MAX_AGE_SECONDS", "0")
            .envs(self.env.iter().cloned())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(url) = &self.database_url {
            cmd.arg("--database-url").arg(url);
        }
        self.child = Some(cmd.spawn().expect("spawn sunbid serve"));
        // The killed process's port may take a moment to be free again, and the demo data
        // takes a while under a loaded CI machine: up to two minutes.
        for _ in 0..1200 {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status().is_success()
            {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("sunbid serve exited: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("sunbid serve did not become ready");
    }

    /// SIGKILL: no shutdown hook, no flush, no destructor runs.
    async fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.start_kill().expect("kill -9");
            c.wait().await.expect("reaped");
        }
    }

    async fn restart(&mut self) {
        self.kill9().await;
        self.spawn().await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("GET")).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("POST")).await
    }

    async fn login(&self, username: &str) -> String {
        let (status, body) = self
            .post(
                "/api/v1/auth/login",
                None,
                &json!({"username": username, "password": DEMO_PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    /// `sunbid audit verify` against the running server (with the regulator's token, so the
    /// withheld entries are checked too).
    async fn audit_verifies(&self) {
        let token = self.login("regulator").await;
        let (ok, out, err) =
            run_cli(&["audit", "verify", "--server", &self.base, "--token", &token]).await;
        assert!(ok, "audit verify failed:\n{out}\n{err}");
        assert!(out.starts_with("OK "), "{out}");
    }

    /// The audit events with `action`, seen by the regulator.
    async fn events(&self, action: &str) -> Vec<Value> {
        let token = self.login("regulator").await;
        let mut out = Vec::new();
        let mut from = 0u64;
        loop {
            let (status, page) = self
                .get(
                    &format!("/api/v1/audit/events?from={from}&limit=1000"),
                    Some(&token),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{page}");
            let events = page["events"].as_array().cloned().unwrap_or_default();
            if events.is_empty() {
                return out;
            }
            from += events.len() as u64;
            for e in events {
                let entry: Value = e["entry"]
                    .as_str()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(Value::Null);
                if entry["action"] == action {
                    out.push(entry);
                }
            }
        }
    }
}

/// A data folder and, for PostgreSQL, a fresh database; `None` when PostgreSQL is wanted
/// but unavailable outside CI.
async fn place(backend: Backend) -> Option<(tempfile::TempDir, Option<crate::harness::PgGuard>)> {
    let dir = tempfile::tempdir().expect("temp dir");
    match backend {
        Backend::Sqlite => Some((dir, None)),
        Backend::Postgres => crate::harness::pg_database().await.map(|g| (dir, Some(g))),
    }
}

macro_rules! sqlite_and_postgres {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$body(crate::harness::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$body(crate::harness::Backend::Postgres).await;
            }
        }
    };
}

/// Seals `plaintext` for `code` as the bidder of `token`.
async fn seal(s: &Server, token: &str, code: &str, plaintext: &[u8], label: &str) -> Vec<u8> {
    let (_, me) = s.get("/api/v1/me", Some(token)).await;
    let org = me["org_id"].as_str().expect("bidder org").to_string();
    let (status, key) = s
        .get(&format!("/api/v1/tenders/{code}/opening-key"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().expect("key"))
        .expect("base64url");
    let pk = sunbid::seal::PublicKey::from_bytes(&pk).expect("public key");
    let tender_id = key["tender_id"].as_str().expect("tender id").to_string();
    let info = sunbid::seal::PartInfo {
        tender_id: &tender_id,
        bidder_id: &org,
        label,
        plaintext_len: plaintext.len() as u64,
    };
    let mut out = Vec::new();
    sunbid::seal::seal_stream(
        &mut &plaintext[..],
        &mut out,
        &pk,
        &info,
        &ring::rand::SystemRandom::new(),
    )
    .expect("seal");
    out
}

async fn upload(s: &Server, token: &str, code: &str, label: &str, envelope: Vec<u8>) -> String {
    let resp = s
        .client
        .post(s.url(&format!(
            "/api/v1/tenders/{code}/bid/parts?label={label}&name={label}.bin"
        )))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(envelope)
        .send()
        .await
        .expect("upload");
    let (status, body) = json_of(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["part_id"].as_str().expect("part id").to_string()
}

fn form(price_fen: i64) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "price_fen": price_fen, "duration_days": 200, "quality": "合格",
        "project_manager": "崩溃测试项目经理", "declarations": ["投标保证金已缴纳"],
    }))
    .expect("json")
}

// ---- upload ---------------------------------------------------------------------------

async fn killed_mid_upload(backend: Backend) {
    let Some((dir, _pg)) = place(backend).await else {
        return;
    };
    let db = _pg.as_ref().map(|g| g.url.clone());
    let mut s = Server::start(&dir.path().join("data"), db).await;
    let code = "SZ2026-JS-001";
    let bidder = s.login("bidder1").await;

    // A complete bid first, with its receipt kept the way a bidder keeps it.
    let envelope = seal(&s, &bidder, code, &form(1_190_000_000), "bid-form.json").await;
    let part = upload(&s, &bidder, code, "form", envelope).await;
    let (status, receipt) = s
        .post(
            &format!("/api/v1/tenders/{code}/bid/submit"),
            Some(&bidder),
            &json!({"parts": [part]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    let receipt_file = dir.path().join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).expect("receipt file");
    let (_, before) = s
        .get(&format!("/api/v1/tenders/{code}/bid"), Some(&bidder))
        .await;

    // A 24 MiB attachment: the headers and half the body go out, then the server dies.
    let attachment: Vec<u8> = (0..24u32 << 20).map(|i| (i % 251) as u8).collect();
    let big = seal(&s, &bidder, code, &attachment, "drawings.pdf").await;
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", s.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /api/v1/tenders/{code}/bid/parts?label=attachment&name=drawings.pdf HTTP/1.1\r\n\
         host: 127.0.0.1:{}\r\nauthorization: Bearer {bidder}\r\n\
         content-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
        s.port,
        big.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("headers");
    tcp.write_all(&big[..big.len() / 2]).await.expect("half");
    tcp.flush().await.expect("flush");
    // Let the server take in what was sent (it streams to a temporary file).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let tmp = s.data.join("blobs").join("tmp");
    let leftovers = || -> Vec<String> {
        std::fs::read_dir(&tmp)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".part"))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        leftovers().len(),
        1,
        "the cut upload streams into one temp file"
    );
    s.restart().await;
    drop(tcp);
    // The restart swept the temp file the killed upload left (issue 11, item 5).
    assert_eq!(
        leftovers(),
        Vec::<String>::new(),
        "stale upload temp files survived a restart"
    );

    // Nothing committed is lost: the bid, its receipt, the receipt's signature.
    let (status, after) = s
        .get(&format!("/api/v1/tenders/{code}/bid"), Some(&bidder))
        .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["bid"], before["bid"], "the committed bid changed");
    let (ok, out, err) = run_cli(&[
        "receipt",
        "verify",
        &receipt_file.display().to_string(),
        "--server",
        &s.base,
    ])
    .await;
    assert!(ok, "the receipt no longer verifies:\n{out}\n{err}");
    // Nothing is half done: no part from the cut upload, no audit event for it.
    let uploads = s.events("bid.upload").await;
    let attachments = uploads
        .iter()
        .filter(|e| e.to_string().contains("drawings.pdf"))
        .count();
    assert_eq!(attachments, 0, "a part of the cut upload was recorded");
    s.audit_verifies().await;

    // The upload completes after the restart, and the new bid replaces the old one.
    let part = upload(&s, &bidder, code, "attachment", big).await;
    let envelope = seal(&s, &bidder, code, &form(1_180_000_000), "bid-form.json").await;
    let form_part = upload(&s, &bidder, code, "form", envelope).await;
    let (status, second) = s
        .post(
            &format!("/api/v1/tenders/{code}/bid/submit"),
            Some(&bidder),
            &json!({"parts": [form_part, part]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    s.audit_verifies().await;
    s.kill9().await;
}

sqlite_and_postgres!(kill9_mid_upload, killed_mid_upload);

// ---- opening --------------------------------------------------------------------------

async fn killed_mid_opening(backend: Backend) {
    let Some((dir, pg)) = place(backend).await else {
        return;
    };
    let db = pg.as_ref().map(|g| g.url.clone());
    let mut s = Server::start(&dir.path().join("data"), db).await;
    let code = "SZ2026-JS-000";
    let agent = s.login("agent").await;
    let opening = format!("/api/v1/tenders/{code}/opening");
    let (status, started) = s
        .post(&format!("{opening}/start"), Some(&agent), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{started}");
    let c1 = s.login("custodian1").await;
    let c2 = s.login("custodian2").await;
    let unlock = json!({"passphrase": DEMO_PASSWORD});
    let (status, body) = s
        .post(&format!("{opening}/unlock"), Some(&c1), &unlock)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The second unlock rebuilds the key and opens every bid; the server dies meanwhile.
    let url = s.url(&format!("{opening}/unlock"));
    let client = s.client.clone();
    let (c2_, unlock_) = (c2.clone(), unlock.clone());
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(c2_)
            .json(&unlock_)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    s.restart().await;
    let answered = in_flight.await.expect("task");

    // Either the opening happened entirely (record, state, audit event) or not at all.
    let (status, view) = s.get(&opening, None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    // Only this tender's record counts (the demo opens another tender at load).
    let records = s
        .events("opening.record")
        .await
        .iter()
        .filter(|e| e["payload"]["record"]["tender_code"] == code)
        .count();
    let opened = view["state"] == "opened";
    eprintln!(
        "opening after kill -9: state {}, answered {}, finish events {records}",
        view["state"],
        answered.is_ok()
    );
    assert_eq!(
        records,
        usize::from(opened),
        "record events vs state: {view}"
    );
    s.audit_verifies().await;

    // It completes: the unlocked shares are kept (sealed) in the database, so either the
    // second unlock never landed and is sent again, or it did and the restarted process
    // takes the opening over once the dead one's lease runs out.
    if !opened {
        let (status, body) = s
            .post(&format!("{opening}/unlock"), Some(&c2), &unlock)
            .await;
        assert!(
            status.is_success() || body["code"] == "ALREADY_UNLOCKED",
            "unlock after restart: {status} {body}"
        );
    }
    let view = wait_opened(&s, &opening).await;
    let bids = view.to_string();
    for price in ["845600000", "851230000", "839990000"] {
        assert!(bids.contains(price), "bid at {price} missing from {view}");
    }
    s.audit_verifies().await;
    s.kill9().await;
}

sqlite_and_postgres!(kill9_mid_opening, killed_mid_opening);

/// Polls the opening until it is published (a takeover waits for the lease, 15 s, and the
/// next job poll).
async fn wait_opened(s: &Server, opening: &str) -> Value {
    for _ in 0..600 {
        let (status, view) = s.get(opening, None).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        if view["state"] == "opened" {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the opening was not completed within a minute");
}

// ---- expert draw ----------------------------------------------------------------------

async fn killed_mid_draw(backend: Backend) {
    let Some((dir, pg)) = place(backend).await else {
        return;
    };
    let db = pg.as_ref().map(|g| g.url.clone());
    let mut s = Server::start(&dir.path().join("data"), db).await;
    let code = "SZ2026-JS-001";
    let agent = s.login("agent").await;
    let regulator = s.login("regulator").await;
    let (_, me) = s.get("/api/v1/me", Some(&regulator)).await;
    let supervisor = me["user_id"].as_str().expect("id").to_string();
    let when = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let (status, draw) = s
        .post(
            &format!("/api/v1/tenders/{code}/draws"),
            Some(&agent),
            &json!({"supervisor_user_id": supervisor, "evaluation_at": when,
                   "evaluation_place": "评标室", "alternates": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{draw}");
    let id = draw["draw"]["draw_id"].as_str().expect("id").to_string();
    let input = format!("/api/v1/draws/{id}/supervisor-input");

    let url = s.url(&input);
    let client = s.client.clone();
    let token = regulator.clone();
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .json(&json!({"input": "6 2 5 3"}))
            .send()
            .await
    });
    // Early: the draw takes a few milliseconds, and the point is to catch it in flight.
    tokio::time::sleep(Duration::from_millis(3)).await;
    s.restart().await;
    let _ = in_flight.await.expect("task");

    let regulator = s.login("regulator").await;
    let (status, view) = s
        .get(&format!("/api/v1/draws/{id}"), Some(&regulator))
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let performed = s
        .events("expert.draw.result")
        .await
        .iter()
        .filter(|e| e.to_string().contains(&id))
        .count();
    let members = view["draw"]["members"].as_array().map_or(0, Vec::len);
    eprintln!(
        "draw after kill -9: state {}, members {members}, perform events {performed}",
        view["draw"]["state"]
    );
    // All or nothing: members exist exactly when the draw was performed and audited.
    assert_eq!(members > 0, performed == 1, "{view}");
    assert!(performed <= 1);
    s.audit_verifies().await;

    // It can be completed (or, if it happened, it is not performed twice).
    let (status, body) = s
        .post(&input, Some(&regulator), &json!({"input": "6 2 5 3"}))
        .await;
    if members > 0 {
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
    } else {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (_, view) = s
        .get(&format!("/api/v1/draws/{id}"), Some(&regulator))
        .await;
    assert!(
        view["draw"]["members"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "{view}"
    );
    s.audit_verifies().await;
    s.kill9().await;
}

sqlite_and_postgres!(kill9_mid_draw, killed_mid_draw);

// ---- report signing -------------------------------------------------------------------

/// A demo expert with a passkey.
struct Member {
    user_id: String,
    token: String,
    soft: SoftPasskey,
}

impl Server {
    fn origin(&self) -> Url {
        Url::parse(&format!("http://localhost:{}", self.public_port)).expect("origin")
    }

    async fn ok(&self, path: &str, token: &str, body: Value) -> Value {
        let (status, v) = self.post(path, Some(token), &body).await;
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// A passkey assertion over `start`'s options (check-in or signature).
    fn assert_with(&self, m: &mut Member, start: &Value) -> Value {
        let options = serde_json::from_value(start["options"].clone()).expect("options");
        let cred = m
            .soft
            .do_authentication(self.origin(), options)
            .expect("assertion");
        json!({"ceremony_id": start["ceremony_id"], "credential": cred})
    }
}

/// SZ2026-JS-000 opened, five drawn experts confirmed and checked in with passkeys, the
/// committee's review and scores in: the report waits for the members' signatures.
async fn ranked(s: &Server, code: &str) -> Vec<Member> {
    let agent = s.login("agent").await;
    let opening = format!("/api/v1/tenders/{code}/opening");
    s.ok(&format!("{opening}/start"), &agent, json!({})).await;
    for c in ["custodian1", "custodian2"] {
        let t = s.login(c).await;
        s.ok(
            &format!("{opening}/unlock"),
            &t,
            json!({"passphrase": DEMO_PASSWORD}),
        )
        .await;
    }
    let members = committee(s, code, &agent).await;
    evaluate(s, code, &agent, &members).await;
    members
}

/// The agent has five experts drawn for the opened tender `code`; they confirm, register a
/// passkey and check in with it.
async fn committee(s: &Server, code: &str, agent: &str) -> Vec<Member> {
    let regulator = s.login("regulator").await;
    let (_, me) = s.get("/api/v1/me", Some(&regulator)).await;
    let when = (chrono::Utc::now() + chrono::Duration::minutes(20)).to_rfc3339();
    let draw = s
        .ok(
            &format!("/api/v1/tenders/{code}/draws"),
            agent,
            json!({"supervisor_user_id": me["user_id"], "evaluation_at": when,
                   "evaluation_place": "评标室"}),
        )
        .await;
    let draw_id = draw["draw"]["draw_id"].as_str().expect("draw").to_string();
    s.ok(
        &format!("/api/v1/draws/{draw_id}/supervisor-input"),
        &regulator,
        json!({"input": "4 4 1"}),
    )
    .await;
    let mut members = Vec::new();
    for i in 1..=7 {
        let token = s.login(&format!("expert{i}")).await;
        let (_, mine) = s.get("/api/v1/expert/assignments", Some(&token)).await;
        let drawn = mine["assignments"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["draw_id"] == draw_id.as_str()));
        if !drawn {
            continue;
        }
        s.ok(
            &format!("/api/v1/expert/assignments/{draw_id}/confirm"),
            &token,
            json!({}),
        )
        .await;
        let mut soft = SoftPasskey::new(true);
        let start = s
            .ok("/api/v1/passkeys/register/start", &token, json!({}))
            .await;
        let options = serde_json::from_value(start["options"].clone()).expect("options");
        let cred = soft
            .do_registration(s.origin(), options)
            .expect("registration");
        s.ok(
            "/api/v1/passkeys/register/finish",
            &token,
            json!({"ceremony_id": start["ceremony_id"], "credential": cred}),
        )
        .await;
        let (_, me) = s.get("/api/v1/me", Some(&token)).await;
        let mut m = Member {
            user_id: me["user_id"].as_str().expect("id").to_string(),
            token,
            soft,
        };
        let start = s
            .ok(
                &format!("/api/v1/tenders/{code}/checkin/start"),
                &m.token,
                json!({}),
            )
            .await;
        let body = s.assert_with(&mut m, &start);
        s.ok(
            &format!("/api/v1/tenders/{code}/checkin/finish"),
            &m.token,
            body,
        )
        .await;
        members.push(m);
    }
    assert_eq!(members.len(), 5, "the demo committee has five members");
    members
}

/// The committee of `code` reviews and scores every bid: the report then waits for the
/// members' signatures.
async fn evaluate(s: &Server, code: &str, agent: &str, members: &[Member]) {
    let opening = format!("/api/v1/tenders/{code}/opening");
    let ev = format!("/api/v1/tenders/{code}/evaluation");
    s.ok(
        &ev,
        agent,
        json!({"review_criteria": [{"id": "投标函签字盖章", "kind": "formal"}],
               "price": {"criterion": "投标报价", "benchmark": {"kind": "lowest"},
                         "penalty_above": 100, "penalty_below": 50}}),
    )
    .await;
    let leader = members[0].user_id.clone();
    for m in members {
        s.ok(&format!("{ev}/ballots"), &m.token, json!({"for": leader}))
            .await;
    }
    let (_, record) = s.get(&opening, None).await;
    let bids: Vec<String> = record["record"]["bids"]
        .as_array()
        .expect("bids")
        .iter()
        .map(|b| b["bid_id"].as_str().expect("bid id").to_string())
        .collect();
    assert_eq!(bids.len(), 3, "{record}");
    for m in members {
        let marks: Vec<Value> = bids
            .iter()
            .map(|b| json!({"bid_id": b, "criterion": "投标函签字盖章", "verdict": "pass"}))
            .collect();
        s.ok(
            &format!("{ev}/review-marks"),
            &m.token,
            json!({"marks": marks}),
        )
        .await;
    }
    for (i, m) in members.iter().enumerate() {
        let sheets: Vec<Value> = bids
            .iter()
            .enumerate()
            .map(|(j, b)| {
                json!({"bid_id": b, "scores": {"施工组织设计": 2000 + 100 * (i + j) as i64,
                                               "企业信誉": 800}})
            })
            .collect();
        s.ok(&format!("{ev}/scores"), &m.token, json!({"sheets": sheets}))
            .await;
    }
}

async fn killed_mid_signing(backend: Backend) {
    let Some((dir, pg)) = place(backend).await else {
        return;
    };
    let db = pg.as_ref().map(|g| g.url.clone());
    let mut s = Server::start(&dir.path().join("data"), db).await;
    let code = "SZ2026-JS-000";
    let mut members = ranked(&s, code).await;
    let sign = format!("/api/v1/tenders/{code}/evaluation/report/sign");
    // Two members sign; the third's signature is in flight when the server dies.
    for m in members.iter_mut().take(2) {
        let start = s.ok(&format!("{sign}/start"), &m.token, json!({})).await;
        let body = s.assert_with(m, &start);
        s.ok(&format!("{sign}/finish"), &m.token, body).await;
    }
    let start = s
        .ok(&format!("{sign}/start"), &members[2].token, json!({}))
        .await;
    let body = s.assert_with(&mut members[2], &start);
    let url = s.url(&format!("{sign}/finish"));
    let client = s.client.clone();
    let token = members[2].token.clone();
    let in_flight =
        tokio::spawn(async move { client.post(url).bearer_auth(token).json(&body).send().await });
    tokio::time::sleep(Duration::from_millis(3)).await;
    s.restart().await;
    let _ = in_flight.await.expect("task");

    // The two signatures are kept; the third happened with its event or not at all.
    let signed = s.events("evaluation.report.sign").await;
    let regulator = s.login("regulator").await;
    let (status, view) = s
        .get(
            &format!("/api/v1/tenders/{code}/evaluation"),
            Some(&regulator),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    eprintln!(
        "signing after kill -9: {} sign events; view {}",
        signed.len(),
        view.to_string().chars().take(300).collect::<String>()
    );
    assert!(
        (2..=3).contains(&signed.len()),
        "signatures lost or doubled: {signed:?}"
    );
    // The recorded acts and the audit events agree: no signature without its event.
    assert_eq!(view["signing"]["acted"], json!(signed.len()), "{view}");
    s.audit_verifies().await;

    // Signing completes after the restart: the third (again, if it was lost), then the rest.
    for (i, m) in members.iter_mut().enumerate().skip(2) {
        let (status, start) = s
            .post(&format!("{sign}/start"), Some(&m.token), &json!({}))
            .await;
        if i == 2 && signed.len() == 3 {
            assert!(status.is_client_error(), "signed twice: {status} {start}");
            continue;
        }
        assert_eq!(status, StatusCode::OK, "{start}");
        let body = s.assert_with(m, &start);
        s.ok(&format!("{sign}/finish"), &m.token, body).await;
    }
    assert_eq!(s.events("evaluation.report.sign").await.len(), 5);
    s.audit_verifies().await;
    s.kill9().await;
}

sqlite_and_postgres!(kill9_mid_signing, killed_mid_signing);

/// kill -9 in the middle of the demo's live auction (issue 17): every accepted bid is there
/// after the restart, in the same order, the end time is the one the last committed bid
/// set, and bidding goes on.
async fn killed_mid_auction(backend: Backend) {
    let Some((dir, pg)) = place(backend).await else {
        return;
    };
    let db = pg.as_ref().map(|g| g.url.clone());
    let mut s = Server::start(&dir.path().join("data"), db).await;
    let code = sunbid::auction::demo::LIVE_AUCTION;
    let bidders = [s.login("bidder1").await, s.login("bidder2").await];
    let bids = format!("/api/v1/auctions/{code}/bids");
    let (_, t) = s.get(&format!("/api/v1/auctions/{code}"), None).await;
    let increment = t["increment_fen"].as_i64().expect("increment");
    let mut price = t["start_price_fen"].as_i64().expect("start price");
    let mut accepted = Vec::new();
    for i in 0..4 {
        let (status, v) = s
            .post(&bids, Some(&bidders[i % 2]), &json!({"amount_fen": price}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        accepted.push(v);
        price += increment;
    }
    let last_end = accepted[3]["ends_at"].as_i64().expect("end");
    // One more bid is in flight when the server dies.
    let client = s.client.clone();
    let (url, token) = (s.url(&bids), bidders[0].clone());
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(token)
            .json(&json!({"amount_fen": price}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(3)).await;
    s.restart().await;
    let _ = in_flight.await.expect("task");

    let (status, history) = s.get(&bids, None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let history = history.as_array().cloned().unwrap_or_default();
    eprintln!("auction after kill -9: {} bids", history.len());
    assert!((4..=5).contains(&history.len()), "{history:?}");
    for (kept, acked) in history.iter().zip(&accepted) {
        assert_eq!(kept, &acked["bid"], "an accepted bid changed or moved");
    }
    let (_, t) = s.get(&format!("/api/v1/auctions/{code}"), None).await;
    let expected_end = match history.get(4) {
        None => last_end,
        Some(b) => {
            b["placed_at"].as_i64().expect("time")
                + t["extend_seconds"].as_i64().expect("window") * 1000
        }
    };
    assert_eq!(t["ends_at"].as_i64(), Some(expected_end), "{t}");
    assert_eq!(t["state"], "bidding", "{t}");

    // Bidding goes on.
    let next = history
        .last()
        .and_then(|b| b["amount_fen"].as_i64())
        .expect("price")
        + increment;
    let bidders = [s.login("bidder1").await, s.login("bidder2").await];
    let (status, v) = s
        .post(&bids, Some(&bidders[1]), &json!({"amount_fen": next}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["bid"]["seq"].as_u64(), Some(history.len() as u64 + 1));
    s.audit_verifies().await;
    s.kill9().await;
}

sqlite_and_postgres!(kill9_mid_auction, killed_mid_auction);

mod multiprocess;
