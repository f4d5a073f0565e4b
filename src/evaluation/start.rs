//! The start of the evaluation (评标开始): the committee formed from the checked-in experts
//! and the tenderee's representatives (招标投标法 第37条), then the leader election
//! (组长推选), one ballot per member per round.

use crate::evaluation::Env;
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::Actor;
use crate::clock::to_millis;
use crate::evaluation::committee::{
    self, Ballot, DrawnExpert, ElectionError, LeaderElection, RoundResult,
};
use crate::evaluation::review::{ReviewCriterion, ReviewRule};
use crate::evaluation::scoring::{Aggregation, PriceParams, ScoringPlan};
use crate::store::is_unique_violation;
use crate::tender::model::Criterion;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_opt};

use crate::audit::Stage;
use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::moved;
use crate::evaluation::service::{
    MAX_CRITERION_CHARS, MAX_REVIEW_CRITERIA, acting_member, corrupt, event, load, move_to, owns,
    rulebook, tender_by_code, wrong,
};
use crate::lifecycle::evaluation::{
    self as machine, Columns, EvaluationState, Move, NewEvaluation,
};
use crate::lifecycle::tender::{self, TenderState};

/// `POST /api/v1/tenders/{code}/evaluation`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[schema(as = EvaluationStart)]
#[serde(deny_unknown_fields)]
pub struct StartInput {
    /// User ids of the tenderee's representatives (active users of the tenderee).
    #[serde(default)]
    pub representatives: Vec<String>,
    /// The preliminary review criteria (formal, qualification, responsiveness).
    pub review_criteria: Vec<ReviewCriterion>,
    /// How the marks decide (default majority).
    #[serde(default)]
    pub review_rule: ReviewRule,
    /// The price formula, naming the tender's price criterion; none: price is not scored.
    #[serde(default)]
    pub price: Option<PriceParams>,
    /// How the members' totals are aggregated (default mean).
    #[serde(default)]
    pub aggregation: Aggregation,
}

/// `POST …/evaluation/ballots`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BallotInput {
    /// The member voted for (a user id; may be the voter).
    #[serde(rename = "for")]
    pub candidate: String,
}

/// What [`start`] answers: the committee is formed and the leader's election open. Fields in
/// alphabetical order, as the answer has always been serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationStarted {
    /// The first election round (1).
    pub election_round: i64,
    /// Committee size.
    pub members: usize,
    /// The evaluation's state (`electing`).
    pub state: EvaluationState,
}

/// What [`cast_ballot`] answers: the ballot is in; when it was the round's last, the count.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BallotCast {
    /// Ballots cast in this round.
    pub ballots: usize,
    /// The elected leader, when `result` is `elected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// Committee size.
    pub members: usize,
    /// The round to vote in next, when `result` is `revote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_round: Option<i64>,
    /// `voted` (the round goes on), `elected` or `revote`.
    pub result: String,
    /// The round the ballot was cast in.
    pub round: i64,
}

// ---- 1. start -------------------------------------------------------------------------------

pub(crate) fn check_review_criteria(criteria: &[ReviewCriterion]) -> Result<(), EvaluationError> {
    let bad = |m: String| EvaluationError::Invalid("EVALUATION_BAD_REVIEW_CRITERIA", m);
    if criteria.is_empty() || criteria.len() > MAX_REVIEW_CRITERIA {
        return Err(bad(format!(
            "give 1 to {MAX_REVIEW_CRITERIA} preliminary review criteria / 请提供初步评审标准"
        )));
    }
    let mut seen = BTreeSet::new();
    for c in criteria {
        let n = c.id.chars().count();
        if c.id.trim().is_empty() || n > MAX_CRITERION_CHARS || !seen.insert(c.id.as_str()) {
            return Err(bad(format!(
                "review criterion ids must be unique, non-blank and at most {MAX_CRITERION_CHARS} characters: {:?}",
                c.id
            )));
        }
        crate::text::check("review_criteria.id", &c.id, crate::text::Lines::Single)?;
    }
    Ok(())
}

/// Starts the evaluation (owning agent, tender `opened`, committee ready): forms the
/// committee from the checked-in experts and the representatives, stores the parameters,
/// moves the tender to `evaluating`.
pub async fn start(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &StartInput,
) -> Result<EvaluationStarted, EvaluationError> {
    let now = env.now;
    check_review_criteria(&input.review_criteria)?;
    let mut tx = env.db.begin().await?;
    let tender = tender_by_code(&mut tx, code).await?;
    if !owns(caller, &tender) {
        return Err(EvaluationError::forbidden(
            "only the tender's agent may start the evaluation / 仅本项目招标代理可启动评标",
        ));
    }
    if tender.state != TenderState::Opened {
        return Err(EvaluationError::WrongState {
            action: "start the evaluation",
            what: "tender",
            state: tender.state.refusal_name().to_string(),
        });
    }
    if !crate::expert::checkin::committee_ready(&mut tx, &tender.tender_id).await? {
        return Err(EvaluationError::CommitteeNotReady);
    }
    let rows: Vec<(Option<String>, i64)> = q_all!(
        tx,
        (Option<String>, i64),
        "select e.user_id, cast(case when c.expert_id is null then 0 else 1 end as bigint)
         from expert_assignment a
         join expert e on e.expert_id = a.expert_id
         left join expert_checkin c on c.tender_id = a.tender_id and c.expert_id = a.expert_id
         where a.tender_id = $1 and a.role = 'member' and a.state = 'confirmed'
         order by a.member_no",
        tender.tender_id.clone()
    )?;
    let mut experts = Vec::with_capacity(rows.len());
    for (user_id, checked) in rows {
        let Some(id) = user_id else {
            return Err(EvaluationError::Invalid(
                "EVALUATION_EXPERT_WITHOUT_LOGIN",
                "a drawn expert has no platform login and cannot evaluate / 有专家未开通平台账号"
                    .into(),
            ));
        };
        experts.push(DrawnExpert {
            id,
            checked_in: checked == 1,
        });
    }
    for rep in &input.representatives {
        let ok: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select user_id from app_user where user_id = $1 and org_id = $2 and status = 'active'",
            rep.clone(),
            tender.tenderee_org_id.clone()
        )?;
        if ok.is_none() {
            return Err(EvaluationError::Invalid(
                "EVALUATION_BAD_REPRESENTATIVE",
                format!(
                    "{rep} is not an active user of the tenderee / 招标人代表须为招标人的有效用户"
                ),
            ));
        }
    }
    let book = rulebook(env.rulebooks, &tender)?;
    let committee = committee::form_committee(book, &experts, &input.representatives)
        .map_err(EvaluationError::Committee)?;
    let criteria: Vec<Criterion> = serde_json::from_str(&tender.criteria_json).map_err(corrupt)?;
    let plan = ScoringPlan::from_tender(&criteria, input.price.clone(), input.aggregation)
        .map_err(EvaluationError::Scoring)?;
    let members = committee.members();
    let rule = serde_json::to_value(input.review_rule).map_err(corrupt)?;
    let rule = rule.as_str().unwrap_or("majority").to_string();
    let new = NewEvaluation {
        tender_id: tender.tender_id.clone(),
        members_json: serde_json::to_string(members).map_err(corrupt)?,
        review_criteria_json: serde_json::to_string(&input.review_criteria).map_err(corrupt)?,
        review_rule: rule.clone(),
        plan_json: serde_json::to_string(&plan).map_err(corrupt)?,
        started_by: caller.user.user_id.clone(),
    };
    machine::begin(&mut tx, now, new).await.map_err(|e| {
        if is_unique_violation(&e) {
            EvaluationError::WrongState {
                action: "start the evaluation",
                what: "evaluation",
                state: "started".into(),
            }
        } else {
            e.into()
        }
    })?;
    tender::transition(
        &mut tx,
        now,
        &tender.tender_id,
        TenderState::Opened,
        TenderState::Evaluating,
        tender::Move::new(&caller.actor, "evaluation.start", json!({"members": members, "review_criteria": input.review_criteria, "review_rule": rule,
               "plan": plan, "method": tender.evaluation_method}))
        .withheld_until(Stage::Award),
    )
    .await
    .map_err(|e| moved(e, "start the evaluation", tender.state.as_str()))?;
    tx.commit().await?;
    Ok(EvaluationStarted {
        election_round: 1,
        members: members.len(),
        state: EvaluationState::Electing,
    })
}

// ---- 2. leader election ---------------------------------------------------------------------

/// Records one member's ballot for the current round; counts the round when every member
/// has voted (elected, or a new round).
pub async fn cast_ballot(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &BallotInput,
) -> Result<BallotCast, EvaluationError> {
    let now = env.now;
    let mut tx = env.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let voter = acting_member(&mut tx, &ev, caller).await?;
    if ev.state != EvaluationState::Electing {
        return Err(wrong("vote for the leader", &ev));
    }
    if ev.member(&input.candidate).is_none() {
        return Err(EvaluationError::Election(
            ElectionError::CandidateNotMember(input.candidate.clone()),
        ));
    }
    let tid = ev.tender.tender_id.clone();
    let round = ev.row.election_round;
    q_exec!(
        tx,
        "insert into evaluation_ballot (tender_id, round, voter, candidate, cast_at) values ($1, $2, $3, $4, $5)",
        tid.clone(),
        round,
        voter.clone(),
        input.candidate.clone(),
        to_millis(now)
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            EvaluationError::AlreadyVoted(round)
        } else {
            e.into()
        }
    })?;
    event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.ballot",
        &tid,
        json!({"round": round, "voter": voter, "candidate": input.candidate}),
    )
    .await?;
    let ballots: Vec<(String, String)> = q_all!(
        tx,
        (String, String),
        "select voter, candidate from evaluation_ballot where tender_id = $1 and round = $2 order by voter",
        tid.clone(),
        round
    )?;
    let mut answer = BallotCast {
        ballots: ballots.len(),
        leader: None,
        members: ev.members.len(),
        next_round: None,
        result: "voted".into(),
        round,
    };
    if ballots.len() == ev.members.len() {
        let ballots: Vec<Ballot> = ballots
            .into_iter()
            .map(|(voter, candidate)| Ballot { voter, candidate })
            .collect();
        let book = rulebook(env.rulebooks, &ev.tender)?;
        let mut election = LeaderElection::new(&ev.committee(book)?);
        match election
            .count(&ballots)
            .map_err(EvaluationError::Election)?
        {
            RoundResult::Elected { leader, votes, .. } => {
                let system = Actor::system();
                let m = Move::new(
                    Columns::Leader(leader.clone()),
                    &system,
                    "evaluation.leader",
                    json!({"round": round, "leader": leader, "votes": votes}),
                );
                move_to(
                    &mut tx,
                    now,
                    &ev,
                    EvaluationState::Review,
                    m,
                    "elect the leader",
                )
                .await?;
                answer.result = "elected".into();
                answer.leader = Some(leader);
            }
            RoundResult::Revote { leading, tally, .. } => {
                q_exec!(
                    tx,
                    "update evaluation set election_round = $1 where tender_id = $2 and election_round = $3",
                    round.saturating_add(1),
                    tid.clone(),
                    round
                )?;
                event(
                    &mut tx,
                    now,
                    &Actor::system(),
                    "evaluation.revote",
                    &tid,
                    json!({"round": round, "leading": leading, "tally": tally}),
                )
                .await?;
                answer.result = "revote".into();
                answer.next_round = Some(round.saturating_add(1));
            }
        }
    }
    tx.commit().await?;
    Ok(answer)
}
