//! The test harness: a real Sunbid server started in-process on 127.0.0.1 port 0, against
//! a fresh SQLite file in a temporary folder or a fresh PostgreSQL database, plus the
//! clients and database helpers the tests share.
//!
//! Every test body is written once and instantiated for both databases with [`both!`].
//! PostgreSQL comes from `SUNBID_TEST_PG_URL` (an admin URL; each test creates and drops
//! its own `sunbid_test_<random>` database). Without a reachable PostgreSQL the PostgreSQL
//! half of each test is skipped loudly, or fails when `CI` is set.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, SET_COOKIE};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};
use sunbid::audit::Actor;
use sunbid::clock::{Clock, OffsetClock};
use sunbid::config::Config;
use sunbid::http::AppState;
use sunbid::identity::service::{self, NewOrg, NewUser};
use sunbid::identity::{OrgKind, Role};
use sunbid::server::{self, Running};
use sunbid::store::Db;
use tempfile::TempDir;

/// The admin URL used when `SUNBID_TEST_PG_URL` is not set.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The password every user created by the harness gets.
pub const PASSWORD: &str = "correct-horse-battery";

/// Instantiates one test body for SQLite and PostgreSQL: `both!(name, body)` makes the
/// tests `name::sqlite` and `name::postgres`, each calling `body(&Harness)`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::run($crate::harness::Backend::Sqlite, super::$body).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::run($crate::harness::Backend::Postgres, super::$body).await;
            }
        }
    };
}

/// Which database a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in the test's temporary data folder.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `SUNBID_TEST_PG_URL`.
    Postgres,
}

/// Starts a server on `backend`, runs `body` against it, and stops it.
pub async fn run(backend: Backend, body: impl AsyncFnOnce(&Harness)) {
    run_with(backend, |_| {}, body).await;
}

/// [`run`] with the test's own settings applied to the harness's configuration.
pub async fn run_with(
    backend: Backend,
    configure: impl FnOnce(&mut Config),
    body: impl AsyncFnOnce(&Harness),
) {
    let Some(h) = Harness::start_with(backend, configure).await else {
        return;
    };
    body(&h).await;
    h.finish().await;
}

/// A PostgreSQL database that exists for one test and is dropped afterwards, even when
/// the test panics.
struct PgDatabase {
    admin_url: String,
    name: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop may run inside the test's runtime (or while it unwinds), so the clean-up
        // gets its own thread and runtime.
        let done = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let mut admin = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "drop database if exists {name} with (force)"
                )))
                .execute(&mut admin)
                .await
                .map_err(|e| e.to_string())?;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) | Err(e) = done.map_err(|_| "panicked".to_string()) {
            eprintln!("warning: could not drop test database {}: {e}", self.name);
        }
    }
}

/// Replaces the database name in a PostgreSQL URL (keeping any query parameters).
fn with_database(url: &str, name: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map(|i| i + 3).unwrap_or(0);
    let authority_end = head[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .unwrap_or(head.len());
    let mut out = format!("{}/{}", &head[..authority_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// Creates a fresh database, or says why PostgreSQL cannot be used.
async fn create_pg_database() -> Result<(PgDatabase, String), String> {
    let admin_url = std::env::var("SUNBID_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let connect = sqlx::PgConnection::connect(&admin_url);
    let mut admin = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| format!("connecting to {admin_url} timed out"))?
        .map_err(|e| format!("cannot connect to {admin_url}: {e}"))?;
    let name = format!("sunbid_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut admin)
        .await
        .map_err(|e| format!("cannot create database {name}: {e}"))?;
    let url = with_database(&admin_url, &name);
    Ok((PgDatabase { admin_url, name }, url))
}

/// A fresh PostgreSQL database for a test that starts its own server process; dropped with
/// the guard.
pub struct PgGuard {
    /// Its URL.
    pub url: String,
    _db: PgDatabase,
}

/// A fresh PostgreSQL database, or `None` (loudly) when there is none outside CI.
pub async fn pg_database() -> Option<PgGuard> {
    match create_pg_database().await {
        Ok((db, url)) => Some(PgGuard { url, _db: db }),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!("PostgreSQL is required when CI is set: {why}")
        }
        Err(why) => {
            eprintln!("\n!!!!!!!! SKIPPING the PostgreSQL half of this test: {why}\n");
            None
        }
    }
}

/// A running server and the means to talk to it.
pub struct Harness {
    running: Option<Running>,
    /// The database it runs on.
    pub backend: Backend,
    /// Base URL for requests (`http://127.0.0.1:<port>`).
    pub base: String,
    /// The configured public URL (`http://localhost:<port>`), whose origin forms must carry.
    pub public_url: String,
    /// The clock the server reads; tests move it.
    pub clock: Arc<OffsetClock>,
    /// A plain API client (no cookies, no redirects followed).
    pub client: reqwest::Client,
    // Dropped after the server has stopped: the database, then the data folder.
    _pg: Option<PgDatabase>,
    _dir: TempDir,
}

impl Harness {
    /// Starts a server, with the test's own settings applied to the configuration; `None`
    /// when PostgreSQL is wanted but unavailable outside CI.
    pub async fn start_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (pg, database_url) = match backend {
            Backend::Sqlite => (None, None),
            Backend::Postgres => match create_pg_database().await {
                Ok((db, url)) => (Some(db), Some(url)),
                Err(why) => {
                    if std::env::var_os("CI").is_some() {
                        panic!("PostgreSQL is required when CI is set: {why}");
                    }
                    eprintln!(
                        "\n!!!!!!!! SKIPPING the PostgreSQL half of this test: {why}\n\
                         !!!!!!!! set SUNBID_TEST_PG_URL to an admin URL (default {DEFAULT_PG_URL})\n"
                    );
                    return None;
                }
            },
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind port 0");
        let port = listener.local_addr().expect("local addr").port();
        let public_url = format!("http://localhost:{port}");
        let mut config = Config {
            data_dir: dir.path().join("data"),
            database_url,
            listen: listener.local_addr().expect("local addr"),
            public_url: public_url.clone(),
            job_poll_seconds: 1,
            // Tests read the list right after changing it.
            list_cache_ms: 0,
            ..Config::default()
        };
        configure(&mut config);
        let clock = Arc::new(OffsetClock::default());
        let running = server::start(config, clock.clone(), listener)
            .await
            .expect("server starts");
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Some(Self {
            base: format!("http://127.0.0.1:{port}"),
            public_url,
            running: Some(running),
            backend,
            clock,
            client,
            _pg: pg,
            _dir: dir,
        })
    }

    /// Stops the server gracefully (and then drops its database and folder).
    pub async fn finish(mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops cleanly");
        }
    }

    /// The address of the separate metrics listener, when the test configured one.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    /// The server's state (database, keys, clock).
    pub fn state(&self) -> &AppState {
        &self.running.as_ref().expect("running").state
    }

    /// The database pool.
    pub fn db(&self) -> &Db {
        &self.state().db
    }

    /// An absolute URL for `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The current time on the server's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
    }

    // ---- JSON API -------------------------------------------------------------------

    /// GET with an optional Bearer token; returns the status and the JSON body.
    pub async fn api_get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("GET")).await
    }

    /// POST a JSON body with an optional Bearer token.
    pub async fn api_post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut req = self.client.post(self.url(path)).json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("POST")).await
    }

    /// POST a raw body with a content type (for malformed input).
    pub async fn api_post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("POST")).await
    }

    /// Logs in over HTTP and returns the Bearer token.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let (status, body) = self
            .api_post(
                "/api/v1/auth/login",
                None,
                &json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().expect("token").to_string()
    }

    // ---- Setup through the service layer -------------------------------------------

    /// Creates an organisation directly through the service layer.
    pub async fn create_org(&self, kind: OrgKind, name: &str) -> String {
        let uscc = kind.needs_uscc().then(|| uscc(next_serial()));
        service::create_org(
            self.db(),
            self.now(),
            &Actor::system(),
            NewOrg {
                kind,
                name: name.into(),
                uscc,
            },
        )
        .await
        .expect("create org")
    }

    /// Creates an active user through the service layer (password [`PASSWORD`]).
    pub async fn create_user(&self, username: &str, role: Role, org_id: Option<&str>) -> String {
        service::create_user(
            self.db(),
            self.now(),
            &Actor::system(),
            NewUser {
                username: username.into(),
                display_name: format!("{username} 测试"),
                role,
                org_id: org_id.map(str::to_string),
                password: PASSWORD.into(),
            },
        )
        .await
        .expect("create user")
    }

    /// Creates the operator `operator` and returns its Bearer token.
    pub async fn operator(&self) -> String {
        self.create_user("operator", Role::Operator, None).await;
        self.login("operator", PASSWORD).await
    }

    /// Creates an active bidder company with one user and returns (org id, user id, token).
    pub async fn bidder(&self, username: &str) -> (String, String, String) {
        let org = self
            .create_org(OrgKind::Bidder, &format!("{username} 建设有限公司"))
            .await;
        let user = self.create_user(username, Role::Bidder, Some(&org)).await;
        let token = self.login(username, PASSWORD).await;
        (org, user, token)
    }

    /// The public audit entries (the first 1,000 events, as anyone reads them) of one action.
    pub async fn public_entries(&self, action: &str) -> Vec<Value> {
        let (s, v) = self.api_get("/api/v1/audit/events?limit=1000", None).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v["events"]
            .as_array()
            .unwrap_or_else(|| panic!("events: {v}"))
            .iter()
            .filter_map(|e| e["entry"].as_str())
            .map(|text| serde_json::from_str::<Value>(text).expect("entry json"))
            .filter(|e| e["action"] == action)
            .collect()
    }

    /// Registers a fresh software passkey (user verification on) for the holder of `token`.
    pub async fn register_passkey(
        &self,
        token: &str,
    ) -> webauthn_authenticator_rs::softpasskey::SoftPasskey {
        use webauthn_authenticator_rs::WebauthnAuthenticator as _;
        let mut soft = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
        let (status, start) = self
            .api_post(
                "/api/v1/passkeys/register/start",
                Some(token),
                &serde_json::json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{start}");
        let options = serde_json::from_value(start["options"].clone()).expect("options");
        let origin =
            webauthn_authenticator_rs::prelude::Url::parse(&self.public_url).expect("origin");
        let cred = soft.do_registration(origin, options).expect("register");
        let (status, body) = self
            .api_post(
                "/api/v1/passkeys/register/finish",
                Some(token),
                &serde_json::json!({"ceremony_id": start["ceremony_id"], "credential": cred}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        soft
    }

    // ---- Direct database access ------------------------------------------------------

    /// Runs one statement directly on the database (as someone with database access).
    pub async fn exec(&self, sql: &str) -> Result<u64, sqlx::Error> {
        match self.db() {
            Db::Sqlite(p, _) => sqlx::query(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
            Db::Postgres(p, _) => sqlx::query(AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Counts the rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("select count(*) from {table}");
        match self.db() {
            Db::Sqlite(p, _) => {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()))
                    .fetch_one(p)
                    .await
            }
            Db::Postgres(p, _) => {
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.clone()))
                    .fetch_one(p)
                    .await
            }
        }
        .expect("count")
    }

    /// Row counts of the tables a refused request must leave alone.
    pub async fn snapshot(&self) -> [i64; 3] {
        [
            self.count("organisation").await,
            self.count("app_user").await,
            self.count("audit_event").await,
        ]
    }

    /// The stored entry and leaf hash of one audit event.
    pub async fn audit_row(&self, seq: i64) -> (String, Vec<u8>) {
        let sql = "select entry, leaf_hash from audit_event where seq = $1";
        match self.db() {
            Db::Sqlite(p, _) => sqlx::query_as(sql).bind(seq).fetch_one(p).await,
            Db::Postgres(p, _) => sqlx::query_as(sql).bind(seq).fetch_one(p).await,
        }
        .expect("audit row")
    }

    /// Overwrites one audit event's entry (and optionally its leaf hash).
    pub async fn overwrite_audit_row(
        &self,
        seq: i64,
        entry: &str,
        leaf_hash: Option<&[u8]>,
    ) -> Result<u64, sqlx::Error> {
        let entry = entry.to_string();
        match (self.db(), leaf_hash) {
            (Db::Sqlite(p, _), None) => {
                sqlx::query("update audit_event set entry = $1 where seq = $2")
                    .bind(entry)
                    .bind(seq)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            }
            (Db::Postgres(p, _), None) => {
                sqlx::query("update audit_event set entry = $1 where seq = $2")
                    .bind(entry)
                    .bind(seq)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            }
            (Db::Sqlite(p, _), Some(h)) => {
                sqlx::query("update audit_event set entry = $1, leaf_hash = $2 where seq = $3")
                    .bind(entry)
                    .bind(h.to_vec())
                    .bind(seq)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            }
            (Db::Postgres(p, _), Some(h)) => {
                sqlx::query("update audit_event set entry = $1, leaf_hash = $2 where seq = $3")
                    .bind(entry)
                    .bind(h.to_vec())
                    .bind(seq)
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected())
            }
        }
    }

    /// Drops the trigger that keeps audit events append-only, as an attacker with
    /// database access would before editing the log.
    pub async fn drop_audit_event_trigger(&self) {
        let sql = match self.backend {
            Backend::Sqlite => "drop trigger audit_event_no_update",
            Backend::Postgres => "drop trigger audit_event_append_only on audit_event",
        };
        self.exec(sql).await.expect("drop trigger");
    }

    /// A browser-like client for this server.
    pub fn browser(&self) -> Browser {
        Browser {
            base: self.base.clone(),
            origin: self.public_url.clone(),
            client: self.client.clone(),
            cookies: Mutex::new(BTreeMap::new()),
        }
    }
}

/// Reads a response as (status, JSON); a body that is not JSON becomes a JSON string.
pub async fn json_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    let text = resp.text().await.expect("body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts an error answer: status, stable code, and a non-empty message.
#[track_caller]
pub fn assert_error(got: &(StatusCode, Value), status: StatusCode, code: &str) {
    assert_eq!(got.0, status, "body: {}", got.1);
    assert_eq!(got.1["code"], code, "body: {}", got.1);
    assert!(
        got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
        "an error must carry a message: {}",
        got.1
    );
}

/// A unique serial per process, so generated codes and names never collide.
pub fn next_serial() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// A valid 统一社会信用代码 (enterprise registered in Beijing) built from `n`: the
/// organisation code's GB 11714 check character and the GB 32100 check character are
/// computed here independently of the application's validator, then cross-checked.
pub fn uscc(n: u32) -> String {
    const CHARSET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    let body8 = format!("{:08}", n % 100_000_000);
    let org_sum: u32 = body8
        .bytes()
        .zip([3, 7, 9, 10, 5, 8, 4, 2])
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let org_check = match 11 - org_sum % 11 {
        10 => 'X',
        11 => '0',
        d => char::from_digit(d, 10).expect("digit"),
    };
    let first17 = format!("91110000{body8}{org_check}");
    let mut sum = 0u32;
    let mut weight = 1u32;
    for b in first17.bytes() {
        let v = CHARSET.iter().position(|&c| c == b).expect("in charset") as u32;
        sum = (sum + v * weight) % 31;
        weight = weight * 3 % 31;
    }
    let check = CHARSET[((31 - sum) % 31) as usize] as char;
    let code = format!("{first17}{check}");
    sunbid::identity::uscc::validate(&code).expect("generated code is valid");
    code
}

/// A cookie-keeping client that behaves like a browser on our pages: it sends the
/// public origin with posts and never follows redirects, so tests see them.
pub struct Browser {
    base: String,
    /// The Origin header a same-site browser sends.
    pub origin: String,
    client: reqwest::Client,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// A page response.
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The `Set-Cookie` line for `name`, if the response set it.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_string)
    }

    /// The body as JSON (error answers of the CSRF guard are JSON).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

impl Browser {
    /// The value of a cookie the browser holds.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("lock").get(name).cloned()
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .expect("lock")
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, req: reqwest::RequestBuilder) -> Page {
        let cookies = self.cookie_header();
        let req = if cookies.is_empty() {
            req
        } else {
            req.header("cookie", cookies)
        };
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let headers = resp.headers().clone();
        {
            let mut jar = self.cookies.lock().expect("lock");
            for line in headers.get_all(SET_COOKIE).iter() {
                let Ok(line) = line.to_str() else { continue };
                let pair = line.split(';').next().unwrap_or("");
                if let Some((k, v)) = pair.split_once('=') {
                    let expired = line.to_ascii_lowercase().contains("max-age=0");
                    if v.is_empty() || expired {
                        jar.remove(k.trim());
                    } else {
                        jar.insert(k.trim().to_string(), v.trim().to_string());
                    }
                }
            }
        }
        let body = resp.text().await.expect("body");
        Page {
            status,
            headers,
            body,
        }
    }

    /// GET a page.
    pub async fn get(&self, path: &str) -> Page {
        self.finish(self.client.get(format!("{}{}", self.base, path)))
            .await
    }

    /// POST a form as a same-site browser would (Origin header set to ours).
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> Page {
        self.post_form_with(path, form, &[("origin", &self.origin.clone())])
            .await
    }

    /// POST a form with exactly the given extra headers.
    pub async fn post_form_with(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Page {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .form(form);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req).await
    }

    /// POST JSON with the browser's cookies and the given extra headers.
    pub async fn post_json_with(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Page {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        self.finish(req).await
    }

    /// Logs in through the pages (GET /login for the CSRF cookie, then the form).
    pub async fn login(&self, username: &str, password: &str) -> Page {
        let page = self.get("/login").await;
        assert_eq!(page.status, StatusCode::OK);
        let csrf = self
            .cookie("sunbid_csrf")
            .expect("csrf cookie after GET /login");
        self.post_form(
            "/login",
            &[
                ("csrf", &csrf),
                ("username", username),
                ("password", password),
            ],
        )
        .await
    }
}

/// Runs the real `sunbid` binary with `args`; returns (exit success, stdout, stderr).
pub async fn run_cli(args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sunbid"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run sunbid binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn database_name_is_replaced_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/postgres?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h:1", "x"), "postgres://h:1/x");
}

#[test]
fn generated_credit_codes_are_valid_and_distinct() {
    let a = uscc(1);
    let b = uscc(2);
    assert_ne!(a, b);
    assert_eq!(a.len(), 18);
}
