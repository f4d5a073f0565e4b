//! Signing keys outside the data directory, key ids and rotation (issue 11, item 1), over
//! the real server and the real `sunbid` binary: keys read from secret files are used and
//! nothing is written to `data/keys`; after `sunbid keys rotate` and a restart, a receipt
//! signed by the retired platform key still verifies with `sunbid receipt verify --server`,
//! a token signed by the retired session key still works until it expires, new tokens name
//! the new key, and a token naming an unknown key is refused. Bad key files stop `sunbid
//! serve` with a clear error, not a panic.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::clock::OffsetClock;
use sunbid::config::Config;
use sunbid::keys::SigningKey;
use sunbid::server::{self, Running};

use crate::harness::{Backend, PgGuard, assert_error, json_of, run_cli};

/// The demo's password (printed by `serve --demo`).
const DEMO_PASSWORD: &str = "sunbid-demo-2026";

/// A demo server in-process on a fixed port (so its public URL, the tokens' issuer, stays
/// the same across restarts), with its keys in `secrets/`, outside the data folder.
struct Site {
    dir: tempfile::TempDir,
    pg: Option<PgGuard>,
    port: u16,
    running: Option<Running>,
    client: reqwest::Client,
}

impl Site {
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn secret(&self, name: &str) -> PathBuf {
        self.dir.path().join("secrets").join(name)
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn config(&self) -> Config {
        Config {
            data_dir: self.data(),
            database_url: self.pg.as_ref().map(|g| g.url.clone()),
            listen: ([127, 0, 0, 1], self.port).into(),
            public_url: format!("http://localhost:{}", self.port),
            demo: true,
            list_cache_ms: 0,
            platform_key_file: Some(self.secret("platform.pk8")),
            session_key_file: Some(self.secret("session.pk8")),
            ..Config::default()
        }
    }

    /// The `--data-dir …` and key options of this site, for the `sunbid keys` commands.
    fn key_args(&self) -> Vec<String> {
        let mut args = vec![
            "--data-dir".to_string(),
            self.data().display().to_string(),
            "--platform-key-file".into(),
            self.secret("platform.pk8").display().to_string(),
            "--session-key-file".into(),
            self.secret("session.pk8").display().to_string(),
        ];
        if let Some(pg) = &self.pg {
            args.extend(["--database-url".into(), pg.url.clone()]);
        }
        args
    }

    async fn start(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("bind the site's port");
        let clock = Arc::new(OffsetClock::default());
        self.running = Some(
            server::start(self.config(), clock, listener)
                .await
                .expect("server starts"),
        );
    }

    async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await.expect("server stops");
        }
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.client.get(format!("{}{path}", self.base()));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        json_of(req.send().await.expect("GET")).await
    }

    async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        let req = self
            .client
            .post(format!("{}{path}", self.base()))
            .bearer_auth(token)
            .json(body);
        json_of(req.send().await.expect("POST")).await
    }

    async fn login(&self, username: &str) -> String {
        let resp = self
            .client
            .post(format!("{}/api/v1/auth/login", self.base()))
            .json(&json!({"username": username, "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("login");
        let (status, body) = json_of(resp).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        body["token"].as_str().expect("token").to_string()
    }
}

/// The `kid` in a JWT's header.
fn token_kid(token: &str) -> String {
    let header = token.split('.').next().expect("header");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("b64")).expect("json");
    header["kid"].as_str().unwrap_or_default().to_string()
}

/// The claims of `token`, signed again with `key` under a header naming `kid`.
fn resigned(token: &str, key: &SigningKey, kid: &str) -> String {
    let claims = token.split('.').nth(1).expect("claims");
    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}).to_string());
    let input = format!("{header}.{claims}");
    let sig = key.pair.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// Seals and submits a one-part bid as `token` to `code`; returns the receipt answer.
async fn submit_bid(s: &Site, token: &str, code: &str) -> Value {
    let (_, me) = s.get("/api/v1/me", Some(token)).await;
    let org = me["org_id"].as_str().expect("bidder org").to_string();
    let (status, key) = s
        .get(&format!("/api/v1/tenders/{code}/opening-key"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{key}");
    let pk = URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().expect("key"))
        .expect("base64url");
    let pk = sunbid::seal::PublicKey::from_bytes(&pk).expect("public key");
    let tender_id = key["tender_id"].as_str().expect("tender id").to_string();
    let form = serde_json::to_vec(&json!({
        "price_fen": 1_150_000_000i64, "duration_days": 200, "quality": "合格",
        "project_manager": "密钥轮换项目经理", "declarations": ["投标保证金已缴纳"],
    }))
    .expect("json");
    let info = sunbid::seal::PartInfo {
        tender_id: &tender_id,
        bidder_id: &org,
        label: "bid-form.json",
        plaintext_len: form.len() as u64,
    };
    let mut envelope = Vec::new();
    sunbid::seal::seal_stream(
        &mut &form[..],
        &mut envelope,
        &pk,
        &info,
        &ring::rand::SystemRandom::new(),
    )
    .expect("seal");
    let resp = s
        .client
        .post(format!(
            "{}/api/v1/tenders/{code}/bid/parts?label=form&name=bid-form.json",
            s.base()
        ))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(envelope)
        .send()
        .await
        .expect("upload");
    let (status, part) = json_of(resp).await;
    assert_eq!(status, StatusCode::CREATED, "{part}");
    let (status, receipt) = s
        .post(
            &format!("/api/v1/tenders/{code}/bid/submit"),
            token,
            &json!({"parts": [part["part_id"]]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{receipt}");
    receipt
}

async fn keys(args: &[&str], site_args: &[String]) -> (bool, String, String) {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(site_args.iter().map(String::as_str));
    run_cli(&all).await
}

async fn rotation_keeps_old_signatures_valid(backend: Backend) {
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match crate::harness::pg_database().await {
            Some(g) => Some(g),
            None => return,
        },
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let mut s = Site {
        dir: tempfile::tempdir().expect("tmp"),
        pg,
        port,
        running: None,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client"),
    };
    // The keys come from a secret store: generated by `sunbid keys generate`, mode 0600.
    let mut kids = Vec::new();
    for name in ["platform.pk8", "session.pk8"] {
        let out = s.secret(name).display().to_string();
        let (ok, stdout, stderr) = run_cli(&["keys", "generate", "--out", &out]).await;
        assert!(ok, "{stdout}\n{stderr}");
        kids.push(
            SigningKey::load_file(&s.secret(name))
                .expect("generated key")
                .kid(),
        );
    }
    let (platform_kid, session_kid) = (kids[0].clone(), kids[1].clone());
    s.start().await;

    // The external keys are the ones in use, and none was created in the data folder.
    assert!(
        !s.data().join("keys").exists(),
        "keys were written to the data directory"
    );
    let (_, published) = s.get("/api/v1/platform-key", None).await;
    assert_eq!(published["kid"], platform_kid.as_str(), "{published}");
    assert_eq!(published["keys"].as_array().map(Vec::len), Some(1));
    let bidder = s.login("bidder1").await;
    assert_eq!(token_kid(&bidder), session_kid);
    let receipt = submit_bid(&s, &bidder, "SZ2026-JS-001").await;
    assert_eq!(receipt["receipt"]["kid"], platform_kid.as_str());
    let receipt_file = s.dir.path().join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).expect("receipt file");
    let receipt_path = receipt_file.display().to_string();
    let (ok, out, err) =
        run_cli(&["receipt", "verify", &receipt_path, "--server", &s.base()]).await;
    assert!(ok, "{out}\n{err}");
    s.stop().await;

    // Rotate both keys, then restart.
    let site_args = s.key_args();
    for purpose in ["platform", "session"] {
        let (ok, out, err) = keys(&["keys", "rotate", "--purpose", purpose], &site_args).await;
        assert!(ok, "rotate {purpose}: {out}\n{err}");
        assert!(out.contains("retired") && out.contains("new"), "{out}");
    }
    let (ok, listed, err) = keys(&["keys", "list"], &site_args).await;
    assert!(ok, "{listed}\n{err}");
    assert!(
        listed.contains(&platform_kid) && listed.contains(&session_kid),
        "{listed}"
    );
    let new_platform = SigningKey::load_file(&s.secret("platform.pk8")).expect("new key");
    let new_session = SigningKey::load_file(&s.secret("session.pk8")).expect("new key");
    assert_ne!(new_platform.kid(), platform_kid);
    assert_ne!(new_session.kid(), session_kid);
    // Only public keys went to the data folder.
    for entry in std::fs::read_dir(s.data().join("keys")).expect("retired keys") {
        let name = entry.expect("entry").file_name();
        assert!(name.to_string_lossy().ends_with(".pub"), "{name:?}");
    }
    s.start().await;

    // Both platform keys are published; the old receipt verifies with the retired one.
    let (_, published) = s.get("/api/v1/platform-key", None).await;
    assert_eq!(published["kid"], new_platform.kid().as_str());
    let listed: Vec<(String, String)> = published["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().unwrap_or_default().to_string(),
                k["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert!(
        listed.contains(&(new_platform.kid(), "active".into())),
        "{published}"
    );
    assert!(
        listed.contains(&(platform_kid.clone(), "retired".into())),
        "{published}"
    );
    let (ok, out, err) =
        run_cli(&["receipt", "verify", &receipt_path, "--server", &s.base()]).await;
    assert!(
        ok,
        "a receipt of the retired key no longer verifies:\n{out}\n{err}"
    );
    assert!(out.starts_with("OK "), "{out}");
    // The bid's view names the key that signed the receipt, not the active one.
    let (status, mine) = s
        .get("/api/v1/tenders/SZ2026-JS-001/bid", Some(&bidder))
        .await;
    assert_eq!(status, StatusCode::OK, "the old token still works: {mine}");
    assert_eq!(mine["bid"]["vkey"], receipt["vkey"], "{mine}");

    // A new login names the new session key; the audit log verifies with the new key.
    let fresh = s.login("bidder1").await;
    assert_eq!(token_kid(&fresh), new_session.kid());
    let (status, _) = s.get("/api/v1/me", Some(&fresh)).await;
    assert_eq!(status, StatusCode::OK);
    let (ok, out, err) = run_cli(&["audit", "verify", "--server", &s.base()]).await;
    assert!(ok, "{out}\n{err}");

    // A token naming an unknown key, or signed by another key under a known kid, or minted
    // with the retired key after its retirement: 401.
    let unknown = resigned(&fresh, &new_session, "00112233aabbccdd");
    let got = s.get("/api/v1/me", Some(&unknown)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");
    let stranger = SigningKey::generate().expect("key");
    let forged = resigned(&fresh, &stranger, &new_session.kid());
    let got = s.get("/api/v1/me", Some(&forged)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");
    let retired_now = resigned(&fresh, &SigningKey::generate().expect("key"), &session_kid);
    let got = s.get("/api/v1/me", Some(&retired_now)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");
    s.stop().await;
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

sqlite_and_postgres!(
    rotation_and_external_keys,
    rotation_keeps_old_signatures_valid
);

/// Runs `sunbid serve` with a platform key file and returns (exited in time, status, stderr).
async fn serve_with_key_file(data: &Path, key_file: &Path) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_sunbid"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .arg("--platform-key-file")
        .arg(key_file)
        .env("NO_COLOR", "1")
        .env_remove("CREDENTIALS_DIRECTORY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sunbid serve");
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("a bad key must stop the server at start-up, not let it run")
        .expect("wait");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A P-256 PKCS#8 private key (made with `openssl genpkey -algorithm EC`).
const P256_PKCS8: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgIkkRszFZNbPKGV8zG3gda9dtC8z1QY1fH9rDIyXxr0ihRANCAASq0T8tSWhR4SCSDxzjGd7E5m9RqYb5fZjSgtBnTOj8BnRKZo/tXOKOv7ydd2ywZbmtYJk6SiebCvSf4dR1FGlY";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_key_files_stop_the_start_up_with_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let file = |name: &str, bytes: &[u8], mode: u32| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
        p
    };
    let good = SigningKey::generate().expect("key");
    let p256 = base64::engine::general_purpose::STANDARD
        .decode(P256_PKCS8)
        .expect("b64");
    let cases = [
        (dir.path().join("missing.pk8"), "does not exist"),
        (
            file("garbage.pk8", b"this is not a key\n", 0o600),
            "not a PKCS#8",
        ),
        (file("p256.pk8", &p256, 0o600), "not an Ed25519 key"),
        (file("open.pk8", good.pkcs8(), 0o644), "too open"),
    ];
    for (path, expected) in cases {
        let (code, stderr) = serve_with_key_file(&data, &path).await;
        assert_eq!(code, Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
        assert!(
            stderr.contains(&path.display().to_string()),
            "names the file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            !data.join("keys").join("platform-ed25519.pk8").exists(),
            "no key was made in the data directory instead"
        );
    }
}
