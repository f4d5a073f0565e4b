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

use std::collections::{BTreeMap, BTreeSet};

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::committee::{
    self, Ballot, Committee, CommitteeError, DrawnExpert, ElectionError, LeaderElection, Member,
    MemberRole, RoundResult, SignAct, Signature, SigningError,
};
use super::price_table::LineProblem;
use super::ranking::{self, BidFacts, Outcome, RankingError};
use super::review::{self, Mark, ReviewCriterion, ReviewError, ReviewOutcome, ReviewRule, Verdict};
use super::scoring::{
    self, Aggregation, PriceParams, ScoreSheet, ScoringError, ScoringPlan, SheetProblem,
};
use crate::audit::{self, Actor, Stage};
use crate::clock::{from_millis, to_millis};
use crate::expert::service::ExpertError;
use crate::http::{ApiError, AppState};
use crate::identity::Role;
use crate::identity::passkey::{self, PasskeyError};
use crate::store::blob::sha256_hex;
use crate::store::{StoreError, Tx, is_unique_violation};
use crate::tender::model::{Criterion, EvaluationMethod, TenderState};
use crate::tender::rulebook::Rulebook;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_opt};

/// Most review criteria accepted for one tender.
pub const MAX_REVIEW_CRITERIA: usize = 100;
/// Most marks or sheets accepted in one request.
pub const MAX_ITEMS_PER_REQUEST: usize = 5_000;
/// Longest criterion id, in characters.
pub const MAX_CRITERION_CHARS: usize = 200;

/// Why an evaluation step is refused. Mapped to HTTP once, in `From<EvaluationError> for
/// ApiError`; `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// The tender (or its evaluation) does not exist.
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// The caller's role or organisation may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller is not a (checked-in) member of the committee.
    #[error(
        "you are not a checked-in member of this tender's evaluation committee / 您不是本项目已签到的评标委员会成员"
    )]
    NotAMember,
    /// The tender or the evaluation is not in the state the step needs.
    #[error("cannot {action} while the {what} is {state} / 当前状态不允许此操作")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// Tender or evaluation.
        what: &'static str,
        /// The current state.
        state: String,
    },
    /// Not every confirmed expert has checked in (平台规则).
    #[error(
        "the committee is not complete: every confirmed expert must have checked in (平台规则) / 评标委员会成员尚未全部签到"
    )]
    CommitteeNotReady,
    /// The committee breaks a rule (招标投标法 第37条).
    #[error(transparent)]
    Committee(CommitteeError),
    /// A ballot the election refuses.
    #[error(transparent)]
    Election(ElectionError),
    /// The member already voted in this round.
    #[error("you already voted in round {0} / 本轮您已投票")]
    AlreadyVoted(i64),
    /// A mark the review rules refuse.
    #[error(transparent)]
    Review(ReviewError),
    /// A mark already recorded; marks are never changed.
    #[error(
        "bid {bid} is already marked on {criterion}; a mark is never changed / 该项已评审，不可修改"
    )]
    MarkExists {
        /// The bid.
        bid: String,
        /// The criterion.
        criterion: String,
    },
    /// Score sheets the scoring rules refuse.
    #[error(transparent)]
    Scoring(ScoringError),
    /// The member's sheets are already in; they are never changed.
    #[error(
        "your score sheets were already submitted; they are never changed / 评分已提交，不可修改"
    )]
    AlreadySubmitted,
    /// The ranking cannot be computed.
    #[error(transparent)]
    Ranking(RankingError),
    /// The step belongs to the other evaluation method.
    #[error("{0}")]
    WrongMethod(&'static str),
    /// A price comparison table with bad lines (every problem).
    #[error("the price comparison table has {} problem(s) / 标价比较表有误: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    PriceTable(Vec<LineProblem>),
    /// The member already signed or dissented; the act is never changed.
    #[error("you already signed or dissented from the report / 您已签署或提出异议，不可更改")]
    AlreadySigned,
    /// A report act the signing rules refuse (a dissent without a reason).
    #[error(transparent)]
    Signing(SigningError),
    /// The passkey assertion failed.
    #[error(transparent)]
    Passkey(PasskeyError),
    /// A request field is invalid (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The check-in records could not be read.
    #[error(transparent)]
    Expert(ExpertError),
    /// Stored data no code writes.
    #[error("stored evaluation data is inconsistent: {0}")]
    Corrupt(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::text::ForbiddenChar> for EvaluationError {
    fn from(e: crate::text::ForbiddenChar) -> Self {
        EvaluationError::Invalid(crate::text::CODE, e.to_string())
    }
}

impl From<sqlx::Error> for EvaluationError {
    fn from(e: sqlx::Error) -> Self {
        EvaluationError::Store(StoreError::Sql(e))
    }
}

impl From<ExpertError> for EvaluationError {
    fn from(e: ExpertError) -> Self {
        EvaluationError::Expert(e)
    }
}

impl EvaluationError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            EvaluationError::NotFound(_) => "NOT_FOUND",
            EvaluationError::Forbidden(_) => "FORBIDDEN",
            EvaluationError::NotAMember => "EVALUATION_NOT_A_MEMBER",
            EvaluationError::WrongState { .. } => "EVALUATION_WRONG_STATE",
            EvaluationError::CommitteeNotReady => "COMMITTEE_NOT_READY",
            EvaluationError::Committee(e) => e.code(),
            EvaluationError::Election(e) => e.code(),
            EvaluationError::AlreadyVoted(_) => "ELECTION_ALREADY_VOTED",
            EvaluationError::Review(e) => e.code(),
            EvaluationError::MarkExists { .. } => "REVIEW_MARK_EXISTS",
            EvaluationError::Scoring(e) => e.code(),
            EvaluationError::AlreadySubmitted => "SCORES_ALREADY_SUBMITTED",
            EvaluationError::Ranking(e) => e.code(),
            EvaluationError::WrongMethod(_) => "EVALUATION_WRONG_METHOD",
            EvaluationError::PriceTable(_) => "PRICE_TABLE_INVALID",
            EvaluationError::AlreadySigned => "REPORT_ALREADY_SIGNED",
            EvaluationError::Signing(e) => e.code(),
            EvaluationError::Passkey(e) => e.code(),
            EvaluationError::Invalid(code, _) => code,
            EvaluationError::Expert(e) => e.code(),
            EvaluationError::Corrupt(_) => "INTERNAL",
            EvaluationError::Store(_) => "INTERNAL",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            EvaluationError::NotFound(_) => StatusCode::NOT_FOUND,
            EvaluationError::Forbidden(_) | EvaluationError::NotAMember => StatusCode::FORBIDDEN,
            EvaluationError::WrongState { .. }
            | EvaluationError::CommitteeNotReady
            | EvaluationError::AlreadyVoted(_)
            | EvaluationError::MarkExists { .. }
            | EvaluationError::AlreadySubmitted
            | EvaluationError::WrongMethod(_)
            | EvaluationError::AlreadySigned => StatusCode::CONFLICT,
            EvaluationError::Committee(_)
            | EvaluationError::Election(_)
            | EvaluationError::Review(_)
            | EvaluationError::Scoring(_)
            | EvaluationError::Ranking(_)
            | EvaluationError::PriceTable(_)
            | EvaluationError::Signing(_)
            | EvaluationError::Invalid(..) => StatusCode::UNPROCESSABLE_ENTITY,
            EvaluationError::Passkey(_) => StatusCode::BAD_REQUEST,
            EvaluationError::Expert(_)
            | EvaluationError::Corrupt(_)
            | EvaluationError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EvaluationError> for ApiError {
    fn from(e: EvaluationError) -> Self {
        match e {
            EvaluationError::Expert(e) => ApiError::from(e),
            EvaluationError::Passkey(e) => ApiError::from(e),
            EvaluationError::Corrupt(_) | EvaluationError::Store(_) => ApiError::internal(&e),
            EvaluationError::Committee(CommitteeError::Rules(ref v)) => {
                let details = json!({ "violations": v });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            EvaluationError::Scoring(ScoringError::Sheets(ref p)) => {
                let details =
                    json!({ "problems": p.iter().map(sheet_problem_json).collect::<Vec<_>>() });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            EvaluationError::PriceTable(ref p) => {
                let details = json!({ "problems": p.iter().map(|x| json!({
                    "problem": x.kind(), "line": x.line(), "message": x.to_string(),
                })).collect::<Vec<_>>() });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            other => ApiError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

fn sheet_problem_json(p: &SheetProblem) -> Value {
    match p {
        SheetProblem::OutOfRange {
            bid,
            criterion,
            score,
            max,
            ..
        } => json!({"problem": "out_of_range", "bid_id": bid, "criterion": criterion,
                    "score": score, "max": max, "message": p.to_string()}),
        SheetProblem::UnknownCriterion { bid, criterion, .. } => {
            json!({"problem": "unknown_criterion", "bid_id": bid, "criterion": criterion, "message": p.to_string()})
        }
        SheetProblem::Missing { bid, criteria, .. } => {
            json!({"problem": "missing", "bid_id": bid, "criteria": criteria, "message": p.to_string()})
        }
        other => json!({"problem": "invalid", "message": other.to_string()}),
    }
}

// ---- request bodies -------------------------------------------------------------------------

/// `POST /api/v1/tenders/{code}/evaluation`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = EvaluationStart)]
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

/// One preliminary review mark as sent.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    /// The bid.
    pub bid_id: String,
    /// The criterion id.
    pub criterion: String,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Why (required for a fail).
    #[serde(default)]
    pub reason: String,
}

/// `POST …/evaluation/review-marks`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarksInput {
    /// The marks.
    pub marks: Vec<MarkInput>,
}

/// One bid's scores as sent.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetInput {
    /// The bid.
    pub bid_id: String,
    /// Criterion name → score in hundredths of a point.
    pub scores: BTreeMap<String, i64>,
}

/// `POST …/evaluation/scores`: every remaining bid, submitted once.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoresInput {
    /// One sheet per bid that passed the preliminary review.
    pub sheets: Vec<SheetInput>,
}

// ---- loading --------------------------------------------------------------------------------

#[derive(Debug, sqlx::FromRow)]
pub(super) struct TenderFacts {
    pub(super) tender_id: String,
    pub(super) state: String,
    pub(super) rulebook_id: String,
    tenderee_org_id: String,
    pub(super) agent_org_id: Option<String>,
    pub(super) evaluation_method: String,
    criteria_json: String,
}

pub(super) async fn tender_by_code(
    tx: &mut Tx,
    code: &str,
) -> Result<TenderFacts, EvaluationError> {
    q_opt!(
        tx,
        TenderFacts,
        "select tender_id, state, rulebook_id, tenderee_org_id, agent_org_id, evaluation_method, criteria_json
         from tender where code = $1",
        code.to_string()
    )?
    .ok_or(EvaluationError::NotFound("tender"))
}

pub(super) fn owns(caller: &Caller, t: &TenderFacts) -> bool {
    caller.user.role == Role::Agent
        && caller.user.org_id.is_some()
        && caller.user.org_id == t.agent_org_id
}

#[derive(Debug, sqlx::FromRow)]
pub(super) struct EvalRow {
    pub(super) state: String,
    members_json: String,
    review_criteria_json: String,
    review_rule: String,
    plan_json: String,
    pub(super) election_round: i64,
    pub(super) leader_user_id: Option<String>,
    ranking_json: Option<String>,
    pub(super) report_json: Option<String>,
    pub(super) report_sha256: Option<String>,
}

pub(super) struct Evaluation {
    pub(super) tender: TenderFacts,
    pub(super) row: EvalRow,
    pub(super) members: Vec<Member>,
    criteria: Vec<ReviewCriterion>,
    rule: ReviewRule,
    plan: ScoringPlan,
}

impl Evaluation {
    fn member_ids(&self) -> Vec<String> {
        self.members.iter().map(|m| m.id.clone()).collect()
    }

    pub(super) fn member(&self, user_id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == user_id)
    }

    pub(super) fn committee(&self, rulebook: &Rulebook) -> Result<Committee, EvaluationError> {
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
            .map_err(|e| EvaluationError::Corrupt(e.to_string()))
    }

    pub(super) fn method(&self) -> Result<EvaluationMethod, EvaluationError> {
        EvaluationMethod::parse(&self.tender.evaluation_method)
            .ok_or_else(|| EvaluationError::Corrupt("unknown evaluation method".into()))
    }
}

pub(super) fn corrupt(e: impl std::fmt::Display) -> EvaluationError {
    EvaluationError::Corrupt(e.to_string())
}

pub(super) async fn load(tx: &mut Tx, code: &str) -> Result<Evaluation, EvaluationError> {
    let tender = tender_by_code(tx, code).await?;
    let row = q_opt!(
        tx,
        EvalRow,
        "select state, members_json, review_criteria_json, review_rule, plan_json, election_round,
                leader_user_id, ranking_json, report_json, report_sha256
         from evaluation where tender_id = $1",
        tender.tender_id.clone()
    )?
    .ok_or(EvaluationError::NotFound("evaluation"))?;
    let members: Vec<Member> = serde_json::from_str(&row.members_json).map_err(corrupt)?;
    let criteria: Vec<ReviewCriterion> =
        serde_json::from_str(&row.review_criteria_json).map_err(corrupt)?;
    let rule: ReviewRule =
        serde_json::from_value(Value::String(row.review_rule.clone())).map_err(corrupt)?;
    let plan: ScoringPlan = serde_json::from_str(&row.plan_json).map_err(corrupt)?;
    Ok(Evaluation {
        tender,
        row,
        members,
        criteria,
        rule,
        plan,
    })
}

pub(super) fn rulebook<'a>(
    state: &'a AppState,
    t: &TenderFacts,
) -> Result<&'a Rulebook, EvaluationError> {
    state
        .rulebooks
        .by_id(&t.rulebook_id)
        .ok_or_else(|| EvaluationError::Corrupt(format!("unknown rulebook {}", t.rulebook_id)))
}

/// The caller as a member who may act now: on the committee and, for an expert, still
/// checked in for this tender.
pub(super) async fn acting_member(
    tx: &mut Tx,
    ev: &Evaluation,
    caller: &Caller,
) -> Result<String, EvaluationError> {
    let Some(m) = ev.member(&caller.user.user_id) else {
        return Err(EvaluationError::NotAMember);
    };
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
pub(super) async fn opened_bids(
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
                .ok_or_else(|| EvaluationError::Corrupt(format!("bid {bid} has no price")))?;
            Ok(BidFacts {
                bid,
                price_fen,
                submitted_at: from_millis(at),
            })
        })
        .collect()
}

pub(super) fn canonical_sha256(v: &Value) -> Result<String, EvaluationError> {
    let text = serde_json_canonicalizer::to_string(v).map_err(corrupt)?;
    Ok(sha256_hex(text.as_bytes()))
}

pub(super) async fn event(
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

async fn set_state(
    tx: &mut Tx,
    tender_id: &str,
    from: &str,
    to: &str,
) -> Result<(), EvaluationError> {
    let n = q_exec!(
        tx,
        "update evaluation set state = $1 where tender_id = $2 and state = $3",
        to.to_string(),
        tender_id.to_string(),
        from.to_string()
    )?;
    if n == 0 {
        return Err(EvaluationError::WrongState {
            action: "change the evaluation",
            what: "evaluation",
            state: from.to_string(),
        });
    }
    Ok(())
}

pub(super) fn wrong(action: &'static str, ev: &Evaluation) -> EvaluationError {
    EvaluationError::WrongState {
        action,
        what: "evaluation",
        state: ev.row.state.clone(),
    }
}

// ---- 1. start -------------------------------------------------------------------------------

fn check_review_criteria(criteria: &[ReviewCriterion]) -> Result<(), EvaluationError> {
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
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &StartInput,
) -> Result<Value, EvaluationError> {
    let now = state.clock.now();
    check_review_criteria(&input.review_criteria)?;
    let mut tx = state.db.begin().await?;
    let tender = tender_by_code(&mut tx, code).await?;
    if !owns(caller, &tender) {
        return Err(EvaluationError::Forbidden(
            "only the tender's agent may start the evaluation / 仅本项目招标代理可启动评标",
        ));
    }
    if tender.state != "opened" {
        return Err(EvaluationError::WrongState {
            action: "start the evaluation",
            what: "tender",
            state: tender.state.clone(),
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
    let book = rulebook(state, &tender)?;
    let committee = committee::form_committee(book, &experts, &input.representatives)
        .map_err(EvaluationError::Committee)?;
    let criteria: Vec<Criterion> = serde_json::from_str(&tender.criteria_json).map_err(corrupt)?;
    let plan = ScoringPlan::from_tender(&criteria, input.price.clone(), input.aggregation)
        .map_err(EvaluationError::Scoring)?;
    let members = committee.members();
    let rule = serde_json::to_value(input.review_rule).map_err(corrupt)?;
    let rule = rule.as_str().unwrap_or("majority").to_string();
    q_exec!(
        tx,
        "insert into evaluation (tender_id, state, members_json, review_criteria_json, review_rule,
            plan_json, election_round, started_by, started_at)
         values ($1, 'electing', $2, $3, $4, $5, 1, $6, $7)",
        tender.tender_id.clone(),
        serde_json::to_string(members).map_err(corrupt)?,
        serde_json::to_string(&input.review_criteria).map_err(corrupt)?,
        rule.clone(),
        serde_json::to_string(&plan).map_err(corrupt)?,
        caller.user.user_id.clone(),
        to_millis(now)
    )
    .map_err(|e| {
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
    let n = q_exec!(
        tx,
        "update tender set state = 'evaluating', updated_at = $1 where tender_id = $2 and state = 'opened'",
        to_millis(now),
        tender.tender_id.clone()
    )?;
    if n == 0 {
        return Err(EvaluationError::WrongState {
            action: "start the evaluation",
            what: "tender",
            state: tender.state.clone(),
        });
    }
    event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.start",
        &tender.tender_id,
        json!({"members": members, "review_criteria": input.review_criteria, "review_rule": rule,
               "plan": plan, "method": tender.evaluation_method}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"state": "electing", "members": members.len(), "election_round": 1}))
}

// ---- 2. leader election ---------------------------------------------------------------------

/// Records one member's ballot for the current round; counts the round when every member
/// has voted (elected, or a new round).
pub async fn cast_ballot(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &BallotInput,
) -> Result<Value, EvaluationError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let voter = acting_member(&mut tx, &ev, caller).await?;
    if ev.row.state != "electing" {
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
    let mut answer = json!({"round": round, "result": "voted", "ballots": ballots.len(),
                            "members": ev.members.len()});
    if ballots.len() == ev.members.len() {
        let ballots: Vec<Ballot> = ballots
            .into_iter()
            .map(|(voter, candidate)| Ballot { voter, candidate })
            .collect();
        let book = rulebook(state, &ev.tender)?;
        let mut election = LeaderElection::new(&ev.committee(book)?);
        match election
            .count(&ballots)
            .map_err(EvaluationError::Election)?
        {
            RoundResult::Elected { leader, votes, .. } => {
                q_exec!(
                    tx,
                    "update evaluation set leader_user_id = $1, state = 'review'
                     where tender_id = $2 and state = 'electing'",
                    leader.clone(),
                    tid.clone()
                )?;
                event(
                    &mut tx,
                    now,
                    &Actor::system(),
                    "evaluation.leader",
                    &tid,
                    json!({"round": round, "leader": leader, "votes": votes}),
                )
                .await?;
                answer["result"] = json!("elected");
                answer["leader"] = json!(leader);
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
                answer["result"] = json!("revote");
                answer["next_round"] = json!(round.saturating_add(1));
            }
        }
    }
    tx.commit().await?;
    Ok(answer)
}

// ---- 3. preliminary review ------------------------------------------------------------------

async fn all_marks(tx: &mut Tx, tender_id: &str) -> Result<Vec<Mark>, EvaluationError> {
    let rows: Vec<(String, String, String, String, String)> = q_all!(
        tx,
        (String, String, String, String, String),
        "select member, bid_id, criterion, verdict, reason from evaluation_mark where tender_id = $1
         order by member, bid_id, criterion",
        tender_id.to_string()
    )?;
    rows.into_iter()
        .map(|(expert, bid, criterion, verdict, reason)| {
            let verdict: Verdict =
                serde_json::from_value(Value::String(verdict)).map_err(corrupt)?;
            Ok(Mark {
                expert,
                bid,
                criterion,
                verdict,
                reason,
            })
        })
        .collect()
}

/// The review decision, or `None` while marks are missing.
async fn review_outcome(
    tx: &mut Tx,
    ev: &Evaluation,
    bids: &[String],
) -> Result<Option<ReviewOutcome>, EvaluationError> {
    let marks = all_marks(tx, &ev.tender.tender_id).await?;
    match review::decide_review(&ev.criteria, &ev.member_ids(), bids, &marks, ev.rule) {
        Ok(o) => Ok(Some(o)),
        Err(ReviewError::MissingMarks(_)) => Ok(None),
        Err(e) => Err(EvaluationError::Review(e)),
    }
}

/// The review decision once the evaluation is past it (scoring or later).
pub(super) async fn decided_review(
    tx: &mut Tx,
    ev: &Evaluation,
    bids: &[BidFacts],
) -> Result<ReviewOutcome, EvaluationError> {
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    review_outcome(tx, ev, &ids)
        .await?
        .ok_or_else(|| EvaluationError::Corrupt("scoring before the review is decided".into()))
}

/// Records a member's preliminary review marks (each once, never changed); when every mark
/// is in, decides the review: the remaining bids go on to scoring, or the tender fails with
/// too few valid bids (流标).
pub async fn record_marks(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &MarksInput,
) -> Result<Value, EvaluationError> {
    let now = state.clock.now();
    if input.marks.is_empty() || input.marks.len() > MAX_ITEMS_PER_REQUEST {
        return Err(EvaluationError::Invalid(
            "EVALUATION_BAD_MARKS",
            format!("send 1 to {MAX_ITEMS_PER_REQUEST} marks / 请提交评审意见"),
        ));
    }
    let mut tx = state.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.row.state != "review" {
        return Err(wrong("mark the preliminary review", &ev));
    }
    let tid = ev.tender.tender_id.clone();
    let bids: Vec<String> = opened_bids(&mut tx, &tid)
        .await?
        .into_iter()
        .map(|b| b.bid)
        .collect();
    for m in &input.marks {
        crate::text::check("marks.reason", m.reason.trim(), crate::text::Lines::Multi)?;
        let mark = Mark {
            expert: member.clone(),
            bid: m.bid_id.clone(),
            criterion: m.criterion.clone(),
            verdict: m.verdict,
            reason: m.reason.trim().to_string(),
        };
        if !bids.contains(&mark.bid) {
            return Err(EvaluationError::Review(ReviewError::UnknownBid(mark.bid)));
        }
        if !ev.criteria.iter().any(|c| c.id == mark.criterion) {
            return Err(EvaluationError::Review(ReviewError::UnknownCriterion(
                mark.criterion,
            )));
        }
        review::check_mark(&mark).map_err(EvaluationError::Review)?;
        let verdict = serde_json::to_value(mark.verdict).map_err(corrupt)?;
        let digest = canonical_sha256(&json!({
            "tender_id": tid, "member": member, "bid_id": mark.bid, "criterion": mark.criterion,
            "verdict": verdict, "reason": mark.reason,
        }))?;
        q_exec!(
            tx,
            "insert into evaluation_mark (tender_id, member, bid_id, criterion, verdict, reason, sha256, marked_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            tid.clone(),
            member.clone(),
            mark.bid.clone(),
            mark.criterion.clone(),
            verdict.as_str().unwrap_or("pass").to_string(),
            mark.reason.clone(),
            digest.clone(),
            to_millis(now)
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                EvaluationError::MarkExists {
                    bid: mark.bid.clone(),
                    criterion: mark.criterion.clone(),
                }
            } else {
                e.into()
            }
        })?;
        event(
            &mut tx,
            now,
            &caller.actor,
            "evaluation.review.mark",
            &tid,
            json!({"member": member, "bid_id": mark.bid, "criterion": mark.criterion,
                   "mark_sha256": digest}),
        )
        .await?;
    }
    let mut answer = json!({"recorded": input.marks.len(), "decided": false});
    if let Some(outcome) = review_outcome(&mut tx, &ev, &bids).await? {
        let passed = outcome.passed();
        let book = rulebook(state, &ev.tender)?;
        let n = u32::try_from(passed.len()).unwrap_or(u32::MAX);
        event(
            &mut tx,
            now,
            &Actor::system(),
            "evaluation.review.decide",
            &tid,
            json!({"outcome": outcome, "passed": passed}),
        )
        .await?;
        match book.check_valid_bids(n) {
            Ok(()) => set_state(&mut tx, &tid, "review", "scoring").await?,
            Err(violation) => {
                let outcome = Outcome::Failed {
                    valid_bids: n,
                    violation,
                };
                fail(&mut tx, now, &tid, "review", &outcome).await?;
            }
        }
        answer["decided"] = json!(true);
        answer["passed"] = json!(passed);
    }
    tx.commit().await?;
    Ok(answer)
}

/// Too few valid bids: the evaluation and the tender fail (流标, 招标投标法 第28条).
async fn fail(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tid: &str,
    from: &str,
    outcome: &Outcome,
) -> Result<(), EvaluationError> {
    q_exec!(
        tx,
        "update evaluation set state = 'failed', ranking_json = $1, ranked_at = $2
         where tender_id = $3 and state = $4",
        serde_json::to_string(outcome).map_err(corrupt)?,
        to_millis(now),
        tid.to_string(),
        from.to_string()
    )?;
    q_exec!(
        tx,
        "update tender set state = 'failed', updated_at = $1 where tender_id = $2 and state = 'evaluating'",
        to_millis(now),
        tid.to_string()
    )?;
    event(
        tx,
        now,
        &Actor::system(),
        "evaluation.failed",
        tid,
        json!({"outcome": outcome}),
    )
    .await?;
    Ok(())
}

// ---- 4. detailed scoring --------------------------------------------------------------------

async fn all_sheets(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<(ScoreSheet, String)>, EvaluationError> {
    let rows: Vec<(String, String, String, String)> = q_all!(
        tx,
        (String, String, String, String),
        "select member, bid_id, scores_json, sha256 from evaluation_sheet where tender_id = $1
         order by member, bid_id",
        tender_id.to_string()
    )?;
    rows.into_iter()
        .map(|(expert, bid, scores, sha)| {
            let scores: BTreeMap<String, i64> = serde_json::from_str(&scores).map_err(corrupt)?;
            Ok((
                ScoreSheet {
                    expert,
                    bid,
                    scores,
                },
                sha,
            ))
        })
        .collect()
}

/// Submits every score sheet of the calling member at once (never changed). Refused: a
/// non-member (403), a second submission (409), a score out of range, an unknown or price
/// criterion, a bid not being scored, a sheet or a score missing (422, all problems at
/// once). The submission's SHA-256 goes into the audit trail; when every member's sheets
/// are in, the bids are ranked by the tender's method.
pub async fn submit_scores(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &ScoresInput,
) -> Result<Value, EvaluationError> {
    let now = state.clock.now();
    if input.sheets.len() > MAX_ITEMS_PER_REQUEST {
        return Err(EvaluationError::Invalid(
            "EVALUATION_BAD_SHEETS",
            format!("at most {MAX_ITEMS_PER_REQUEST} sheets / 评分表过多"),
        ));
    }
    let mut tx = state.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    let tid = ev.tender.tender_id.clone();
    let mine: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from evaluation_sheet where tender_id = $1 and member = $2",
        tid.clone(),
        member.clone()
    )?;
    if mine.is_some() {
        return Err(EvaluationError::AlreadySubmitted);
    }
    if ev.method()? == EvaluationMethod::LowestPrice {
        return Err(EvaluationError::WrongMethod(
            "this tender is evaluated by the lowest evaluated price: there are no score sheets, the leader records the committee's price comparison table / 本项目采用经评审的最低投标价法，不评分，由组长录入标价比较表",
        ));
    }
    if ev.row.state != "scoring" {
        return Err(wrong("submit scores", &ev));
    }
    let bids = opened_bids(&mut tx, &tid).await?;
    let outcome_of_review = decided_review(&mut tx, &ev, &bids).await?;
    let passed = outcome_of_review.passed();

    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut sheets = Vec::with_capacity(input.sheets.len());
    for s in &input.sheets {
        if !passed.contains(&s.bid_id) {
            problems.push(SheetProblem::UnknownBid {
                bid: s.bid_id.clone(),
            });
            continue;
        }
        if !seen.insert(s.bid_id.as_str()) {
            problems.push(SheetProblem::Duplicate {
                expert: member.clone(),
                bid: s.bid_id.clone(),
            });
            continue;
        }
        let sheet = ScoreSheet {
            expert: member.clone(),
            bid: s.bid_id.clone(),
            scores: s.scores.clone(),
        };
        if let Err(ScoringError::Sheets(p)) = scoring::check_sheet(&ev.plan, &sheet) {
            problems.extend(p);
        }
        sheets.push(sheet);
    }
    // A submission is final, so it must be complete.
    for b in &passed {
        let sheet = sheets.iter().find(|s| &s.bid == b);
        let missing: Vec<String> = ev
            .plan
            .criteria
            .iter()
            .filter(|c| !sheet.is_some_and(|s| s.scores.contains_key(&c.name)))
            .map(|c| c.name.clone())
            .collect();
        if !missing.is_empty() {
            problems.push(SheetProblem::Missing {
                expert: member.clone(),
                bid: b.clone(),
                criteria: missing,
            });
        }
    }
    if !problems.is_empty() {
        return Err(EvaluationError::Scoring(ScoringError::Sheets(problems)));
    }
    let digest = canonical_sha256(&json!({
        "tender_id": tid, "member": member,
        "sheets": sheets.iter().map(|s| json!({"bid_id": s.bid, "scores": s.scores})).collect::<Vec<_>>(),
    }))?;
    for s in &sheets {
        q_exec!(
            tx,
            "insert into evaluation_sheet (tender_id, member, bid_id, scores_json, sha256, submitted_at)
             values ($1, $2, $3, $4, $5, $6)",
            tid.clone(),
            member.clone(),
            s.bid.clone(),
            serde_json::to_string(&s.scores).map_err(corrupt)?,
            digest.clone(),
            to_millis(now)
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                EvaluationError::AlreadySubmitted
            } else {
                e.into()
            }
        })?;
    }
    event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.scores.submit",
        &tid,
        json!({"member": member, "bids": passed, "sheets_sha256": digest}),
    )
    .await?;

    let (submitted,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(distinct member) from evaluation_sheet where tender_id = $1",
        tid.clone()
    )?;
    let all_in = usize::try_from(submitted).unwrap_or(0) >= ev.members.len();
    let mut answer = json!({"sheets_sha256": digest, "submitted": submitted,
                            "members": ev.members.len(), "all_in": all_in});
    if all_in {
        let facts: Vec<BidFacts> = bids
            .into_iter()
            .filter(|b| passed.contains(&b.bid))
            .collect();
        let (outcome, report_sha256) = rank_and_report(
            &mut tx,
            state,
            &ev,
            now,
            RankInput {
                code,
                review: &outcome_of_review,
                facts,
                adjustments: &[],
            },
        )
        .await?;
        if let Some(sha) = report_sha256 {
            answer["report_sha256"] = json!(sha);
        }
        answer["outcome"] = serde_json::to_value(&outcome).map_err(corrupt)?;
    }
    tx.commit().await?;
    Ok(answer)
}

/// What [`rank_and_report`] ranks.
pub(super) struct RankInput<'a> {
    /// The tender's code (named in the report).
    pub(super) code: &'a str,
    /// The decided preliminary review.
    pub(super) review: &'a ReviewOutcome,
    /// The bids that passed it.
    pub(super) facts: Vec<BidFacts>,
    /// The committee's price adjustments (lowest evaluated price only).
    pub(super) adjustments: &'a [ranking::Adjustment],
}

/// Ranks the valid bids by the tender's method once the detailed review is complete (every
/// member's sheets, or the leader's price comparison table), in the transaction of the step
/// that completed it, and stores the outcome: the ranking and the report every member signs,
/// or the failure. Returns the outcome and the report's SHA-256.
pub(super) async fn rank_and_report(
    tx: &mut Tx,
    state: &AppState,
    ev: &Evaluation,
    now: DateTime<Utc>,
    input: RankInput<'_>,
) -> Result<(Outcome, Option<String>), EvaluationError> {
    let tid = ev.tender.tender_id.clone();
    let method = ev.method()?;
    let stored = all_sheets(tx, &tid).await?;
    let sheets: Vec<ScoreSheet> = stored.iter().map(|(s, _)| s.clone()).collect();
    let book = rulebook(state, &ev.tender)?;
    let outcome = match method {
        EvaluationMethod::Comprehensive => {
            ranking::rank_comprehensive(book, &ev.plan, &ev.member_ids(), &input.facts, &sheets)
        }
        EvaluationMethod::LowestPrice => {
            ranking::rank_lowest_price(book, &input.facts, input.adjustments)
        }
    }
    .map_err(EvaluationError::Ranking)?;
    if let Outcome::Failed { .. } = outcome {
        fail(tx, now, &tid, "scoring", &outcome).await?;
        return Ok((outcome, None));
    }
    let mut report = json!({
        "v": 1, "tender_id": tid, "tender_code": input.code, "method": ev.tender.evaluation_method,
        "ranked_at": audit::entry_time(now), "members": ev.members,
        "leader": ev.row.leader_user_id, "review_criteria": ev.criteria,
        "review_rule": ev.row.review_rule, "review": input.review,
        "plan": ev.plan,
        "sheets": stored.iter().map(|(s, sha)| json!({"member": s.expert, "bid_id": s.bid,
            "scores": s.scores, "sha256": sha})).collect::<Vec<_>>(),
        "outcome": outcome,
        // The digest is published with the candidates (公示) before the names may be known;
        // without a salt, anyone holding the rest of the report could test guesses of the
        // committee against it.
        "salt": crate::ids::new_salt(),
    });
    // The price comparison table (标价比较表) is part of what the members sign.
    if method == EvaluationMethod::LowestPrice {
        report["adjustments"] = serde_json::to_value(input.adjustments).map_err(corrupt)?;
    }
    let report_json = serde_json_canonicalizer::to_string(&report).map_err(corrupt)?;
    let report_sha256 = sha256_hex(report_json.as_bytes());
    let n = q_exec!(
        tx,
        "update evaluation set state = 'ranked', ranking_json = $1, ranked_at = $2,
            report_json = $3, report_sha256 = $4
         where tender_id = $5 and state = 'scoring'",
        serde_json::to_string(&outcome).map_err(corrupt)?,
        to_millis(now),
        report_json,
        report_sha256.clone(),
        tid.clone()
    )?;
    if n == 0 {
        return Err(wrong("rank the bids", ev));
    }
    event(
        tx,
        now,
        &Actor::system(),
        "evaluation.ranking",
        &tid,
        json!({"outcome": outcome, "report_sha256": report_sha256,
               "sheets": stored.iter().map(|(s, sha)| json!({"member": s.expert, "bid_id": s.bid, "sha256": sha})).collect::<Vec<_>>()}),
    )
    .await?;
    Ok((outcome, Some(report_sha256)))
}

// ---- 5. the report and its signatures ---------------------------------------------------------

/// `POST …/evaluation/report/sign/finish`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignFinish {
    /// From `report/sign/start`.
    pub ceremony_id: String,
    /// What `navigator.credentials.get` returned.
    pub credential: Value,
}

/// `POST …/evaluation/report/dissent`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DissentInput {
    /// The written reason (书面说明), 1–2000 characters.
    pub reason: String,
}

/// The stored report and its digest (the signing challenge).
fn report_of(ev: &Evaluation) -> Result<(String, Vec<u8>), EvaluationError> {
    let (Some(json_text), Some(hex)) = (&ev.row.report_json, &ev.row.report_sha256) else {
        return Err(wrong("sign the report", ev));
    };
    let digest = ring::digest::digest(&ring::digest::SHA256, json_text.as_bytes());
    if sha256_hex(json_text.as_bytes()) != *hex {
        return Err(EvaluationError::Corrupt("report digest mismatch".into()));
    }
    Ok((hex.clone(), digest.as_ref().to_vec()))
}

pub(super) async fn signatures(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<Signature>, EvaluationError> {
    let rows: Vec<(String, String, Option<String>)> = q_all!(
        tx,
        (String, String, Option<String>),
        "select member, act, reason from evaluation_signature where tender_id = $1 order by member",
        tender_id.to_string()
    )?;
    Ok(rows
        .into_iter()
        .map(|(member, act, reason)| Signature {
            member,
            act: if act == "signed" {
                SignAct::Signed
            } else {
                SignAct::Dissented {
                    reason: reason.unwrap_or_default(),
                }
            },
        })
        .collect())
}

async fn ensure_not_signed(tx: &mut Tx, tid: &str, member: &str) -> Result<(), EvaluationError> {
    let done: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select act from evaluation_signature where tender_id = $1 and member = $2",
        tid.to_string(),
        member.to_string()
    )?;
    if done.is_some() {
        return Err(EvaluationError::AlreadySigned);
    }
    Ok(())
}

/// Starts a member's passkey signature over the report: the challenge is the report's
/// SHA-256. Refused before every score is in (the report does not exist yet).
pub async fn start_signing(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<Value, EvaluationError> {
    let mut tx = state.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.row.state != "ranked" {
        return Err(wrong("sign the report", &ev));
    }
    let (hex, digest) = report_of(&ev)?;
    ensure_not_signed(&mut tx, &ev.tender.tender_id, &member).await?;
    drop(tx);
    let (ceremony, options) = passkey::start_signature_for_user(state, &member, &digest)
        .await
        .map_err(EvaluationError::Passkey)?;
    let options = serde_json::to_value(&options).map_err(corrupt)?;
    Ok(json!({"ceremony_id": ceremony, "options": options, "report_sha256": hex}))
}

async fn record_act(
    state: &AppState,
    caller: &Caller,
    tx: &mut Tx,
    ev: &Evaluation,
    act: &Signature,
    hex: &str,
    credential_id: Option<String>,
) -> Result<Value, EvaluationError> {
    let now = state.clock.now();
    let member = act.member.as_str();
    let tid = ev.tender.tender_id.clone();
    let (act_name, reason) = match &act.act {
        SignAct::Signed => ("signed", None),
        SignAct::Dissented { reason } => ("dissented", Some(reason.clone())),
    };
    q_exec!(
        tx,
        "insert into evaluation_signature (tender_id, member, act, reason, report_sha256, credential_id, signed_at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tid.clone(),
        member.to_string(),
        act_name.to_string(),
        reason.clone(),
        hex.to_string(),
        credential_id.clone(),
        to_millis(now)
    )
    .map_err(|e| {
        if is_unique_violation(&e) {
            EvaluationError::AlreadySigned
        } else {
            e.into()
        }
    })?;
    event(
        tx,
        now,
        &caller.actor,
        if act_name == "signed" {
            "evaluation.report.sign"
        } else {
            "evaluation.report.dissent"
        },
        &tid,
        json!({"member": member, "report_sha256": hex, "credential_id": credential_id,
               "reason": reason}),
    )
    .await?;
    let book = rulebook(state, &ev.tender)?;
    let all = signatures(tx, &tid).await?;
    let status = committee::signing_status(&ev.committee(book)?, &all, false)
        .map_err(EvaluationError::Signing)?;
    Ok(json!({"act": act_name, "report_sha256": hex, "complete": status.complete}))
}

/// Finishes a member's passkey signature: the assertion must be the member's, user-verified,
/// and over the report's SHA-256. One act per member, never changed.
pub async fn finish_signing(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &SignFinish,
) -> Result<Value, EvaluationError> {
    let credential =
        passkey::parse_assertion(input.credential.clone()).map_err(EvaluationError::Passkey)?;
    let mut tx = state.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.row.state != "ranked" {
        return Err(wrong("sign the report", &ev));
    }
    let (hex, digest) = report_of(&ev)?;
    ensure_not_signed(&mut tx, &ev.tender.tender_id, &member).await?;
    drop(tx);
    let verified = passkey::verify_signature(
        state,
        &caller.actor,
        &member,
        &input.ceremony_id,
        &credential,
        &digest,
    )
    .await
    .map_err(EvaluationError::Passkey)?;
    let mut tx = state.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let act = Signature {
        member: member.clone(),
        act: SignAct::Signed,
    };
    let out = record_act(
        state,
        caller,
        &mut tx,
        &ev,
        &act,
        &hex,
        Some(verified.credential_id),
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// Records a member's dissent from the report with the written reason (实施条例 第53条).
pub async fn dissent(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &DissentInput,
) -> Result<Value, EvaluationError> {
    let reason = input.reason.trim().to_string();
    crate::text::check("reason", &reason, crate::text::Lines::Multi)?;
    if reason.chars().count() > review::MAX_REASON_CHARS {
        return Err(EvaluationError::Invalid(
            "REPORT_DISSENT_TOO_LONG",
            format!(
                "at most {} characters / 异议说明过长",
                review::MAX_REASON_CHARS
            ),
        ));
    }
    let mut tx = state.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.row.state != "ranked" {
        return Err(wrong("dissent from the report", &ev));
    }
    let (hex, _) = report_of(&ev)?;
    if reason.is_empty() {
        return Err(EvaluationError::Signing(
            SigningError::DissentWithoutReason(member),
        ));
    }
    let act = Signature {
        member: member.clone(),
        act: SignAct::Dissented { reason },
    };
    let out = record_act(state, caller, &mut tx, &ev, &act, &hex, None).await?;
    tx.commit().await?;
    Ok(out)
}

// ---- the view -------------------------------------------------------------------------------

/// The evaluation as the caller may see it (owning agent, committee members, operators and
/// regulators). Until every member's sheets are in, only counts are shown: nobody sees
/// another's scores. Member ids are shown to members and regulators only.
pub async fn view(state: &AppState, caller: &Caller, code: &str) -> Result<Value, EvaluationError> {
    let mut tx = state.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let is_member = ev.member(&caller.user.user_id).is_some();
    let insider = is_member || matches!(caller.user.role, Role::Regulator | Role::Operator);
    if !insider && !owns(caller, &ev.tender) {
        return Err(EvaluationError::Forbidden(
            "only the tender's agent, the committee and regulators may see the evaluation / 无权查看评标情况",
        ));
    }
    let tid = ev.tender.tender_id.clone();
    let (ballots,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_ballot where tender_id = $1 and round = $2",
        tid.clone(),
        ev.row.election_round
    )?;
    let (marks,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_mark where tender_id = $1",
        tid.clone()
    )?;
    let (submitted,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(distinct member) from evaluation_sheet where tender_id = $1",
        tid.clone()
    )?;
    let mine: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from evaluation_sheet where tender_id = $1 and member = $2",
        tid.clone(),
        caller.user.user_id.clone()
    )?;
    let bids = opened_bids(&mut tx, &tid).await?;
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    let review = review_outcome(&mut tx, &ev, &ids).await?;
    // The detailed review is complete: every member's sheets, or the leader's price table.
    let all_in = match ev.method()? {
        EvaluationMethod::Comprehensive => {
            usize::try_from(submitted).unwrap_or(0) >= ev.members.len()
        }
        EvaluationMethod::LowestPrice => ev.row.report_sha256.is_some(),
    };
    let mut out = json!({
        "tender_code": code,
        "state": ev.row.state,
        "method": ev.tender.evaluation_method,
        "members": ev.members.len(),
        "election": {"round": ev.row.election_round, "ballots": ballots,
                     "elected": ev.row.leader_user_id.is_some()},
        "review": {"criteria": ev.criteria, "rule": ev.row.review_rule, "marks": marks,
                   "marks_expected": ev.criteria.len() * ev.members.len() * ids.len(),
                   "decided": review.is_some()},
        "scoring": {"plan": ev.plan, "submitted": submitted, "you_submitted": mine.is_some(),
                    "all_in": all_in},
        "sheets": Value::Null,
        "ranking": Value::Null,
    });
    if let Some(r) = &review {
        out["review"]["passed"] = json!(r.passed());
        if insider {
            out["review"]["outcome"] = serde_json::to_value(r).map_err(corrupt)?;
        }
    }
    if insider {
        out["committee"] = serde_json::to_value(&ev.members).map_err(corrupt)?;
        out["election"]["leader"] = json!(ev.row.leader_user_id);
    }
    if all_in {
        if insider {
            let sheets = all_sheets(&mut tx, &tid).await?;
            out["sheets"] = json!(
                sheets
                    .iter()
                    .map(|(s, sha)| json!({
                        "member": s.expert, "bid_id": s.bid, "scores": s.scores, "sha256": sha,
                    }))
                    .collect::<Vec<_>>()
            );
        }
        if let Some(r) = &ev.row.ranking_json {
            out["ranking"] = serde_json::from_str(r).map_err(corrupt)?;
        }
        out["report_sha256"] = json!(ev.row.report_sha256);
        if let Some(book) = state.rulebooks.by_id(&ev.tender.rulebook_id) {
            let sigs = signatures(&mut tx, &tid).await?;
            let status = committee::signing_status(&ev.committee(book)?, &sigs, false)
                .map_err(EvaluationError::Signing)?;
            let signed = status
                .members
                .iter()
                .filter(|(_, s)| *s != committee::SignStatus::Pending)
                .count();
            out["signing"] = json!({"acted": signed, "complete": status.complete});
            if insider {
                out["signing"]["members"] =
                    serde_json::to_value(&status.members).map_err(corrupt)?;
                if let Some(r) = &ev.row.report_json {
                    let report: Value = serde_json::from_str(r).map_err(corrupt)?;
                    out["price_table"] = report.get("adjustments").cloned().unwrap_or(Value::Null);
                    out["report"] = report;
                }
            }
        }
    } else if let Some(r) = &ev.row.ranking_json {
        // A failed review: the outcome names no member.
        out["ranking"] = serde_json::from_str(r).map_err(corrupt)?;
    }
    // Operators (and the agent) follow the evaluation by member number until the result is
    // settled; the committee's identity is secret until then (招标投标法 第37条).
    let state = TenderState::parse(&ev.tender.state);
    if !committee::sees_members(caller.user.role, is_member, state) {
        committee::pseudonymise_members(&mut out, &ev.member_ids());
        out["members_withheld"] = json!(true);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use crate::evaluation::review::CriterionKind;
    use crate::evaluation::scoring::Benchmark;
    use crate::expert::{DrawRequest, EligibilityRules, Quota};
    use crate::ids::new_id;
    use crate::q_one;
    use crate::store::Db;
    use crate::tender::service::{self as tenders, NewDocument};
    use crate::tender::testkit::{Kit, org, user};

    pub(crate) struct Fixture {
        pub(crate) code: String,
        pub(crate) tender_id: String,
        pub(crate) experts: Vec<Caller>,
        pub(crate) bids: Vec<String>,
        /// One bidder user per bid, in bid order.
        pub(crate) bidders: Vec<Caller>,
    }

    /// A published tender moved straight to `opened` with one valid bid per price (the
    /// opening record carries the prices) and `drawn` confirmed experts of whom the first
    /// `checked_in` have checked in. The sealed-bid and draw ceremonies have their own tests.
    pub(crate) async fn opened(
        kit: &Kit,
        prices: &[i64],
        drawn: usize,
        checked_in: usize,
    ) -> Fixture {
        let code = kit.code("E");
        let db = kit.db();
        tenders::create_draft(
            db,
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await
        .expect("draft");
        tenders::upload_document(
            kit.state.tender_documents(),
            kit.now(),
            &kit.agent,
            &code,
            NewDocument {
                filename: "招标文件.pdf".into(),
                content_type: None,
                amendment_id: None,
                bytes: bytes::Bytes::from_static(b"%PDF tender"),
            },
        )
        .await
        .expect("document");
        let t = tenders::publish(db, kit.books(), kit.now(), &kit.agent, &code)
            .await
            .expect("publish");
        let tid = t.tender_id.clone();
        let mut bidders = Vec::new();
        for _ in prices {
            let o = org(db, "bidder", "active").await;
            bidders.push(user(db, Role::Bidder, Some(&o), "active").await);
        }
        let mut experts = Vec::new();
        for _ in 0..drawn {
            experts.push(user(db, Role::Expert, None, "active").await);
        }
        let t0 = to_millis(kit.now());
        let mut tx = db.begin().await.unwrap();
        let mut bids = Vec::new();
        let mut record = Vec::new();
        for (i, (p, b)) in prices.iter().zip(&bidders).enumerate() {
            let id = new_id();
            q_exec!(
                tx,
                "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
                    signature, audit_seq, submitted_at)
                 values ($1, $2, $3, $4, 'opened', '{}', 'x', 0, $5)",
                id.clone(),
                tid.clone(),
                b.user.org_id.clone(),
                b.user.user_id.clone(),
                t0 + i64::try_from(i).unwrap()
            )
            .unwrap();
            record.push(json!({"bid_id": id, "status": "opened", "price_fen": p}));
            bids.push(id);
        }
        q_exec!(
            tx,
            "insert into opening (tender_id, state, started_by, started_at, finished_at, record_json, record_sha256)
             values ($1, 'opened', $2, $3, $3, $4, 'x')",
            tid.clone(),
            kit.agent.user.user_id.clone(),
            t0,
            json!({"bids": record}).to_string()
        )
        .unwrap();
        q_exec!(
            tx,
            "update tender set state = 'opened' where tender_id = $1",
            tid.clone()
        )
        .unwrap();
        let draw_id = new_id();
        let request = DrawRequest {
            tender_id: tid.clone(),
            evaluation_at: kit.now().fixed_offset(),
            quotas: vec![Quota {
                specialty: "A01".into(),
                count: u32::try_from(drawn).unwrap(),
                alternates: 0,
            }],
            region: None,
            tenderee_org_id: kit.tenderee_org.clone(),
            agent_org_id: None,
            bidder_org_ids: vec![],
            supervising_org_ids: vec![],
            excluded_experts: vec![],
            previously_drawn: vec![],
            rules: EligibilityRules::default(),
        };
        q_exec!(
            tx,
            "insert into expert_draw (draw_id, tender_id, kind, requested_by, supervisor_user_id, request_json,
                evaluation_at, evaluation_place, checkin_opens_at, checkin_closes_at, confirm_minutes, state,
                secret_hex, commitment_hex, commit_seq, created_at)
             values ($1, $2, 'initial', $3, $4, $5, 0, '评标室', 0, 0, 60, 'drawn', '00', '00', 0, 0)",
            draw_id.clone(),
            tid.clone(),
            kit.agent.user.user_id.clone(),
            kit.regulator.user.user_id.clone(),
            serde_json::to_string(&request).unwrap()
        )
        .unwrap();
        for (i, e) in experts.iter().enumerate() {
            let expert_id = new_id();
            q_exec!(
                tx,
                "insert into expert (expert_id, user_id, name, specialties, region, title, years_of_practice,
                    birth_year, status, created_at, updated_at)
                 values ($1, $2, $3, '[\"A01\"]', '330106', 'senior', 10, 1970, 'active', 0, 0)",
                expert_id.clone(),
                e.user.user_id.clone(),
                format!("专家{i}")
            )
            .unwrap();
            q_exec!(
                tx,
                "insert into expert_assignment (draw_id, expert_id, tender_id, specialty, member_no, role, state, created_at)
                 values ($1, $2, $3, 'A01', $4, 'member', 'confirmed', 0)",
                draw_id.clone(),
                expert_id.clone(),
                tid.clone(),
                i64::try_from(i + 1).unwrap()
            )
            .unwrap();
            if i < checked_in {
                q_exec!(
                    tx,
                    "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, audit_seq)
                     values ($1, $2, $3, 'emergency', 0, 0)",
                    tid.clone(),
                    expert_id,
                    draw_id.clone()
                )
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
        Fixture {
            code,
            tender_id: tid,
            experts,
            bids,
            bidders,
        }
    }

    pub(crate) fn start_input() -> StartInput {
        StartInput {
            representatives: vec![],
            review_criteria: vec![
                ReviewCriterion {
                    id: "投标函签字盖章".into(),
                    kind: CriterionKind::Formal,
                },
                ReviewCriterion {
                    id: "施工总承包资质".into(),
                    kind: CriterionKind::Qualification,
                },
            ],
            review_rule: ReviewRule::Majority,
            price: Some(PriceParams {
                criterion: "价格".into(),
                benchmark: Benchmark::Lowest,
                penalty_above: 100,
                penalty_below: 50,
            }),
            aggregation: Aggregation::TrimmedMean,
        }
    }

    pub(crate) fn api(e: EvaluationError) -> (u16, &'static str) {
        let a = ApiError::from(e);
        (a.status.as_u16(), a.code)
    }

    async fn tender_state(db: &Db, tid: &str) -> String {
        let mut tx = db.read().await.unwrap();
        let (s,): (String,) = q_one!(
            tx,
            (String,),
            "select state from tender where tender_id = $1",
            tid.to_string()
        )
        .unwrap();
        s
    }

    pub(crate) async fn events(db: &Db, tid: &str, action: &str) -> Vec<Value> {
        let mut tx = db.read().await.unwrap();
        let rows: Vec<(String,)> = q_all!(
            tx,
            (String,),
            "select entry from audit_event where tender_id = $1 and action = $2 order by seq",
            tid.to_string(),
            action.to_string()
        )
        .unwrap();
        rows.into_iter()
            .map(|(e,)| serde_json::from_str(&e).unwrap())
            .collect()
    }

    /// Started, leader elected, every bid passed the review: ready to score.
    pub(crate) async fn to_scoring(kit: &Kit, fx: &Fixture) {
        start(&kit.state, &kit.agent, &fx.code, &start_input())
            .await
            .expect("start");
        let leader = fx.experts[0].user.user_id.clone();
        for e in &fx.experts {
            cast_ballot(
                &kit.state,
                e,
                &fx.code,
                &BallotInput {
                    candidate: leader.clone(),
                },
            )
            .await
            .expect("ballot");
        }
        for (i, e) in fx.experts.iter().enumerate() {
            let mut marks = Vec::new();
            for (j, b) in fx.bids.iter().enumerate() {
                for c in ["投标函签字盖章", "施工总承包资质"] {
                    // One member finds a fault on the last bid; the majority passes it.
                    let fail = i == 1 && j == fx.bids.len() - 1 && c == "施工总承包资质";
                    marks.push(MarkInput {
                        bid_id: b.clone(),
                        criterion: c.into(),
                        verdict: if fail { Verdict::Fail } else { Verdict::Pass },
                        reason: if fail {
                            "资质证书已过期".into()
                        } else {
                            String::new()
                        },
                    });
                }
            }
            record_marks(&kit.state, e, &fx.code, &MarksInput { marks })
                .await
                .expect("marks");
        }
    }

    /// Registers a soft passkey (user verification reported) for a member.
    pub(crate) async fn passkey_of(
        kit: &Kit,
        who: &Caller,
    ) -> webauthn_authenticator_rs::softpasskey::SoftPasskey {
        use webauthn_authenticator_rs::WebauthnAuthenticator as _;
        let mut soft = webauthn_authenticator_rs::softpasskey::SoftPasskey::new(true);
        let (ceremony, options) = passkey::start_registration(&kit.state, &who.user.user_id)
            .await
            .expect("start registration");
        let response = soft
            .do_registration(origin(), options)
            .expect("soft registration");
        passkey::finish_registration(
            &kit.state,
            &who.actor,
            &who.user.user_id,
            &ceremony,
            &response,
            Some("软件密钥".into()),
        )
        .await
        .expect("finish registration");
        soft
    }

    fn origin() -> webauthn_authenticator_rs::prelude::Url {
        webauthn_authenticator_rs::prelude::Url::parse("http://localhost:8080").expect("origin")
    }

    pub(crate) async fn sign(
        kit: &Kit,
        who: &Caller,
        soft: &mut webauthn_authenticator_rs::softpasskey::SoftPasskey,
        code: &str,
    ) -> Result<Value, EvaluationError> {
        use webauthn_authenticator_rs::WebauthnAuthenticator as _;
        let started = start_signing(&kit.state, who, code).await?;
        let options = serde_json::from_value(started["options"].clone()).expect("options");
        let response = soft.do_authentication(origin(), options).expect("sign");
        finish_signing(
            &kit.state,
            who,
            code,
            &SignFinish {
                ceremony_id: started["ceremony_id"].as_str().expect("ceremony").into(),
                credential: serde_json::to_value(&response).expect("json"),
            },
        )
        .await
    }

    pub(crate) fn sheets(fx: &Fixture, tech: &[i64]) -> ScoresInput {
        ScoresInput {
            sheets: fx
                .bids
                .iter()
                .zip(tech)
                .map(|(b, t)| SheetInput {
                    bid_id: b.clone(),
                    scores: BTreeMap::from([("技术".to_string(), *t)]),
                })
                .collect(),
        }
    }

    pub(crate) async fn scenario_happy_path(kit: &Kit) {
        let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
        let s = &kit.state;
        start(s, &kit.agent, &fx.code, &start_input())
            .await
            .expect("start");
        assert_eq!(tender_state(kit.db(), &fx.tender_id).await, "evaluating");
        let again = start(s, &kit.agent, &fx.code, &start_input()).await;
        assert_eq!(api(again.unwrap_err()).0, 409);

        // Leader election: one ballot each, counted when all are in.
        let leader = fx.experts[2].user.user_id.clone();
        let ballot = BallotInput {
            candidate: leader.clone(),
        };
        let first = cast_ballot(s, &fx.experts[0], &fx.code, &ballot)
            .await
            .unwrap();
        assert_eq!(first["result"], "voted");
        let twice = cast_ballot(s, &fx.experts[0], &fx.code, &ballot).await;
        assert_eq!(api(twice.unwrap_err()), (409, "ELECTION_ALREADY_VOTED"));
        let outsider = cast_ballot(s, &kit.bidder, &fx.code, &ballot).await;
        assert_eq!(api(outsider.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
        let mut last = Value::Null;
        for e in &fx.experts[1..] {
            last = cast_ballot(s, e, &fx.code, &ballot).await.unwrap();
        }
        assert_eq!(last["result"], "elected");
        assert_eq!(last["leader"], json!(leader));
        assert_eq!(
            events(kit.db(), &fx.tender_id, "evaluation.ballot")
                .await
                .len(),
            5
        );

        // Preliminary review: a fail needs a reason; a mark is never changed.
        let no_reason = MarksInput {
            marks: vec![MarkInput {
                bid_id: fx.bids[0].clone(),
                criterion: "投标函签字盖章".into(),
                verdict: Verdict::Fail,
                reason: " ".into(),
            }],
        };
        let r = record_marks(s, &fx.experts[0], &fx.code, &no_reason).await;
        assert_eq!(api(r.unwrap_err()), (422, "REVIEW_FAIL_WITHOUT_REASON"));
        for (i, e) in fx.experts.iter().enumerate() {
            let mut marks = Vec::new();
            for (j, b) in fx.bids.iter().enumerate() {
                for c in ["投标函签字盖章", "施工总承包资质"] {
                    let fail = i == 1 && j == 2 && c == "施工总承包资质";
                    marks.push(MarkInput {
                        bid_id: b.clone(),
                        criterion: c.into(),
                        verdict: if fail { Verdict::Fail } else { Verdict::Pass },
                        reason: if fail {
                            "资质证书已过期".into()
                        } else {
                            String::new()
                        },
                    });
                }
            }
            let answer = record_marks(s, e, &fx.code, &MarksInput { marks })
                .await
                .unwrap();
            assert_eq!(answer["decided"], json!(i == 4));
        }
        let changed = MarksInput {
            marks: vec![MarkInput {
                bid_id: fx.bids[0].clone(),
                criterion: "投标函签字盖章".into(),
                verdict: Verdict::Pass,
                reason: String::new(),
            }],
        };
        let r = record_marks(s, &fx.experts[0], &fx.code, &changed).await;
        assert_eq!(api(r.unwrap_err()).0, 409);
        let marks = events(kit.db(), &fx.tender_id, "evaluation.review.mark").await;
        assert_eq!(marks.len(), 5 * 3 * 2);
        assert_eq!(
            marks[0]["payload"]["mark_sha256"].as_str().map(str::len),
            Some(64)
        );

        // Detailed scoring. Technical scores (max 6000) per member, bid order 0, 1, 2.
        let tech = [
            [5000, 5480, 5900],
            [5000, 5490, 5900],
            [5000, 5500, 5900],
            [5000, 5510, 5900],
            [5000, 5520, 5900],
        ];
        for (i, e) in fx.experts.iter().enumerate() {
            let answer = submit_scores(s, e, &fx.code, &sheets(&fx, &tech[i]))
                .await
                .unwrap();
            assert_eq!(answer["all_in"], json!(i == 4));
            assert_eq!(answer["sheets_sha256"].as_str().map(str::len), Some(64));
        }
        let submitted = events(kit.db(), &fx.tender_id, "evaluation.scores.submit").await;
        assert_eq!(submitted.len(), 5);
        let view = view(s, &fx.experts[0], &fx.code).await.unwrap();
        assert_eq!(view["state"], "ranked");
        assert_eq!(view["sheets"].as_array().map(Vec::len), Some(15));
        let ranking = &view["ranking"];
        // Price: B = 1 000 000.00 → 40.00; 2.5% above → 37.50; 40% above → 0.
        // Totals: bid 1 = 55.00 + 37.50, bid 0 = 50.00 + 40.00, bid 2 = 59.00 + 0.
        assert_eq!(ranking["outcome"], "ranked");
        assert_eq!(ranking["benchmark_fen"], json!(100_000_000));
        assert_eq!(
            ranking["candidates"],
            json!([fx.bids[1], fx.bids[0], fx.bids[2]])
        );
        assert_eq!(ranking["rows"][0]["detail"]["total"], json!(9250));
        assert_eq!(ranking["rows"][1]["detail"]["total"], json!(9000));
        assert_eq!(ranking["rows"][2]["detail"]["total"], json!(5900));
        assert_eq!(
            events(kit.db(), &fx.tender_id, "evaluation.ranking")
                .await
                .len(),
            1
        );
        // The agent sees the ranking, never the members or their sheets.
        let agent_view = super::view(s, &kit.agent, &fx.code).await.unwrap();
        assert!(agent_view["sheets"].is_null());
        assert!(agent_view.get("committee").is_none());
        assert_eq!(agent_view["ranking"]["candidates"], ranking["candidates"]);

        // The report: every score, its SHA-256 signed by passkey or dissented from in writing.
        let report_sha = view["report_sha256"]
            .as_str()
            .expect("report digest")
            .to_string();
        let report_text = serde_json_canonicalizer::to_string(&view["report"]).unwrap();
        assert_eq!(sha256_hex(report_text.as_bytes()), report_sha);
        assert_eq!(view["report"]["sheets"].as_array().map(Vec::len), Some(15));
        for e in &fx.experts[..4] {
            let mut soft = passkey_of(kit, e).await;
            let signed = sign(kit, e, &mut soft, &fx.code).await.expect("sign");
            assert_eq!(signed["report_sha256"], json!(report_sha));
            if e.user.user_id == fx.experts[0].user.user_id {
                let twice = sign(kit, e, &mut soft, &fx.code).await;
                assert_eq!(api(twice.unwrap_err()), (409, "REPORT_ALREADY_SIGNED"));
            }
        }
        let blank = DissentInput {
            reason: "  ".into(),
        };
        let r = dissent(s, &fx.experts[4], &fx.code, &blank).await;
        assert_eq!(api(r.unwrap_err()).0, 422);
        let reason = DissentInput {
            reason: "对投标人B技术方案评分偏高持保留意见".into(),
        };
        let done = dissent(s, &fx.experts[4], &fx.code, &reason).await.unwrap();
        assert_eq!(done["complete"], json!(true));
        let r = dissent(s, &fx.experts[0], &fx.code, &reason).await;
        assert_eq!(api(r.unwrap_err()), (409, "REPORT_ALREADY_SIGNED"));
        let view = super::view(s, &fx.experts[1], &fx.code).await.unwrap();
        assert_eq!(view["signing"]["complete"], json!(true));
        assert_eq!(view["signing"]["acted"], json!(5));
        let signs = events(kit.db(), &fx.tender_id, "evaluation.report.sign").await;
        assert_eq!(signs.len(), 4);
        assert_eq!(signs[0]["payload"]["report_sha256"], json!(report_sha));
        assert_eq!(
            events(kit.db(), &fx.tender_id, "evaluation.report.dissent")
                .await
                .len(),
            1
        );
    }

    pub(crate) async fn scenario_score_refusals(kit: &Kit) {
        let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
        let s = &kit.state;
        to_scoring(kit, &fx).await;
        let ok = [5000, 5000, 5000];

        // Nobody sees another's sheets until all are in.
        submit_scores(s, &fx.experts[0], &fx.code, &sheets(&fx, &ok))
            .await
            .unwrap();
        let v = view(s, &fx.experts[1], &fx.code).await.unwrap();
        assert_eq!(v["scoring"]["submitted"], json!(1));
        assert_eq!(v["scoring"]["you_submitted"], json!(false));
        assert!(v["sheets"].is_null());
        assert!(v["ranking"].is_null());
        let v = view(s, &kit.regulator, &fx.code).await.unwrap();
        assert!(v["sheets"].is_null());
        let stranger = view(s, &kit.bidder, &fx.code).await;
        assert_eq!(api(stranger.unwrap_err()).0, 403);

        // The report cannot be signed before every score is in.
        let r = start_signing(s, &fx.experts[0], &fx.code).await;
        assert_eq!(api(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));

        // A change after submission.
        let r = submit_scores(s, &fx.experts[0], &fx.code, &sheets(&fx, &[1, 2, 3])).await;
        assert_eq!(api(r.unwrap_err()), (409, "SCORES_ALREADY_SUBMITTED"));

        // Out of range (技术 is worth 60 points: 0..=6000), with the criterion named.
        let r = submit_scores(
            s,
            &fx.experts[1],
            &fx.code,
            &sheets(&fx, &[5000, 6001, 5000]),
        )
        .await;
        let e = ApiError::from(r.unwrap_err());
        assert_eq!((e.status.as_u16(), e.code), (422, "SCORE_OUT_OF_RANGE"));
        assert!(e.message.contains("技术"), "{}", e.message);
        assert_eq!(
            e.details
                .as_ref()
                .map(|d| d["problems"][0]["criterion"].clone()),
            Some(json!("技术"))
        );
        let r = submit_scores(s, &fx.experts[1], &fx.code, &sheets(&fx, &[5000, -1, 5000])).await;
        assert_eq!(api(r.unwrap_err()), (422, "SCORE_OUT_OF_RANGE"));
        // The price is computed, never scored by a member; a sheet missing is refused.
        let mut priced = sheets(&fx, &ok);
        priced.sheets[0].scores.insert("价格".into(), 4000);
        let r = submit_scores(s, &fx.experts[1], &fx.code, &priced).await;
        assert_eq!(api(r.unwrap_err()), (422, "PRICE_SCORED_BY_MEMBER"));
        let r = submit_scores(s, &fx.experts[1], &fx.code, &sheets(&fx, &[5000, 5000])).await;
        assert_eq!(api(r.unwrap_err()), (422, "SCORES_MISSING"));

        // A score from someone not on the committee, and from a member no longer checked in.
        let r = submit_scores(s, &kit.bidder, &fx.code, &sheets(&fx, &ok)).await;
        assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
        let outsider = user(kit.db(), Role::Expert, None, "active").await;
        let r = submit_scores(s, &outsider, &fx.code, &sheets(&fx, &ok)).await;
        assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
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
        let r = submit_scores(s, &fx.experts[4], &fx.code, &sheets(&fx, &ok)).await;
        assert_eq!(api(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
        // Nothing refused was stored.
        let v = view(s, &fx.experts[0], &fx.code).await.unwrap();
        assert_eq!(v["scoring"]["submitted"], json!(1));
        assert_eq!(v["state"], "scoring");
    }

    pub(crate) async fn scenario_start_refusals(kit: &Kit) {
        let s = &kit.state;
        // Not every confirmed expert checked in.
        let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 4).await;
        let r = start(s, &kit.agent, &fx.code, &start_input()).await;
        assert_eq!(api(r.unwrap_err()), (409, "COMMITTEE_NOT_READY"));
        // Another agency's agent.
        let r = start(s, &kit.other_agent, &fx.code, &start_input()).await;
        assert_eq!(api(r.unwrap_err()).0, 403);
        // Four experts: below the minimum of five (招标投标法 第37条).
        let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 4, 4).await;
        let r = start(s, &kit.agent, &fx.code, &start_input()).await;
        let e = ApiError::from(r.unwrap_err());
        assert_eq!(e.status.as_u16(), 422);
        assert!(e.message.contains("第37条"), "{}", e.message);
        assert_eq!(tender_state(kit.db(), &fx.tender_id).await, "opened");
        // Five experts and a representative: six members, an even committee.
        let fx = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
        let rep = user(kit.db(), Role::Agent, Some(&kit.tenderee_org), "active").await;
        let mut input = start_input();
        input.representatives = vec![rep.user.user_id.clone()];
        let r = start(s, &kit.agent, &fx.code, &input).await;
        assert_eq!(api(r.unwrap_err()).0, 422);
        // A representative who is not of the tenderee.
        input.representatives = vec![kit.bidder.user.user_id.clone()];
        let r = start(s, &kit.agent, &fx.code, &input).await;
        assert_eq!(api(r.unwrap_err()), (422, "EVALUATION_BAD_REPRESENTATIVE"));
        // Scores before the scoring step.
        start(s, &kit.agent, &fx.code, &start_input())
            .await
            .unwrap();
        let r = submit_scores(s, &fx.experts[0], &fx.code, &sheets(&fx, &[1, 1, 1])).await;
        assert_eq!(api(r.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));
    }

    #[tokio::test]
    async fn happy_path_five_members_three_bids_sqlite() {
        scenario_happy_path(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn score_refusals_and_hidden_sheets_sqlite() {
        scenario_score_refusals(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn start_refusals_sqlite() {
        scenario_start_refusals(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn all_scenarios_postgres() {
        let Some(kit) = Kit::postgres().await else {
            return;
        };
        scenario_happy_path(&kit).await;
        scenario_score_refusals(&kit).await;
        scenario_start_refusals(&kit).await;
    }
}
