//! Written clarifications during the evaluation (澄清, 招标投标法 第39条, 实施条例 第52条).
//!
//! While the committee reviews or scores (evaluation state `review` or `scoring`), any
//! checked-in member sends the bidder of one bid a written question with a deadline; the
//! bidder's users answer once, in writing, before the deadline. A clarification may not change
//! the substance of the bid (实施条例 第52条) — that is for the experts to judge when they read
//! the answer; the platform records both texts and never changes them.
//!
//! Who sees what: committee members and regulators (and operators) see every clarification
//! of the tender with the member who asked; the owning agent sees every clarification but not
//! who asked (the members stay anonymous to the agent until the award, as in the draw views);
//! a bidder sees only its own bids' clarifications, never who asked. Both steps are audit
//! events withheld until the award (they name a member) carrying the texts' SHA-256; the texts
//! are in `evaluation_clarification`. The bidder learns of a request through an in-app notice
//! (`notice`, kind `evaluation_clarification`) to each active bidder user of its organisation.

pub mod pages;

use crate::evaluation::Env;
use crate::lifecycle::evaluation::EvaluationState;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::cst;
use crate::clock::{from_millis, to_millis};
use crate::error::{Coded, Kind};
use crate::evaluation::service::{self, EvaluationError};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::store::Tx;
use crate::store::blob::sha256_hex;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

/// Longest question, in characters.
pub const MAX_QUESTION_CHARS: usize = 2_000;
/// Longest answer, in characters.
pub const MAX_ANSWER_CHARS: usize = 5_000;
/// Shortest answer window, in minutes: enough to read and write a short answer.
pub const MIN_WINDOW_MINUTES: u32 = 10;
/// Longest answer window, in minutes (3 days): an evaluation is not held open for longer.
pub const MAX_WINDOW_MINUTES: u32 = 3 * 24 * 60;
/// Window when the request names none, in minutes.
pub const DEFAULT_WINDOW_MINUTES: u32 = 60;
/// Most clarifications per tender: far above any real evaluation, bounds the notices a
/// member can make the platform send.
pub const MAX_PER_TENDER: i64 = 500;

/// Why a clarification step is refused.
#[derive(Debug, thiserror::Error)]
pub enum ClarificationError {
    /// A rule of the evaluation (not found, not a member, wrong state, bad input …).
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
    /// The answer came after the deadline; the request stays unanswered (expired).
    #[error(
        "the deadline for this clarification passed at {0} (China time); the request is expired and no answer is accepted / 澄清答复期限（北京时间 {0}）已过，不再接受答复"
    )]
    Expired(String),
    /// The request was already answered; an answer is never changed.
    #[error(
        "this clarification was already answered; an answer is never changed / 该澄清已答复，不可修改"
    )]
    AlreadyAnswered,
    /// The caller is not a user of the bidder the request was sent to.
    #[error(
        "only the bidder this clarification was sent to may answer it / 仅被要求澄清的投标人可以答复"
    )]
    NotAddressee,
}

impl From<sqlx::Error> for ClarificationError {
    fn from(e: sqlx::Error) -> Self {
        ClarificationError::Evaluation(e.into())
    }
}

impl From<crate::store::StoreError> for ClarificationError {
    fn from(e: crate::store::StoreError) -> Self {
        ClarificationError::Evaluation(e.into())
    }
}

impl Coded for ClarificationError {
    fn kind(&self) -> Kind {
        match self {
            ClarificationError::Evaluation(e) => e.kind(),
            ClarificationError::Expired(_) | ClarificationError::AlreadyAnswered => Kind::Conflict,
            ClarificationError::NotAddressee => Kind::Forbidden,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ClarificationError::Evaluation(e) => e.code(),
            ClarificationError::Expired(_) => "CLARIFICATION_EXPIRED",
            ClarificationError::AlreadyAnswered => "CLARIFICATION_ALREADY_ANSWERED",
            ClarificationError::NotAddressee => "CLARIFICATION_NOT_ADDRESSEE",
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ClarificationError::Evaluation(e) => e.details(),
            _ => None,
        }
    }
}

fn invalid(code: &'static str, message: String) -> ClarificationError {
    ClarificationError::Evaluation(EvaluationError::Invalid(code, message))
}

/// `POST /api/v1/tenders/{code}/evaluation/clarifications`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClarificationAsk)]
pub struct AskInput {
    /// The bid whose bidder is asked.
    pub bid_id: String,
    /// The question (1–2000 characters).
    pub question: String,
    /// Minutes the bidder has to answer (10–4320, default 60).
    #[serde(default)]
    pub window_minutes: Option<u32>,
}

/// `POST …/clarifications/{id}/answer`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ClarificationAnswer)]
pub struct AnswerInput {
    /// The written answer (1–5000 characters).
    pub answer: String,
}

/// Where a clarification stands at the time it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Waiting for the answer, deadline not passed.
    Pending,
    /// Answered in time.
    Answered,
    /// Deadline passed without an answer.
    Expired,
}

/// The status of a clarification at `now` (ms): answered, or pending up to and including the
/// deadline, expired after it.
pub fn status_at(answered: bool, answer_by: i64, now: i64) -> Status {
    if answered {
        Status::Answered
    } else if now > answer_by {
        Status::Expired
    } else {
        Status::Pending
    }
}

/// A clarification as one reader may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClarificationView {
    /// Id.
    pub clarification_id: String,
    /// Tender code.
    pub tender_code: String,
    /// The bid.
    pub bid_id: String,
    /// The question.
    pub question: String,
    /// Its SHA-256 (hex), as in the audit trail.
    pub question_sha256: String,
    /// When it was sent.
    pub asked_at: DateTime<Utc>,
    /// Deadline for the answer.
    pub answer_by: DateTime<Utc>,
    /// Pending, answered or expired.
    pub status: Status,
    /// The answer, once given.
    pub answer: Option<String>,
    /// Its SHA-256 (hex).
    pub answer_sha256: Option<String>,
    /// When it was answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// The member who asked (members, regulators and operators only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked_by: Option<String>,
    /// The bidder user who answered.
    pub answered_by: Option<String>,
}

#[derive(Debug, sqlx::FromRow)]
struct Row {
    clarification_id: String,
    tender_id: String,
    tender_code: String,
    bid_id: String,
    org_id: String,
    asked_by: String,
    question: String,
    question_sha256: String,
    asked_at: i64,
    answer_by: i64,
    answer: Option<String>,
    answer_sha256: Option<String>,
    answered_by: Option<String>,
    answered_at: Option<i64>,
}

const COLS: &str =
    "select c.clarification_id, c.tender_id, t.code as tender_code, c.bid_id, c.org_id,
        c.asked_by, c.question, c.question_sha256, c.asked_at, c.answer_by, c.answer,
        c.answer_sha256, c.answered_by, c.answered_at
    from evaluation_clarification c join tender t on t.tender_id = c.tender_id";

impl Row {
    fn view(self, now: i64, show_member: bool) -> ClarificationView {
        ClarificationView {
            status: status_at(self.answer.is_some(), self.answer_by, now),
            clarification_id: self.clarification_id,
            tender_code: self.tender_code,
            bid_id: self.bid_id,
            question: self.question,
            question_sha256: self.question_sha256,
            asked_at: from_millis(self.asked_at),
            answer_by: from_millis(self.answer_by),
            answer: self.answer,
            answer_sha256: self.answer_sha256,
            answered_at: self.answered_at.map(from_millis),
            asked_by: show_member.then_some(self.asked_by),
            answered_by: self.answered_by,
        }
    }
}

/// Trimmed text of 1..=`max` characters, or the error `code`.
fn text_of(
    raw: &str,
    max: usize,
    code: &'static str,
    what: &str,
) -> Result<String, ClarificationError> {
    let text = raw.trim();
    let n = text.chars().count();
    if n == 0 || n > max {
        return Err(invalid(
            code,
            format!("the {what} must be 1 to {max} characters (got {n}) / 内容须为1至{max}个字符"),
        ));
    }
    crate::text::check(what, text, crate::text::Lines::Multi)
        .map_err(|e| invalid(crate::text::CODE, e.to_string()))?;
    Ok(text.to_string())
}

async fn notice(
    tx: &mut Tx,
    now: DateTime<Utc>,
    org_id: &str,
    tender_id: &str,
    body: &str,
) -> Result<(), ClarificationError> {
    let users: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select user_id from app_user where org_id = $1 and role = 'bidder' and status = 'active'
         order by user_id",
        org_id.to_string()
    )?;
    for (user_id,) in users {
        q_exec!(
            tx,
            "insert into notice (notice_id, user_id, tender_id, kind, body, created_at) values ($1, $2, $3, $4, $5, $6)",
            new_id(),
            user_id,
            tender_id.to_string(),
            "evaluation_clarification".to_string(),
            body.to_string(),
            to_millis(now)
        )?;
    }
    Ok(())
}

/// A checked-in member sends the bidder of one bid a written clarification request
/// (evaluation in `review` or `scoring`). The bidder's users get an in-app notice.
pub async fn ask(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &AskInput,
) -> Result<ClarificationView, ClarificationError> {
    let now = env.now;
    let question = text_of(
        &input.question,
        MAX_QUESTION_CHARS,
        "CLARIFICATION_BAD_QUESTION",
        "question",
    )?;
    let window = input.window_minutes.unwrap_or(DEFAULT_WINDOW_MINUTES);
    if !(MIN_WINDOW_MINUTES..=MAX_WINDOW_MINUTES).contains(&window) {
        return Err(invalid(
            "CLARIFICATION_BAD_WINDOW",
            format!(
                "the answer window must be {MIN_WINDOW_MINUTES} to {MAX_WINDOW_MINUTES} minutes (got {window}) / 答复期限须为{MIN_WINDOW_MINUTES}至{MAX_WINDOW_MINUTES}分钟"
            ),
        ));
    }
    let mut tx = env.db.begin().await?;
    let ev = service::load(&mut tx, code).await?;
    let member = service::acting_member(&mut tx, &ev, caller).await?;
    if !matches!(ev.state, EvaluationState::Review | EvaluationState::Scoring) {
        return Err(service::wrong("ask for a clarification", &ev).into());
    }
    let tid = ev.tender.tender_id.clone();
    let bids = service::opened_bids(&mut tx, &tid).await?;
    if !bids.iter().any(|b| b.bid == input.bid_id) {
        return Err(invalid(
            "CLARIFICATION_UNKNOWN_BID",
            format!(
                "{:?} is not a bid opened for this tender / 该投标文件不属于本项目",
                input.bid_id.chars().take(64).collect::<String>()
            ),
        ));
    }
    let (org_id,): (String,) = q_one!(
        tx,
        (String,),
        "select bidder_org_id from bid where bid_id = $1",
        input.bid_id.clone()
    )?;
    let (count,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_clarification where tender_id = $1",
        tid.clone()
    )?;
    if count >= MAX_PER_TENDER {
        return Err(invalid(
            "CLARIFICATION_TOO_MANY",
            format!("at most {MAX_PER_TENDER} clarifications per tender / 澄清次数已达上限"),
        ));
    }
    let id = new_id();
    let answer_by = now + TimeDelta::minutes(i64::from(window));
    let question_sha256 = sha256_hex(question.as_bytes());
    q_exec!(
        tx,
        "insert into evaluation_clarification (clarification_id, tender_id, bid_id, org_id, asked_by,
            question, question_sha256, asked_at, answer_by)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        id.clone(),
        tid.clone(),
        input.bid_id.clone(),
        org_id.clone(),
        member.clone(),
        question.clone(),
        question_sha256.clone(),
        to_millis(now),
        to_millis(answer_by)
    )?;
    service::event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.clarification.request",
        &tid,
        json!({"clarification_id": id, "bid_id": input.bid_id, "member": member,
               "question_sha256": question_sha256, "answer_by": crate::audit::entry_time(answer_by)}),
    )
    .await?;
    notice(
        &mut tx,
        now,
        &org_id,
        &tid,
        &format!(
            "评标委员会要求您就项目 {code} 的投标文件作出书面澄清，请于北京时间 {by} 前在“澄清”中答复：/clarifications\n\
             The evaluation committee asks you for a written clarification of your bid for {code}; answer under \"Clarifications\" before {by} China time: /clarifications",
            by = cst(to_millis(answer_by))
        ),
    )
    .await?;
    let row = load_row(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(row.view(to_millis(now), true))
}

async fn load_row(tx: &mut Tx, id: &str) -> Result<Row, ClarificationError> {
    if !is_id(id) {
        return Err(EvaluationError::not_found("clarification").into());
    }
    let sql = format!("{COLS} where c.clarification_id = $1");
    Ok(q_opt!(tx, Row, sqlx::AssertSqlSafe(sql), id.to_string())?
        .ok_or(EvaluationError::not_found("clarification"))?)
}

fn is_bidder_of(caller: &Caller, org_id: &str) -> bool {
    caller.user.role == Role::Bidder && caller.user.org_id.as_deref() == Some(org_id)
}

/// The bidder answers a clarification of its own bid, once, before the deadline; the tender
/// must still be under evaluation.
pub async fn answer(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    clarification_id: &str,
    input: &AnswerInput,
) -> Result<ClarificationView, ClarificationError> {
    let now = env.now;
    let text = text_of(
        &input.answer,
        MAX_ANSWER_CHARS,
        "CLARIFICATION_BAD_ANSWER",
        "answer",
    )?;
    let mut tx = env.db.begin().await?;
    let row = load_row(&mut tx, clarification_id).await?;
    if row.tender_code != code {
        return Err(EvaluationError::not_found("clarification").into());
    }
    if !is_bidder_of(caller, &row.org_id) {
        return Err(ClarificationError::NotAddressee);
    }
    if row.answer.is_some() {
        return Err(ClarificationError::AlreadyAnswered);
    }
    if to_millis(now) > row.answer_by {
        return Err(ClarificationError::Expired(cst(row.answer_by)));
    }
    let tender = service::tender_by_code(&mut tx, code).await?;
    if tender.state != crate::tender::model::TenderState::Evaluating {
        return Err(EvaluationError::WrongState {
            action: "answer a clarification",
            what: "tender",
            state: tender.state.refusal_name().to_string(),
        }
        .into());
    }
    let digest = sha256_hex(text.as_bytes());
    // Guarded on "not answered, deadline not passed", so two concurrent answers store one.
    let n = q_exec!(
        tx,
        "update evaluation_clarification set answer = $1, answer_sha256 = $2, answered_by = $3,
            answered_at = $4
         where clarification_id = $5 and answer is null and answer_by >= $4",
        text,
        digest.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        row.clarification_id.clone()
    )?;
    if n == 0 {
        return Err(ClarificationError::AlreadyAnswered);
    }
    service::event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.clarification.answer",
        &row.tender_id,
        json!({"clarification_id": row.clarification_id, "bid_id": row.bid_id,
               "answer_sha256": digest, "answered_by": caller.user.user_id}),
    )
    .await?;
    let row = load_row(&mut tx, clarification_id).await?;
    tx.commit().await?;
    Ok(row.view(to_millis(now), false))
}

/// The clarifications of a tender as the caller may see them: members (acting or not),
/// regulators and operators everything; the owning agent everything but who asked; a bidder
/// its own only; anyone else 403.
pub async fn list_for_tender(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<Vec<ClarificationView>, ClarificationError> {
    let now = to_millis(env.now);
    let mut tx = env.db.read().await?;
    let ev = service::load(&mut tx, code).await?;
    let insider = ev.member(&caller.user.user_id).is_some()
        || matches!(caller.user.role, Role::Regulator | Role::Operator);
    let agent = service::owns(caller, &ev.tender);
    let sql = format!("{COLS} where c.tender_id = $1 order by c.asked_at, c.clarification_id");
    let rows = q_all!(
        tx,
        Row,
        sqlx::AssertSqlSafe(sql),
        ev.tender.tender_id.clone()
    )?;
    if insider || agent {
        // Who asked is a member's identity: operators learn it only once the result is
        // settled, like the agent (招标投标法 第37条).
        let is_member = ev.member(&caller.user.user_id).is_some();
        let state = Some(ev.tender.state);
        let names = insider
            && crate::evaluation::committee::sees_members(caller.user.role, is_member, state);
        return Ok(rows.into_iter().map(|r| r.view(now, names)).collect());
    }
    if caller.user.role == Role::Bidder {
        return Ok(rows
            .into_iter()
            .filter(|r| is_bidder_of(caller, &r.org_id))
            .map(|r| r.view(now, false))
            .collect());
    }
    Err(EvaluationError::forbidden(
        "only the committee, the tender's agent, regulators and the bidders asked may see clarifications / 无权查看澄清",
    )
    .into())
}

/// A bidder's clarification requests across tenders, newest first (at most 200): pending
/// ones first is the page's concern; the status says which.
pub async fn list_mine(
    env: Env<'_>,
    caller: &Caller,
) -> Result<Vec<ClarificationView>, ClarificationError> {
    let (Role::Bidder, Some(org_id)) = (caller.user.role, caller.user.org_id.clone()) else {
        return Err(EvaluationError::forbidden(
            "only bidders receive clarification requests / 仅投标人会收到澄清要求",
        )
        .into());
    };
    let now = to_millis(env.now);
    let mut tx = env.db.read().await?;
    let sql = format!(
        "{COLS} where c.org_id = $1 order by c.asked_at desc, c.clarification_id desc limit 200"
    );
    let rows = q_all!(tx, Row, sqlx::AssertSqlSafe(sql), org_id)?;
    Ok(rows.into_iter().map(|r| r.view(now, false)).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
