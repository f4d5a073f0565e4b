//! The evaluation service (评标): loads the facts the pure rules in this module need, calls
//! them inside one transaction, stores the result and appends an audit event for every state
//! change. Every event names committee members, so it is withheld from the public until the
//! award (`audit::append_withheld_until(…, Stage::Award)`, 招标投标法 第37条: the members'
//! names stay confidential until the result).
//!
//! Steps (docs/evaluation.md):
//! 1. [`start`]: the owning agent starts the evaluation of an `opened` tender once the
//!    committee is ready; the committee is formed from the checked-in experts and optional
//!    tenderee representatives ([`committee::form_committee`]); the tender becomes
//!    `evaluating`.
//! 2. [`cast_ballot`]: every member votes once per round for the leader (组长推选); the round
//!    is counted when all have voted.
//! 3. [`record_marks`]: preliminary review marks, never changed; decided with
//!    [`review::decide_review`] once complete. Too few valid bids and the tender fails (流标).
//! 4. [`submit_scores`]: each member submits all their score sheets once; nobody sees
//!    another's sheets until all are in; then price scores, aggregation and ranking. Under the
//!    lowest evaluated price there are no sheets: the leader records the committee's price
//!    comparison table ([`super::price_table::record`]) and the same `rank_and_report`
//!    ranks the bids.
//!
//! Parameters the tender does not carry yet (the preliminary review criteria and rule, the
//! price formula, the aggregation rule) are given when the evaluation starts and stored with
//! it.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::committee::{self, Committee, DrawnExpert, Member, MemberRole};
use super::ranking::{BidFacts, Outcome};
use super::review::{ReviewCriterion, ReviewRule};
use super::scoring::ScoringPlan;
use crate::audit::{self, Actor, Stage};
use crate::clock::from_millis;
use crate::lifecycle::evaluation::{self as machine, Columns, EvaluationState};
use crate::lifecycle::tender::{self, FactsError, Move, TenderState};
use crate::lifecycle::{self, MoveError};
use crate::store::Tx;
use crate::store::blob::sha256_hex;
use crate::tender::model::EvaluationMethod;
use crate::tender::rulebook::{Rulebook, Rulebooks};
use crate::tender::service::Caller;
use crate::{q_all, q_one, q_opt};

pub use crate::evaluation::error::EvaluationError;
pub(crate) use crate::evaluation::ranking::service::{RankInput, rank_and_report};
pub(crate) use crate::evaluation::report::sign::signatures;
pub use crate::evaluation::report::sign::{DissentInput, SignFinish, dissent};
pub use crate::evaluation::review::marks::{MarkInput, MarksInput, record_marks};
pub(crate) use crate::evaluation::review::marks::{decided_review, review_outcome};
pub(crate) use crate::evaluation::scoring::sheets::all_sheets;
pub use crate::evaluation::scoring::sheets::{ScoresInput, SheetInput, submit_scores};
pub use crate::evaluation::start::{BallotInput, StartInput, cast_ballot, start};
pub use crate::evaluation::view::view;

/// Most review criteria accepted for one tender.
pub const MAX_REVIEW_CRITERIA: usize = 100;
/// Most marks or sheets accepted in one request.
pub const MAX_ITEMS_PER_REQUEST: usize = 5_000;
/// Longest criterion id, in characters.
pub const MAX_CRITERION_CHARS: usize = 200;

// ---- loading --------------------------------------------------------------------------------

/// What the evaluation needs of a tender: the lifecycle's facts plus its criteria.
#[derive(Debug)]
pub(crate) struct TenderFacts {
    pub(crate) tender_id: String,
    pub(crate) state: TenderState,
    pub(crate) rulebook_id: String,
    pub(crate) tenderee_org_id: String,
    pub(crate) agent_org_id: Option<String>,
    pub(crate) evaluation_method: String,
    pub(crate) criteria_json: String,
}

pub(crate) async fn tender_by_code(
    tx: &mut Tx,
    code: &str,
) -> Result<TenderFacts, EvaluationError> {
    let f = lifecycle::tender::by_code(tx, code)
        .await
        .map_err(|e| match e {
            FactsError::NotFound => EvaluationError::not_found("tender"),
            FactsError::Corrupt(s) => EvaluationError::corrupt(s),
            FactsError::Store(s) => s.into(),
        })?;
    let (criteria_json,) = q_one!(
        tx,
        (String,),
        "select criteria_json from tender where tender_id = $1",
        f.tender_id.clone()
    )?;
    Ok(TenderFacts {
        tender_id: f.tender_id,
        state: f.state,
        rulebook_id: f.rulebook_id,
        tenderee_org_id: f.tenderee_org_id,
        agent_org_id: f.agent_org_id,
        evaluation_method: f.evaluation_method,
        criteria_json,
    })
}

pub(crate) fn owns(caller: &Caller, t: &TenderFacts) -> bool {
    lifecycle::tender::is_owner(caller, t.agent_org_id.as_deref())
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EvalRow {
    pub(crate) state: String,
    pub(crate) members_json: String,
    pub(crate) review_criteria_json: String,
    pub(crate) review_rule: String,
    pub(crate) plan_json: String,
    pub(crate) election_round: i64,
    pub(crate) leader_user_id: Option<String>,
    pub(crate) ranking_json: Option<String>,
    pub(crate) report_json: Option<String>,
    pub(crate) report_sha256: Option<String>,
}

pub(crate) struct Evaluation {
    pub(crate) tender: TenderFacts,
    /// Where the committee is (`row.state`, parsed).
    pub(crate) state: EvaluationState,
    pub(crate) row: EvalRow,
    pub(crate) members: Vec<Member>,
    pub(crate) criteria: Vec<ReviewCriterion>,
    pub(crate) rule: ReviewRule,
    pub(crate) plan: ScoringPlan,
}

impl Evaluation {
    pub(crate) fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    pub(crate) fn member(&self, user_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == user_id)
    }

    pub(crate) fn committee(&self, rulebook: &Rulebook) -> Result<Committee, EvaluationError> {
        let experts: Vec<DrawnExpert> = self
            .members
            .iter()
            .filter(|m| m.role == MemberRole::Expert)
            .map(|m| DrawnExpert {
                id: m.id.clone(),
                checked_in: true,
            })
            .collect();
        let reps: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.role == MemberRole::TendereeRepresentative)
            .map(|m| m.id.clone())
            .collect();
        committee::form_committee(rulebook, &experts, &reps)
            .map_err(|e| EvaluationError::corrupt(e.to_string()))
    }

    pub(crate) fn method(&self) -> Result<EvaluationMethod, EvaluationError> {
        EvaluationMethod::parse(&self.tender.evaluation_method)
            .ok_or_else(|| EvaluationError::corrupt("unknown evaluation method"))
    }
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> EvaluationError {
    EvaluationError::corrupt(e.to_string())
}

pub(crate) async fn load(tx: &mut Tx, code: &str) -> Result<Evaluation, EvaluationError> {
    let tender = tender_by_code(tx, code).await?;
    let row = q_opt!(
        tx,
        EvalRow,
        "select state, members_json, review_criteria_json, review_rule, plan_json, election_round,
                leader_user_id, ranking_json, report_json, report_sha256
         from evaluation where tender_id = $1",
        tender.tender_id.clone()
    )?
    .ok_or(EvaluationError::not_found("evaluation"))?;
    let members: Vec<Member> = serde_json::from_str(&row.members_json).map_err(corrupt)?;
    let criteria: Vec<ReviewCriterion> =
        serde_json::from_str(&row.review_criteria_json).map_err(corrupt)?;
    let rule: ReviewRule =
        serde_json::from_value(Value::String(row.review_rule.clone())).map_err(corrupt)?;
    let plan: ScoringPlan = serde_json::from_str(&row.plan_json).map_err(corrupt)?;
    let state = EvaluationState::parse(&row.state)
        .ok_or_else(|| EvaluationError::corrupt(format!("evaluation state {:?}", row.state)))?;
    Ok(Evaluation {
        tender,
        state,
        row,
        members,
        criteria,
        rule,
        plan,
    })
}

pub(crate) fn rulebook<'a>(
    rulebooks: &'a Rulebooks,
    t: &TenderFacts,
) -> Result<&'a Rulebook, EvaluationError> {
    rulebooks
        .by_id(&t.rulebook_id)
        .ok_or_else(|| EvaluationError::corrupt(format!("unknown rulebook {}", t.rulebook_id)))
}

/// The caller as a member who may act now: on the committee and, for an expert, still
/// checked in for this tender.
pub(crate) async fn acting_member(
    tx: &mut Tx,
    ev: &Evaluation,
    caller: &Caller,
) -> Result<String, EvaluationError> {
    let Some(m) = ev.member(&caller.user.user_id) else {
        return Err(EvaluationError::NotAMember);
    };
    // A tender suspended for supervision (实施条例 第62条) stops the committee too.
    if ev.tender.state == TenderState::Suspended {
        return Err(EvaluationError::WrongState {
            action: "act on the evaluation",
            what: "tender",
            state: TenderState::Suspended.refusal_name().to_string(),
        });
    }
    if m.role == MemberRole::Expert {
        let checked: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select c.expert_id from expert_checkin c join expert e on e.expert_id = c.expert_id
             where c.tender_id = $1 and e.user_id = $2",
            ev.tender.tender_id.clone(),
            m.id.clone()
        )?;
        if checked.is_none() {
            return Err(EvaluationError::NotAMember);
        }
    }
    Ok(m.id.clone())
}

/// The bids that were opened valid, with their prices from the opening record (开标记录),
/// in submission order.
pub(crate) async fn opened_bids(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<BidFacts>, EvaluationError> {
    let rows: Vec<(String, i64)> = q_all!(
        tx,
        (String, i64),
        "select bid_id, submitted_at from bid where tender_id = $1 and state = 'opened'
         order by submitted_at, bid_id",
        tender_id.to_string()
    )?;
    let record: Option<(Option<String>,)> = q_opt!(
        tx,
        (Option<String>,),
        "select record_json from opening where tender_id = $1",
        tender_id.to_string()
    )?;
    let record: Value = match record.and_then(|(r,)| r) {
        Some(text) => serde_json::from_str(&text).map_err(corrupt)?,
        None => Value::Null,
    };
    let mut prices: BTreeMap<&str, i64> = BTreeMap::new();
    if let Some(bids) = record.get("bids").and_then(Value::as_array) {
        for b in bids {
            if let (Some(id), Some(p)) = (
                b.get("bid_id").and_then(Value::as_str),
                b.get("price_fen").and_then(Value::as_i64),
            ) {
                prices.insert(id, p);
            }
        }
    }
    rows.into_iter()
        .map(|(bid, at)| {
            let price_fen = prices
                .get(bid.as_str())
                .copied()
                .ok_or_else(|| EvaluationError::corrupt(format!("bid {bid} has no price")))?;
            Ok(BidFacts {
                bid,
                price_fen,
                submitted_at: from_millis(at),
            })
        })
        .collect()
}

pub(crate) fn canonical_sha256(v: &Value) -> Result<String, EvaluationError> {
    let text = serde_json_canonicalizer::to_string(v).map_err(corrupt)?;
    Ok(sha256_hex(text.as_bytes()))
}

pub(crate) async fn event(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: &str,
    payload: Value,
) -> Result<u64, EvaluationError> {
    Ok(
        audit::append_withheld_until(tx, now, actor, action, tender_id, payload, Stage::Award)
            .await?,
    )
}

/// Moves the evaluation from the state it was loaded in to `to` through the lifecycle's
/// machine ([`machine::transition`]); a guard that no longer holds (another request moved it)
/// is the wrong state for `action`.
pub(crate) async fn move_to(
    tx: &mut Tx,
    now: DateTime<Utc>,
    ev: &Evaluation,
    to: EvaluationState,
    m: machine::Move<'_>,
    action: &'static str,
) -> Result<Option<u64>, EvaluationError> {
    machine::transition(tx, now, &ev.tender.tender_id, ev.state, to, m)
        .await
        .map_err(|e| evaluation_moved(e, action, ev.state))
}

/// A refused evaluation move as the evaluation reports it (see [`moved`]).
pub(crate) fn evaluation_moved(
    e: MoveError,
    action: &'static str,
    state: EvaluationState,
) -> EvaluationError {
    match e {
        MoveError::Moved => EvaluationError::WrongState {
            action,
            what: "evaluation",
            state: state.as_str().to_string(),
        },
        MoveError::NotAllowed { .. } => EvaluationError::corrupt(e.to_string()),
        MoveError::Store(s) => s.into(),
    }
}

pub(crate) fn wrong(action: &'static str, ev: &Evaluation) -> EvaluationError {
    EvaluationError::WrongState {
        action,
        what: "evaluation",
        state: ev.state.as_str().to_string(),
    }
}

/// Too few valid bids: the evaluation and the tender fail (流标, 招标投标法 第28条).
pub(crate) async fn fail(
    tx: &mut Tx,
    now: DateTime<Utc>,
    ev: &Evaluation,
    outcome: &Outcome,
) -> Result<(), EvaluationError> {
    let tid = ev.tender.tender_id.as_str();
    let ranking_json = serde_json::to_string(outcome).map_err(corrupt)?;
    // The failure is recorded once, by the tender's move below (same transaction).
    move_to(
        tx,
        now,
        ev,
        EvaluationState::Failed,
        machine::Move::recorded_by_tender(Columns::Outcome {
            ranking_json,
            report: None,
        }),
        "fail the evaluation",
    )
    .await?;
    tender::transition(
        tx,
        now,
        tid,
        TenderState::Evaluating,
        TenderState::Failed,
        Move::new(
            &Actor::system(),
            "evaluation.failed",
            json!({"outcome": outcome}),
        )
        .withheld_until(Stage::Award),
    )
    .await
    .map_err(|e| moved(e, "fail the evaluation", "evaluating"))?;
    Ok(())
}

/// A refused tender move as the evaluation reports it: moved meanwhile is the wrong state
/// (as when the guarded update found nothing), anything else a fault.
pub(crate) fn moved(e: MoveError, action: &'static str, state: &str) -> EvaluationError {
    match e {
        MoveError::Moved => EvaluationError::WrongState {
            action,
            what: "tender",
            state: state.to_string(),
        },
        MoveError::NotAllowed { .. } => EvaluationError::corrupt(e.to_string()),
        MoveError::Store(s) => s.into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests;
