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

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::committee::{self, SignStatus};
use super::publicity::{self, Publicity, ResultObjection, TimingError};
use super::service::{self, EvaluationError};
use crate::audit::{self, Stage};
use crate::clock::{from_millis, to_millis};
use crate::expert::service::{ExpertError, reveal_draws_in};
use crate::http::{ApiError, AppState};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::store::blob::sha256_hex;
use crate::store::{StoreError, Tx};
use crate::tender::rulebook::{MAX_MONEY_FEN, Rulebook};
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

/// Why a result step is refused; mapped to HTTP once, in `From<ResultError> for ApiError`.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    /// The tender, evaluation or objection does not exist.
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
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
    /// Stored data no code writes.
    #[error("stored result data is inconsistent: {0}")]
    Corrupt(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ResultError {
    fn from(e: sqlx::Error) -> Self {
        ResultError::Store(StoreError::Sql(e))
    }
}

impl From<EvaluationError> for ResultError {
    fn from(e: EvaluationError) -> Self {
        ResultError::Evaluation(e)
    }
}

impl ResultError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ResultError::NotFound(_) => "NOT_FOUND",
            ResultError::Forbidden(_) => "FORBIDDEN",
            ResultError::WrongState { .. } => "RESULT_WRONG_STATE",
            ResultError::SigningOpen { .. } => "REPORT_SIGNING_OPEN",
            ResultError::Timing(e) => e.code(),
            ResultError::AlreadyAnswered => "OBJECTION_ALREADY_ANSWERED",
            ResultError::NotACandidate(_) => "AWARD_NOT_A_CANDIDATE",
            ResultError::Invalid(code, _) => code,
            ResultError::Evaluation(e) => e.code(),
            ResultError::Expert(e) => e.code(),
            ResultError::Corrupt(_) | ResultError::Store(_) => "INTERNAL",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ResultError::NotFound(_) => StatusCode::NOT_FOUND,
            ResultError::Forbidden(_) => StatusCode::FORBIDDEN,
            ResultError::WrongState { .. }
            | ResultError::SigningOpen { .. }
            | ResultError::AlreadyAnswered => StatusCode::CONFLICT,
            ResultError::Timing(_) | ResultError::NotACandidate(_) | ResultError::Invalid(..) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ResultError::Evaluation(_)
            | ResultError::Expert(_)
            | ResultError::Corrupt(_)
            | ResultError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<ResultError> for ApiError {
    fn from(e: ResultError) -> Self {
        match e {
            ResultError::Evaluation(e) => ApiError::from(e),
            ResultError::Expert(e) => ApiError::from(e),
            ResultError::Corrupt(_) | ResultError::Store(_) => ApiError::internal(&e),
            ResultError::Timing(ref t) => {
                let details = json!({ "article": t.article() });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            other => ApiError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

fn corrupt(e: impl std::fmt::Display) -> ResultError {
    ResultError::Corrupt(e.to_string())
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

#[derive(Debug, sqlx::FromRow)]
struct TenderRow {
    tender_id: String,
    code: String,
    name: String,
    state: String,
    rulebook_id: String,
    agent_org_id: Option<String>,
}

async fn tender(tx: &mut Tx, code: &str) -> Result<TenderRow, ResultError> {
    q_opt!(
        tx,
        TenderRow,
        "select tender_id, code, title as name, state, rulebook_id, agent_org_id from tender where code = $1",
        code.to_string()
    )?
    .ok_or(ResultError::NotFound("tender"))
}

fn owns(caller: &Caller, t: &TenderRow) -> bool {
    caller.user.role == Role::Agent
        && caller.user.org_id.is_some()
        && caller.user.org_id == t.agent_org_id
}

fn require_owner(caller: &Caller, t: &TenderRow) -> Result<(), ResultError> {
    if owns(caller, t) {
        Ok(())
    } else {
        Err(ResultError::Forbidden(
            "only the tender's agent may do this / 仅本项目代理机构可操作",
        ))
    }
}

fn wrong_tender(action: &'static str, t: &TenderRow) -> ResultError {
    ResultError::WrongState {
        action,
        what: "tender",
        state: t.state.clone(),
    }
}

fn rulebook<'a>(state: &'a AppState, t: &TenderRow) -> Result<&'a Rulebook, ResultError> {
    state
        .rulebooks
        .by_id(&t.rulebook_id)
        .ok_or_else(|| ResultError::Corrupt(format!("unknown rulebook {}", t.rulebook_id)))
}

#[derive(Debug, sqlx::FromRow)]
struct EvalRow {
    state: String,
    ranking_json: Option<String>,
    report_json: Option<String>,
    report_sha256: Option<String>,
    ranked_at: Option<i64>,
    report_at: Option<i64>,
}

async fn evaluation(tx: &mut Tx, tender_id: &str) -> Result<EvalRow, ResultError> {
    q_opt!(
        tx,
        EvalRow,
        "select state, ranking_json, report_json, report_sha256, ranked_at, report_at
         from evaluation where tender_id = $1",
        tender_id.to_string()
    )?
    .ok_or(ResultError::NotFound("evaluation"))
}

/// The ranking stored with the evaluation. `Outcome` only serialises, so the stored JSON is
/// read back as a value and the needed fields are picked out.
fn ranking_rows(ev: &EvalRow) -> Result<Vec<Value>, ResultError> {
    let text = ev
        .ranking_json
        .as_deref()
        .ok_or_else(|| ResultError::Corrupt("ranked evaluation without a ranking".into()))?;
    let v: Value = serde_json::from_str(text).map_err(corrupt)?;
    let rows = v
        .get("rows")
        .and_then(Value::as_array)
        .ok_or_else(|| ResultError::Corrupt("ranking without rows".into()))?;
    let candidates: Vec<&str> = v
        .get("candidates")
        .and_then(Value::as_array)
        .map(|c| c.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    Ok(rows
        .iter()
        .filter(|r| {
            r.get("bid")
                .and_then(Value::as_str)
                .is_some_and(|b| candidates.contains(&b))
        })
        .cloned()
        .collect())
}

/// One published candidate (中标候选人): what the public sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// 1-based rank.
    pub rank: i64,
    /// The bid.
    pub bid_id: String,
    /// The bidder's organisation.
    pub bidder_org_id: String,
    /// The bidder's name.
    pub bidder: String,
    /// The bid price in fen.
    pub price_fen: i64,
    /// Comprehensive scoring: the total in hundredths of a point.
    pub total: Option<i64>,
    /// Lowest evaluated price: the evaluated price in fen.
    pub evaluated_price_fen: Option<i64>,
}

/// The public candidate list: rank, bid, bidder name, price and the figure that ranked it.
async fn candidates(tx: &mut Tx, ev: &EvalRow) -> Result<Vec<Candidate>, ResultError> {
    let mut out = Vec::new();
    for row in ranking_rows(ev)? {
        let bid = row.get("bid").and_then(Value::as_str).unwrap_or_default();
        let (org_id, org_name): (String, String) = q_one!(
            tx,
            (String, String),
            "select o.org_id, o.name from bid b join organisation o on o.org_id = b.bidder_org_id
             where b.bid_id = $1",
            bid.to_string()
        )?;
        let detail = row.get("detail").cloned().unwrap_or(Value::Null);
        out.push(Candidate {
            rank: row.get("rank").and_then(Value::as_i64).unwrap_or_default(),
            bid_id: bid.to_string(),
            bidder_org_id: org_id,
            bidder: org_name,
            price_fen: row
                .get("price_fen")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            total: detail.get("total").and_then(Value::as_i64),
            evaluated_price_fen: detail.get("evaluated_price_fen").and_then(Value::as_i64),
        });
    }
    Ok(out)
}

#[derive(Debug, sqlx::FromRow)]
struct PublicityRow {
    starts_at: i64,
    ends_at: i64,
    candidates_json: String,
}

async fn publicity_of(tx: &mut Tx, tender_id: &str) -> Result<Option<PublicityRow>, ResultError> {
    Ok(q_opt!(
        tx,
        PublicityRow,
        "select starts_at, ends_at, candidates_json from result_publicity where tender_id = $1",
        tender_id.to_string()
    )?)
}

fn publicity_value(p: &PublicityRow, report_at: i64) -> Publicity {
    Publicity {
        report_at: from_millis(report_at),
        starts_at: from_millis(p.starts_at),
        ends_at: from_millis(p.ends_at),
    }
}

#[derive(Debug, sqlx::FromRow)]
struct ObjectionRow {
    objection_id: String,
    org_id: String,
    org_name: String,
    body: String,
    raised_at: i64,
    answer: Option<String>,
    answered_at: Option<i64>,
    answered_late: i64,
}

async fn objections(tx: &mut Tx, tender_id: &str) -> Result<Vec<ObjectionRow>, ResultError> {
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

fn check_text(text: &str, what: &'static str) -> Result<String, ResultError> {
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
async fn notify_org(
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
async fn notify_user(
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
async fn bidder_orgs(tx: &mut Tx, tender_id: &str) -> Result<Vec<String>, ResultError> {
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
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    if ev.state != "ranked" {
        return Err(ResultError::WrongState {
            action: "deliver the report",
            what: "evaluation",
            state: ev.state,
        });
    }
    let ranked_at = from_millis(ev.ranked_at.unwrap_or_default());
    // The committee and the signatures exactly as the signing steps read them.
    let loaded = service::load(&mut tx, code).await?;
    let committee = loaded.committee(rulebook(state, &t)?)?;
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
    let n = q_exec!(
        tx,
        "update evaluation set state = 'reported', report_at = $1 where tender_id = $2 and state = 'ranked'",
        to_millis(now),
        t.tender_id.clone()
    )?;
    if n == 0 {
        return Err(ResultError::WrongState {
            action: "deliver the report",
            what: "evaluation",
            state: "changed".into(),
        });
    }
    let statuses: Vec<Value> = status
        .members
        .iter()
        .map(|(m, s)| {
            let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
            v["member"] = json!(m);
            v
        })
        .collect();
    // Names members, so it waits for the award like every other evaluation event.
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.report.deliver",
        &t.tender_id,
        json!({"report_sha256": ev.report_sha256, "signatures": statuses}),
        Stage::Award,
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"report_sha256": ev.report_sha256, "report_at": now, "signatures": statuses}))
}

// ---- 2. publicity ---------------------------------------------------------------------------

/// Publishes the candidates (owning agent; report delivered; the rulebook has a publicity):
/// starts now, ends at `ends_at`, checked against 实施条例 第54条. The tender becomes
/// `publicity`; every bidder is notified; the candidates are a public audit event.
pub async fn publish(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &PublicityInput,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    if t.state != "evaluating" {
        return Err(wrong_tender("publish the candidates", &t));
    }
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    let Some(report_at) = ev.report_at.filter(|_| ev.state == "reported") else {
        return Err(ResultError::WrongState {
            action: "publish the candidates before the report is delivered",
            what: "evaluation",
            state: ev.state,
        });
    };
    let book = rulebook(state, &t)?;
    let p = Publicity {
        report_at: from_millis(report_at),
        starts_at: now,
        ends_at: input.ends_at,
    };
    publicity::check_publicity(book, &p).map_err(ResultError::Timing)?;
    let list = candidates(&mut tx, &ev).await?;
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "result.publicity",
        Some(&t.tender_id),
        json!({"starts_at": audit::entry_time(now), "ends_at": audit::entry_time(input.ends_at),
               "candidates": list, "report_sha256": ev.report_sha256}),
    )
    .await?;
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
    let n = q_exec!(
        tx,
        "update tender set state = 'publicity', updated_at = $1 where tender_id = $2 and state = 'evaluating'",
        to_millis(now),
        t.tender_id.clone()
    )?;
    if n == 0 {
        return Err(wrong_tender("publish the candidates", &t));
    }
    let body = format!(
        "{} {}：中标候选人公示至 {}，如有异议请在公示期内提出。/ Candidates published until {}; objections during the publicity.",
        t.code,
        t.name,
        crate::http::page::cst(to_millis(input.ends_at)),
        input.ends_at.to_rfc3339()
    );
    for org in bidder_orgs(&mut tx, &t.tender_id).await? {
        notify_org(&mut tx, now, &org, &t.tender_id, "result.publicity", &body).await?;
    }
    tx.commit().await?;
    Ok(json!({"starts_at": now, "ends_at": input.ends_at, "candidates": list}))
}

// ---- 3. objections --------------------------------------------------------------------------

/// Raises an objection to the result (a bidder of the tender, during the publicity,
/// 实施条例 第54条). The fact is public; the text goes to the agent and regulators.
pub async fn raise_objection(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &TextInput,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
    let text = check_text(&input.text, "objection")?;
    let mut tx = state.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    let org = match (&caller.user.role, &caller.user.org_id) {
        (Role::Bidder, Some(org)) => org.clone(),
        _ => {
            return Err(ResultError::Forbidden(
                "only bidders of this tender may object to its result / 仅本项目投标人可提出异议",
            ));
        }
    };
    if !bidder_orgs(&mut tx, &t.tender_id).await?.contains(&org) {
        return Err(ResultError::Forbidden(
            "only bidders of this tender may object to its result / 仅本项目投标人可提出异议",
        ));
    }
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    let (Some(p), Some(report_at)) = (publicity_of(&mut tx, &t.tender_id).await?, ev.report_at)
    else {
        return Err(wrong_tender("object to the result", &t));
    };
    let book = rulebook(state, &t)?;
    publicity::check_objection_raised(book, &publicity_value(&p, report_at), now)
        .map_err(ResultError::Timing)?;
    if t.state != "publicity" {
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
            t.name,
            crate::http::page::cst(to_millis(due)),
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
    Ok(json!({"objection_id": id, "raised_at": now, "answer_due": due}))
}

/// Answers an objection in writing (owning agent). An answer after the rulebook's days is
/// still recorded (the award may then follow) but flagged late and logged as an alert.
pub async fn answer_objection(
    state: &AppState,
    caller: &Caller,
    code: &str,
    objection_id: &str,
    input: &TextInput,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
    let text = check_text(&input.text, "answer")?;
    if !is_id(objection_id) {
        return Err(ResultError::NotFound("objection"));
    }
    let mut tx = state.db.begin().await?;
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
        return Err(ResultError::NotFound("objection"));
    };
    if answered_at.is_some() {
        return Err(ResultError::AlreadyAnswered);
    }
    let book = rulebook(state, &t)?;
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
        t.code, t.name
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
    Ok(json!({"objection_id": objection_id, "answered_at": now, "late": late}))
}

// ---- 4. award -------------------------------------------------------------------------------

/// Issues the award notice (中标通知书, owning agent): after the publicity is over with every
/// objection answered (or, where the rulebook has no publicity, once the report is
/// delivered). The winner is the first-ranked candidate unless another candidate is chosen
/// with a written reason. The tender becomes `awarded`; the winner gets the award notice,
/// the other bidders result notices; the draws are revealed in the same transaction.
pub async fn award(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &AwardInput,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    let book = rulebook(state, &t)?;
    let ev = evaluation(&mut tx, &t.tender_id).await?;
    let has_publicity = book.rules.candidate_publicity_min_days.is_some();
    let expected_state = if has_publicity {
        "publicity"
    } else {
        "evaluating"
    };
    if t.state != expected_state || ev.state != "reported" {
        return Err(wrong_tender("award", &t));
    }
    let report_at = ev
        .report_at
        .ok_or_else(|| ResultError::Corrupt("reported evaluation without report_at".into()))?;
    let p = publicity_of(&mut tx, &t.tender_id)
        .await?
        .map(|p| publicity_value(&p, report_at));
    let objection_rows = objections(&mut tx, &t.tender_id).await?;
    let objs: Vec<ResultObjection> = objection_rows
        .iter()
        .map(|o| ResultObjection {
            id: o.objection_id.clone(),
            raised_at: from_millis(o.raised_at),
            answered_at: o.answered_at.map(from_millis),
        })
        .collect();
    publicity::check_award(book, p.as_ref(), &objs, now).map_err(ResultError::Timing)?;

    let list = candidates(&mut tx, &ev).await?;
    let first = list
        .first()
        .ok_or_else(|| ResultError::Corrupt("a ranked evaluation without candidates".into()))?;
    let chosen = match &input.bid_id {
        None => first,
        Some(bid) => list
            .iter()
            .find(|c| c.bid_id == *bid)
            .ok_or_else(|| ResultError::NotACandidate(bid.clone()))?,
    };
    let rank = chosen.rank;
    let reason = input
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    if rank != 1 && reason.is_none() {
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
    let n = q_exec!(
        tx,
        "update tender set state = 'awarded', updated_at = $1 where tender_id = $2 and state = $3",
        to_millis(now),
        t.tender_id.clone(),
        expected_state.to_string()
    )?;
    if n == 0 {
        return Err(wrong_tender("award", &t));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "result.award",
        Some(&t.tender_id),
        json!({"bid_id": bid_id, "winner_org_id": winner_org, "winner": winner_name,
               "price_fen": price_fen, "candidate_rank": rank, "reason": reason,
               "contract_due": audit::entry_time(due), "report_sha256": ev.report_sha256}),
    )
    .await?;
    // The report with every score becomes public with the result: anyone can recompute the
    // sheet digests that went into the trail when the scores were submitted, and the report
    // digest every member signed.
    let report: Value = serde_json::from_str(
        ev.report_json
            .as_deref()
            .ok_or_else(|| ResultError::Corrupt("reported evaluation without a report".into()))?,
    )
    .map_err(corrupt)?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.report.reveal",
        Some(&t.tender_id),
        json!({"report_sha256": ev.report_sha256, "report": report}),
    )
    .await?;
    let revealed = reveal_draws_in(&mut tx, now, &caller.actor, &t.tender_id)
        .await
        .map_err(ResultError::Expert)?;
    let award_body = format!(
        "中标通知书：{} {}，贵单位为中标人，中标价 {} 元；请于 {} 前签订书面合同（招标投标法 第46条）。/ Award notice: you are the successful bidder at {} fen; sign the contract by {}.",
        t.code,
        t.name,
        crate::http::page::yuan(price_fen),
        crate::http::page::cst(to_millis(due)),
        price_fen,
        due.to_rfc3339()
    );
    let result_body = format!(
        "中标结果通知书：{} {}，中标人为 {}。/ Result notice: the contract was awarded to {}.",
        t.code, t.name, winner_name, winner_name
    );
    for org in bidder_orgs(&mut tx, &t.tender_id).await? {
        if org == winner_org {
            notify_org(
                &mut tx,
                now,
                &org,
                &t.tender_id,
                "result.award",
                &award_body,
            )
            .await?;
        } else {
            notify_org(
                &mut tx,
                now,
                &org,
                &t.tender_id,
                "result.notice",
                &result_body,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(
        json!({"bid_id": bid_id, "winner": winner_name, "price_fen": price_fen,
              "candidate_rank": rank, "awarded_at": now, "contract_due": due,
              "draws_revealed": revealed}),
    )
}

// ---- 5. contract ----------------------------------------------------------------------------

/// Records the signed contract (owning agent; tender `awarded`): signed no earlier than the
/// award notice, within the rulebook's days (招标投标法 第46条), and not in the future. The
/// tender becomes `contracted`.
pub async fn record_contract(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &ContractInput,
) -> Result<Value, ResultError> {
    let now = state.clock.now();
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
    let mut tx = state.db.begin().await?;
    let t = tender(&mut tx, code).await?;
    require_owner(caller, &t)?;
    if t.state != "awarded" {
        return Err(wrong_tender("record the contract", &t));
    }
    let (awarded_at, winner_org, price_fen): (i64, String, i64) = q_one!(
        tx,
        (i64, String, i64),
        "select awarded_at, winner_org_id, price_fen from award where tender_id = $1",
        t.tender_id.clone()
    )?;
    let book = rulebook(state, &t)?;
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
    let n = q_exec!(
        tx,
        "update tender set state = 'contracted', updated_at = $1 where tender_id = $2 and state = 'awarded'",
        to_millis(now),
        t.tender_id.clone()
    )?;
    if n == 0 {
        return Err(wrong_tender("record the contract", &t));
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "result.contract",
        Some(&t.tender_id),
        json!({"signed_at": audit::entry_time(input.signed_at), "amount_fen": input.amount_fen,
               "award_price_fen": price_fen, "winner_org_id": winner_org,
               "document_sha256": digest}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"signed_at": input.signed_at, "amount_fen": input.amount_fen}))
}

// ---- the view -------------------------------------------------------------------------------

/// What a caller may see of the result. Public: the publicity, each objection's times, the
/// award and the contract. The texts of objections and answers: the owning agent, operators
/// and regulators see all; a bidder sees its own.
pub async fn view(
    state: &AppState,
    caller: Option<&Caller>,
    code: &str,
) -> Result<ResultView, ResultError> {
    let now = state.clock.now();
    let mut tx = state.db.read().await?;
    let t = tender(&mut tx, code).await?;
    // A draft is nobody's business but its agent's, as everywhere else on the portal.
    if t.state == "draft" && !caller.is_some_and(|c| owns(c, &t)) {
        return Err(ResultError::NotFound("tender"));
    }
    let insider = caller
        .is_some_and(|c| owns(c, &t) || matches!(c.user.role, Role::Regulator | Role::Operator));
    let own_org = caller
        .filter(|c| c.user.role == Role::Bidder)
        .and_then(|c| c.user.org_id.clone());
    let ev: Option<EvalRow> = q_opt!(
        tx,
        EvalRow,
        "select state, ranking_json, report_json, report_sha256, ranked_at, report_at
         from evaluation where tender_id = $1",
        t.tender_id.clone()
    )?;
    let book = rulebook(state, &t)?;
    let publicity = match publicity_of(&mut tx, &t.tender_id).await? {
        Some(p) => Some(PublicityView {
            starts_at: from_millis(p.starts_at),
            ends_at: from_millis(p.ends_at),
            open: now >= from_millis(p.starts_at) && now <= from_millis(p.ends_at),
            candidates: serde_json::from_str(&p.candidates_json).map_err(corrupt)?,
        }),
        None => None,
    };
    let objections = objections(&mut tx, &t.tender_id)
        .await?
        .into_iter()
        .map(|o| {
            let show = insider || own_org.as_deref() == Some(o.org_id.as_str());
            ObjectionView {
                answer_due: publicity::objection_answer_due(book, from_millis(o.raised_at)),
                objection_id: o.objection_id,
                bidder: o.org_name,
                raised_at: from_millis(o.raised_at),
                answered_at: o.answered_at.map(from_millis),
                late: o.answered_late != 0,
                text: show.then_some(o.body),
                answer: if show { o.answer } else { None },
            }
        })
        .collect();
    /// bid, winner, price, rank, reason, awarded at, contract due.
    type AwardRow = (String, String, i64, i64, Option<String>, i64, i64);
    let award: Option<AwardRow> = q_opt!(
        tx,
        AwardRow,
        "select a.bid_id, o.name, a.price_fen, a.candidate_rank, a.reason, a.awarded_at, a.contract_due_at
         from award a join organisation o on o.org_id = a.winner_org_id where a.tender_id = $1",
        t.tender_id.clone()
    )?;
    let contract: Option<(i64, i64, Option<String>)> = q_opt!(
        tx,
        (i64, i64, Option<String>),
        "select signed_at, amount_fen, document_sha256 from contract_record where tender_id = $1",
        t.tender_id.clone()
    )?;
    let report_at = ev.as_ref().and_then(|e| e.report_at).map(from_millis);
    let publicity_window = match report_at {
        Some(r) if publicity.is_none() => {
            let latest = publicity::publicity_latest_start(book, r).ok();
            let min_end = publicity::publicity_earliest_end(book, now).ok();
            latest.zip(min_end)
        }
        _ => None,
    };
    Ok(ResultView {
        code: t.code,
        name: t.name,
        state: t.state,
        agent_org_id: t.agent_org_id,
        evaluation_state: ev.as_ref().map(|e| e.state.clone()),
        report_sha256: ev.as_ref().and_then(|e| e.report_sha256.clone()),
        report_at,
        has_publicity_rule: book.rules.candidate_publicity_min_days.is_some(),
        publicity_latest_start: publicity_window.map(|(l, _)| l),
        publicity_earliest_end: publicity_window.map(|(_, e)| e),
        publicity,
        objections,
        award: award.map(
            |(bid_id, winner, price_fen, rank, reason, at, due)| AwardView {
                bid_id,
                winner,
                price_fen,
                candidate_rank: rank,
                reason,
                awarded_at: from_millis(at),
                contract_due: from_millis(due),
            },
        ),
        contract: contract.map(|(signed, amount, digest)| ContractView {
            signed_at: from_millis(signed),
            amount_fen: amount,
            document_sha256: digest,
        }),
    })
}

/// The result as a caller sees it (`GET /api/v1/tenders/{code}/result`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResultView {
    /// Tender code.
    pub code: String,
    /// Tender name.
    pub name: String,
    /// Tender state.
    pub state: String,
    /// The owning agent organisation (pages decide whom to show the agent's forms).
    #[serde(skip)]
    pub agent_org_id: Option<String>,
    /// Evaluation state, once started.
    pub evaluation_state: Option<String>,
    /// The signed report's SHA-256.
    pub report_sha256: Option<String>,
    /// When the report was delivered.
    pub report_at: Option<DateTime<Utc>>,
    /// Whether the rulebook requires a candidate publicity.
    pub has_publicity_rule: bool,
    /// Before the publicity: its latest allowed start.
    pub publicity_latest_start: Option<DateTime<Utc>>,
    /// Before the publicity: its earliest allowed end if it started now.
    pub publicity_earliest_end: Option<DateTime<Utc>>,
    /// The publicity, once published.
    pub publicity: Option<PublicityView>,
    /// Objections to the result.
    pub objections: Vec<ObjectionView>,
    /// The award, once made.
    pub award: Option<AwardView>,
    /// The contract record.
    pub contract: Option<ContractView>,
}

/// The candidate publicity.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PublicityView {
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Whether objections may be raised now.
    pub open: bool,
    /// The candidates, best first.
    pub candidates: Vec<Candidate>,
}

/// One objection.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectionView {
    /// Identifier.
    pub objection_id: String,
    /// The objecting bidder.
    pub bidder: String,
    /// When raised.
    pub raised_at: DateTime<Utc>,
    /// When the answer is due.
    pub answer_due: DateTime<Utc>,
    /// When answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether the answer came late.
    pub late: bool,
    /// The text, for those who may read it.
    pub text: Option<String>,
    /// The answer, for those who may read it.
    pub answer: Option<String>,
}

/// The award.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AwardView {
    /// Winning bid.
    pub bid_id: String,
    /// Winner's name.
    pub winner: String,
    /// Price in fen.
    pub price_fen: i64,
    /// The winner's candidate rank.
    pub candidate_rank: i64,
    /// Why, if not the first.
    pub reason: Option<String>,
    /// When the notice was issued.
    pub awarded_at: DateTime<Utc>,
    /// The contract is due by then.
    pub contract_due: DateTime<Utc>,
}

/// The contract record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ContractView {
    /// When signed.
    pub signed_at: DateTime<Utc>,
    /// Amount in fen.
    pub amount_fen: i64,
    /// Document digest.
    pub document_sha256: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::evaluation::service::tests::{
        Fixture, events, opened, passkey_of, sheets, sign, to_scoring,
    };
    use crate::evaluation::service::{self as evaluation, DissentInput};
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
            evaluation::submit_scores(&kit.state, e, &fx.code, &sheets(&fx, &tech))
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
        let r = deliver_report(s, &fx.bidders[0], code).await;
        assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
        let r = deliver_report(s, &kit.agent, code).await;
        assert_eq!(api(r.unwrap_err()), (409, "REPORT_SIGNING_OPEN"));
        // Publicity before delivery is refused.
        let ends = kit.now() + Duration::days(4);
        let r = publish(s, &kit.agent, code, &PublicityInput { ends_at: ends }).await;
        assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));
        advance(kit, SIGNING_WINDOW);
        let delivered = deliver_report(s, &kit.agent, code).await.expect("deliver");
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
            s,
            &fx.experts[4],
            code,
            &DissentInput {
                reason: "迟到的异议".into(),
            },
        )
        .await;
        assert!(late.is_err());
        let r = deliver_report(s, &kit.agent, code).await;
        assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

        // Publicity: at least 3 days (实施条例 第54条).
        let short = kit.now() + Duration::days(3) - Duration::seconds(1);
        let r = publish(s, &kit.agent, code, &PublicityInput { ends_at: short }).await;
        assert_eq!(api(r.unwrap_err()), (422, "PUBLICITY_TOO_SHORT"));
        let r = publish(s, &fx.bidders[0], code, &PublicityInput { ends_at: ends }).await;
        assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
        let published = publish(s, &kit.agent, code, &PublicityInput { ends_at: ends })
            .await
            .expect("publish");
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
        let r = publish(s, &kit.agent, code, &PublicityInput { ends_at: ends }).await;
        assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

        // Award before the publicity ends.
        let r = award(s, &kit.agent, code, &AwardInput::default()).await;
        assert_eq!(api(r.unwrap_err()), (422, "AWARD_BEFORE_PUBLICITY_ENDS"));

        // Objections: bidders of this tender only, with a text; two days into the publicity
        // so that the answer after its end is still within 3 days of the objection.
        advance(kit, Duration::days(2));
        let text = |t: &str| TextInput { text: t.into() };
        let stranger_org = org(kit.db(), "bidder", "active").await;
        let stranger = user(kit.db(), Role::Bidder, Some(&stranger_org), "active").await;
        let r = raise_objection(s, &stranger, code, &text("不服")).await;
        assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
        let r = raise_objection(s, &fx.experts[0], code, &text("不服")).await;
        assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
        let r = raise_objection(s, &fx.bidders[2], code, &text("   ")).await;
        assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
        let long = "异".repeat(MAX_TEXT_CHARS + 1);
        let r = raise_objection(s, &fx.bidders[2], code, &text(&long)).await;
        assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
        let raised = raise_objection(s, &fx.bidders[2], code, &text("第一名业绩证明不实"))
            .await
            .expect("objection");
        let oid = raised["objection_id"].as_str().unwrap().to_string();

        // The public sees that there is an objection, not what it says; the objector does.
        let public = view(s, None, code).await.unwrap();
        assert_eq!(public.objections.len(), 1);
        assert!(public.objections[0].text.is_none());
        let other = view(s, Some(&fx.bidders[0]), code).await.unwrap();
        assert!(other.objections[0].text.is_none());
        let own = view(s, Some(&fx.bidders[2]), code).await.unwrap();
        assert_eq!(
            own.objections[0].text.as_deref(),
            Some("第一名业绩证明不实")
        );
        let agent_view = view(s, Some(&kit.agent), code).await.unwrap();
        assert!(agent_view.objections[0].text.is_some());

        // After the end of the publicity: no new objection; no award while one is open.
        kit.clock.set(ends + Duration::seconds(1));
        let r = raise_objection(s, &fx.bidders[0], code, &text("太迟")).await;
        assert_eq!(api(r.unwrap_err()), (422, "OBJECTION_OUTSIDE_PUBLICITY"));
        let r = award(s, &kit.agent, code, &AwardInput::default()).await;
        assert_eq!(api(r.unwrap_err()), (422, "AWARD_OBJECTIONS_UNANSWERED"));

        // Answers: the agent only, once, with a text.
        let r = answer_objection(s, &fx.bidders[0], code, &oid, &text("答复")).await;
        assert_eq!(api(r.unwrap_err()), (403, "FORBIDDEN"));
        let r = answer_objection(s, &kit.agent, code, "no-such-id", &text("答复")).await;
        assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
        let r = answer_objection(s, &kit.agent, code, &oid, &text("")).await;
        assert_eq!(api(r.unwrap_err()), (422, "RESULT_BAD_TEXT"));
        let answered = answer_objection(s, &kit.agent, code, &oid, &text("经核查业绩属实"))
            .await
            .expect("answer");
        assert_eq!(answered["late"], json!(false));
        let r = answer_objection(s, &kit.agent, code, &oid, &text("再答")).await;
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
        let r = record_contract(s, &kit.agent, code, &contract).await;
        assert_eq!(api(r.unwrap_err()), (409, "RESULT_WRONG_STATE"));

        // Award: the second candidate needs a reason; a non-candidate is refused.
        let second = AwardInput {
            bid_id: Some(fx.bids[0].clone()),
            reason: None,
        };
        let r = award(s, &kit.agent, code, &second).await;
        assert_eq!(api(r.unwrap_err()), (422, "AWARD_REASON_REQUIRED"));
        let stranger_bid = AwardInput {
            bid_id: Some("not-a-bid".into()),
            reason: Some("x".into()),
        };
        let r = award(s, &kit.agent, code, &stranger_bid).await;
        assert_eq!(api(r.unwrap_err()), (422, "AWARD_NOT_A_CANDIDATE"));
        let awarded = award(s, &kit.agent, code, &AwardInput::default())
            .await
            .expect("award");
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
        let r = award(s, &kit.agent, code, &AwardInput::default()).await;
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
        let r = record_contract(s, &kit.agent, code, &bad_amount).await;
        assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BAD_AMOUNT"));
        let future = ContractInput {
            signed_at: kit.now() + Duration::hours(1),
            ..contract.clone()
        };
        let r = record_contract(s, &kit.agent, code, &future).await;
        assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_SIGNED_IN_FUTURE"));
        let bad_digest = ContractInput {
            document_sha256: Some("xyz".into()),
            signed_at: kit.now(),
            ..contract.clone()
        };
        let r = record_contract(s, &kit.agent, code, &bad_digest).await;
        assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BAD_DIGEST"));
        let before_award = ContractInput {
            signed_at: kit.now() - Duration::days(1),
            ..contract.clone()
        };
        let r = record_contract(s, &kit.agent, code, &before_award).await;
        assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_BEFORE_AWARD"));
        advance(kit, Duration::days(31));
        let late = ContractInput {
            signed_at: kit.now(),
            ..contract.clone()
        };
        let r = record_contract(s, &kit.agent, code, &late).await;
        assert_eq!(api(r.unwrap_err()), (422, "CONTRACT_LATE"));
        let on_time = ContractInput {
            signed_at: kit.now() - Duration::days(2),
            document_sha256: Some("AB".repeat(32)),
            ..contract.clone()
        };
        record_contract(s, &kit.agent, code, &on_time)
            .await
            .expect("contract");
        assert_eq!(tender_state(kit, code).await, "contracted");
        let public = view(s, None, code).await.unwrap();
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
        deliver_report(s, &kit.agent, code).await.expect("deliver");
        let ends = kit.now() + Duration::days(3);
        publish(s, &kit.agent, code, &PublicityInput { ends_at: ends })
            .await
            .expect("publish");
        let raised = raise_objection(
            s,
            &fx.bidders[0],
            code,
            &TextInput {
                text: "评分有误".into(),
            },
        )
        .await
        .expect("objection");
        let oid = raised["objection_id"].as_str().unwrap().to_string();
        advance(kit, Duration::days(4));
        let answered = answer_objection(
            s,
            &kit.agent,
            code,
            &oid,
            &TextInput {
                text: "评分无误".into(),
            },
        )
        .await
        .expect("late answer");
        assert_eq!(answered["late"], json!(true));
        let v = view(s, None, code).await.unwrap();
        assert!(v.objections[0].late);
        award(s, &kit.agent, code, &AwardInput::default())
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
        let r = view(&kit.state, None, &code).await;
        assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
        let r = view(&kit.state, Some(&kit.bidder), &code).await;
        assert_eq!(api(r.unwrap_err()), (404, "NOT_FOUND"));
        assert!(view(&kit.state, Some(&kit.agent), &code).await.is_ok());
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
}
