//! The result of the evaluation (issue 5, item 6): the signed report delivered to the
//! tenderee, the candidate publicity (中标候选人公示), objections to the result and their
//! answers, the award notice (中标通知书) with result notices to the other bidders, and the
//! contract record (合同备案). The timing rules are the pure functions of
//! [`super::publicity`]; this module loads the facts, calls them in one transaction, stores
//! the result and appends the audit event.
//!
//! What is public: the publicity (candidates with their prices and ranks), the fact and
//! times of each objection and answer, the award and the contract are public audit events
//! and appear on the portal. The texts of objections and answers are shown to the objector,
//! the owning agent, operators and regulators only (they may name people). The members'
//! names stay withheld until the award; the award reveals them and the draw secrets in the
//! same transaction ([`crate::expert::service::reveal_draws_in`]).

use crate::evaluation::Env;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use super::answers::Candidate;
use super::answers::{
    Awarded, ContractRecorded, MemberAct, ObjectionAnswered, ObjectionRaised, Published,
    ReportDelivered,
};
use super::publicity::{self, Publicity, ResultObjection, TimingError};
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::error::{Coded, Common, Kind};
use crate::evaluation::committee::{self, SignStatus};
use crate::evaluation::ranking::{Outcome, RankDetail, RankedBid};
use crate::evaluation::service::{self, EvaluationError};
use crate::expert::service::{ExpertError, reveal_draws_in};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::lifecycle::evaluation::{self, Columns, EvaluationState};
use crate::lifecycle::tender::{self, Facts, FactsError, Move, TenderState};
use crate::lifecycle::{self, MoveError};
use crate::store::Tx;
use crate::store::blob::sha256_hex;
use crate::tender::rulebook::{MAX_MONEY_FEN, Rulebook, Rulebooks};
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

/// How long after the ranking the members have to sign or dissent before the agent may
/// deliver the report with the silent members deemed to agree (平台规则, 实施条例 第53条).
pub const SIGNING_WINDOW: Duration = Duration::hours(1);
/// Longest objection or answer, in characters.
pub const MAX_TEXT_CHARS: usize = 5_000;
/// Longest reason for awarding another candidate than the first, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;
/// The article behind the signing window and deemed agreement.
const ARTICLE_REPORT: &str = "招标投标法实施条例 第53条";

/// Why a result step is refused.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// Not found, forbidden, corrupt data, storage (the failures every feature shares).
    #[error(transparent)]
    Common(#[from] Common),
    /// The tender or evaluation is not in the state the step needs.
    #[error("cannot {action} while the {what} is {state} / 当前状态不允许此操作")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// Tender or evaluation.
        what: &'static str,
        /// The current state.
        state: String,
    },
    /// Members have neither signed nor dissented and the signing window is still open.
    #[error(
        "{pending} member(s) have not signed or dissented; the report can be delivered when all have acted or after {until} ({ARTICLE_REPORT}) / 尚有成员未签署，签署期结束后未签署者视为同意"
    )]
    SigningOpen {
        /// Members still pending.
        pending: usize,
        /// When the window closes.
        until: DateTime<Utc>,
    },
    /// A timing rule of 实施条例 第54条 / 招标投标法 第46条.
    #[error("{0} / 不符合时限规定")]
    Timing(TimingError),
    /// The objection was already answered.
    #[error("this objection is already answered / 该异议已答复")]
    AlreadyAnswered,
    /// The chosen bid is not among the ranked candidates.
    #[error("bid {0} is not a ranked candidate / 所选投标不是中标候选人")]
    NotACandidate(String),
    /// A request field is invalid (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// Loading the evaluation's committee or signatures failed.
    #[error(transparent)]
    Evaluation(EvaluationError),
    /// Revealing the draws failed.
    #[error(transparent)]
    Expert(ExpertError),
}

crate::common_errors!(ResultError);

impl From<EvaluationError> for ResultError {
    fn from(e: EvaluationError) -> Self {
        ResultError::Evaluation(e)
    }
}

impl ResultError {
    /// Shorthand for [`Common::NotFound`].
    pub fn not_found(what: &'static str) -> Self {
        Common::NotFound(what).into()
    }
    /// Shorthand for [`Common::Forbidden`].
    pub fn forbidden(why: &'static str) -> Self {
        Common::Forbidden(why).into()
    }
    /// Shorthand for [`Common::Corrupt`].
    pub fn corrupt(what: impl Into<String>) -> Self {
        Common::Corrupt(what.into()).into()
    }
}

impl Coded for ResultError {
    fn kind(&self) -> Kind {
        match self {
            ResultError::Common(c) => c.kind(),
            ResultError::WrongState { .. }
            | ResultError::SigningOpen { .. }
            | ResultError::AlreadyAnswered => Kind::Conflict,
            ResultError::Timing(_) | ResultError::NotACandidate(_) | ResultError::Invalid(..) => {
                Kind::Invalid
            }
            ResultError::Evaluation(e) => e.kind(),
            ResultError::Expert(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ResultError::Common(c) => c.code(),
            ResultError::WrongState { .. } => "RESULT_WRONG_STATE",
            ResultError::SigningOpen { .. } => "REPORT_SIGNING_OPEN",
            ResultError::Timing(e) => e.code(),
            ResultError::AlreadyAnswered => "OBJECTION_ALREADY_ANSWERED",
            ResultError::NotACandidate(_) => "AWARD_NOT_A_CANDIDATE",
            ResultError::Invalid(code, _) => code,
            ResultError::Evaluation(e) => e.code(),
            ResultError::Expert(e) => e.code(),
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            ResultError::Timing(t) => Some(json!({ "article": t.article() })),
            ResultError::Evaluation(e) => e.details(),
            _ => None,
        }
    }
}

/// Who won, as the notices name it.
struct Winner<'a> {
    org_id: &'a str,
    name: &'a str,
    price_fen: i64,
    contract_due: DateTime<Utc>,
}

/// The award notice (中标通知书) to the winner and the result notice to every other bidder,
/// in the award's transaction.
async fn notify_award(
    tx: &mut Tx,
    now: DateTime<Utc>,
    t: &Facts,
    w: &Winner<'_>,
) -> Result<(), ResultError> {
    let award_body = format!(
        "中标通知书：{} {}，贵单位为中标人，中标价 {} 元；请于 {} 前签订书面合同（招标投标法 第46条）。/ Award notice: you are the successful bidder at {} fen; sign the contract by {}.",
        t.code,
        t.title,
        crate::money::yuan(w.price_fen),
        crate::clock::cst(to_millis(w.contract_due)),
        w.price_fen,
        w.contract_due.to_rfc3339()
    );
    let result_body = format!(
        "中标结果通知书：{} {}，中标人为 {}。/ Result notice: the contract was awarded to {}.",
        t.code, t.title, w.name, w.name
    );
    for org in bidder_orgs(tx, &t.tender_id).await? {
        if org == w.org_id {
            notify_org(tx, now, &org, &t.tender_id, "result.award", &award_body).await?;
        } else {
            notify_org(tx, now, &org, &t.tender_id, "result.notice", &result_body).await?;
        }
    }
    Ok(())
}

/// A refused tender move as the award reports it: moved meanwhile is the wrong state (as
/// when the guarded update found nothing), anything else a fault.
pub(crate) fn moved(e: MoveError, action: &'static str, t: &Facts) -> ResultError {
    match e {
        MoveError::Moved => wrong_tender(action, t),
        MoveError::NotAllowed { .. } => ResultError::corrupt(e.to_string()),
        MoveError::Store(s) => s.into(),
    }
}

pub(crate) fn corrupt(e: impl std::fmt::Display) -> ResultError {
    ResultError::corrupt(e.to_string())
}

// ---- request bodies -------------------------------------------------------------------------

/// `POST /api/v1/tenders/{code}/publicity`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicityInput {
    /// When the publicity ends (RFC 3339); it starts now.
    pub ends_at: DateTime<Utc>,
}

/// `POST /api/v1/tenders/{code}/result-objections` and the answer to one.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextInput {
    /// The written objection or answer, 1–5000 characters.
    pub text: String,
}

/// `POST /api/v1/tenders/{code}/award`.
#[derive(Clone, Debug, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AwardInput {
    /// The winning bid; default the first-ranked candidate.
    #[serde(default)]
    pub bid_id: Option<String>,
    /// Why another candidate than the first wins (required then).
    #[serde(default)]
    pub reason: Option<String>,
}

/// `POST /api/v1/tenders/{code}/contract`.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContractInput {
    /// When the contract was signed (RFC 3339), not in the future.
    pub signed_at: DateTime<Utc>,
    /// The contract amount in fen.
    pub amount_fen: i64,
    /// SHA-256 (hex) of the signed contract document, if recorded.
    #[serde(default)]
    pub document_sha256: Option<String>,
}

// ---- loading --------------------------------------------------------------------------------

pub(crate) async fn tender(tx: &mut Tx, code: &str) -> Result<Facts, ResultError> {
    lifecycle::tender::by_code(tx, code)
        .await
        .map_err(|e| match e {
            FactsError::NotFound => ResultError::not_found("tender"),
            FactsError::Corrupt(s) => ResultError::corrupt(s),
            FactsError::Store(s) => s.into(),
        })
}

pub(crate) fn owns(caller: &Caller, t: &Facts) -> bool {
    lifecycle::tender::is_owner(caller, t.agent_org_id.as_deref())
}

pub(crate) fn require_owner(caller: &Caller, t: &Facts) -> Result<(), ResultError> {
    if owns(caller, t) {
        Ok(())
    } else {
        Err(ResultError::forbidden(
            "only the tender's agent may do this / 仅本项目代理机构可操作",
        ))
    }
}

pub(crate) fn wrong_tender(action: &'static str, t: &Facts) -> ResultError {
    ResultError::WrongState {
        action,
        what: "tender",
        state: t.state.refusal_name().to_string(),
    }
}

pub(crate) fn rulebook<'a>(
    rulebooks: &'a Rulebooks,
    t: &Facts,
) -> Result<&'a Rulebook, ResultError> {
    rulebooks
        .by_id(&t.rulebook_id)
        .ok_or_else(|| ResultError::corrupt(format!("unknown rulebook {}", t.rulebook_id)))
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EvalRow {
    pub(crate) state: String,
    pub(crate) ranking_json: Option<String>,
    pub(crate) report_json: Option<String>,
    pub(crate) report_sha256: Option<String>,
    pub(crate) ranked_at: Option<i64>,
    pub(crate) report_at: Option<i64>,
}

impl EvalRow {
    /// Whether the evaluation is in `state`.
    pub(crate) fn is(&self, state: EvaluationState) -> bool {
        EvaluationState::parse(&self.state) == Some(state)
    }
}

pub(crate) async fn evaluation(tx: &mut Tx, tender_id: &str) -> Result<EvalRow, ResultError> {
    q_opt!(
        tx,
        EvalRow,
        "select state, ranking_json, report_json, report_sha256, ranked_at, report_at
         from evaluation where tender_id = $1",
        tender_id.to_string()
    )?
    .ok_or(ResultError::not_found("evaluation"))
}

/// The candidates of the ranking stored with the evaluation, best first, read back into the
/// `Outcome` that wrote it.
pub(crate) fn ranked_candidates(ev: &EvalRow) -> Result<Vec<RankedBid>, ResultError> {
    let text = ev
        .ranking_json
        .as_deref()
        .ok_or_else(|| ResultError::corrupt("ranked evaluation without a ranking"))?;
    let Outcome::Ranked(ranking) = serde_json::from_str(text).map_err(corrupt)? else {
        return Err(ResultError::corrupt(
            "a failed evaluation has no candidates",
        ));
    };
    Ok(ranking
        .rows
        .into_iter()
        .filter(|r| ranking.candidates.contains(&r.bid))
        .collect())
}

/// The public candidate list: rank, bid, bidder name, price and the figure that ranked it.
pub(crate) async fn candidates(tx: &mut Tx, ev: &EvalRow) -> Result<Vec<Candidate>, ResultError> {
    let mut out = Vec::new();
    for row in ranked_candidates(ev)? {
        let (org_id, org_name): (String, String) = q_one!(
            tx,
            (String, String),
            "select o.org_id, o.name from bid b join organisation o on o.org_id = b.bidder_org_id
             where b.bid_id = $1",
            row.bid.clone()
        )?;
        let (total, evaluated_price_fen) = match row.detail {
            RankDetail::Comprehensive { total, .. } => (Some(total), None),
            RankDetail::LowestPrice {
                evaluated_price_fen,
                ..
            } => (None, Some(evaluated_price_fen)),
        };
        out.push(Candidate {
            rank: i64::from(row.rank),
            bid_id: row.bid,
            bidder_org_id: org_id,
            bidder: org_name,
            price_fen: row.price_fen,
            total,
            evaluated_price_fen,
        });
    }
    Ok(out)
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PublicityRow {
    pub(crate) starts_at: i64,
    pub(crate) ends_at: i64,
    pub(crate) candidates_json: String,
}

pub(crate) async fn publicity_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Option<PublicityRow>, ResultError> {
    Ok(q_opt!(
        tx,
        PublicityRow,
        "select starts_at, ends_at, candidates_json from result_publicity where tender_id = $1",
        tender_id.to_string()
    )?)
}

pub(crate) fn publicity_value(p: &PublicityRow, report_at: i64) -> Publicity {
    Publicity {
        report_at: from_millis(report_at),
        starts_at: from_millis(p.starts_at),
        ends_at: from_millis(p.ends_at),
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ObjectionRow {
    pub(crate) objection_id: String,
    pub(crate) org_id: String,
    pub(crate) org_name: String,
    pub(crate) body: String,
    pub(crate) raised_at: i64,
    pub(crate) answer: Option<String>,
    pub(crate) answered_at: Option<i64>,
    pub(crate) answered_late: i64,
}

pub(crate) async fn objections(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<ObjectionRow>, ResultError> {
    Ok(q_all!(
        tx,
        ObjectionRow,
        "select r.objection_id, r.org_id, o.name as org_name, r.body, r.raised_at,
                r.answer, r.answered_at, r.answered_late
         from result_objection r join organisation o on o.org_id = r.org_id
         where r.tender_id = $1 order by r.raised_at, r.objection_id",
        tender_id.to_string()
    )?)
}

pub(crate) fn check_text(text: &str, what: &'static str) -> Result<String, ResultError> {
    let t = text.trim();
    let n = t.chars().count();
    if n == 0 || n > MAX_TEXT_CHARS {
        return Err(ResultError::Invalid(
            "RESULT_BAD_TEXT",
            format!(
                "the {what} must be 1 to {MAX_TEXT_CHARS} characters / 内容须为1至{MAX_TEXT_CHARS}个字符"
            ),
        ));
    }
    if let Some(c) = crate::text::forbidden_char(t, crate::text::Lines::Multi) {
        return Err(ResultError::Invalid(
            crate::text::CODE,
            crate::text::message(what, c),
        ));
    }
    Ok(t.to_string())
}

/// In-app notices to every active user of `org_id`.
pub(crate) async fn notify_org(
    tx: &mut Tx,
    now: DateTime<Utc>,
    org_id: &str,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<(), ResultError> {
    let users: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select user_id from app_user where org_id = $1 and status = 'active'",
        org_id.to_string()
    )?;
    for (user_id,) in users {
        notify_user(tx, now, &user_id, tender_id, kind, body).await?;
    }
    Ok(())
}

/// One in-app notice.
pub(crate) async fn notify_user(
    tx: &mut Tx,
    now: DateTime<Utc>,
    user_id: &str,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<(), ResultError> {
    q_exec!(
        tx,
        "insert into notice (notice_id, user_id, tender_id, kind, body, created_at)
         values ($1, $2, $3, $4, $5, $6)",
        new_id(),
        user_id.to_string(),
        tender_id.to_string(),
        kind.to_string(),
        body.to_string(),
        to_millis(now)
    )?;
    Ok(())
}

/// Every organisation that bid on the tender and whose bid reached the opening.
pub(crate) async fn bidder_orgs(tx: &mut Tx, tender_id: &str) -> Result<Vec<String>, ResultError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select distinct bidder_org_id from bid where tender_id = $1 and state in ('opened', 'revoked')
         order by bidder_org_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(|(o,)| o).collect())
}

// ---- 1. deliver the report ------------------------------------------------------------------

/// Delivers the signed report to the tenderee and closes signing (owning agent, evaluation
/// `ranked`): allowed once every member signed or dissented, or after [`SIGNING_WINDOW`];
/// a member who did neither is then deemed to agree (实施条例 第53条). The evaluation becomes
/// `reported`; the publicity must start within the rulebook's days of this instant.
pub async fn deliver_report(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<ReportDelivered, ResultError> {
    let now = env.now;
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    if !ev.is(EvaluationState::Ranked) {
        return Err(ResultError::WrongState {
            action: "deliver the report",
            what: "evaluation",
            state: ev.state,
        });
    }
    let ranked_at = from_millis(ev.ranked_at.unwrap_or_default());
    // The committee and the signatures exactly as the signing steps read them.
    let loaded = service::load(&mut tx, code).await?;
    let committee = loaded.committee(rulebook(env.rulebooks, &t)?)?;
    let signatures = service::signatures(&mut tx, &t.tender_id).await?;
    let window_over = now >= ranked_at + SIGNING_WINDOW;
    let status =
        committee::signing_status(&committee, &signatures, window_over).map_err(corrupt)?;
    if !status.complete {
        let pending = status
            .members
            .iter()
            .filter(|(_, s)| *s == SignStatus::Pending)
            .count();
        return Err(ResultError::SigningOpen {
            pending,
            until: ranked_at + SIGNING_WINDOW,
        });
    }
    let statuses: Vec<MemberAct> = status
        .members
        .into_iter()
        .map(|(member, status)| MemberAct { member, status })
        .collect();
    // Names members, so it waits for the award like every other evaluation event.
    let m = evaluation::Move::new(
        Columns::Delivered,
        &caller.actor,
        "evaluation.report.deliver",
        json!({"report_sha256": ev.report_sha256, "signatures": statuses}),
    );
    let (from, to) = (EvaluationState::Ranked, EvaluationState::Reported);
    evaluation::transition(&mut tx, now, &t.tender_id, from, to, m)
        .await
        .map_err(|e| match e {
            MoveError::Moved => ResultError::WrongState {
                action: "deliver the report",
                what: "evaluation",
                state: "changed".into(),
            },
            MoveError::NotAllowed { .. } => ResultError::corrupt(e.to_string()),
            MoveError::Store(s) => s.into(),
        })?;
    tx.commit().await?;
    Ok(ReportDelivered {
        report_at: now,
        report_sha256: ev.report_sha256,
        signatures: statuses,
    })
}

// ---- 2. publicity ---------------------------------------------------------------------------

/// Publishes the candidates (owning agent; report delivered; the rulebook has a publicity):
/// starts now, ends at `ends_at`, checked against 实施条例 第54条. The tender becomes
/// `publicity`; every bidder is notified; the candidates are a public audit event.
pub async fn publish(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &PublicityInput,
) -> Result<Published, ResultError> {
    let now = env.now;
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    if t.state != TenderState::Evaluating {
        return Err(wrong_tender("publish the candidates", &t));
    }
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    let Some(report_at) = ev.report_at.filter(|_| ev.is(EvaluationState::Reported)) else {
        return Err(ResultError::WrongState {
            action: "publish the candidates before the report is delivered",
            what: "evaluation",
            state: ev.state,
        });
    };
    let book = rulebook(env.rulebooks, &t)?;
    let p = Publicity {
        report_at: from_millis(report_at),
        starts_at: now,
        ends_at: input.ends_at,
    };
    publicity::check_publicity(book, &p).map_err(ResultError::Timing)?;
    let list = candidates(&mut tx, &ev).await?;
    let seq = tender::transition(
        &mut tx,
        now,
        &t.tender_id,
        TenderState::Evaluating,
        TenderState::Publicity,
        Move::new(
            &caller.actor,
            "result.publicity",
            json!({"starts_at": audit::entry_time(now), "ends_at": audit::entry_time(input.ends_at),
               "candidates": list, "report_sha256": ev.report_sha256}),
        ),
    )
    .await
    .map_err(|e| moved(e, "publish the candidates", &t))?;
    q_exec!(
        tx,
        "insert into result_publicity (tender_id, starts_at, ends_at, candidates_json, published_by, audit_seq)
         values ($1, $2, $3, $4, $5, $6)",
        t.tender_id.clone(),
        to_millis(now),
        to_millis(input.ends_at),
        serde_json::to_string(&list).map_err(corrupt)?,
        caller.user.user_id.clone(),
        i64::try_from(seq).unwrap_or(i64::MAX)
    )?;
    let body = format!(
        "{} {}：中标候选人公示至 {}，如有异议请在公示期内提出。/ Candidates published until {}; objections during the publicity.",
        t.code,
        t.title,
        crate::clock::cst(to_millis(input.ends_at)),
        input.ends_at.to_rfc3339()
    );
    for org in bidder_orgs(&mut tx, &t.tender_id).await? {
        notify_org(&mut tx, now, &org, &t.tender_id, "result.publicity", &body).await?;
    }
    tx.commit().await?;
    Ok(Published {
        candidates: list,
        ends_at: input.ends_at,
        starts_at: now,
    })
}

// ---- 3. objections --------------------------------------------------------------------------

/// Raises an objection to the result (a bidder of the tender, during the publicity,
/// 实施条例 第54条). The fact is public; the text goes to the agent and regulators.
pub async fn raise_objection(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &TextInput,
) -> Result<ObjectionRaised, ResultError> {
    let now = env.now;
    let text = check_text(&input.text, "objection")?;
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    let org = match (&caller.user.role, &caller.user.org_id) {
        (Role::Bidder, Some(org)) => org.clone(),
        _ => {
            return Err(ResultError::forbidden(
                "only bidders of this tender may object to its result / 仅本项目投标人可提出异议",
            ));
        }
    };
    if !bidder_orgs(&mut tx, &t.tender_id).await?.contains(&org) {
        return Err(ResultError::forbidden(
            "only bidders of this tender may object to its result / 仅本项目投标人可提出异议",
        ));
    }
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    let (Some(p), Some(report_at)) = (publicity_of(&mut tx, &t.tender_id).await?, ev.report_at)
    else {
        return Err(wrong_tender("object to the result", &t));
    };
    let book = rulebook(env.rulebooks, &t)?;
    publicity::check_objection_raised(book, &publicity_value(&p, report_at), now)
        .map_err(ResultError::Timing)?;
    if t.state != TenderState::Publicity {
        return Err(wrong_tender("object to the result", &t));
    }
    let id = new_id();
    let due = publicity::objection_answer_due(book, now);
    q_exec!(
        tx,
        "insert into result_objection (objection_id, tender_id, org_id, raised_by, body, raised_at)
         values ($1, $2, $3, $4, $5, $6)",
        id.clone(),
        t.tender_id.clone(),
        org.clone(),
        caller.user.user_id.clone(),
        text.clone(),
        to_millis(now)
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "result.objection",
        Some(&t.tender_id),
        json!({"objection_id": id, "org_id": org, "text_sha256": sha256_hex(text.as_bytes()),
               "answer_due": audit::entry_time(due)}),
    )
    .await?;
    if let Some(agent_org) = &t.agent_org_id {
        let body = format!(
            "{} {}：收到对评标结果的异议，须在 {} 前答复。/ An objection to the result must be answered by {}.",
            t.code,
            t.title,
            crate::clock::cst(to_millis(due)),
            due.to_rfc3339()
        );
        notify_org(
            &mut tx,
            now,
            agent_org,
            &t.tender_id,
            "result.objection",
            &body,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(ObjectionRaised {
        answer_due: due,
        objection_id: id,
        raised_at: now,
    })
}

/// Answers an objection in writing (owning agent). An answer after the rulebook's days is
/// still recorded (the award may then follow) but flagged late and logged as an alert.
pub async fn answer_objection(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    objection_id: &str,
    input: &TextInput,
) -> Result<ObjectionAnswered, ResultError> {
    let now = env.now;
    let text = check_text(&input.text, "answer")?;
    if !is_id(objection_id) {
        return Err(ResultError::not_found("objection"));
    }
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    let row: Option<(String, i64, Option<i64>, String)> = q_opt!(
        tx,
        (String, i64, Option<i64>, String),
        "select org_id, raised_at, answered_at, raised_by from result_objection
         where objection_id = $1 and tender_id = $2",
        objection_id.to_string(),
        t.tender_id.clone()
    )?;
    let Some((org, raised_at, answered_at, raised_by)) = row else {
        return Err(ResultError::not_found("objection"));
    };
    if answered_at.is_some() {
        return Err(ResultError::AlreadyAnswered);
    }
    let book = rulebook(env.rulebooks, &t)?;
    let objection = ResultObjection {
        id: objection_id.to_string(),
        raised_at: from_millis(raised_at),
        answered_at: None,
    };
    let late = match publicity::check_objection_answer(book, &objection, now) {
        Ok(()) => false,
        Err(e @ TimingError::AnswerLate { .. }) => {
            tracing::warn!(tender = %t.code, objection = %objection_id, "{e}");
            true
        }
        Err(e) => return Err(ResultError::Timing(e)),
    };
    let n = q_exec!(
        tx,
        "update result_objection set answer = $1, answered_by = $2, answered_at = $3, answered_late = $4
         where objection_id = $5 and answered_at is null",
        text.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        i64::from(late),
        objection_id.to_string()
    )?;
    if n == 0 {
        return Err(ResultError::AlreadyAnswered);
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "result.objection.answer",
        Some(&t.tender_id),
        json!({"objection_id": objection_id, "org_id": org,
               "text_sha256": sha256_hex(text.as_bytes()), "late": late}),
    )
    .await?;
    let body = format!(
        "{} {}：您对评标结果的异议已答复。/ Your objection to the result has been answered.",
        t.code, t.title
    );
    notify_user(
        &mut tx,
        now,
        &raised_by,
        &t.tender_id,
        "result.objection.answer",
        &body,
    )
    .await?;
    tx.commit().await?;
    Ok(ObjectionAnswered {
        answered_at: now,
        late,
        objection_id: objection_id.to_string(),
    })
}

// ---- 4. award -------------------------------------------------------------------------------

/// Issues the award notice (中标通知书, owning agent): after the publicity is over with every
/// objection answered (or, where the rulebook has no publicity, once the report is
/// delivered). The winner is the first-ranked candidate unless another candidate is chosen
/// with a written reason. The tender becomes `awarded`; the winner gets the award notice,
/// the other bidders result notices; the draws are revealed in the same transaction.
pub async fn award(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &AwardInput,
) -> Result<Awarded, ResultError> {
    let now = env.now;
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    let book = rulebook(env.rulebooks, &t)?;
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    // Procedures without a candidate publicity award straight from the report.
    let from = if book.rules.candidate_publicity_min_days.is_some() {
        TenderState::Publicity
    } else {
        TenderState::Evaluating
    };
    if t.state != from || !ev.is(EvaluationState::Reported) {
        return Err(wrong_tender("award", &t));
    }
    check_award_time(&mut tx, book, &t, &ev, now).await?;
    let list = candidates(&mut tx, &ev).await?;
    let (chosen, reason) = chosen_candidate(&list, input)?;
    let rank = chosen.rank;
    let bid_id = chosen.bid_id.clone();
    let winner_org = chosen.bidder_org_id.clone();
    let winner_name = chosen.bidder.clone();
    let price_fen = chosen.price_fen;
    let due = publicity::contract_due(book, now);
    q_exec!(
        tx,
        "insert into award (tender_id, bid_id, winner_org_id, price_fen, candidate_rank, reason,
                            awarded_by, awarded_at, contract_due_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        t.tender_id.clone(),
        bid_id.clone(),
        winner_org.clone(),
        price_fen,
        rank,
        reason.map(str::to_string),
        caller.user.user_id.clone(),
        to_millis(now),
        to_millis(due)
    )?;
    tender::transition(
        &mut tx,
        now,
        &t.tender_id,
        from,
        TenderState::Awarded,
        Move::new(
            &caller.actor,
            "result.award",
            json!({"bid_id": bid_id, "winner_org_id": winner_org, "winner": winner_name,
               "price_fen": price_fen, "candidate_rank": rank, "reason": reason,
               "contract_due": audit::entry_time(due), "report_sha256": ev.report_sha256}),
        ),
    )
    .await
    .map_err(|e| moved(e, "award", &t))?;
    reveal_report(&mut tx, now, caller, &t, &ev).await?;
    let revealed = reveal_draws_in(&mut tx, now, &caller.actor, &t.tender_id)
        .await
        .map_err(ResultError::Expert)?;
    notify_award(
        &mut tx,
        now,
        &t,
        &Winner {
            org_id: &winner_org,
            name: &winner_name,
            price_fen,
            contract_due: due,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Awarded {
        awarded_at: now,
        bid_id,
        candidate_rank: rank,
        contract_due: due,
        draws_revealed: revealed,
        price_fen,
        winner: winner_name,
    })
}

/// The award may be issued now: the publicity is over with every objection answered, or
/// there is none and the report is delivered ([`publicity::check_award`]).
async fn check_award_time(
    tx: &mut Tx,
    book: &Rulebook,
    t: &Facts,
    ev: &EvalRow,
    now: DateTime<Utc>,
) -> Result<(), ResultError> {
    let report_at = ev
        .report_at
        .ok_or_else(|| ResultError::corrupt("reported evaluation without report_at"))?;
    let p = publicity_of(tx, &t.tender_id)
        .await?
        .map(|p| publicity_value(&p, report_at));
    let objs: Vec<ResultObjection> = objections(tx, &t.tender_id)
        .await?
        .iter()
        .map(|o| ResultObjection {
            id: o.objection_id.clone(),
            raised_at: from_millis(o.raised_at),
            answered_at: o.answered_at.map(from_millis),
        })
        .collect();
    publicity::check_award(book, p.as_ref(), &objs, now).map_err(ResultError::Timing)
}

/// The candidate awarded: the first, or the one named with a written reason (招标投标法实施条例
/// 第55条); the reason, trimmed, when one is given.
fn chosen_candidate<'a, 'b>(
    list: &'a [Candidate],
    input: &'b AwardInput,
) -> Result<(&'a Candidate, Option<&'b str>), ResultError> {
    let first = list
        .first()
        .ok_or_else(|| ResultError::corrupt("a ranked evaluation without candidates"))?;
    let chosen = match &input.bid_id {
        None => first,
        Some(bid) => list
            .iter()
            .find(|c| c.bid_id == *bid)
            .ok_or_else(|| ResultError::NotACandidate(bid.clone()))?,
    };
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if chosen.rank != 1 && reason.is_none() {
        return Err(ResultError::Invalid(
            "AWARD_REASON_REQUIRED",
            "awarding another candidate than the first needs a written reason (招标投标法实施条例 第55条) / 确定排名第一以外的中标人须书面说明理由".into(),
        ));
    }
    if let Some(r) = reason {
        crate::text::check("reason", r, crate::text::Lines::Multi)
            .map_err(|e| ResultError::Invalid(crate::text::CODE, e.to_string()))?;
    }
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(ResultError::Invalid(
            "AWARD_REASON_TOO_LONG",
            format!("at most {MAX_REASON_CHARS} characters / 理由过长"),
        ));
    }
    Ok((chosen, reason))
}

/// The report with every score becomes public with the result: anyone can recompute the
/// sheet digests that went into the trail when the scores were submitted, and the report
/// digest every member signed.
async fn reveal_report(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    t: &Facts,
    ev: &EvalRow,
) -> Result<(), ResultError> {
    let report: Value = serde_json::from_str(
        ev.report_json
            .as_deref()
            .ok_or_else(|| ResultError::corrupt("reported evaluation without a report"))?,
    )
    .map_err(corrupt)?;
    audit::append(
        tx,
        now,
        &caller.actor,
        "evaluation.report.reveal",
        Some(&t.tender_id),
        json!({"report_sha256": ev.report_sha256, "report": report}),
    )
    .await?;
    Ok(())
}

// ---- 5. contract ----------------------------------------------------------------------------

/// Records the signed contract (owning agent; tender `awarded`): signed no earlier than the
/// award notice, within the rulebook's days (招标投标法 第46条), and not in the future. The
/// tender becomes `contracted`.
pub async fn record_contract(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &ContractInput,
) -> Result<ContractRecorded, ResultError> {
    let now = env.now;
    if input.amount_fen <= 0 || input.amount_fen > MAX_MONEY_FEN {
        return Err(ResultError::Invalid(
            "CONTRACT_BAD_AMOUNT",
            format!("the amount must be 1 to {MAX_MONEY_FEN} fen / 合同金额无效"),
        ));
    }
    if let Some(h) = &input.document_sha256
        && (h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        return Err(ResultError::Invalid(
            "CONTRACT_BAD_DIGEST",
            "document_sha256 must be 64 hexadecimal digits / 合同文件摘要格式错误".into(),
        ));
    }
    if input.signed_at > now {
        return Err(ResultError::Invalid(
            "CONTRACT_SIGNED_IN_FUTURE",
            "the signing time is in the future / 签订时间不能晚于当前时间".into(),
        ));
    }
    let mut tx = env.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    if t.state != TenderState::Awarded {
        return Err(wrong_tender("record the contract", &t));
    }
    let (awarded_at, winner_org, price_fen): (i64, String, i64) = q_one!(
        tx,
        (i64, String, i64),
        "select awarded_at, winner_org_id, price_fen from award where tender_id = $1",
        t.tender_id.clone()
    )?;
    let book = rulebook(env.rulebooks, &t)?;
    publicity::check_contract(book, from_millis(awarded_at), input.signed_at)
        .map_err(ResultError::Timing)?;
    let digest = input
        .document_sha256
        .as_ref()
        .map(|h| h.to_ascii_lowercase());
    q_exec!(
        tx,
        "insert into contract_record (tender_id, signed_at, amount_fen, document_sha256, recorded_by, recorded_at)
         values ($1, $2, $3, $4, $5, $6)",
        t.tender_id.clone(),
        to_millis(input.signed_at),
        input.amount_fen,
        digest.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    tender::transition(
        &mut tx,
        now,
        &t.tender_id,
        TenderState::Awarded,
        TenderState::Contracted,
        Move::new(
            &caller.actor,
            "result.contract",
            json!({"signed_at": audit::entry_time(input.signed_at), "amount_fen": input.amount_fen,
               "award_price_fen": price_fen, "winner_org_id": winner_org,
               "document_sha256": digest}),
        ),
    )
    .await
    .map_err(|e| moved(e, "record the contract", &t))?;
    tx.commit().await?;
    Ok(ContractRecorded {
        amount_fen: input.amount_fen,
        signed_at: input.signed_at,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
