//! The result API over HTTP (issue 5, item 6): who may call what, and bad input — a missing
//! login, a stranger, the wrong state, malformed bodies — each refused with a clear error
//! and nothing stored. The full sequence (report, publicity, objections, award, contract)
//! runs in the service tests of src/award/service.rs and in the browser test
//! tests/browser/evaluation.mjs.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};
use crate::tenders::World;

async fn refusals(h: &Harness) {
    let w = World::new(h).await;
    let code = format!("RES-{}", next_serial());
    w.published(h, &code, "结果公示测试工程", 25).await;
    let agent = w.agent.clone();
    let bidder = &w.bidder1;
    let before = h.snapshot().await;

    // Public view: anyone; an unknown tender is 404.
    let (status, view) = h
        .api_get(&format!("/api/v1/tenders/{code}/result"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "published");
    assert!(view["publicity"].is_null());
    assert!(view.get("agent_org_id").is_none());
    let got = h.api_get("/api/v1/tenders/NO-SUCH/result", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    let path = |p: &str| format!("/api/v1/tenders/{code}/{p}");
    let ends = (h.now() + chrono::Duration::days(4)).to_rfc3339();

    // No login: 401 on every write.
    for (p, body) in [
        ("evaluation/report/deliver", json!({})),
        ("publicity", json!({"ends_at": ends})),
        ("result-objections", json!({"text": "不服"})),
        ("award", json!({})),
        (
            "contract",
            json!({"signed_at": h.now().to_rfc3339(), "amount_fen": 100}),
        ),
    ] {
        let (status, body) = h.api_post(&path(p), None, &body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{p}: {body}");
    }

    // A bidder may not act for the agent.
    let got = h
        .api_post(&path("publicity"), Some(bidder), &json!({"ends_at": ends}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h.api_post(&path("award"), Some(bidder), &json!({})).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");

    // The agent, but nothing evaluated yet: the wrong state, or no evaluation at all.
    let got = h
        .api_post(&path("publicity"), Some(&agent), &json!({"ends_at": ends}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "RESULT_WRONG_STATE");
    let got = h
        .api_post(&path("evaluation/report/deliver"), Some(&agent), &json!({}))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let got = h
        .api_post(
            &path("contract"),
            Some(&agent),
            &json!({"signed_at": h.now().to_rfc3339(), "amount_fen": 100}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "RESULT_WRONG_STATE");

    // An objection with no publicity: refused, whoever sends it.
    let got = h
        .api_post(
            &path("result-objections"),
            Some(bidder),
            &json!({"text": "不服"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::FORBIDDEN, "{}", got.1);
    let got = h
        .api_post(
            &path("result-objections/abc/answer"),
            Some(&agent),
            &json!({"text": "答复"}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Malformed bodies: unknown fields, wrong types, an impossible time, bad amounts.
    for (p, body) in [
        ("publicity", json!({"ends_at": "next week"})),
        ("publicity", json!({"ends_at": ends, "starts_at": ends})),
        ("award", json!({"bid_id": 7})),
        (
            "contract",
            json!({"signed_at": "2026-13-40T00:00:00Z", "amount_fen": 1}),
        ),
        (
            "contract",
            json!({"signed_at": h.now().to_rfc3339(), "amount_fen": "100"}),
        ),
        ("result-objections", json!({"body": "wrong field"})),
    ] {
        let (status, err) = h.api_post(&path(p), Some(&agent), &body).await;
        assert!(status.is_client_error(), "{p} {body}: {status} {err}");
        assert!(
            err["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{p}: {err}"
        );
    }
    let got = h
        .api_post_raw(
            &path("publicity"),
            Some(&agent),
            "application/json",
            "{not json",
        )
        .await;
    assert!(got.0.is_client_error(), "{}", got.1);
    let got = h
        .api_post(
            &path("contract"),
            Some(&agent),
            &json!({"signed_at": h.now().to_rfc3339(), "amount_fen": -5}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CONTRACT_BAD_AMOUNT",
    );
    let got = h
        .api_post(
            &path("contract"),
            Some(&agent),
            &json!({"signed_at": h.now().to_rfc3339(), "amount_fen": 5, "document_sha256": "../etc"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CONTRACT_BAD_DIGEST",
    );

    // Nothing was stored by any refusal, and the tender is unchanged.
    assert_eq!(h.snapshot().await, before);
    let (_, view) = h
        .api_get(&format!("/api/v1/tenders/{code}/result"), None)
        .await;
    assert_eq!(view["state"], "published");

    // The page renders for the public, and its forms need the CSRF token.
    let b = h.browser();
    let page = b.get(&format!("/tenders/{code}/result")).await;
    assert_eq!(page.status, StatusCode::OK);
    let refused = b
        .post_form(&format!("/tenders/{code}/result/award"), &[("bid_id", "x")])
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    // The agent's forms, with the token: a time or amount that does not parse is a clear
    // 422 page, and nothing is stored.
    let agent_page = h.browser();
    agent_page.login("agent1", PASSWORD).await;
    let csrf = agent_page.cookie("sunbid_csrf").expect("csrf cookie");
    let before = h.snapshot().await;
    for (form, fields) in [
        (
            "publicity",
            vec![("ends_at", "下周"), ("csrf", csrf.as_str())],
        ),
        (
            "contract",
            vec![
                ("signed_at", "2026-11-23T10:00"),
                ("amount_yuan", "一百元"),
                ("csrf", csrf.as_str()),
            ],
        ),
    ] {
        let page = agent_page
            .post_form(&format!("/tenders/{code}/result/{form}"), &fields)
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
    }
    assert_eq!(h.snapshot().await, before);
}
both!(result_refusals, refusals);
