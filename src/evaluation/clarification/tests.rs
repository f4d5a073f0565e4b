//! Tests of clarification requests and answers.

//! Service tests on a real database (SQLite; PostgreSQL with `SUNBID_TEST_PG_URL`), on the
//! evaluation service's fixture: a tender in `opened` with bids and checked-in experts.

use super::*;
use crate::evaluation::routes::env;
use crate::evaluation::service::tests::{events, opened, sheets, start_input, to_scoring};
use crate::evaluation::service::{BallotInput, cast_ballot, start, submit_scores};
use crate::http::ApiError;
use crate::tender::testkit::{Kit, org, user};

fn capi(e: ClarificationError) -> (u16, &'static str) {
    let a = ApiError::from(e);
    (a.status.as_u16(), a.code)
}

/// A bidder user of the organisation that submitted `bid_id`.
async fn bidder_of(kit: &Kit, bid_id: &str) -> Caller {
    let mut tx = kit.db().read().await.unwrap();
    let (org_id,): (String,) = q_one!(
        tx,
        (String,),
        "select bidder_org_id from bid where bid_id = $1",
        bid_id.to_string()
    )
    .unwrap();
    drop(tx);
    user(kit.db(), Role::Bidder, Some(&org_id), "active").await
}

fn ask_input(bid: &str, question: &str, window: Option<u32>) -> AskInput {
    AskInput {
        bid_id: bid.to_string(),
        question: question.to_string(),
        window_minutes: window,
    }
}

async fn notices_of(kit: &Kit, who: &Caller) -> i64 {
    let mut tx = kit.db().read().await.unwrap();
    let (n,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from notice where user_id = $1 and kind = 'evaluation_clarification'",
        who.user.user_id.clone()
    )
    .unwrap();
    n
}

pub(crate) async fn scenario_ask_and_answer(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    let bidder0 = bidder_of(kit, &fx.bids[0]).await;
    let bidder1 = bidder_of(kit, &fx.bids[1]).await;
    let q = "请说明投标报价中措施费的计算依据。";

    // No evaluation yet, then the wrong step (electing).
    let r = ask(
        env(s),
        &fx.experts[0],
        &fx.code,
        &ask_input(&fx.bids[0], q, None),
    )
    .await;
    assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
    start(env(s), &kit.agent, &fx.code, &start_input())
        .await
        .unwrap();
    let r = ask(
        env(s),
        &fx.experts[0],
        &fx.code,
        &ask_input(&fx.bids[0], q, None),
    )
    .await;
    assert_eq!(capi(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));
    for e in &fx.experts {
        let ballot = BallotInput {
            candidate: fx.experts[0].user.user_id.clone(),
        };
        cast_ballot(env(s), e, &fx.code, &ballot).await.unwrap();
    }

    // Not a member: a bidder, the agent, an expert not on the committee.
    let outsider = user(kit.db(), Role::Expert, None, "active").await;
    for who in [&bidder0, &kit.agent, &outsider] {
        let r = ask(env(s), who, &fx.code, &ask_input(&fx.bids[0], q, None)).await;
        assert_eq!(capi(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    }
    // Bad text, window and bid.
    let e0 = &fx.experts[0];
    for bad in ["", "   \n ", &"问".repeat(MAX_QUESTION_CHARS + 1)] {
        let r = ask(env(s), e0, &fx.code, &ask_input(&fx.bids[0], bad, None)).await;
        assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_QUESTION"));
    }
    for w in [0, MIN_WINDOW_MINUTES - 1, MAX_WINDOW_MINUTES + 1] {
        let r = ask(env(s), e0, &fx.code, &ask_input(&fx.bids[0], q, Some(w))).await;
        assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_WINDOW"));
    }
    let r = ask(env(s), e0, &fx.code, &ask_input("no-such-bid", q, None)).await;
    assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_UNKNOWN_BID"));
    assert_eq!(notices_of(kit, &bidder0).await, 0);

    // A member asks the bidder of bid 0; the longest question is accepted.
    let asked = ask(
        env(s),
        &fx.experts[2],
        &fx.code,
        &ask_input(&fx.bids[0], q, Some(30)),
    )
    .await
    .unwrap();
    assert_eq!(asked.status, Status::Pending);
    assert_eq!(
        asked.asked_by.as_deref(),
        Some(fx.experts[2].user.user_id.as_str())
    );
    assert_eq!(asked.answer_by - asked.asked_at, TimeDelta::minutes(30));
    let long = "问".repeat(MAX_QUESTION_CHARS);
    ask(
        env(s),
        e0,
        &fx.code,
        &ask_input(&fx.bids[1], &long, Some(MAX_WINDOW_MINUTES)),
    )
    .await
    .unwrap();
    let ev = events(kit.db(), &fx.tender_id, "evaluation.clarification.request").await;
    assert_eq!(ev.len(), 2);
    assert_eq!(
        ev[0]["payload"]["question_sha256"],
        json!(sha256_hex(q.as_bytes()))
    );
    assert_eq!(
        ev[0]["payload"]["member"],
        json!(fx.experts[2].user.user_id)
    );
    assert_eq!(notices_of(kit, &bidder0).await, 1);
    assert_eq!(notices_of(kit, &bidder1).await, 1);

    // Who sees what.
    let mine = list_for_tender(env(s), &bidder0, &fx.code).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].bid_id, fx.bids[0]);
    assert!(mine[0].asked_by.is_none());
    let text = serde_json::to_string(&mine).unwrap();
    assert!(!text.contains(&fx.experts[2].user.user_id), "{text}");
    assert!(
        list_for_tender(env(s), &kit.bidder, &fx.code)
            .await
            .unwrap()
            .is_empty()
    );
    let agent = list_for_tender(env(s), &kit.agent, &fx.code).await.unwrap();
    assert_eq!(agent.len(), 2);
    assert!(agent.iter().all(|c| c.asked_by.is_none()));
    let reg = list_for_tender(env(s), &kit.regulator, &fx.code)
        .await
        .unwrap();
    assert!(reg.iter().all(|c| c.asked_by.is_some()));
    // An operator follows the clarifications but not who asked, until the award.
    let op = user(kit.db(), Role::Operator, None, "active").await;
    let ops = list_for_tender(env(s), &op, &fx.code).await.unwrap();
    assert_eq!(ops.len(), 2);
    assert!(ops.iter().all(|c| c.asked_by.is_none()));
    assert_eq!(
        list_for_tender(env(s), &fx.experts[4], &fx.code)
            .await
            .unwrap()
            .len(),
        2
    );
    let r = list_for_tender(env(s), &kit.other_agent, &fx.code).await;
    assert_eq!(capi(r.unwrap_err()), (403, "FORBIDDEN"));
    let across = list_mine(env(s), &bidder0).await.unwrap();
    assert_eq!(across.len(), 1);
    assert_eq!(across[0].status, Status::Pending);
    let r = list_mine(env(s), &fx.experts[0]).await;
    assert_eq!(capi(r.unwrap_err()), (403, "FORBIDDEN"));

    // Answers: not the addressee, bad text, wrong tender, then once only.
    let id = asked.clarification_id.clone();
    let good = AnswerInput {
        answer: "措施费按省定额第3章计取，详见投标文件第45页。".into(),
    };
    for who in [&bidder1, &kit.bidder, &fx.experts[2], &kit.agent] {
        let r = answer(env(s), who, &fx.code, &id, &good).await;
        assert_eq!(capi(r.unwrap_err()), (403, "CLARIFICATION_NOT_ADDRESSEE"));
    }
    for bad in [String::new(), " ".into(), "答".repeat(MAX_ANSWER_CHARS + 1)] {
        let r = answer(
            env(s),
            &bidder0,
            &fx.code,
            &id,
            &AnswerInput { answer: bad },
        )
        .await;
        assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_ANSWER"));
    }
    let other = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let r = answer(env(s), &bidder0, &other.code, &id, &good).await;
    assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
    let r = answer(env(s), &bidder0, &fx.code, "not-an-id", &good).await;
    assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
    let done = answer(env(s), &bidder0, &fx.code, &id, &good)
        .await
        .unwrap();
    assert_eq!(done.status, Status::Answered);
    assert_eq!(done.answer.as_deref(), Some(good.answer.as_str()));
    assert!(done.asked_by.is_none());
    let again = AnswerInput {
        answer: "更正：按第4章计取。".into(),
    };
    let r = answer(env(s), &bidder0, &fx.code, &id, &again).await;
    assert_eq!(
        capi(r.unwrap_err()),
        (409, "CLARIFICATION_ALREADY_ANSWERED")
    );
    let ev = events(kit.db(), &fx.tender_id, "evaluation.clarification.answer").await;
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0]["payload"]["answer_sha256"],
        json!(sha256_hex(good.answer.as_bytes()))
    );
    // Both events are withheld until the award: the public sees leaf hashes only.
    let mut tx = kit.db().read().await.unwrap();
    let (withheld,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from audit_event where tender_id = $1 and action like 'evaluation.clarification.%'
         and withheld_stage = 'award'",
        fx.tender_id.clone()
    )
    .unwrap();
    drop(tx);
    assert_eq!(withheld, 3);

    // A late answer is refused and nothing is stored; the request shows as expired.
    let short = ask(
        env(s),
        e0,
        &fx.code,
        &ask_input(&fx.bids[2], q, Some(MIN_WINDOW_MINUTES)),
    )
    .await
    .unwrap();
    let bidder2 = bidder_of(kit, &fx.bids[2]).await;
    let deadline = short.answer_by;
    kit.clock.set(deadline);
    let on_time = answer(env(s), &bidder2, &fx.code, &short.clarification_id, &good).await;
    assert_eq!(
        on_time.unwrap().status,
        Status::Answered,
        "the deadline itself is in time"
    );
    let late_one = ask(
        env(s),
        e0,
        &fx.code,
        &ask_input(&fx.bids[2], q, Some(MIN_WINDOW_MINUTES)),
    )
    .await
    .unwrap();
    kit.clock
        .set(late_one.answer_by + TimeDelta::milliseconds(1));
    let r = answer(
        env(s),
        &bidder2,
        &fx.code,
        &late_one.clarification_id,
        &good,
    )
    .await;
    let e = ApiError::from(r.unwrap_err());
    assert_eq!((e.status.as_u16(), e.code), (409, "CLARIFICATION_EXPIRED"));
    assert!(
        e.message.contains(&cst(to_millis(late_one.answer_by))),
        "{}",
        e.message
    );
    let all = list_for_tender(env(s), &bidder2, &fx.code).await.unwrap();
    let late = all
        .iter()
        .find(|c| c.clarification_id == late_one.clarification_id)
        .unwrap();
    assert_eq!(late.status, Status::Expired);
    assert!(late.answer.is_none());
}

pub(crate) async fn scenario_scoring_and_after(kit: &Kit) {
    let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
    let s = &kit.state;
    to_scoring(kit, &fx).await;
    let q = "请补充说明项目经理的类似业绩。";
    let asked = ask(
        env(s),
        &fx.experts[1],
        &fx.code,
        &ask_input(&fx.bids[1], q, None),
    )
    .await
    .unwrap();
    assert_eq!(asked.answer_by - asked.asked_at, TimeDelta::minutes(60));
    // A member no longer checked in may not ask.
    let mut tx = kit.db().begin().await.unwrap();
    q_exec!(
        tx,
        "delete from expert_checkin where tender_id = $1 and expert_id =
            (select expert_id from expert where user_id = $2)",
        fx.tender_id.clone(),
        fx.experts[4].user.user_id.clone()
    )
    .unwrap();
    tx.commit().await.unwrap();
    let r = ask(
        env(s),
        &fx.experts[4],
        &fx.code,
        &ask_input(&fx.bids[1], q, None),
    )
    .await;
    assert_eq!(capi(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
    let mut tx = kit.db().begin().await.unwrap();
    q_exec!(
        tx,
        "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, audit_seq)
         select $1, e.expert_id, a.draw_id, 'emergency', 0, 0 from expert e
         join expert_assignment a on a.expert_id = e.expert_id and a.tender_id = $1
         where e.user_id = $2",
        fx.tender_id.clone(),
        fx.experts[4].user.user_id.clone()
    )
    .unwrap();
    tx.commit().await.unwrap();
    // Once ranked, no more requests; a pending one can still be answered in time.
    for (i, e) in fx.experts.iter().enumerate() {
        let t = 5000 + i64::try_from(i).unwrap();
        submit_scores(env(s), e, &fx.code, &sheets(&fx, &[t, t, t]))
            .await
            .unwrap();
    }
    let r = ask(
        env(s),
        &fx.experts[1],
        &fx.code,
        &ask_input(&fx.bids[1], q, None),
    )
    .await;
    assert_eq!(capi(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));
    let bidder = bidder_of(kit, &fx.bids[1]).await;
    let ok = AnswerInput {
        answer: "见附件业绩证明。".into(),
    };
    answer(env(s), &bidder, &fx.code, &asked.clarification_id, &ok)
        .await
        .unwrap();
    // A bidder of another organisation with a bidder role sees nothing across tenders.
    let stranger_org = org(kit.db(), "bidder", "active").await;
    let stranger = user(kit.db(), Role::Bidder, Some(&stranger_org), "active").await;
    assert!(list_mine(env(s), &stranger).await.unwrap().is_empty());
}

#[test]
fn status_is_pending_up_to_the_deadline() {
    assert_eq!(status_at(false, 1_000, 999), Status::Pending);
    assert_eq!(status_at(false, 1_000, 1_000), Status::Pending);
    assert_eq!(status_at(false, 1_000, 1_001), Status::Expired);
    assert_eq!(status_at(true, 1_000, 5_000), Status::Answered);
}

#[tokio::test]
async fn ask_and_answer_sqlite() {
    scenario_ask_and_answer(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn scoring_and_after_sqlite() {
    scenario_scoring_and_after(&Kit::sqlite().await).await;
}

#[tokio::test]
async fn all_scenarios_postgres() {
    let Some(kit) = Kit::postgres().await else {
        return;
    };
    scenario_ask_and_answer(&kit).await;
    scenario_scoring_and_after(&kit).await;
}
