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

use axum::http::StatusCode;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::service::{self, EvaluationError};
use crate::clock::{from_millis, to_millis};
use crate::http::page::cst;
use crate::http::{ApiError, AppState};
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

/// Why a clarification step is refused; mapped to HTTP once, in `From<ClarificationError>
/// for ApiError`.
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

impl From<ClarificationError> for ApiError {
    fn from(e: ClarificationError) -> Self {
        match e {
            ClarificationError::Evaluation(e) => ApiError::from(e),
            ClarificationError::Expired(_) => {
                ApiError::new(StatusCode::CONFLICT, "CLARIFICATION_EXPIRED", e.to_string())
            }
            ClarificationError::AlreadyAnswered => ApiError::new(
                StatusCode::CONFLICT,
                "CLARIFICATION_ALREADY_ANSWERED",
                e.to_string(),
            ),
            ClarificationError::NotAddressee => ApiError::new(
                StatusCode::FORBIDDEN,
                "CLARIFICATION_NOT_ADDRESSEE",
                e.to_string(),
            ),
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
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &AskInput,
) -> Result<ClarificationView, ClarificationError> {
    let now = state.clock.now();
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
    let mut tx = state.db.begin().await?;
    let ev = service::load(&mut tx, code).await?;
    let member = service::acting_member(&mut tx, &ev, caller).await?;
    if !matches!(ev.row.state.as_str(), "review" | "scoring") {
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
        return Err(EvaluationError::NotFound("clarification").into());
    }
    let sql = format!("{COLS} where c.clarification_id = $1");
    Ok(q_opt!(tx, Row, sqlx::AssertSqlSafe(sql), id.to_string())?
        .ok_or(EvaluationError::NotFound("clarification"))?)
}

fn is_bidder_of(caller: &Caller, org_id: &str) -> bool {
    caller.user.role == Role::Bidder && caller.user.org_id.as_deref() == Some(org_id)
}

/// The bidder answers a clarification of its own bid, once, before the deadline; the tender
/// must still be under evaluation.
pub async fn answer(
    state: &AppState,
    caller: &Caller,
    code: &str,
    clarification_id: &str,
    input: &AnswerInput,
) -> Result<ClarificationView, ClarificationError> {
    let now = state.clock.now();
    let text = text_of(
        &input.answer,
        MAX_ANSWER_CHARS,
        "CLARIFICATION_BAD_ANSWER",
        "answer",
    )?;
    let mut tx = state.db.begin().await?;
    let row = load_row(&mut tx, clarification_id).await?;
    if row.tender_code != code {
        return Err(EvaluationError::NotFound("clarification").into());
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
    if tender.state != "evaluating" {
        return Err(EvaluationError::WrongState {
            action: "answer a clarification",
            what: "tender",
            state: tender.state,
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
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<Vec<ClarificationView>, ClarificationError> {
    let now = to_millis(state.clock.now());
    let mut tx = state.db.read().await?;
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
        let state = crate::tender::model::TenderState::parse(&ev.tender.state);
        let names = insider && super::committee::sees_members(caller.user.role, is_member, state);
        return Ok(rows.into_iter().map(|r| r.view(now, names)).collect());
    }
    if caller.user.role == Role::Bidder {
        return Ok(rows
            .into_iter()
            .filter(|r| is_bidder_of(caller, &r.org_id))
            .map(|r| r.view(now, false))
            .collect());
    }
    Err(EvaluationError::Forbidden(
        "only the committee, the tender's agent, regulators and the bidders asked may see clarifications / 无权查看澄清",
    )
    .into())
}

/// A bidder's clarification requests across tenders, newest first (at most 200): pending
/// ones first is the page's concern; the status says which.
pub async fn list_mine(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<ClarificationView>, ClarificationError> {
    let (Role::Bidder, Some(org_id)) = (caller.user.role, caller.user.org_id.clone()) else {
        return Err(EvaluationError::Forbidden(
            "only bidders receive clarification requests / 仅投标人会收到澄清要求",
        )
        .into());
    };
    let now = to_millis(state.clock.now());
    let mut tx = state.db.read().await?;
    let sql = format!(
        "{COLS} where c.org_id = $1 order by c.asked_at desc, c.clarification_id desc limit 200"
    );
    let rows = q_all!(tx, Row, sqlx::AssertSqlSafe(sql), org_id)?;
    Ok(rows.into_iter().map(|r| r.view(now, false)).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    //! Service tests on a real database (SQLite; PostgreSQL with `SUNBID_TEST_PG`), on the
    //! evaluation service's fixture: a tender in `opened` with bids and checked-in experts.

    use super::*;
    use crate::evaluation::service::tests::{events, opened, sheets, start_input, to_scoring};
    use crate::evaluation::service::{BallotInput, cast_ballot, start, submit_scores};
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
            s,
            &fx.experts[0],
            &fx.code,
            &ask_input(&fx.bids[0], q, None),
        )
        .await;
        assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
        start(s, &kit.agent, &fx.code, &start_input())
            .await
            .unwrap();
        let r = ask(
            s,
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
            cast_ballot(s, e, &fx.code, &ballot).await.unwrap();
        }

        // Not a member: a bidder, the agent, an expert not on the committee.
        let outsider = user(kit.db(), Role::Expert, None, "active").await;
        for who in [&bidder0, &kit.agent, &outsider] {
            let r = ask(s, who, &fx.code, &ask_input(&fx.bids[0], q, None)).await;
            assert_eq!(capi(r.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
        }
        // Bad text, window and bid.
        let e0 = &fx.experts[0];
        for bad in ["", "   \n ", &"问".repeat(MAX_QUESTION_CHARS + 1)] {
            let r = ask(s, e0, &fx.code, &ask_input(&fx.bids[0], bad, None)).await;
            assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_QUESTION"));
        }
        for w in [0, MIN_WINDOW_MINUTES - 1, MAX_WINDOW_MINUTES + 1] {
            let r = ask(s, e0, &fx.code, &ask_input(&fx.bids[0], q, Some(w))).await;
            assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_WINDOW"));
        }
        let r = ask(s, e0, &fx.code, &ask_input("no-such-bid", q, None)).await;
        assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_UNKNOWN_BID"));
        assert_eq!(notices_of(kit, &bidder0).await, 0);

        // A member asks the bidder of bid 0; the longest question is accepted.
        let asked = ask(
            s,
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
            s,
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
        let mine = list_for_tender(s, &bidder0, &fx.code).await.unwrap();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].bid_id, fx.bids[0]);
        assert!(mine[0].asked_by.is_none());
        let text = serde_json::to_string(&mine).unwrap();
        assert!(!text.contains(&fx.experts[2].user.user_id), "{text}");
        assert!(
            list_for_tender(s, &kit.bidder, &fx.code)
                .await
                .unwrap()
                .is_empty()
        );
        let agent = list_for_tender(s, &kit.agent, &fx.code).await.unwrap();
        assert_eq!(agent.len(), 2);
        assert!(agent.iter().all(|c| c.asked_by.is_none()));
        let reg = list_for_tender(s, &kit.regulator, &fx.code).await.unwrap();
        assert!(reg.iter().all(|c| c.asked_by.is_some()));
        // An operator follows the clarifications but not who asked, until the award.
        let op = user(kit.db(), Role::Operator, None, "active").await;
        let ops = list_for_tender(s, &op, &fx.code).await.unwrap();
        assert_eq!(ops.len(), 2);
        assert!(ops.iter().all(|c| c.asked_by.is_none()));
        assert_eq!(
            list_for_tender(s, &fx.experts[4], &fx.code)
                .await
                .unwrap()
                .len(),
            2
        );
        let r = list_for_tender(s, &kit.other_agent, &fx.code).await;
        assert_eq!(capi(r.unwrap_err()), (403, "FORBIDDEN"));
        let across = list_mine(s, &bidder0).await.unwrap();
        assert_eq!(across.len(), 1);
        assert_eq!(across[0].status, Status::Pending);
        let r = list_mine(s, &fx.experts[0]).await;
        assert_eq!(capi(r.unwrap_err()), (403, "FORBIDDEN"));

        // Answers: not the addressee, bad text, wrong tender, then once only.
        let id = asked.clarification_id.clone();
        let good = AnswerInput {
            answer: "措施费按省定额第3章计取，详见投标文件第45页。".into(),
        };
        for who in [&bidder1, &kit.bidder, &fx.experts[2], &kit.agent] {
            let r = answer(s, who, &fx.code, &id, &good).await;
            assert_eq!(capi(r.unwrap_err()), (403, "CLARIFICATION_NOT_ADDRESSEE"));
        }
        for bad in [String::new(), " ".into(), "答".repeat(MAX_ANSWER_CHARS + 1)] {
            let r = answer(s, &bidder0, &fx.code, &id, &AnswerInput { answer: bad }).await;
            assert_eq!(capi(r.unwrap_err()), (422, "CLARIFICATION_BAD_ANSWER"));
        }
        let other = opened(kit, &[100_000_000, 102_500_000, 140_000_000], 5, 5).await;
        let r = answer(s, &bidder0, &other.code, &id, &good).await;
        assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
        let r = answer(s, &bidder0, &fx.code, "not-an-id", &good).await;
        assert_eq!(capi(r.unwrap_err()), (404, "NOT_FOUND"));
        let done = answer(s, &bidder0, &fx.code, &id, &good).await.unwrap();
        assert_eq!(done.status, Status::Answered);
        assert_eq!(done.answer.as_deref(), Some(good.answer.as_str()));
        assert!(done.asked_by.is_none());
        let again = AnswerInput {
            answer: "更正：按第4章计取。".into(),
        };
        let r = answer(s, &bidder0, &fx.code, &id, &again).await;
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
            s,
            e0,
            &fx.code,
            &ask_input(&fx.bids[2], q, Some(MIN_WINDOW_MINUTES)),
        )
        .await
        .unwrap();
        let bidder2 = bidder_of(kit, &fx.bids[2]).await;
        let deadline = short.answer_by;
        kit.clock.set(deadline);
        let on_time = answer(s, &bidder2, &fx.code, &short.clarification_id, &good).await;
        assert_eq!(
            on_time.unwrap().status,
            Status::Answered,
            "the deadline itself is in time"
        );
        let late_one = ask(
            s,
            e0,
            &fx.code,
            &ask_input(&fx.bids[2], q, Some(MIN_WINDOW_MINUTES)),
        )
        .await
        .unwrap();
        kit.clock
            .set(late_one.answer_by + TimeDelta::milliseconds(1));
        let r = answer(s, &bidder2, &fx.code, &late_one.clarification_id, &good).await;
        let e = ApiError::from(r.unwrap_err());
        assert_eq!((e.status.as_u16(), e.code), (409, "CLARIFICATION_EXPIRED"));
        assert!(
            e.message.contains(&cst(to_millis(late_one.answer_by))),
            "{}",
            e.message
        );
        let all = list_for_tender(s, &bidder2, &fx.code).await.unwrap();
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
            s,
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
            s,
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
            submit_scores(s, e, &fx.code, &sheets(&fx, &[t, t, t]))
                .await
                .unwrap();
        }
        let r = ask(
            s,
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
        answer(s, &bidder, &fx.code, &asked.clarification_id, &ok)
            .await
            .unwrap();
        // A bidder of another organisation with a bidder role sees nothing across tenders.
        let stranger_org = org(kit.db(), "bidder", "active").await;
        let stranger = user(kit.db(), Role::Bidder, Some(&stranger_org), "active").await;
        assert!(list_mine(s, &stranger).await.unwrap().is_empty());
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
}
