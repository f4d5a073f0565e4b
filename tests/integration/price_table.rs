//! The lowest evaluated price over HTTP (docs/evaluation.md "The price comparison table"):
//! after the review, the leader records the committee's price comparison table; the bids are
//! ranked by evaluated price at once and the report carries the table. Every refusal leaves
//! the evaluation in `scoring` with nothing recorded.

use reqwest::StatusCode;
use serde_json::json;

use crate::both;
use crate::evaluation_clarify::in_review;
use crate::harness::{Harness, PASSWORD, assert_error};

async fn price_table(h: &Harness) {
    let fx = in_review(h).await;
    let code = &fx.code;
    h.exec(&format!(
        "update tender set evaluation_method = 'lowest_price' where code = '{code}'"
    ))
    .await
    .expect("method");
    // The review: every member passes every bid.
    for (_, token) in &fx.experts {
        let marks: Vec<_> = fx
            .bids
            .iter()
            .map(|(b, _)| json!({"bid_id": b, "criterion": "投标函签字盖章", "verdict": "pass"}))
            .collect();
        let (status, body) = h
            .api_post(
                &format!("/api/v1/tenders/{code}/evaluation/review-marks"),
                Some(token),
                &json!({ "marks": marks }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let view = format!("/api/v1/tenders/{code}/evaluation");
    let path = format!("/api/v1/tenders/{code}/evaluation/price-table");
    let state = async || h.api_get(&view, Some(&fx.w.agent)).await.1["state"].clone();
    assert_eq!(state().await, "scoring");
    let (leader, member) = (&fx.experts[0].1, &fx.experts[1].1);
    let (b0, b1, b2) = (&fx.bids[0].0, &fx.bids[1].0, &fx.bids[2].0);
    let table = json!({"adjustments": [
        {"bid_id": b0, "amount_fen": 3_000_000, "reason": "工期偏差折价（招标文件第三章 2.1）"},
        {"bid_id": b2, "amount_fen": -1_000_000, "reason": "提前竣工优惠"},
    ]});

    // Refusals.
    let got = h.api_post(&path, None, &table).await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    let got = h.api_post(&path, Some(member), &table).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert!(got.1["message"].as_str().unwrap_or("").contains("组长"));
    let got = h.api_post(&path, Some(&fx.w.agent), &table).await;
    assert_error(&got, StatusCode::FORBIDDEN, "EVALUATION_NOT_A_MEMBER");
    let got = h.api_post(&path, Some(&fx.bids[0].1), &table).await;
    assert_error(&got, StatusCode::FORBIDDEN, "EVALUATION_NOT_A_MEMBER");
    let got = h
        .api_post_raw(
            &path,
            Some(leader),
            "application/json",
            "{\"adjustments\": [",
        )
        .await;
    assert!(got.0.is_client_error(), "{}", got.0);
    let got = h
        .api_post(
            &path,
            Some(leader),
            &json!({"adjustments": [], "winner": b0}),
        )
        .await;
    assert!(got.0.is_client_error(), "{}", got.0);
    let got = h
        .api_post(
            &path,
            Some(leader),
            &json!({"adjustments": [{"bid_id": b0, "amount_fen": "三万", "reason": "x"}]}),
        )
        .await;
    assert!(got.0.is_client_error(), "{}", got.0);
    let bad = json!({"adjustments": [
        {"bid_id": b0, "amount_fen": 0, "reason": "零"},
        {"bid_id": "no-such-bid", "amount_fen": 100, "reason": "x"},
        {"bid_id": b1, "amount_fen": 100, "reason": "  "},
        {"bid_id": b2, "amount_fen": -200_000_000, "reason": "低于零"},
    ]});
    let got = h.api_post(&path, Some(leader), &bad).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PRICE_TABLE_INVALID",
    );
    let problems: Vec<_> = got.1["details"]["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| {
            (
                p["problem"].as_str().unwrap_or("").to_string(),
                p["line"].as_u64(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("zero".to_string(), Some(1)),
            ("unknown_bid".to_string(), Some(2)),
            ("no_reason".to_string(), Some(3)),
            ("negative_evaluated_price".to_string(), None),
        ]
    );
    let scores = h
        .api_post(
            &format!("/api/v1/tenders/{code}/evaluation/scores"),
            Some(leader),
            &json!({"sheets": []}),
        )
        .await;
    assert_error(&scores, StatusCode::CONFLICT, "EVALUATION_WRONG_METHOD");
    assert_eq!(state().await, "scoring");
    assert_eq!(
        h.api_get(&view, Some(leader)).await.1["price_table"],
        json!(null)
    );

    // The agent's page waits for the leader; nobody gets a score-sheet form.
    let agent = h.browser();
    assert!(
        agent
            .login("agent1", PASSWORD)
            .await
            .status
            .is_redirection()
    );
    let page = agent.get(&format!("/tenders/{code}/evaluation")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("id=\"price-table-wait\""),
        "{}",
        page.body
    );
    assert!(!page.body.contains("id=\"scores-form\""));
    assert!(!page.body.contains("id=\"price-table-form\""));

    // The leader's table (万元): b0 100 + 3 = 103, b1 102.5, b2 140 - 1 = 139; b1 now first.
    let (status, done) = h.api_post(&path, Some(leader), &table).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["outcome"]["candidates"], json!([b1, b0, b2]));
    assert_eq!(state().await, "ranked");
    let again = h.api_post(&path, Some(leader), &table).await;
    assert_error(&again, StatusCode::CONFLICT, "EVALUATION_WRONG_STATE");
    let v = h.api_get(&view, Some(member)).await.1;
    assert_eq!(v["price_table"][0]["amount_fen"], 3_000_000);
    assert_eq!(
        v["ranking"]["rows"][1]["detail"]["evaluated_price_fen"],
        103_000_000
    );
    assert_eq!(v["report_sha256"], done["report_sha256"]);

    // The agent's page ranks by evaluated price; the report shows the table.
    let page = agent.get(&format!("/tenders/{code}/evaluation")).await;
    assert!(page.body.contains("评标价"), "{}", page.body);
    assert!(page.body.contains("1,030,000.00"));
    let report = agent
        .get(&format!("/tenders/{code}/evaluation/report"))
        .await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body.contains("标价比较表"), "{}", report.body);
    assert!(report.body.contains("工期偏差折价（招标文件第三章 2.1）"));
    assert!(report.body.contains("-10,000.00"));
}

both!(lowest_price_table, price_table);
