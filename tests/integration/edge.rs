//! The edge of the server (issue 11, items 11, 12 and 15): slow and idle connections are
//! closed and capped, request metrics have bounded labels and are served only on their own
//! listener, and every response carries the security headers under which the pages run
//! without inline script or style.
//!
//! Timing assertions here are only "closed eventually, within a generous bound", with
//! short timeouts configured for the test; nothing asserts how fast anything is.

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::json;
use sunbid::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::Harness;
use crate::tenders::World;

/// How long a test waits for something that must happen after a one- or two-second
/// timeout; far longer than needed, so a loaded machine does not fail the test.
const GENEROUS: Duration = Duration::from_secs(30);

/// Instantiates a test body for both databases with a configuration of its own.
macro_rules! both_with {
    ($name:ident, $configure:expr, $body:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                $crate::harness::run_with(
                    $crate::harness::Backend::Sqlite,
                    $configure,
                    super::$body,
                )
                .await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                $crate::harness::run_with(
                    $crate::harness::Backend::Postgres,
                    $configure,
                    super::$body,
                )
                .await;
            }
        }
    };
}

/// Short connection timeouts, so the tests see them act.
fn short_timeouts(c: &mut Config) {
    c.header_read_timeout_secs = 1;
    c.body_idle_timeout_secs = 2;
}

/// A raw connection to the server.
async fn connect(h: &Harness) -> TcpStream {
    let addr = h.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Reads until the server closes the connection (end of stream or reset); panics if it is
/// still open after [`GENEROUS`]. Returns what was read.
async fn closed_by_server(conn: &mut TcpStream, what: &str) -> String {
    let mut seen = Vec::new();
    let read = tokio::time::timeout(GENEROUS, async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        read.is_ok(),
        "{what}: the server kept the connection open for {GENEROUS:?}"
    );
    String::from_utf8_lossy(&seen).into_owned()
}

/// Whether a response arrives on `conn` within `wait` (false: still waiting).
async fn answered_within(conn: &mut TcpStream, wait: Duration) -> Option<String> {
    let mut buf = [0u8; 4096];
    match tokio::time::timeout(wait, conn.read(&mut buf)).await {
        Ok(Ok(n)) if n > 0 => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
        _ => None,
    }
}

// ---- Item 11: header-read and idle timeouts, the connection cap ----------------------

async fn slow_and_idle_connections_are_closed(h: &Harness) {
    // Half a request line and some headers, then nothing: closed, never answered.
    let mut partial = connect(h).await;
    partial
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n")
        .await
        .expect("write");
    let seen = closed_by_server(&mut partial, "partial headers").await;
    assert!(!seen.contains("200 OK"), "not served: {seen}");

    // Headers trickled a byte at a time, each byte well within the timeout: the timeout
    // counts the whole header, so trickling does not keep the connection.
    let mut trickle = connect(h).await;
    let (mut rd, mut wr) = trickle.split();
    let writer = async {
        for b in b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if wr.write_all(&[*b]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Whatever is left is never sent; the reader decides.
        std::future::pending::<()>().await;
    };
    let reader = async {
        let mut buf = [0u8; 1024];
        loop {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let closed = tokio::time::timeout(GENEROUS, async {
        tokio::select! {
            _ = writer => {}
            _ = reader => {}
        }
    })
    .await;
    assert!(closed.is_ok(), "a trickling client kept its connection");

    // A kept-alive connection that sends nothing after its answer is closed too.
    let mut idle = connect(h).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let first = answered_within(&mut idle, GENEROUS)
        .await
        .expect("answered");
    assert!(first.starts_with("HTTP/1.1 200"), "{first}");
    closed_by_server(&mut idle, "idle keep-alive").await;

    // Meanwhile ordinary requests are served as always.
    let r = h
        .client
        .get(h.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
}
both_with!(
    slow_connections,
    super::short_timeouts,
    slow_and_idle_connections_are_closed
);

/// A published tender and a bidder company of its own, ready to upload.
struct Bidding {
    code: String,
    tender_id: String,
    org: String,
    token: String,
    pk: sunbid::seal::PublicKey,
}

async fn bidding(h: &Harness) -> Bidding {
    let world = World::new(h).await;
    let code = format!("EDGE-{}", crate::harness::next_serial());
    world.published(h, &code, "连接超时测试工程", 20).await;
    let (s, key) = h
        .api_get(&format!("/api/v1/tenders/{code}/opening-key"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{key}");
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().expect("public key"))
        .expect("base64url");
    let (org, _, token) = h.bidder("edgebidder").await;
    Bidding {
        code,
        tender_id: key["tender_id"].as_str().expect("tender id").to_string(),
        org,
        token,
        pk: sunbid::seal::PublicKey::from_bytes(&bytes).expect("a P-256 point"),
    }
}

fn sealed(b: &Bidding, size: usize) -> Vec<u8> {
    let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    let mut out = Vec::new();
    sunbid::seal::seal_stream(
        &mut &plain[..],
        &mut out,
        &b.pk,
        &sunbid::seal::PartInfo {
            tender_id: &b.tender_id,
            bidder_id: &b.org,
            label: "技术方案.pdf",
            plaintext_len: plain.len() as u64,
        },
        &ring::rand::SystemRandom::new(),
    )
    .expect("seal");
    out
}

async fn long_uploads_are_not_cut(h: &Harness) {
    let b = bidding(h).await;
    let envelope = sealed(&b, 1024 * 1024);
    // Twelve pieces, 400 ms apart: the upload takes longer than the header-read timeout
    // (1 s) and than the body idle timeout (2 s), but never pauses for 2 s.
    let pieces: Vec<Vec<u8>> = envelope
        .chunks(envelope.len().div_ceil(12))
        .map(<[u8]>::to_vec)
        .collect();
    let slow = futures_util::stream::iter(pieces).then(|piece| async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok::<_, std::io::Error>(piece)
    });
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/tenders/{}/bid/parts", b.code)))
        .query(&[("label", "attachment"), ("name", "技术方案.pdf.sealed")])
        .bearer_auth(&b.token)
        .header("content-type", "application/octet-stream")
        .header("content-length", envelope.len().to_string())
        .body(reqwest::Body::wrap_stream(slow))
        .send()
        .await
        .expect("upload");
    let (status, body) = crate::harness::json_of(resp).await;
    assert_eq!(status, StatusCode::CREATED, "a slow, steady upload: {body}");
    assert_eq!(body["size"], envelope.len(), "{body}");

    // An upload that stops sending is ended after the body idle timeout: refused, and
    // nothing of it stored.
    let parts_before = h.count("bid_part").await;
    let mut stalled = connect(h).await;
    let head = format!(
        "POST /api/v1/tenders/{}/bid/parts?label=attachment&name=stalled.sealed HTTP/1.1\r\n\
         Host: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        b.code,
        b.token,
        envelope.len()
    );
    stalled.write_all(head.as_bytes()).await.expect("head");
    stalled
        .write_all(&envelope[..envelope.len() / 3])
        .await
        .expect("a third of the body");
    let answer = closed_by_server(&mut stalled, "stalled upload").await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 4"),
        "refused or closed: {answer}"
    );
    assert_eq!(h.count("bid_part").await, parts_before, "nothing stored");
}
both_with!(
    long_uploads,
    super::short_timeouts,
    long_uploads_are_not_cut
);

fn capped(c: &mut Config) {
    c.max_connections = 2;
}

async fn connections_beyond_the_cap_wait(h: &Harness) {
    // Two connections take the two slots (accepted, idle within the header timeout).
    let mut first = connect(h).await;
    let mut second = connect(h).await;
    // Make sure both are accepted before the third arrives.
    for c in [&mut first, &mut second] {
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .expect("write");
        let r = answered_within(c, GENEROUS).await.expect("served");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }

    // A third connects (the kernel queues it) and asks, but is not served while both
    // slots are held.
    let mut third = connect(h).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    assert_eq!(
        answered_within(&mut third, Duration::from_millis(500)).await,
        None,
        "beyond the cap a connection waits"
    );

    // The connections already accepted are still served.
    first
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let r = answered_within(&mut first, GENEROUS).await.expect("served");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");

    // When one closes, the waiting one is served.
    drop(first);
    let r = answered_within(&mut third, GENEROUS)
        .await
        .expect("served once a slot is free");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    drop(second);
    drop(third);
}
both_with!(
    connection_cap,
    super::capped,
    connections_beyond_the_cap_wait
);

// ---- Item 12: bounded metrics on their own listener ----------------------------------

fn with_metrics(c: &mut Config) {
    c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
}

async fn scrape(h: &Harness) -> String {
    let at = h.metrics_addr().expect("a metrics listener");
    let r = h
        .client
        .get(format!("http://{at}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.expect("body")
}

/// The series (name and labels) of a Prometheus text page.
fn series(text: &str) -> std::collections::BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s.to_string()))
        .collect()
}

async fn metrics_are_bounded_and_private(h: &Harness) {
    // The public port does not serve metrics.
    let r = h.client.get(h.url("/metrics")).send().await.expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let text = r.text().await.expect("body");
    assert!(!text.contains("sunbid_http"), "{text}");

    // The metrics listener does, and only that.
    h.client
        .get(h.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    let text = scrape(h).await;
    assert!(text.contains("sunbid_http_requests_total"), "{text}");
    assert!(
        text.contains("route=\"/healthz\""),
        "labelled by route template"
    );
    let at = h.metrics_addr().expect("metrics");
    let r = h
        .client
        .get(format!("http://{at}/healthz"))
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "nothing else there");

    // 3,000 requests with made-up methods and paths, on a real route and on none.
    let before = series(&scrape(h).await);
    for i in 0..3000 {
        let method = Method::from_bytes(format!("MADEUP{i}").as_bytes()).expect("method");
        let path = if i % 2 == 0 {
            "/healthz".to_string()
        } else {
            format!("/made-up-{i}/x")
        };
        h.client
            .request(method, h.url(&path))
            .send()
            .await
            .expect("request");
    }
    let text = scrape(h).await;
    assert!(!text.contains("MADEUP"), "a made-up method became a label");
    assert!(!text.contains("made-up-"), "a raw path became a label");
    let after = series(&text);
    let new: Vec<&String> = after.difference(&before).collect();
    // Each metric gains at most the unmatched route and the route they hit, with the
    // method "other" and a status or two: a handful of series, not thousands. (Other
    // tests in this process may add a few series of their own meanwhile.)
    assert!(
        new.len() < 60,
        "{} new series after 3,000 made-up requests: {new:#?}",
        new.len()
    );
    assert!(
        text.contains("method=\"other\""),
        "made-up methods are counted as other"
    );
}
both_with!(
    metrics,
    super::with_metrics,
    metrics_are_bounded_and_private
);

// ---- Item 15: security headers ----------------------------------------------------

#[track_caller]
fn assert_security_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    let csp = headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("{what}: no Content-Security-Policy"));
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "same-origin", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
}

async fn every_response_carries_security_headers(h: &Harness) {
    let page_policy = sunbid::http::headers::content_security_policy();
    let op = h.operator().await;
    let world = World::new(h).await;
    let code = format!("HDR-{}", crate::harness::next_serial());
    world.published(h, &code, "安全响应头测试工程", 20).await;

    // Pages, anonymous and logged in, including error pages.
    let anonymous = h.browser();
    let operator = h.browser();
    operator.login("operator", crate::harness::PASSWORD).await;
    let agent = h.browser();
    agent.login("agent1", crate::harness::PASSWORD).await;
    let pages: Vec<(&crate::harness::Browser, String)> = vec![
        (&anonymous, "/".into()),
        (&anonymous, "/login".into()),
        (&anonymous, "/register".into()),
        (&anonymous, format!("/tenders/{code}")),
        (&anonymous, "/no/such/page".into()),
        (&anonymous, "/tenders/NO-SUCH-TENDER".into()),
        (&operator, "/operator".into()),
        (&operator, "/operator/experts".into()),
        (&operator, "/passkeys".into()),
        (&operator, "/notices".into()),
        (&agent, "/agent".into()),
        (&agent, format!("/agent/tenders/{code}")),
    ];
    for (who, path) in &pages {
        let page = who.get(path).await;
        assert_security_headers(path, &page.headers);
        let is_html = page
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if is_html {
            assert_eq!(
                page.headers["content-security-policy"], page_policy,
                "{path}"
            );
            assert!(!page.body.contains("style=\""), "{path}: inline style");
        }
    }

    // The API's JSON, its errors, the feed, static files and the OpenAPI document.
    let token = Some(op.as_str());
    for path in [
        "/api/v1/me",
        "/api/v1/audit/checkpoint",
        "/api/v1/no-such-route",
        "/api/openapi.json",
        "/feed.atom",
        "/static/app.js",
        "/static/style.css",
        "/healthz",
    ] {
        let mut req = h.client.get(h.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let r = req.send().await.expect("GET");
        assert_security_headers(path, r.headers());
    }
    let r = h
        .client
        .post(h.url("/api/v1/auth/login"))
        .json(&json!({"username": "operator", "password": "wrong"}))
        .send()
        .await
        .expect("POST");
    assert!(r.status().is_client_error());
    assert_security_headers("failed login", r.headers());
}
crate::both!(security_headers, every_response_carries_security_headers);

/// The pages run under `script-src 'self'; style-src 'self'`: no template may carry inline
/// script, an inline style attribute or element (but the report's, admitted by its hash),
/// an event-handler attribute or a `javascript:` URL.
#[test]
fn templates_have_no_inline_script_or_style() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web/templates");
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("templates") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let text = std::fs::read_to_string(&path).expect("read");
        for (n, line) in text.lines().enumerate() {
            let at = format!("{name}:{}", n + 1);
            let lower = line.to_ascii_lowercase();
            for script in lower.match_indices("<script").map(|(i, _)| &lower[i..]) {
                let tag = script.split('>').next().unwrap_or("");
                if !tag.contains(" src=") && !tag.contains("type=\"application/json\"") {
                    problems.push(format!("{at}: inline script"));
                }
            }
            if lower.contains(" style=") {
                problems.push(format!("{at}: style attribute"));
            }
            if lower.contains("<style") && name != "evaluation_report.html" {
                problems.push(format!("{at}: style element"));
            }
            if lower.contains("javascript:") {
                problems.push(format!("{at}: javascript: URL"));
            }
            let handler = lower.split_whitespace().any(|w| {
                w.starts_with("on")
                    && w.split_once('=').is_some_and(|(k, _)| {
                        k.len() > 2 && k.chars().all(|c| c.is_ascii_lowercase())
                    })
            });
            if handler {
                problems.push(format!("{at}: event-handler attribute"));
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
