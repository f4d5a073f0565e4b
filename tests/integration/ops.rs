//! Operations endpoints and the request id.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Harness, PASSWORD, uscc};

async fn ops_endpoints_respond(h: &Harness) {
    let r = h
        .client
        .get(h.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers().contains_key("x-request-id"),
        "every response carries the request id"
    );
    assert_eq!(r.text().await.expect("body"), "ok");

    let r = h.client.get(h.url("/readyz")).send().await.expect("readyz");
    assert_eq!(r.status(), StatusCode::OK, "the database answers");

    // Metrics are served on their own listener only (see edge.rs), never to the public.
    let r = h
        .client
        .get(h.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let (status, doc) = h.api_get("/api/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "an OpenAPI 3 document: {doc}"
    );
    let paths = doc["paths"].as_object().expect("paths object");
    for p in [
        "/api/v1/auth/login",
        "/api/v1/companies",
        "/api/v1/audit/checkpoint",
        "/api/v1/audit/events",
    ] {
        assert!(paths.contains_key(p), "OpenAPI documents {p}");
    }

    let r = h
        .client
        .get(h.url("/no/such/page"))
        .send()
        .await
        .expect("404");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}
both!(ops_endpoints, ops_endpoints_respond);

async fn request_id_lands_in_audit_event(h: &Harness) {
    let company = "请求编号测试有限公司";
    let resp = h
        .client
        .post(h.url("/api/v1/companies"))
        .json(&json!({
            "company_name": company,
            "uscc": uscc(crate::harness::next_serial()),
            "username": "reqid-bidder",
            "display_name": "张三",
            "password": PASSWORD,
        }))
        .send()
        .await
        .expect("register");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let request_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id header")
        .to_string();
    assert!(
        uuid::Uuid::try_parse(&request_id).is_ok(),
        "a UUID: {request_id}"
    );

    let (_, events) = h
        .api_get("/api/v1/audit/events?from=0&limit=1000", None)
        .await;
    let entries: Vec<serde_json::Value> = events["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| serde_json::from_str(e["entry"].as_str().expect("entry")).expect("JSON entry"))
        .collect();
    let org_event = entries
        .iter()
        .find(|e| e["action"] == "org.create" && e["payload"]["name"] == company)
        .expect("the registration's org.create event");
    assert_eq!(org_event["request_id"], request_id.as_str());
    assert_eq!(org_event["client_ip"], "127.0.0.1");
    let user_event = entries
        .iter()
        .find(|e| e["action"] == "user.create" && e["payload"]["username"] == "reqid-bidder")
        .expect("the registration's user.create event");
    assert_eq!(user_event["request_id"], request_id.as_str());

    // A caller's own correlation id is kept, so a proxy's id follows the request through.
    let r = h
        .client
        .get(h.url("/healthz"))
        .header("x-request-id", "proxy-1234")
        .send()
        .await
        .expect("healthz");
    assert_eq!(r.headers()["x-request-id"], "proxy-1234");
}
both!(request_id, request_id_lands_in_audit_event);

// ---- Domain metrics (issue 14, "Operations") ----------------------------------------------

fn with_metrics(c: &mut sunbid::config::Config) {
    c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
}

async fn scrape_at(client: &reqwest::Client, at: std::net::SocketAddr) -> String {
    let r = client
        .get(format!("http://{at}/metrics"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), StatusCode::OK);
    r.text().await.expect("body")
}

/// The value of one series (`name` or `name{labels}`) on a Prometheus text page.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// The domain lines that only a new bid, opening or alert changes (the audit size and the
/// job lag move on their own while the job loop runs).
fn settled(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| {
            ["sunbid_bids", "sunbid_openings_", "sunbid_alerts_"]
                .iter()
                .any(|p| l.starts_with(p))
        })
        .collect()
}

/// Past the deadline the agent starts the opening and two custodians unlock; waits until
/// it is opened (the job loop may be the one that performs it, a moment later).
async fn open_and_wait(h: &Harness, code: &str) {
    h.clock.advance(chrono::Duration::days(21));
    // The job loop closes the tender at its deadline meanwhile: a step that meets that
    // transaction answers 409 CONCURRENT_CHANGE and is simply tried again.
    let post = async |path: String, token: &str, body: Value| {
        for _ in 0..40 {
            let (s, v) = h.api_post(&path, Some(token), &body).await;
            if s != StatusCode::CONFLICT || v["code"] != "CONCURRENT_CHANGE" {
                assert_eq!(s, StatusCode::OK, "{path}: {v}");
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("{path}: always a concurrent change");
    };
    let agent = h.login("agent1", PASSWORD).await;
    post(
        format!("/api/v1/tenders/{code}/opening/start"),
        &agent,
        json!({}),
    )
    .await;
    for name in ["custodian0", "custodian1"] {
        let token = h.login(name, PASSWORD).await;
        post(
            format!("/api/v1/tenders/{code}/opening/unlock"),
            &token,
            json!({"passphrase": PASSWORD}),
        )
        .await;
    }
    for _ in 0..120 {
        let (_, v) = h
            .api_get(&format!("/api/v1/tenders/{code}/opening"), None)
            .await;
        if v["state"] == "opened" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the opening of {code} did not finish");
}

async fn domain_metrics_come_from_the_database(h: &Harness) {
    use crate::opening_faults::{honest_bid, published};
    let at = h.metrics_addr().expect("a metrics listener");
    let text = scrape_at(&h.client, at).await;
    assert_eq!(value(&text, "sunbid_db_up"), Some(1.0), "{text}");
    assert_eq!(value(&text, "sunbid_bids_received_total"), Some(0.0));
    assert_eq!(value(&text, "sunbid_openings_started_total"), Some(0.0));

    // Three bids, one replaced, then the opening.
    let o = published(h).await;
    let (org_a, _, a) = h.bidder("metrics_a").await;
    let (org_b, _, b) = h.bidder("metrics_b").await;
    let (org_c, _, c) = h.bidder("metrics_c").await;
    honest_bid(h, &o, &org_a, &a, 11_000_000_000).await;
    honest_bid(h, &o, &org_a, &a, 10_900_000_000).await;
    honest_bid(h, &o, &org_b, &b, 11_500_000_000).await;
    honest_bid(h, &o, &org_c, &c, 11_700_000_000).await;
    let text = scrape_at(&h.client, at).await;
    assert_eq!(
        value(&text, "sunbid_bids_received_total"),
        Some(4.0),
        "{text}"
    );
    assert_eq!(value(&text, "sunbid_bids{state=\"submitted\"}"), Some(3.0));
    assert_eq!(value(&text, "sunbid_bids{state=\"replaced\"}"), Some(1.0));
    open_and_wait(h, &o.code).await;

    // An alert as the supervision engine stores it.
    h.exec(
        "insert into supervision_alert (alert_id, kind, severity, tender_id, rule, article, \
         summary, evidence, detail, dedup_key, status, audit_seq, raised_at) values \
         ('metrics-alert', 'collusion', 'high', null, 'collusion.same_ip', '实施条例 第40条', \
         's', '[]', '{}', 'metrics-alert', 'open', 0, 0)",
    )
    .await
    .expect("insert alert");

    let text = scrape_at(&h.client, at).await;
    assert_eq!(
        value(&text, "sunbid_bids{state=\"opened\"}"),
        Some(3.0),
        "{text}"
    );
    assert_eq!(value(&text, "sunbid_openings_started_total"), Some(1.0));
    assert_eq!(
        value(&text, "sunbid_openings_finished_total{outcome=\"opened\"}"),
        Some(1.0)
    );
    let raised = "sunbid_alerts_raised_total{kind=\"collusion\",severity=\"high\"}";
    assert!(value(&text, raised).is_some_and(|n| n >= 1.0), "{text}");
    let open = "sunbid_alerts_open{kind=\"collusion\",severity=\"high\"}";
    assert!(value(&text, open).is_some_and(|n| n >= 1.0), "{text}");
    let (_, cp) = h.api_get("/api/v1/audit/checkpoint", None).await;
    let events = value(&text, "sunbid_audit_events").expect("audit size");
    assert!(events >= 1.0, "{text}");
    assert!(
        cp["size"].as_f64().is_none_or(|size| events >= size),
        "the log is at least as long as a checkpoint signed before: {cp}"
    );
    assert!(value(&text, "sunbid_job_lag_seconds").is_some_and(|s| s >= 0.0));
    assert!(value(&text, "sunbid_jobs_due").is_some());

    // A second process on the same database reports the same figures.
    let mut config = (*h.state().config).clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    config.listen = listener.local_addr().expect("addr");
    with_metrics(&mut config);
    let other = sunbid::server::start(config, h.clock.clone(), listener)
        .await
        .expect("a second process starts");
    // The supervision engine may still be raising the opening's alerts (in either
    // process): the figures must agree once nothing changes between three scrapes.
    let other_at = other.metrics_addr.expect("its metrics");
    let mut last = (String::new(), String::new());
    let mut agreed = false;
    for _ in 0..30 {
        let there = scrape_at(&h.client, other_at).await;
        let here = scrape_at(&h.client, at).await;
        let again = scrape_at(&h.client, other_at).await;
        agreed = settled(&there) == settled(&here) && settled(&here) == settled(&again);
        if agreed {
            assert!(!settled(&here).is_empty());
            break;
        }
        last = (there, here);
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    assert!(
        agreed,
        "the processes disagree:\n{}\n----\n{}",
        last.0, last.1
    );
    other.stop().await.expect("the second process stops");
}
mod domain_metrics {
    use crate::harness::{Backend, run_with};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        run_with(
            Backend::Sqlite,
            super::with_metrics,
            super::domain_metrics_come_from_the_database,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        run_with(
            Backend::Postgres,
            super::with_metrics,
            super::domain_metrics_come_from_the_database,
        )
        .await;
    }
}

// ---- Notifier settings (issue 14: the notifier settings in `Config`) ---------------------

/// A notifier that cannot work stops the start-up with a message naming the setting;
/// nothing is served that would silently drop every expert notification.
#[tokio::test]
async fn bad_notifier_settings_stop_the_start_up() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (webhook, secs, says) in [
        (Some("ftp://sms.example.cn/hook"), 10, "http:// or https://"),
        (Some("sms.example.cn/hook"), 10, "not a URL"),
        (
            Some("https://user:pw@sms.example.cn/"),
            10,
            "user or password",
        ),
        (None, 0, "notify_timeout_secs"),
        (Some("https://sms.example.cn/"), 600, "notify_timeout_secs"),
    ] {
        let config = sunbid::config::Config {
            data_dir: dir.path().join("data"),
            notify_webhook: webhook.map(str::to_string),
            notify_timeout_secs: secs,
            ..sunbid::config::Config::default()
        };
        let clock = std::sync::Arc::new(sunbid::clock::OffsetClock::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let err = match sunbid::server::start(config, clock, listener).await {
            Ok(running) => {
                running.stop().await.expect("stop");
                panic!("started with notify_webhook {webhook:?}, timeout {secs}");
            }
            Err(e) => format!("{e:#}"),
        };
        assert!(err.contains(says), "{webhook:?} {secs}: {err}");
        assert!(!err.contains("pw@"), "the password is repeated: {err}");
    }
}
