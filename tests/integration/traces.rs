//! OpenTelemetry traces (issue 14, "Operations"): off by default; with `otlp_endpoint` set,
//! the real `sunbid serve` exports its request spans over OTLP/HTTP to a collector — here a
//! tiny in-test HTTP server that keeps every POSTed protobuf body — and nothing secret goes
//! with them: not a password from a login body, not the session token, not a custodian's
//! passphrase. The exporter is the same whatever the database, so this runs on SQLite only.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use reqwest::StatusCode;
use serde_json::json;
use tokio::process::Command;

use crate::crash::free_port;

/// The demo's password (printed by `serve --demo`); the custodians' passphrase too.
const DEMO_PASSWORD: &str = "sunbid-demo-2026";

/// An OTLP/HTTP collector that keeps the bodies it receives.
async fn collector() -> (u16, Arc<Mutex<Vec<Bytes>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    let app = Router::new().route(
        "/v1/traces",
        post(move |body: Bytes| {
            let keep = keep.clone();
            async move {
                keep.lock().expect("lock").push(body);
                // An empty ExportTraceServiceResponse: full success.
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, got)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traces_reach_an_otlp_collector_without_secrets() {
    let (otlp, got) = collector().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sunbid"))
        .args(["serve", "--demo", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", &format!("http://localhost:{port}")])
        .args([
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{otlp}/v1/traces"),
        ])
        .env("SUNBID_OTLP_SERVICE_NAME", "sunbid-trace-test")
        // Export batches every 200 ms instead of every 5 s.
        .env("OTEL_BSP_SCHEDULE_DELAY", "200")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn sunbid serve");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..1200 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "sunbid serve did not become ready");

    // A login (the password in the body), a request with the token, and a custodian's
    // unlock with the passphrase in the body.
    let login = async |username: &str| {
        let r = client
            .post(format!("{base}/api/v1/auth/login"))
            .json(&json!({"username": username, "password": DEMO_PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::OK);
        let v: serde_json::Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    };
    let agent = login("agent").await;
    let custodian = login("custodian1").await;
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&custodian)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), StatusCode::OK);
    let opening = format!("{base}/api/v1/tenders/SZ2026-JS-000/opening");
    let r = client
        .post(format!("{opening}/start"))
        .bearer_auth(&agent)
        .json(&json!({}))
        .send()
        .await
        .expect("start");
    assert_eq!(r.status(), StatusCode::OK);
    let r = client
        .post(format!("{opening}/unlock"))
        .bearer_auth(&custodian)
        .json(&json!({"passphrase": DEMO_PASSWORD}))
        .send()
        .await
        .expect("unlock");
    assert_eq!(r.status(), StatusCode::OK);

    // The spans arrive: the service's name, the request span and its route path.
    let mut all = Vec::new();
    for _ in 0..150 {
        all = got.lock().expect("lock").concat();
        if contains(&all, "/opening/unlock") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        contains(&all, "/opening/unlock"),
        "no span of the unlock reached the collector ({} bytes)",
        all.len()
    );
    for expected in [
        "sunbid-trace-test",
        "request",
        "/api/v1/auth/login",
        "/api/v1/me",
    ] {
        assert!(contains(&all, expected), "{expected} not exported");
    }
    // Nothing secret did.
    for secret in [DEMO_PASSWORD, agent.as_str(), custodian.as_str()] {
        assert!(!contains(&all, secret), "a secret was exported");
    }
    for token in [&agent, &custodian] {
        // No part of a token (header, claims, signature) either.
        for piece in token.split('.').filter(|p| p.len() > 16) {
            assert!(
                !contains(&all, piece),
                "part of a session token was exported"
            );
        }
    }
    let _ = child.start_kill();
    let _ = child.wait().await;
}

#[tokio::test]
async fn a_bad_otlp_endpoint_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_sunbid"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--listen", &format!("127.0.0.1:{}", free_port())])
        .args(["--otlp-endpoint", "collector:4318?token=s3cret"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run sunbid serve");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("otlp_endpoint"), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}
