//! Tests of replacing a member: withdrawal, the replacement draw, voiding and redoing.

//! Service tests on a real database (SQLite; PostgreSQL with `SUNBID_TEST_PG_URL`) on the
//! evaluation service's fixture. The replacement is drawn for real: the fixture's draw is
//! restricted to a region of this test's own (PostgreSQL is shared between runs) where
//! two pool experts with logins wait.

use crate::evaluation::routes::env;
use std::collections::BTreeMap;

use super::*;
use crate::evaluation::clarification::{self, AskInput};
use crate::evaluation::review::Verdict;
use crate::evaluation::service::tests::{
    Fixture, events, js, opened, sheets, to_scoring, view_json,
};
use crate::evaluation::service::{
    BallotInput, DissentInput, MarkInput, MarksInput, cast_ballot, dissent, record_marks,
    submit_scores,
};
use crate::expert::checkin::{EmergencyCheckin, emergency_checkin};
use crate::expert::eligibility::{DrawRequest, RegionRestriction};
use crate::expert::notify::LogNotifier;
use crate::expert::pool::{ExpertInput, add_expert};
use crate::expert::service::{enter_supervisor_input, respond};
use crate::http::ApiError;
use crate::tender::testkit::{Kit, user};

fn rapi(e: ReplacementError) -> (u16, &'static str) {
    let a = ApiError::from(e);
    (a.status.as_u16(), a.code)
}

/// Restricts the fixture's draw to a fresh region and puts two experts with logins in
/// it: the replacement draw can only pick one of them. Returns them by expert id.
async fn pool_for_replacement(kit: &Kit, fx: &Fixture) -> BTreeMap<String, Caller> {
    let region: String = format!("98{}", &new_id().replace('-', "")[20..30])
        .chars()
        .map(|c| if c.is_ascii_digit() { c } else { '6' })
        .collect();
    let mut tx = kit.db().begin().await.unwrap();
    let (json_text,): (String,) = q_one!(
        tx,
        (String,),
        "select request_json from expert_draw where tender_id = $1",
        fx.tender_id.clone()
    )
    .unwrap();
    let mut request: DrawRequest = serde_json::from_str(&json_text).unwrap();
    request.region = Some(RegionRestriction {
        regions: vec![region.clone()],
        reason: "本测试的专家池 / this test's pool".into(),
    });
    q_exec!(
        tx,
        "update expert_draw set request_json = $1 where tender_id = $2",
        serde_json::to_string(&request).unwrap(),
        fx.tender_id.clone()
    )
    .unwrap();
    tx.commit().await.unwrap();
    let operator = user(kit.db(), Role::Operator, None, "active").await;
    let mut out = BTreeMap::new();
    for i in 0..2 {
        let login = user(kit.db(), Role::Expert, None, "active").await;
        let input = ExpertInput {
            name: format!("补抽专家{i}"),
            specialties: vec!["A01".into()],
            region: region.clone(),
            employer_org_id: None,
            title: "senior".into(),
            years_of_practice: 15,
            birth_year: 1975,
            penalised: false,
            user_id: Some(login.user.user_id.clone()),
            unavailable: vec![],
            conflicts: vec![],
        };
        let e = add_expert(kit.db(), kit.now(), &operator, &input)
            .await
            .expect("add expert");
        out.insert(e.expert_id, login);
    }
    out
}

fn start_of(member_no: i64, reason: &str) -> StartInput {
    StartInput {
        member_no,
        reason: reason.into(),
        void_signed_report: false,
    }
}

/// The expert module's steps: the supervisor's input, the drawn expert's confirmation and
/// an emergency check-in by the supervisor. Returns the new member and their number.
async fn draw_and_check_in(
    kit: &Kit,
    fx: &Fixture,
    pool: &BTreeMap<String, Caller>,
    draw_id: &str,
) -> (Caller, i64) {
    let drawn = enter_supervisor_input(
        kit.db(),
        &LogNotifier,
        kit.now(),
        &kit.regulator,
        draw_id,
        "271828",
    )
    .await
    .expect("replacement draw");
    assert_eq!(drawn.state, "drawn");
    let mut tx = kit.db().read().await.unwrap();
    let (expert_id, no): (String, i64) = q_one!(
        tx,
        (String, i64),
        "select expert_id, member_no from expert_assignment where draw_id = $1 and role = 'member'",
        draw_id.to_string()
    )
    .unwrap();
    drop(tx);
    let who = pool
        .get(&expert_id)
        .expect("drawn from this test's pool")
        .clone();
    respond(kit.db(), kit.now(), &who, draw_id, true, None)
        .await
        .expect("confirm");
    emergency_checkin(
        kit.db(),
        kit.now(),
        &kit.regulator,
        &fx.code,
        &EmergencyCheckin {
            member_no: no,
            reason: "补抽专家到场，手机未带 / replacement present without phone".into(),
        },
    )
    .await
    .expect("check-in");
    (who, no)
}

async fn count(kit: &Kit, sql: &'static str, tid: &str) -> i64 {
    let mut tx = kit.db().read().await.unwrap();
    let (n,): (i64,) = q_one!(tx, (i64,), sql, tid.to_string()).unwrap();
    n
}

fn all_pass(fx: &Fixture) -> MarksInput {
    let mut marks = Vec::new();
    for b in &fx.bids {
        for c in ["投标函签字盖章", "施工总承包资质"] {
            marks.push(MarkInput {
                bid_id: b.clone(),
                criterion: c.into(),
                verdict: Verdict::Pass,
                reason: String::new(),
            });
        }
    }
    MarksInput { marks }
}

pub(crate) async fn scenario_replace_while_scoring(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    let pool = pool_for_replacement(kit, &fx).await;
    let reason = "专家2与投标人存在利害关系，须回避";

    // Before the evaluation starts there is nothing to replace in.
    let r = start(env(s), &kit.agent, &fx.code, &start_of(2, reason)).await;
    assert_eq!(rapi(r.unwrap_err()), (404, "NOT_FOUND"));
    to_scoring(kit, &fx).await;
    submit_scores(
        env(s),
        &fx.experts[0],
        &fx.code,
        &sheets(&fx, &[5000, 5100, 5200]),
    )
    .await
    .unwrap();
    submit_scores(
        env(s),
        &fx.experts[1],
        &fx.code,
        &sheets(&fx, &[5000, 5100, 5200]),
    )
    .await
    .unwrap();

    // Refused: not the owning agent, no reason, no such member.
    for who in [
        &kit.other_agent,
        &fx.experts[0],
        &kit.regulator,
        &kit.bidder,
    ] {
        let r = start(env(s), who, &fx.code, &start_of(2, reason)).await;
        assert_eq!(rapi(r.unwrap_err()), (403, "FORBIDDEN"));
    }
    for bad in ["", "    ", "回避", &"因".repeat(MAX_REASON_CHARS + 1)] {
        let r = start(env(s), &kit.agent, &fx.code, &start_of(2, bad)).await;
        assert_eq!(rapi(r.unwrap_err()), (422, "REPLACEMENT_REASON_REQUIRED"));
    }
    for no in [0, 99, -1] {
        let r = start(env(s), &kit.agent, &fx.code, &start_of(no, reason)).await;
        assert_eq!(rapi(r.unwrap_err()), (422, "REPLACEMENT_NOT_A_MEMBER"));
    }
    assert_eq!(
        events(kit.db(), &fx.tender_id, "evaluation.replacement.start")
            .await
            .len(),
        0
    );

    // Member no. 2 (experts[1]) withdraws: a replacement draw, the evaluation suspended.
    let started = js(&start(env(s), &kit.agent, &fx.code, &start_of(2, reason))
        .await
        .unwrap());
    let id = started["replacement_id"].as_str().unwrap().to_string();
    let draw_id = started["draw_id"].as_str().unwrap().to_string();
    assert_eq!(
        view_json(env(s), &fx.experts[0], &fx.code).await.unwrap()["state"],
        "replacing"
    );
    let ev = events(kit.db(), &fx.tender_id, "evaluation.replacement.start").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["payload"]["member"],
        json!(fx.experts[1].user.user_id)
    );
    assert_eq!(ev[0]["payload"]["reason"], json!(reason));
    assert_eq!(
        count(
            kit,
            "select count(*) from audit_event where tender_id = $1
             and action = 'evaluation.replacement.start' and withheld_stage = 'award'",
            &fx.tender_id
        )
        .await,
        1
    );
    let mut tx = kit.db().read().await.unwrap();
    let (kind, st): (String, String) = q_one!(
        tx,
        (String, String),
        "select kind, state from expert_draw where draw_id = $1",
        draw_id.clone()
    )
    .unwrap();
    drop(tx);
    assert_eq!((kind.as_str(), st.as_str()), ("replacement", "committed"));
    let r = start(env(s), &kit.agent, &fx.code, &start_of(3, reason)).await;
    assert_eq!(rapi(r.unwrap_err()), (409, "REPLACEMENT_IN_PROGRESS"));
    // Suspended: no marks, scores or clarifications meanwhile.
    let r = submit_scores(env(s), &fx.experts[2], &fx.code, &sheets(&fx, &[1, 1, 1])).await;
    assert_eq!(
        ApiError::from(r.unwrap_err()).code,
        "EVALUATION_WRONG_STATE"
    );
    let r = clarification::ask(
        env(s),
        &fx.experts[2],
        &fx.code,
        &AskInput {
            bid_id: fx.bids[0].clone(),
            question: "请说明".into(),
            window_minutes: None,
        },
    )
    .await;
    assert_eq!(
        ApiError::from(r.unwrap_err()).code,
        "EVALUATION_WRONG_STATE"
    );

    // Not ready until the replacement is drawn, confirmed and checked in.
    let r = complete(env(s), &kit.agent, &fx.code, &id).await;
    let e = ApiError::from(r.unwrap_err());
    assert_eq!((e.status.as_u16(), e.code), (409, "REPLACEMENT_NOT_READY"));
    assert!(e.message.contains("supervisor"), "{}", e.message);
    let r = complete(env(s), &kit.other_agent, &fx.code, &id).await;
    assert_eq!(rapi(r.unwrap_err()), (403, "FORBIDDEN"));
    let r = complete(env(s), &kit.agent, &fx.code, "nope").await;
    assert_eq!(rapi(r.unwrap_err()), (404, "NOT_FOUND"));
    let (newcomer, new_no) = draw_and_check_in(kit, &fx, &pool, &draw_id).await;
    assert!(new_no > 5);

    let done = js(&complete(env(s), &kit.agent, &fx.code, &id).await.unwrap());
    assert_eq!(done["evaluation_state"], "review");
    assert_eq!(done["marks_voided"], json!(6));
    assert_eq!(done["sheets_voided"], json!(6));
    let r = complete(env(s), &kit.agent, &fx.code, &id).await;
    assert_eq!(rapi(r.unwrap_err()), (409, "REPLACEMENT_COMPLETE"));
    let ev = events(kit.db(), &fx.tender_id, "evaluation.replacement.complete").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["payload"]["replacement"],
        json!(newcomer.user.user_id)
    );
    assert_eq!(ev[0]["payload"]["voided"]["marks_removed"], json!(6));

    // The replaced member's scores are gone (kept in evaluation_void), and so are the
    // others' sheets: the review is decided again.
    let tid = fx.tender_id.as_str();
    let gone = fx.experts[1].user.user_id.clone();
    let mut tx = kit.db().read().await.unwrap();
    let (m, sh): (i64, i64) = q_one!(
        tx,
        (i64, i64),
        "select (select count(*) from evaluation_mark where tender_id = $1 and member = $2),
                (select count(*) from evaluation_sheet where tender_id = $1)",
        tid.to_string(),
        gone.clone()
    )
    .unwrap();
    drop(tx);
    assert_eq!((m, sh), (0, 0));
    assert_eq!(
        count(
            kit,
            "select count(*) from evaluation_void where tender_id = $1 and why = 'replaced_member'",
            tid
        )
        .await,
        9
    );
    assert_eq!(
        count(
            kit,
            "select count(*) from evaluation_void where tender_id = $1 and why = 'review_redone'",
            tid
        )
        .await,
        3
    );
    let v = view_json(env(s), &newcomer, &fx.code).await.unwrap();
    assert_eq!(v["state"], "review");
    let committee = v["committee"].to_string();
    assert!(committee.contains(&newcomer.user.user_id));
    assert!(!committee.contains(&gone));

    // The replaced member can no longer act; the newcomer marks, everyone scores again.
    let r = record_marks(env(s), &fx.experts[1], &fx.code, &all_pass(&fx)).await;
    assert_eq!(
        ApiError::from(r.unwrap_err()).code,
        "EVALUATION_NOT_A_MEMBER"
    );
    let decided = js(&record_marks(env(s), &newcomer, &fx.code, &all_pass(&fx))
        .await
        .unwrap());
    assert_eq!(decided["decided"], json!(true));
    let members = [
        &fx.experts[0],
        &newcomer,
        &fx.experts[2],
        &fx.experts[3],
        &fx.experts[4],
    ];
    let mut last = Value::Null;
    for e in members {
        last = js(
            &submit_scores(env(s), e, &fx.code, &sheets(&fx, &[5000, 5100, 5200]))
                .await
                .unwrap(),
        );
    }
    assert_eq!(last["all_in"], json!(true));
    assert_eq!(
        view_json(env(s), &newcomer, &fx.code).await.unwrap()["state"],
        "ranked"
    );

    // The agent sees member numbers, never who; a regulator sees both.
    let agent = serde_json::to_value(list(env(s), &kit.agent, &fx.code).await.unwrap()).unwrap();
    assert_eq!(agent.as_array().map(Vec::len), Some(1));
    assert_eq!(agent[0]["member_no"], json!(2));
    assert!(agent[0].get("member").is_none());
    let reg = serde_json::to_value(list(env(s), &kit.regulator, &fx.code).await.unwrap()).unwrap();
    assert_eq!(reg[0]["member"], json!(gone));
    // An operator, like the agent, until the award (招标投标法 第37条).
    let op = user(kit.db(), Role::Operator, None, "active").await;
    let ops = serde_json::to_value(list(env(s), &op, &fx.code).await.unwrap()).unwrap();
    assert_eq!(ops[0]["member_no"], json!(2));
    assert!(ops[0].get("member").is_none() && ops[0].get("replacement").is_none());
    let r = list(env(s), &kit.bidder, &fx.code).await;
    assert_eq!(rapi(r.unwrap_err()), (403, "FORBIDDEN"));
}

pub(crate) async fn scenario_replace_leader_after_report(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    let pool = pool_for_replacement(kit, &fx).await;
    to_scoring(kit, &fx).await;
    for e in &fx.experts {
        submit_scores(env(s), e, &fx.code, &sheets(&fx, &[5000, 5100, 5200]))
            .await
            .unwrap();
    }
    dissent(
        env(s),
        &fx.experts[3],
        &fx.code,
        &DissentInput {
            reason: "对技术分持保留意见".into(),
        },
    )
    .await
    .unwrap();
    // The leader (experts[0], no. 1) falls ill after the report was acted on.
    let reason = "组长突发疾病，无法继续评标";
    let r = start(env(s), &kit.agent, &fx.code, &start_of(1, reason)).await;
    let e = ApiError::from(r.unwrap_err());
    assert_eq!(
        (e.status.as_u16(), e.code),
        (409, "REPLACEMENT_REPORT_SIGNED")
    );
    let mut input = start_of(1, reason);
    input.void_signed_report = true;
    let started = js(&start(env(s), &kit.agent, &fx.code, &input).await.unwrap());
    let id = started["replacement_id"].as_str().unwrap().to_string();
    let draw_id = started["draw_id"].as_str().unwrap().to_string();
    let (newcomer, _) = draw_and_check_in(kit, &fx, &pool, &draw_id).await;
    let done = js(&complete(env(s), &kit.agent, &fx.code, &id).await.unwrap());
    assert_eq!(done["evaluation_state"], "electing");
    assert_eq!(done["election_round"], json!(2));
    assert_eq!(done["acts_voided"], json!(1));
    let tid = fx.tender_id.as_str();
    assert_eq!(
        count(
            kit,
            "select count(*) from evaluation_signature where tender_id = $1",
            tid
        )
        .await,
        0
    );
    assert_eq!(
        count(
            kit,
            "select count(*) from evaluation_void where tender_id = $1 and why = 'report_changed'",
            tid
        )
        .await,
        1
    );
    let v = view_json(env(s), &newcomer, &fx.code).await.unwrap();
    assert!(v["ranking"].is_null());
    assert!(v["report_sha256"].is_null());
    assert_eq!(v["election"]["elected"], json!(false));
    let ev = events(kit.db(), tid, "evaluation.replacement.complete").await;
    assert!(ev[0]["payload"]["report_sha256_voided"].is_string());
    // A new election among the new committee, then the review again.
    let members = [
        &newcomer,
        &fx.experts[1],
        &fx.experts[2],
        &fx.experts[3],
        &fx.experts[4],
    ];
    let mut last = Value::Null;
    for e in members {
        let ballot = BallotInput {
            candidate: fx.experts[2].user.user_id.clone(),
        };
        last = js(&cast_ballot(env(s), e, &fx.code, &ballot).await.unwrap());
    }
    assert_eq!(last["result"], "elected");
    assert_eq!(
        view_json(env(s), &newcomer, &fx.code).await.unwrap()["state"],
        "review"
    );
}

/// Lowest evaluated price: the leader's price comparison table is part of the report, so
/// a replacement that voids the report voids the table too, and the leader records a new
/// one after the review is redone.
pub(crate) async fn scenario_replace_after_price_table(kit: &Kit) {
    use crate::evaluation::price_table::{self, AdjustmentInput, PriceTableInput};
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    price_table::tests::set_lowest_price(kit, &fx.tender_id).await;
    let pool = pool_for_replacement(kit, &fx).await;
    to_scoring(kit, &fx).await;
    let table = PriceTableInput {
        adjustments: vec![AdjustmentInput {
            bid_id: fx.bids[0].clone(),
            amount_fen: 3_000_000,
            reason: "工期偏差折价".into(),
        }],
    };
    price_table::record(env(s), &fx.experts[0], &fx.code, &table)
        .await
        .unwrap();
    dissent(
        env(s),
        &fx.experts[3],
        &fx.code,
        &DissentInput {
            reason: "工期偏差折价金额偏低".into(),
        },
    )
    .await
    .unwrap();
    let mut input = start_of(2, "成员与投标人存在利害关系，应当回避");
    input.void_signed_report = true;
    let started = js(&start(env(s), &kit.agent, &fx.code, &input).await.unwrap());
    let id = started["replacement_id"].as_str().unwrap().to_string();
    let draw_id = started["draw_id"].as_str().unwrap().to_string();
    let (newcomer, _) = draw_and_check_in(kit, &fx, &pool, &draw_id).await;
    let done = js(&complete(env(s), &kit.agent, &fx.code, &id).await.unwrap());
    assert_eq!(done["evaluation_state"], "review");
    let tid = fx.tender_id.as_str();
    let archived: Vec<(String, String)> = {
        let mut tx = kit.db().read().await.unwrap();
        q_all!(
            tx,
            (String, String),
            "select member, row_json from evaluation_void where tender_id = $1 and kind = 'price_table'",
            tid.to_string()
        )
        .unwrap()
    };
    assert_eq!(archived.len(), 1);
    assert_eq!(archived[0].0, fx.experts[0].user.user_id);
    let row: Value = serde_json::from_str(&archived[0].1).unwrap();
    assert_eq!(row[0]["reason"], "工期偏差折价");
    let v = view_json(env(s), &newcomer, &fx.code).await.unwrap();
    assert!(v["price_table"].is_null());
    assert!(v["report_sha256"].is_null());
    // The newcomer marks every bid; the review is decided again and the leader records
    // a new table.
    let marks = fx
        .bids
        .iter()
        .flat_map(|b| {
            ["投标函签字盖章", "施工总承包资质"].map(|c| MarkInput {
                bid_id: b.clone(),
                criterion: c.into(),
                verdict: Verdict::Pass,
                reason: String::new(),
            })
        })
        .collect();
    record_marks(env(s), &newcomer, &fx.code, &MarksInput { marks })
        .await
        .unwrap();
    let again = price_table::record(env(s), &fx.experts[0], &fx.code, &table)
        .await
        .unwrap();
    assert!(again.report_sha256.is_some());
    assert_eq!(
        view_json(env(s), &newcomer, &fx.code).await.unwrap()["state"],
        "ranked"
    );
}

#[test]
fn the_step_to_redo() {
    let r = redo_from(EvaluationState::Electing, false);
    assert_eq!(
        (r.to_state, r.new_election, r.all_sheets_void, r.report_void),
        (EvaluationState::Electing, true, false, false)
    );
    let r = redo_from(EvaluationState::Review, false);
    assert_eq!(
        (r.to_state, r.new_election, r.all_sheets_void, r.report_void),
        (EvaluationState::Review, false, false, false)
    );
    let r = redo_from(EvaluationState::Scoring, false);
    assert_eq!(
        (r.to_state, r.all_sheets_void, r.report_void),
        (EvaluationState::Review, true, false)
    );
    let r = redo_from(EvaluationState::Ranked, false);
    assert_eq!(
        (r.to_state, r.all_sheets_void, r.report_void),
        (EvaluationState::Review, true, true)
    );
    let r = redo_from(EvaluationState::Ranked, true);
    assert_eq!(
        (r.to_state, r.new_election, r.report_void),
        (EvaluationState::Electing, true, true)
    );
}

#[tokio::test]
async fn replace_while_scoring_sqlite() {
    scenario_replace_while_scoring(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn replace_leader_after_report_sqlite() {
    scenario_replace_leader_after_report(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn replace_after_price_table_sqlite() {
    scenario_replace_after_price_table(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn all_scenarios_postgres() {
    let Some(kit) = Kit::postgres().await else {
        return;
    };
    scenario_replace_while_scoring(&kit).await;
    scenario_replace_leader_after_report(&kit).await;
    scenario_replace_after_price_table(&kit).await;
}
