//! Tests of the award steps: report delivery, publicity, objections, award and contract.

use super::*;
use crate::award::view::view;
use crate::evaluation::routes::env;
use crate::evaluation::service::tests::{
    Fixture, events, js, opened, passkey_of, sheets, sign, to_scoring,
};
use crate::evaluation::service::{self as evaluation, DissentInput};
use crate::http::ApiError;
use crate::tender::testkit::{Kit, org, user};

fn api(e: ResultError) -> (u16, &'static str) {
    let a = ApiError::from(e);
    (a.status.as_u16(), a.code)
}

async fn tender_state(kit: &Kit, code: &str) -> String {
    let mut tx = kit.db().read().await.unwrap();
    let (s,): (String,) = q_one!(
        tx,
        (String,),
        "select state from tender where code = $1",
        code.to_string()
    )
    .unwrap();
    s
}

async fn notices(kit: &Kit, user_id: &str, kind: &str) -> Vec<String> {
    let mut tx = kit.db().read().await.unwrap();
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select body from notice where user_id = $1 and kind = $2",
        user_id.to_string(),
        kind.to_string()
    )
    .unwrap();
    rows.into_iter().map(|(b,)| b).collect()
}

fn advance(kit: &Kit, by: Duration) {
    kit.clock.set(kit.now() + by);
}

/// Ranked (bid 1 first, then 0, then 2); four members signed, the fifth silent.
async fn ranked(kit: &Kit) -> Fixture {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    to_scoring(kit, &fx).await;
    let tech = [5000, 5500, 5900];
    for e in &fx.experts {
        evaluation::submit_scores(env(&kit.state), e, &fx.code, &sheets(&fx, &tech))
            .await
            .expect("scores");
    }
    for e in &fx.experts[..4] {
        let mut soft = passkey_of(kit, e).await;
        sign(kit, e, &mut soft, &fx.code).await.expect("sign");
    }
    fx
}

pub(crate) async fn scenario_full_result(kit: &Kit) {
    let fx = ranked(kit).await;
    let s = &kit.state;
    let code = fx.code.as_str();

    // Delivery: the agent only; not while a member may still sign.
    let r = deliver_report(env(s), &fx.bidders[0], code).await;
    assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
    let r = deliver_report(env(s), &kit.agent, code).await;
    assert_eq!(api(r.unwrap_err()), (409, "REPORT_SIGNING_OPEN"));
    // Publicity before delivery is refused.
    let ends = kit.now() + Duration::days(4);
    let r = publish(env(s), &kit.agent, code, &PublicityInput { ends_at: ends }).await;
    assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));
    advance(kit, SIGNING_WINDOW);
    let delivered = js(&deliver_report(env(s), &kit.agent, code)
        .await
        .expect("deliver"));
    let statuses: Vec<&str> = delivered["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "signed").count(), 4);
    assert_eq!(
        statuses.iter().filter(|s| **s == "deemed_to_agree").count(),
        1
    );
    // The silent member can no longer dissent after delivery.
    let late = evaluation::dissent(
        env(s),
        &fx.experts[4],
        code,
        &DissentInput {
            reason: "迟到的异议".into(),
        },
    )
    .await;
    assert!(late.is_err());
    let r = deliver_report(env(s), &kit.agent, code).await;
    assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

    // Publicity: at least 3 days (实施条例 第54条).
    let short = kit.now() + Duration::days(3) - Duration::seconds(1);
    let r = publish(env(s), &kit.agent, code, &PublicityInput { ends_at: short }).await;
    assert_eq!(api(r.unwrap_err()), (422, "PUBLICITY_TOO_SHORT"));
    let r = publish(
        env(s),
        &fx.bidders[0],
        code,
        &PublicityInput { ends_at: ends },
    )
    .await;
    assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
    let published = js(
        &publish(env(s), &kit.agent, code, &PublicityInput { ends_at: ends })
            .await
            .expect("publish"),
    );
    assert_eq!(published["candidates"][0]["bid_id"], json!(fx.bids[1]));
    assert_eq!(published["candidates"][0]["rank"], json!(1));
    assert_eq!(published["candidates"][0]["price_fen"], json!(102_500_000));
    assert_eq!(tender_state(kit, code).await, "publicity");
    assert_eq!(
        notices(kit, &fx.bidders[2].user.user_id, "result.publicity")
            .await
            .len(),
        1
    );
    let r = publish(env(s), &kit.agent, code, &PublicityInput { ends_at: ends }).await;
    assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

    // Award before the publicity ends.
    let r = award(env(s), &kit.agent, code, &AwardInput::default()).await;
    assert_eq!(api(r.unwrap_err()), (422, "AWARD_BEFORE_PUBLICITY_ENDS"));

    // Objections: bidders of this tender only, with a text; two days into the publicity
    // so that the answer after its end is still within 3 days of the objection.
    advance(kit, Duration::days(2));
    let text = |t: &str| TextInput { text: t.into() };
    let stranger_org = org(kit.db(), "bidder", "active").await;
    let stranger = user(kit.db(), Role::Bidder, Some(&stranger_org), "active").await;
    let r = raise_objection(env(s), &stranger, code, &text("不服")).await;
    assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
    let r = raise_objection(env(s), &fx.experts[0], code, &text("不服")).await;
    assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
    let r = raise_objection(env(s), &fx.bidders[2], code, &text("   ")).await;
    assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
    let long = "异".repeat(MAX_TEXT_CHARS + 1);
    let r = raise_objection(env(s), &fx.bidders[2], code, &text(&long)).await;
    assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
    let raised = js(
        &raise_objection(env(s), &fx.bidders[2], code, &text("第一名业绩证明不实"))
            .await
            .expect("objection"),
    );
    let oid = raised["objection_id"].as_str().unwrap().to_string();

    // The public sees that there is an objection, not what it says; the objector does.
    let public = view(env(s), None, code).await.unwrap();
    assert_eq!(public.objections.len(), 1);
    assert!(public.objections[0].text.is_none());
    let other = view(env(s), Some(&fx.bidders[0]), code).await.unwrap();
    assert!(other.objections[0].text.is_none());
    let own = view(env(s), Some(&fx.bidders[2]), code).await.unwrap();
    assert_eq!(
        own.objections[0].text.as_deref(),
        Some("第一名业绩证明不实")
    );
    let agent_view = view(env(s), Some(&kit.agent), code).await.unwrap();
    assert!(agent_view.objections[0].text.is_some());

    // After the end of the publicity: no new objection; no award while one is open.
    kit.clock.set(ends + Duration::seconds(1));
    let r = raise_objection(env(s), &fx.bidders[0], code, &text("太迟")).await;
    assert_eq!(api(r.unwrap_err()), (422, "OBJECTION_OUTSIDE_PUBLICITY"));
    let r = award(env(s), &kit.agent, code, &AwardInput::default()).await;
    assert_eq!(api(r.unwrap_err()), (422, "AWARD_OBJECTIONS_UNANSWERED"));

    // Answers: the agent only, once, with a text.
    let r = answer_objection(env(s), &fx.bidders[0], code, &oid, &text("答复")).await;
    assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
    let r = answer_objection(env(s), &kit.agent, code, "no-such-id", &text("答复")).await;
    assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
    let r = answer_objection(env(s), &kit.agent, code, &oid, &text("")).await;
    assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
    let answered = js(
        &answer_objection(env(s), &kit.agent, code, &oid, &text("经核查业绩属实"))
            .await
            .expect("answer"),
    );
    assert_eq!(answered["late"], json!(false));
    let r = answer_objection(env(s), &kit.agent, code, &oid, &text("再答")).await;
    assert_eq!(api(r.unwrap_err()), (409, "OBJECTION_ALREADY_ANSWERED"));
    assert_eq!(
        notices(kit, &fx.bidders[2].user.user_id, "result.objection.answer")
            .await
            .len(),
        1
    );

    // Contract before the award.
    let contract = ContractInput {
        signed_at: kit.now(),
        amount_fen: 102_500_000,
        document_sha256: None,
    };
    let r = record_contract(env(s), &kit.agent, code, &contract).await;
    assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

    // Award: the second candidate needs a reason; a non-candidate is refused.
    let second = AwardInput {
        bid_id: Some(fx.bids[0].clone()),
        reason: None,
    };
    let r = award(env(s), &kit.agent, code, &second).await;
    assert_eq!(api(r.unwrap_err()), (422, "AWARD_REASON_REQUIRED"));
    let stranger_bid = AwardInput {
        bid_id: Some("not-a-bid".into()),
        reason: Some("x".into()),
    };
    let r = award(env(s), &kit.agent, code, &stranger_bid).await;
    assert_eq!(api(r.unwrap_err()), (422, "AWARD_NOT_A_CANDIDATE"));
    let awarded = js(&award(env(s), &kit.agent, code, &AwardInput::default())
        .await
        .expect("award"));
    assert_eq!(awarded["bid_id"], json!(fx.bids[1]));
    assert_eq!(tender_state(kit, code).await, "awarded");
    assert_eq!(
        notices(kit, &fx.bidders[1].user.user_id, "result.award")
            .await
            .len(),
        1
    );
    assert_eq!(
        notices(kit, &fx.bidders[0].user.user_id, "result.notice")
            .await
            .len(),
        1
    );
    assert!(
        notices(kit, &fx.bidders[0].user.user_id, "result.award")
            .await
            .is_empty()
    );
    let r = award(env(s), &kit.agent, code, &AwardInput::default()).await;
    assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));
    assert_eq!(
        events(kit.db(), &fx.tender_id, "result.award").await.len(),
        1
    );

    // Contract: positive amount, not in the future, within 30 days (招标投标法 第46条).
    let bad_amount = ContractInput {
        amount_fen: 0,
        ..contract.clone()
    };
    let r = record_contract(env(s), &kit.agent, code, &bad_amount).await;
    assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BAD_AMOUNT"));
    let future = ContractInput {
        signed_at: kit.now() + Duration::hours(1),
        ..contract.clone()
    };
    let r = record_contract(env(s), &kit.agent, code, &future).await;
    assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_SIGNED_IN_FUTURE"));
    let bad_digest = ContractInput {
        document_sha256: Some("xyz".into()),
        signed_at: kit.now(),
        ..contract.clone()
    };
    let r = record_contract(env(s), &kit.agent, code, &bad_digest).await;
    assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BAD_DIGEST"));
    let before_award = ContractInput {
        signed_at: kit.now() - Duration::days(1),
        ..contract.clone()
    };
    let r = record_contract(env(s), &kit.agent, code, &before_award).await;
    assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BEFORE_AWARD"));
    advance(kit, Duration::days(31));
    let late = ContractInput {
        signed_at: kit.now(),
        ..contract.clone()
    };
    let r = record_contract(env(s), &kit.agent, code, &late).await;
    assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_LATE"));
    let on_time = ContractInput {
        signed_at: kit.now() - Duration::days(2),
        document_sha256: Some("AB".repeat(32)),
        ..contract.clone()
    };
    record_contract(env(s), &kit.agent, code, &on_time)
        .await
        .expect("contract");
    assert_eq!(tender_state(kit, code).await, "contracted");
    let public = view(env(s), None, code).await.unwrap();
    assert_eq!(
        public.award.as_ref().map(|a| a.price_fen),
        Some(102_500_000)
    );
    assert_eq!(
        public
            .contract
            .as_ref()
            .and_then(|c| c.document_sha256.clone()),
        Some("ab".repeat(32))
    );
    let revealed = events(kit.db(), &fx.tender_id, "evaluation.report.reveal").await;
    assert_eq!(revealed.len(), 1);
    let report_text =
        serde_json_canonicalizer::to_string(&revealed[0]["payload"]["report"]).unwrap();
    assert_eq!(
        json!(sha256_hex(report_text.as_bytes())),
        revealed[0]["payload"]["report_sha256"]
    );
    for action in [
        "result.publicity",
        "result.objection",
        "result.objection.answer",
        "result.contract",
    ] {
        assert_eq!(
            events(kit.db(), &fx.tender_id, action).await.len(),
            1,
            "{action}"
        );
    }
}

/// A late answer is recorded and flagged; the award then follows.
pub(crate) async fn scenario_late_answer(kit: &Kit) {
    let fx = ranked(kit).await;
    let s = &kit.state;
    let code = fx.code.as_str();
    let mut soft = passkey_of(kit, &fx.experts[4]).await;
    sign(kit, &fx.experts[4], &mut soft, code)
        .await
        .expect("sign");
    deliver_report(env(s), &kit.agent, code)
        .await
        .expect("deliver");
    let ends = kit.now() + Duration::days(3);
    publish(env(s), &kit.agent, code, &PublicityInput { ends_at: ends })
        .await
        .expect("publish");
    let raised = js(&raise_objection(
        env(s),
        &fx.bidders[0],
        code,
        &TextInput {
            text: "评分有误".into(),
        },
    )
    .await
    .expect("objection"));
    let oid = raised["objection_id"].as_str().unwrap().to_string();
    advance(kit, Duration::days(4));
    let answered = js(&answer_objection(
        env(s),
        &kit.agent,
        code,
        &oid,
        &TextInput {
            text: "评分无误".into(),
        },
    )
    .await
    .expect("late answer"));
    assert_eq!(answered["late"], json!(true));
    let v = view(env(s), None, code).await.unwrap();
    assert!(v.objections[0].late);
    award(env(s), &kit.agent, code, &AwardInput::default())
        .await
        .expect("award after the answer");
}

/// A draft's result view is not found for the public and other users.
pub(crate) async fn scenario_draft_hidden(kit: &Kit) {
    let code = kit.code("D");
    crate::tender::service::create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&code, 20),
    )
    .await
    .expect("draft");
    let r = view(env(&kit.state), None, &code).await;
    assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
    let r = view(env(&kit.state), Some(&kit.bidder), &code).await;
    assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
    assert!(view(env(&kit.state), Some(&kit.agent), &code).await.is_ok());
}

#[tokio::test]
async fn draft_hidden_sqlite() {
    scenario_draft_hidden(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn full_result_sqlite() {
    scenario_full_result(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn late_answer_sqlite() {
    scenario_late_answer(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn result_postgres() {
    let Some(kit) = Kit::postgres().await else {
        return;
    };
    scenario_full_result(&kit).await;
    // The first scenario moved the clock a month on; the second starts afresh.
    let Some(kit) = Kit::postgres().await else {
        return;
    };
    scenario_late_answer(&kit).await;
}
