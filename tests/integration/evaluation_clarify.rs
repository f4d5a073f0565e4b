//! Clarifications during the evaluation over HTTP (docs/evaluation.md "Clarifications"): a
//! member asks a bidder, the bidder finds the request in its notices and its list, answers
//! once; another bidder may not answer; a late answer is refused and the request shows as
//! expired; the agent sees the requests without who asked.
//!
//! The tender reaches `opened` with three bids and five checked-in experts by direct inserts
//! (the sealed-bid opening and the draw ceremony have their own tests); the evaluation itself
//! runs over HTTP from its start.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::expert::{DrawRequest, EligibilityRules, Quota};
use sunbid::identity::{OrgKind, Role};
use sunbid::ids::new_id;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};
use crate::tenders::World;

/// A tender whose committee is in the preliminary review (shared with `evaluation_forms`
/// and `price_table`).
pub(crate) struct Fx {
    pub(crate) w: World,
    pub(crate) code: String,
    /// (bid id, bidder token)
    pub(crate) bids: Vec<(String, String)>,
    /// The bidders' usernames, in the order of `bids` (for logging in to the pages).
    pub(crate) bidder_names: Vec<String>,
    /// (user id, token); the first is the leader.
    pub(crate) experts: Vec<(String, String)>,
    /// The experts' usernames, in the order of `experts`; member number = index + 1.
    pub(crate) expert_names: Vec<String>,
}

async fn exec(h: &Harness, sql: String) {
    h.exec(&sql).await.expect("setup statement");
}

/// A published tender moved to `opened` with three valid bids and five confirmed,
/// checked-in experts, then the evaluation started over HTTP and the leader elected.
pub(crate) async fn in_review(h: &Harness) -> Fx {
    let w = World::new(h).await;
    let code = format!("CLR-{}", next_serial());
    w.published(h, &code, "评标澄清测试工程", 25).await;
    let tender = format!("(select tender_id from tender where code = '{code}')");
    let t0 = sunbid::clock::to_millis(h.now());
    let mut bids = Vec::new();
    let mut bidder_names = Vec::new();
    let mut record = Vec::new();
    for (i, price) in [100_000_000i64, 102_500_000, 140_000_000]
        .iter()
        .enumerate()
    {
        let username = format!("clr-bidder{}", next_serial());
        let (org, user, token) = h.bidder(&username).await;
        bidder_names.push(username);
        let id = new_id();
        exec(
            h,
            format!(
                "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
                    signature, audit_seq, submitted_at)
                 values ('{id}', {tender}, '{org}', '{user}', 'opened', '{{}}', 'x', 0, {})",
                t0 + i64::try_from(i).expect("small")
            ),
        )
        .await;
        record.push(json!({"bid_id": id, "status": "opened", "price_fen": price}));
        bids.push((id, token));
    }
    exec(
        h,
        format!(
            "insert into opening (tender_id, state, started_by, started_at, finished_at, record_json, record_sha256)
             select {tender}, 'opened', user_id, {t0}, {t0}, '{}', 'x' from app_user where username = 'agent1'",
            json!({"bids": record})
        ),
    )
    .await;
    exec(
        h,
        format!("update tender set state = 'opened' where code = '{code}'"),
    )
    .await;
    let draw_id = new_id();
    let request = DrawRequest {
        tender_id: "t".into(),
        evaluation_at: h.now().fixed_offset(),
        quotas: vec![Quota {
            specialty: "A01".into(),
            count: 5,
            alternates: 0,
        }],
        region: None,
        tenderee_org_id: w.tenderee.clone(),
        agent_org_id: None,
        bidder_org_ids: vec![],
        supervising_org_ids: vec![],
        excluded_experts: vec![],
        previously_drawn: vec![],
        rules: EligibilityRules::default(),
    };
    exec(
        h,
        format!(
            "insert into expert_draw (draw_id, tender_id, kind, requested_by, supervisor_user_id, request_json,
                evaluation_at, evaluation_place, checkin_opens_at, checkin_closes_at, confirm_minutes, state,
                secret_hex, commitment_hex, commit_seq, created_at)
             select '{draw_id}', {tender}, 'initial', user_id, user_id, '{}', 0, '评标室', 0, 0, 60, 'drawn',
                '00', '00', 0, 0 from app_user where username = 'agent1'",
            serde_json::to_string(&request).expect("json")
        ),
    )
    .await;
    let employer = h
        .create_org(OrgKind::ExpertEmployer, "工程咨询研究院有限公司")
        .await;
    let mut experts = Vec::new();
    let mut expert_names = Vec::new();
    for i in 0..5 {
        let name = format!("clr-expert{}", next_serial());
        let user = h.create_user(&name, Role::Expert, Some(&employer)).await;
        let token = h.login(&name, PASSWORD).await;
        expert_names.push(name.clone());
        let expert_id = new_id();
        exec(
            h,
            format!(
                "insert into expert (expert_id, user_id, name, specialties, region, title, years_of_practice,
                    birth_year, status, created_at, updated_at)
                 values ('{expert_id}', '{user}', '专家{i}', '[\"A01\"]', '330106', 'senior', 10, 1970, 'active', 0, 0)"
            ),
        )
        .await;
        exec(
            h,
            format!(
                "insert into expert_assignment (draw_id, expert_id, tender_id, specialty, member_no, role, state, created_at)
                 values ('{draw_id}', '{expert_id}', {tender}, 'A01', {}, 'member', 'confirmed', 0)",
                i + 1
            ),
        )
        .await;
        exec(
            h,
            format!(
                "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, audit_seq)
                 values ({tender}, '{expert_id}', '{draw_id}', 'emergency', 0, 0)"
            ),
        )
        .await;
        experts.push((user, token));
    }
    let start = json!({
        "review_criteria": [{"id": "投标函签字盖章", "kind": "formal"}],
        "price": {"criterion": "价格", "benchmark": {"kind": "lowest"},
                  "penalty_above": 100, "penalty_below": 50},
    });
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/evaluation"),
            Some(&w.agent),
            &start,
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (_, token) in &experts {
        let (status, body) = h
            .api_post(
                &format!("/api/v1/tenders/{code}/evaluation/ballots"),
                Some(token),
                &json!({"for": experts[0].0}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    Fx {
        w,
        code,
        bids,
        bidder_names,
        experts,
        expert_names,
    }
}

async fn ask_and_answer(h: &Harness) {
    let fx = in_review(h).await;
    let path = format!("/api/v1/tenders/{}/evaluation/clarifications", fx.code);
    let (bid0, bidder0) = &fx.bids[0];
    let (_, bidder1) = &fx.bids[1];
    let (member, expert) = &fx.experts[2];
    let q = "请说明投标报价中措施费的计算依据。";

    // Refused: a bidder asking, an empty question, a window too short.
    let got = h
        .api_post(
            &path,
            Some(bidder0),
            &json!({"bid_id": bid0, "question": q}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "EVALUATION_NOT_A_MEMBER");
    let got = h
        .api_post(
            &path,
            Some(expert),
            &json!({"bid_id": bid0, "question": " "}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CLARIFICATION_BAD_QUESTION",
    );
    let got = h
        .api_post(
            &path,
            Some(expert),
            &json!({"bid_id": bid0, "question": q, "window_minutes": 5}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CLARIFICATION_BAD_WINDOW",
    );

    // A member asks; the bidder is notified and finds the request.
    let (status, asked) = h
        .api_post(
            &path,
            Some(expert),
            &json!({"bid_id": bid0, "question": q, "window_minutes": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{asked}");
    assert_eq!(asked["asked_by"], json!(member));
    let id = asked["clarification_id"].as_str().expect("id").to_string();
    let (status, notices) = h.api_get("/api/v1/notices", Some(bidder0)).await;
    assert_eq!(status, StatusCode::OK);
    let text = notices.to_string();
    assert!(text.contains("evaluation_clarification"), "{text}");
    assert!(
        !text.contains(member.as_str()),
        "the notice never names the member"
    );
    let (status, mine) = h.api_get("/api/v1/clarifications", Some(bidder0)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mine["clarifications"][0]["status"], "pending");
    assert_eq!(mine["clarifications"][0]["question"], q);
    assert!(mine["clarifications"][0].get("asked_by").is_none());
    let (_, others) = h.api_get("/api/v1/clarifications", Some(bidder1)).await;
    assert_eq!(others["clarifications"], json!([]));
    let (status, agent) = h.api_get(&path, Some(&fx.w.agent)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(agent["clarifications"].as_array().map(Vec::len), Some(1));
    assert!(!agent.to_string().contains(member.as_str()));

    // Another bidder may not answer; the bidder answers once.
    let answer = format!("{path}/{id}/answer");
    let body = json!({"answer": "措施费按省定额第3章计取。"});
    let got = h.api_post(&answer, Some(bidder1), &body).await;
    assert_error(&got, StatusCode::FORBIDDEN, "CLARIFICATION_NOT_ADDRESSEE");
    let (status, done) = h.api_post(&answer, Some(bidder0), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    assert_eq!(done["status"], "answered");
    let got = h.api_post(&answer, Some(bidder0), &body).await;
    assert_error(&got, StatusCode::CONFLICT, "CLARIFICATION_ALREADY_ANSWERED");
    let (_, seen) = h.api_get(&path, Some(expert)).await;
    assert_eq!(seen["clarifications"][0]["answer"], body["answer"]);

    // A late answer is refused; the request shows as expired.
    let (status, late) = h
        .api_post(
            &path,
            Some(expert),
            &json!({"bid_id": bid0, "question": "请补充说明工期安排。", "window_minutes": 10}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{late}");
    h.clock.advance(Duration::minutes(11));
    let late_id = late["clarification_id"].as_str().expect("id");
    let got = h
        .api_post(&format!("{path}/{late_id}/answer"), Some(bidder0), &body)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CLARIFICATION_EXPIRED");
    let (_, mine) = h.api_get("/api/v1/clarifications", Some(bidder0)).await;
    let expired: Vec<&Value> = mine["clarifications"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|c| c["status"] == "expired")
        .collect();
    assert_eq!(expired.len(), 1);
    assert!(expired[0]["answer"].is_null());
}

both!(clarification_ask_answer_and_expiry, ask_and_answer);
