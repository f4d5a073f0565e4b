//! The evaluation page (`/tenders/{code}/evaluation`): who may see it and what each sees.
//! The evaluation itself is set directly in the database here (its steps are tested in the
//! service tests, and run end to end in the browser test tests/browser/evaluation.mjs).

use reqwest::StatusCode;
use serde_json::json;
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::harness::{Harness, PASSWORD};
use crate::tenders::World;

const CODE: &str = "SZ-2025-EV1";

async fn page_access(h: &Harness) {
    let w = World::new(h).await;
    w.published(h, CODE, "评标页面访问测试工程", 20).await;
    let employer = h.create_org(OrgKind::ExpertEmployer, "评标专家单位").await;
    let member = h
        .create_user("ev_member", Role::Expert, Some(&employer))
        .await;
    h.create_user("ev_other", Role::Expert, Some(&employer))
        .await;
    let supervision = h.create_org(OrgKind::Regulator, "评标监督部门").await;
    h.create_user("ev_regulator", Role::Regulator, Some(&supervision))
        .await;
    let path = format!("/tenders/{CODE}/evaluation");
    let as_user = async |username: &str| {
        let b = h.browser();
        let login = b.login(username, PASSWORD).await;
        assert!(
            login.status.is_redirection(),
            "{username}: {}",
            login.status
        );
        b
    };

    // Nobody logged in: to the login page.
    let anon = h.browser().get(&path).await;
    assert!(anon.status.is_redirection(), "{}", anon.status);
    assert_eq!(
        anon.headers.get("location").and_then(|v| v.to_str().ok()),
        Some("/login")
    );

    let agent = as_user("agent1").await;
    let bidder = as_user("bidder1").await;
    let other = as_user("ev_other").await;
    let expert = as_user("ev_member").await;
    let regulator = as_user("ev_regulator").await;

    // Before the opening: the agent sees why it cannot start; others see nothing.
    let p = agent.get(&path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("id=\"start-blocker\""), "{}", p.body);
    assert!(p.body.contains("开标后才能启动评标"));
    assert!(!p.body.contains("id=\"start-form\""));
    let p = agent.get(&format!("{path}?lang=en")).await;
    assert!(
        p.body.contains("The evaluation starts after the opening"),
        "{}",
        p.body
    );
    for b in [&bidder, &other, &expert] {
        let p = b.get(&path).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
        assert!(p.body.contains("无权查看评标情况"), "{}", p.body);
    }
    let p = regulator.get(&path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("评标尚未开始"));
    assert_eq!(
        agent.get("/tenders/NO-SUCH-CODE/evaluation").await.status,
        StatusCode::NOT_FOUND
    );

    // Opened, but no committee: still no start form.
    h.exec(&format!(
        "update tender set state = 'opened' where code = '{CODE}'"
    ))
    .await
    .expect("open");
    let p = agent.get(&path).await;
    assert!(p.body.contains("评标委员会尚未组建完成"), "{}", p.body);
    assert!(!p.body.contains("id=\"start-form\""));

    // An evaluation with ev_member on its committee.
    let members = json!([{"id": member, "role": "expert"}]).to_string();
    let criteria = json!([{"id": "投标函签字盖章", "kind": "formal"}]).to_string();
    let plan = json!({"criteria": [{"name": "施工组织设计", "max": 3000}], "price": null,
                      "aggregation": "mean"})
    .to_string();
    h.exec(&format!(
        "insert into evaluation (tender_id, state, members_json, review_criteria_json, review_rule,
            plan_json, election_round, started_by, started_at)
         select tender_id, 'electing', '{members}', '{criteria}', 'majority', '{plan}', 1, '{member}', 0
         from tender where code = '{CODE}'"
    ))
    .await
    .expect("evaluation");
    h.exec(&format!(
        "update tender set state = 'evaluating' where code = '{CODE}'"
    ))
    .await
    .expect("evaluating");

    // The member votes on the page and is named there.
    let p = expert.get(&path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("id=\"ballot-form\""), "{}", p.body);
    assert!(p.body.contains("ev_member 测试"));
    assert!(p.body.contains("data-state=\"electing\""));
    // The agent follows the progress anonymously and cannot vote.
    let p = agent.get(&path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("成员 1"), "{}", p.body);
    assert!(!p.body.contains("ev_member 测试"));
    assert!(!p.body.contains(&member));
    assert!(!p.body.contains("id=\"ballot-form\""));
    // The regulator sees names, without a ballot.
    let p = regulator.get(&path).await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains("ev_member 测试"));
    assert!(!p.body.contains("id=\"ballot-form\""));
    // Outsiders, including an expert not on the committee: 403.
    for b in [&bidder, &other] {
        let p = b.get(&path).await;
        assert_eq!(p.status, StatusCode::FORBIDDEN);
    }
}

both!(evaluation_page_access, page_access);
