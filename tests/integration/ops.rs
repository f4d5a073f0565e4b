//! Operations endpoints and the request id.

use reqwest::StatusCode;
use serde_json::json;

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
