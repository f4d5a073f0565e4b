//! Replacing a committee member during the evaluation (实施条例 第48条): a member who must
//! withdraw (回避, illness …) is replaced by an expert drawn by the same verifiable procedure,
//! and the replaced member's conclusions are void.
//!
//! 1. [`start`]: the owning agent names the member by the anonymous member number (the agent
//!    never sees who the experts are) and gives a written reason. The member's assignment
//!    becomes `withdrawn`, the expert module commits a replacement draw
//!    ([`crate::expert::service::replace_member`], the one a decline triggers), and the
//!    evaluation is suspended (state `replacing`): nobody marks, scores, signs or asks for a
//!    clarification until the committee is complete again. The replacement draw gets a fresh
//!    check-in window (from now, [`CHECKIN_HOURS`] long), since the original one has passed.
//! 2. The supervisor enters the random input, the drawn expert confirms and checks in — the
//!    expert module's ordinary steps (a decline or no answer draws again, the same way).
//! 3. [`complete`]: the agent completes the replacement once the new expert has checked in
//!    (explicit, not automatic: the agent sees the committee in the room, and a step that
//!    changes the committee should have an author). The member is swapped
//!    ([`Committee::replace`]), the replaced member's marks and sheets are removed
//!    ([`void_conclusions`]) into `evaluation_void`, and the evaluation goes back to the step
//!    that must be redone — see [`redo_from`].
//!
//! A report that anyone has signed or dissented from is never replaced silently: the start is
//! refused unless the agent sends `void_signed_report: true`, and then every act on the old
//! report is moved to `evaluation_void` and named in the audit event.

pub mod pages;

use crate::evaluation::Env;
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::clock::cst;
use crate::clock::{from_millis, to_millis};
use crate::error::{Coded, Kind};
use crate::evaluation::committee::{
    Committee, CommitteeError, Member, MemberRole, Voided, void_conclusions,
};
use crate::evaluation::review::{Mark, Verdict};
use crate::evaluation::scoring::ScoreSheet;
use crate::evaluation::service::{self, Evaluation, EvaluationError};
use crate::expert::service::{ASSIGNMENT_COLS, AssignmentRow, replace_member};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::lifecycle::MoveError;
use crate::lifecycle::evaluation::{self as machine, Columns, EvaluationState, Move};
use crate::store::Tx;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

/// How long the replacement expert may check in, from the start of the replacement, in hours.
pub const CHECKIN_HOURS: i64 = 24;
/// Shortest written reason, in characters.
pub const MIN_REASON_CHARS: usize = 5;
/// Longest written reason, in characters.
pub const MAX_REASON_CHARS: usize = 2_000;

/// Why a replacement step is refused.
#[derive(Debug, thiserror::Error)]
pub enum ReplacementError {
    /// A rule of the evaluation (not found, forbidden, wrong state …).
    #[error(transparent)]
    Evaluation(#[from] EvaluationError),
    /// The reason is missing or too long.
    #[error(
        "a written reason of {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters is required (实施条例 第48条) / 须书面说明更换理由（{MIN_REASON_CHARS}至{MAX_REASON_CHARS}个字符）"
    )]
    ReasonRequired,
    /// No member has this number on the committee.
    #[error("no committee member has number {0} / 评标委员会中没有该编号的成员")]
    UnknownMember(i64),
    /// Only drawn experts are replaced by a draw.
    #[error(
        "only a drawn expert is replaced by a replacement draw; the tenderee names its representatives / 仅抽取的专家通过补抽更换"
    )]
    NotAnExpert,
    /// Another replacement is in progress.
    #[error(
        "another member is being replaced; complete that replacement first / 另一成员正在更换，请先完成"
    )]
    InProgress,
    /// The report was signed or dissented from and the agent did not say to void it.
    #[error(
        "{0} member(s) already signed or dissented from the report; a replacement voids the report and every act on it — send void_signed_report: true to proceed (实施条例 第48条) / 已有{0}名成员签署或提出异议，更换将使报告及签署作废，须明确确认"
    )]
    ReportSigned(usize),
    /// The replacement expert is not drawn, confirmed and checked in yet.
    #[error("{0}")]
    NotReady(String),
    /// The replacement was already completed.
    #[error("this replacement is already complete / 该更换已完成")]
    AlreadyComplete,
}

impl From<sqlx::Error> for ReplacementError {
    fn from(e: sqlx::Error) -> Self {
        ReplacementError::Evaluation(e.into())
    }
}

impl From<crate::store::StoreError> for ReplacementError {
    fn from(e: crate::store::StoreError) -> Self {
        ReplacementError::Evaluation(e.into())
    }
}

impl From<crate::expert::service::ExpertError> for ReplacementError {
    fn from(e: crate::expert::service::ExpertError) -> Self {
        ReplacementError::Evaluation(e.into())
    }
}

impl Coded for ReplacementError {
    fn kind(&self) -> Kind {
        match self {
            ReplacementError::Evaluation(e) => e.kind(),
            ReplacementError::ReasonRequired
            | ReplacementError::UnknownMember(_)
            | ReplacementError::NotAnExpert => Kind::Invalid,
            ReplacementError::InProgress
            | ReplacementError::ReportSigned(_)
            | ReplacementError::NotReady(_)
            | ReplacementError::AlreadyComplete => Kind::Conflict,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ReplacementError::Evaluation(e) => e.code(),
            ReplacementError::ReasonRequired => "REPLACEMENT_REASON_REQUIRED",
            ReplacementError::UnknownMember(_) => "REPLACEMENT_NOT_A_MEMBER",
            ReplacementError::NotAnExpert => "REPLACEMENT_NOT_AN_EXPERT",
            ReplacementError::InProgress => "REPLACEMENT_IN_PROGRESS",
            ReplacementError::ReportSigned(_) => "REPLACEMENT_REPORT_SIGNED",
            ReplacementError::NotReady(_) => "REPLACEMENT_NOT_READY",
            ReplacementError::AlreadyComplete => "REPLACEMENT_COMPLETE",
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ReplacementError::Evaluation(e) => e.details(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ReplacementError::Evaluation(e) => e.retry_after(),
            _ => None,
        }
    }
}

/// `POST /api/v1/tenders/{code}/evaluation/replacements`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = ReplacementStart)]
pub struct StartInput {
    /// The member's anonymous number (as the committee view shows it).
    pub member_no: i64,
    /// Why the member must withdraw (5–2000 characters).
    pub reason: String,
    /// Required when anyone has signed or dissented from the report: the report and every
    /// act on it become void.
    #[serde(default)]
    pub void_signed_report: bool,
}

/// Where the evaluation goes back to after a replacement, and what becomes void.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Redo {
    /// The evaluation state after the replacement.
    pub to_state: EvaluationState,
    /// Whether the leader election starts a new round (leader cleared).
    pub new_election: bool,
    /// Whether every score sheet is void (the review is decided again, so the set of bids
    /// to score may change).
    pub all_sheets_void: bool,
    /// Whether the ranking, the report and every act on it are void.
    pub report_void: bool,
}

/// The step to redo after replacing a member, from the state the evaluation was in when the
/// replacement started and whether the member replaced was the leader:
///
/// - `electing`: a new round of the election (ballots for or by the replaced member would
///   otherwise count); the old rounds stay as they were;
/// - the leader replaced: a new election, then the review (the leader's marks are void too);
/// - `review`: the review goes on; the replacement marks every bid;
/// - `scoring` or `ranked`: back to the review — the replaced member marked every bid, those
///   marks are void, and the decision is taken again with the replacement's marks. Because
///   that decision fixes which bids are scored (and, through the valid prices, every price
///   score), every member's sheets are void and everyone scores again; `ranked`: the
///   ranking, the report and every act on it are void too.
pub fn redo_from(from_state: EvaluationState, leader_replaced: bool) -> Redo {
    use EvaluationState::{Electing, Ranked, Review, Scoring};
    let past_review = matches!(from_state, Scoring | Ranked);
    let electing = from_state == Electing || leader_replaced;
    Redo {
        to_state: if electing { Electing } else { Review },
        new_election: electing,
        all_sheets_void: past_review,
        report_void: from_state == Ranked,
    }
}

#[derive(Debug, sqlx::FromRow)]
struct ReplacementRow {
    replacement_id: String,
    tender_id: String,
    member: String,
    expert_id: String,
    reason: String,
    from_state: String,
    draw_id: String,
    state: String,
    requested_at: i64,
    replacement: Option<String>,
    to_state: Option<String>,
    completed_at: Option<i64>,
}

const COLS: &str =
    "select replacement_id, tender_id, member, expert_id, reason, from_state, draw_id,
    state, requested_at, replacement, to_state, completed_at from evaluation_replacement";

async fn assignment_of(
    tx: &mut Tx,
    tender_id: &str,
    expert_id: &str,
) -> Result<Option<AssignmentRow>, ReplacementError> {
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 and expert_id = $2");
    Ok(q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string(),
        expert_id.to_string()
    )?)
}

fn forbidden() -> ReplacementError {
    EvaluationError::forbidden(
        "only the tender's agent may replace a committee member / 仅本项目招标代理可更换评标委员会成员",
    )
    .into()
}

/// What [`start`] answers. Fields in alphabetical order, as the answer has always been
/// serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplacementStarted {
    /// The replacement expert checks in before this instant.
    pub checkin_closes_at: DateTime<Utc>,
    /// The replacement draw.
    pub draw_id: String,
    /// The evaluation's state now (`replacing`).
    pub evaluation_state: EvaluationState,
    /// The replaced member's number in the draw.
    pub member_no: i64,
    /// What happens next, in words.
    pub next: String,
    /// The replacement.
    pub replacement_id: String,
    /// The replacement's state (`drawing`).
    pub state: String,
}

/// What [`complete`] answers. Fields in alphabetical order, as the answer has always been
/// serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplacementCompleted {
    /// Signatures and dissents on the old report that are void.
    pub acts_voided: usize,
    /// The election round now.
    pub election_round: i64,
    /// The evaluation's state now: the step to redo.
    pub evaluation_state: EvaluationState,
    /// The replaced member's marks that are void.
    pub marks_voided: usize,
    /// The replacement member's number in the draw.
    pub member_no: i64,
    /// The replacement.
    pub replacement_id: String,
    /// Score sheets that are void (the replaced member's, and everyone's when the review is
    /// decided again).
    pub sheets_voided: usize,
    /// The replacement's state (`completed`).
    pub state: String,
}

/// Starts replacing the member with anonymous number `member_no` (owning agent, evaluation
/// under way, written reason): the member withdraws, a replacement draw is committed and the
/// evaluation is suspended until [`complete`].
pub async fn start(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &StartInput,
) -> Result<ReplacementStarted, ReplacementError> {
    let now = env.now;
    let reason = input.reason.trim().to_string();
    let n = reason.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&n) {
        return Err(ReplacementError::ReasonRequired);
    }
    crate::text::check("reason", &reason, crate::text::Lines::Multi)
        .map_err(EvaluationError::from)?;
    let mut tx = env.db.begin().await?;
    let ev = service::load(&mut tx, code).await?;
    if !service::owns(caller, &ev.tender) {
        return Err(forbidden());
    }
    let tid = ev.tender.tender_id.clone();
    if ev.state == EvaluationState::Replacing {
        return Err(ReplacementError::InProgress);
    }
    if ev.tender.state != crate::tender::model::TenderState::Evaluating || !ev.state.under_way() {
        return Err(service::wrong("replace a committee member", &ev).into());
    }
    // The member by number: the assignment, its expert's login, and a seat on the committee.
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 and member_no = $2");
    let a = q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tid.clone(),
        input.member_no
    )?
    .ok_or(ReplacementError::UnknownMember(input.member_no))?;
    let user: Option<(Option<String>,)> = q_opt!(
        tx,
        (Option<String>,),
        "select user_id from expert where expert_id = $1",
        a.expert_id.clone()
    )?;
    let member_id = user
        .and_then(|(u,)| u)
        .filter(|u| ev.member(u).is_some())
        .ok_or(ReplacementError::UnknownMember(input.member_no))?;
    if ev.member(&member_id).map(|m| m.role) != Some(MemberRole::Expert) || a.role != "member" {
        return Err(ReplacementError::NotAnExpert);
    }
    if a.state != "confirmed" {
        return Err(ReplacementError::UnknownMember(input.member_no));
    }
    if ev.state == EvaluationState::Ranked {
        let (acted,): (i64,) = q_one!(
            tx,
            (i64,),
            "select count(*) from evaluation_signature where tender_id = $1",
            tid.clone()
        )?;
        let acted = usize::try_from(acted).unwrap_or(0);
        if acted > 0 && !input.void_signed_report {
            return Err(ReplacementError::ReportSigned(acted));
        }
    }
    let n = q_exec!(
        tx,
        "update expert_assignment set state = 'withdrawn' where draw_id = $1 and expert_id = $2 and state = 'confirmed'",
        a.draw_id.clone(),
        a.expert_id.clone()
    )?;
    if n == 0 {
        return Err(ReplacementError::UnknownMember(input.member_no));
    }
    // The same verifiable procedure as after a decline: commitment now, the supervisor's
    // input next, then the draw; everyone drawn for the tender so far is excluded.
    let draw_id = replace_member(&mut tx, now, &caller.actor, &a).await?;
    // The parent's check-in window has passed by now (the evaluation is under way), so the
    // replacement gets its own, starting now. The window is not part of the draw's seed.
    let closes = now + TimeDelta::hours(CHECKIN_HOURS);
    q_exec!(
        tx,
        "update expert_draw set evaluation_at = $1, checkin_opens_at = $1, checkin_closes_at = $2
         where draw_id = $3",
        to_millis(now),
        to_millis(closes),
        draw_id.clone()
    )?;
    let id = new_id();
    q_exec!(
        tx,
        "insert into evaluation_replacement (replacement_id, tender_id, member, expert_id, reason,
            from_state, draw_id, state, requested_by, requested_at)
         values ($1, $2, $3, $4, $5, $6, $7, 'drawing', $8, $9)",
        id.clone(),
        tid.clone(),
        member_id.clone(),
        a.expert_id.clone(),
        reason.clone(),
        ev.state.as_str().to_string(),
        draw_id.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )
    .map_err(|e| {
        if crate::store::is_unique_violation(&e) {
            ReplacementError::InProgress
        } else {
            e.into()
        }
    })?;
    // The evaluation is suspended last, with the event that records the whole start; the
    // guard on the state it was read in keeps two starts from both succeeding.
    let m = Move::new(
        Columns::None,
        &caller.actor,
        "evaluation.replacement.start",
        json!({"replacement_id": id, "member": member_id, "expert_id": a.expert_id,
               "member_no": a.member_no, "reason": reason, "from_state": ev.state,
               "draw_id": draw_id, "checkin_closes_at": crate::audit::entry_time(closes)}),
    );
    machine::transition(&mut tx, now, &tid, ev.state, EvaluationState::Replacing, m)
        .await
        .map_err(|e| match e {
            MoveError::Moved => ReplacementError::InProgress,
            e => service::evaluation_moved(e, "replace a committee member", ev.state).into(),
        })?;
    tx.commit().await?;
    Ok(ReplacementStarted {
        checkin_closes_at: closes,
        next: format!(
            "the supervisor enters the random input at /draws/{draw_id}; the drawn expert confirms and checks in before {} China time; then complete the replacement / 监督人输入随机数，补抽专家确认并签到后，完成更换",
            cst(to_millis(closes))
        ),
        draw_id,
        evaluation_state: EvaluationState::Replacing,
        member_no: a.member_no,
        replacement_id: id,
        state: "drawing".into(),
    })
}

/// Every draw of the replacement: its own and the redraws after a decline or no answer.
async fn draw_chain(
    tx: &mut Tx,
    tender_id: &str,
    first: &str,
) -> Result<Vec<(String, String)>, ReplacementError> {
    let rows: Vec<(String, Option<String>, String)> = q_all!(
        tx,
        (String, Option<String>, String),
        "select draw_id, parent_draw_id, state from expert_draw where tender_id = $1 and kind = 'replacement'
         order by created_at, draw_id",
        tender_id.to_string()
    )?;
    let mut chain: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.0 == first)
        .map(|r| (r.0.clone(), r.2.clone()))
        .collect();
    // Parents come before children (created later), so one pass in creation order suffices.
    for (id, parent, st) in &rows {
        if parent
            .as_deref()
            .is_some_and(|p| chain.iter().any(|(c, _)| c == p))
            && !chain.iter().any(|(c, _)| c == id)
        {
            chain.push((id.clone(), st.clone()));
        }
    }
    Ok(chain)
}

/// The replacement expert: a member of a draw in the chain, confirmed and checked in; or a
/// message saying what is still missing.
async fn replacement_expert(
    tx: &mut Tx,
    tender_id: &str,
    chain: &[(String, String)],
) -> Result<(String, Option<String>, i64), ReplacementError> {
    let mut waiting = None;
    for (draw_id, draw_state) in chain {
        let rows: Vec<(String, Option<String>, i64, String, i64)> = q_all!(
            tx,
            (String, Option<String>, i64, String, i64),
            "select a.expert_id, e.user_id, a.member_no, a.state,
                    cast(case when c.expert_id is null then 0 else 1 end as bigint)
             from expert_assignment a join expert e on e.expert_id = a.expert_id
             left join expert_checkin c on c.tender_id = a.tender_id and c.expert_id = a.expert_id
             where a.draw_id = $1 and a.tender_id = $2 and a.role = 'member'",
            draw_id.clone(),
            tender_id.to_string()
        )?;
        for (expert_id, user_id, no, st, checked) in rows {
            match (st.as_str(), checked) {
                ("confirmed", 1) => return Ok((expert_id, user_id, no)),
                ("confirmed", _) => {
                    waiting = Some(format!(
                        "the replacement expert (no. {no}) has confirmed but not checked in yet / 补抽专家（{no}号）已确认，尚未签到"
                    ))
                }
                ("notified", _) => {
                    waiting = waiting.or(Some(format!(
                        "the replacement expert (no. {no}) has not confirmed yet / 补抽专家（{no}号）尚未确认"
                    )))
                }
                _ => {}
            }
        }
        if waiting.is_none() {
            waiting = match draw_state.as_str() {
                "committed" => Some(format!(
                    "the replacement draw {draw_id} waits for the supervisor's random input / 补抽等待监督人输入随机数"
                )),
                "failed" => Some(format!(
                    "the replacement draw {draw_id} failed (the pool cannot fill the quota) / 补抽失败"
                )),
                _ => None,
            };
        }
    }
    Err(ReplacementError::NotReady(waiting.unwrap_or_else(|| {
        "the replacement expert has not been drawn, confirmed and checked in yet / 补抽专家尚未抽取、确认并签到".into()
    })))
}

/// Rows of one live table for `member` (or everyone), as JSON, and their removal into
/// `evaluation_void`.
struct Voider<'a> {
    tx: &'a mut Tx,
    now: DateTime<Utc>,
    replacement_id: &'a str,
    tender_id: &'a str,
}

impl Voider<'_> {
    async fn archive(
        &mut self,
        kind: &str,
        member: &str,
        why: &str,
        row: Value,
    ) -> Result<(), ReplacementError> {
        q_exec!(
            self.tx,
            "insert into evaluation_void (replacement_id, tender_id, kind, member, why, row_json, voided_at)
             values ($1, $2, $3, $4, $5, $6, $7)",
            self.replacement_id.to_string(),
            self.tender_id.to_string(),
            kind.to_string(),
            member.to_string(),
            why.to_string(),
            row.to_string(),
            to_millis(self.now)
        )?;
        Ok(())
    }
}

/// A replacement as [`list`] shows it; the JSON route serialises it as is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplacementView {
    /// The replacement.
    pub replacement_id: String,
    /// The replaced member's number in the draw.
    pub member_no: Option<i64>,
    /// Why the member is replaced.
    pub reason: String,
    /// The evaluation's state when the replacement started.
    pub from_state: String,
    /// The replacement draw.
    pub draw_id: String,
    /// `drawing` or `completed`.
    pub state: String,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
    /// The state the evaluation went back to, once completed.
    pub to_state: Option<String>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// Whether the replacement expert is ready (while drawing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
    /// What the replacement still waits for (while drawing, not ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<String>,
    /// The replaced member's id (to those who may see members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// The replacement member's id, once completed (to those who may see members).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replacement: Option<Option<String>>,
}

/// Completes a replacement once the replacement expert has checked in: swaps the member,
/// voids the replaced member's conclusions (and what depends on them) and moves the
/// evaluation back to the step to redo ([`redo_from`]).
pub async fn complete(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    replacement_id: &str,
) -> Result<ReplacementCompleted, ReplacementError> {
    let now = env.now;
    let mut tx = env.db.begin().await?;
    let ev = service::load(&mut tx, code).await?;
    let r = completable(&mut tx, caller, &ev, replacement_id).await?;
    let tid = ev.tender.tender_id.clone();
    let (new_expert, new_user, new_no) = replacement_login(&mut tx, &tid, &r).await?;
    let committee = swapped(env, &ev, &r.member, &new_user)?;
    let leader_replaced = ev.row.leader_user_id.as_deref() == Some(r.member.as_str());
    let from_state = EvaluationState::parse(&r.from_state).ok_or_else(|| {
        EvaluationError::corrupt(format!("replacement from state {:?}", r.from_state))
    })?;
    let redo = redo_from(from_state, leader_replaced);
    let voided = void_all(&mut tx, now, &ev, &r, &redo).await?;
    let round = if redo.new_election {
        ev.row.election_round.saturating_add(1)
    } else {
        ev.row.election_round
    };
    let members_json = serde_json::to_string(committee.members()).map_err(service::corrupt)?;
    let n = q_exec!(
        tx,
        "update evaluation_replacement set state = 'completed', replacement = $1, to_state = $2,
            completed_by = $3, completed_at = $4
         where replacement_id = $5 and state = 'drawing'",
        new_user.clone(),
        redo.to_state.as_str().to_string(),
        caller.user.user_id.clone(),
        to_millis(now),
        r.replacement_id.clone()
    )?;
    if n == 0 {
        return Err(ReplacementError::AlreadyComplete);
    }
    let columns = Columns::Committee {
        members_json,
        election_round: round,
        new_election: redo.new_election,
    };
    let m = Move::new(
        columns,
        &caller.actor,
        "evaluation.replacement.complete",
        json!({"replacement_id": r.replacement_id, "replaced": r.member,
               "replacement": new_user, "expert_id": new_expert, "member_no": new_no,
               "from_state": r.from_state, "redo": redo, "election_round": round,
               "voided": voided.conclusions, "other_sheets_voided": voided.sheets_of_others,
               "report_sha256_voided": if redo.report_void { json!(ev.row.report_sha256) } else { Value::Null },
               "acts_voided": voided.acts}),
    );
    machine::transition(&mut tx, now, &tid, ev.state, redo.to_state, m)
        .await
        .map_err(|e| match e {
            MoveError::Moved => ReplacementError::AlreadyComplete,
            e => service::evaluation_moved(e, "complete the replacement", ev.state).into(),
        })?;
    tx.commit().await?;
    Ok(ReplacementCompleted {
        acts_voided: voided.acts.len(),
        election_round: round,
        evaluation_state: redo.to_state,
        marks_voided: voided.conclusions.marks_removed,
        member_no: new_no,
        replacement_id: r.replacement_id,
        sheets_voided: voided.conclusions.sheets_removed + voided.sheets_of_others,
        state: "completed".into(),
    })
}

/// The replacement the owning agent may complete now: still drawing, the evaluation
/// suspended for it.
async fn completable(
    tx: &mut Tx,
    caller: &Caller,
    ev: &Evaluation,
    replacement_id: &str,
) -> Result<ReplacementRow, ReplacementError> {
    if !service::owns(caller, &ev.tender) {
        return Err(forbidden());
    }
    let r = replacement_of(tx, ev, replacement_id).await?;
    if r.state != "drawing" {
        return Err(ReplacementError::AlreadyComplete);
    }
    if ev.state != EvaluationState::Replacing {
        return Err(EvaluationError::corrupt("a replacement runs outside `replacing`").into());
    }
    Ok(r)
}

/// The expert the replacement drew (the last of its chain of draws) who confirmed and checked
/// in, with the login they evaluate with: (expert id, user id, member number).
async fn replacement_login(
    tx: &mut Tx,
    tender_id: &str,
    r: &ReplacementRow,
) -> Result<(String, String, i64), ReplacementError> {
    let chain = draw_chain(tx, tender_id, &r.draw_id).await?;
    let (new_expert, new_user, new_no) = replacement_expert(tx, tender_id, &chain).await?;
    let Some(new_user) = new_user else {
        return Err(EvaluationError::Invalid(
            "EVALUATION_EXPERT_WITHOUT_LOGIN",
            "the replacement expert has no platform login and cannot evaluate / 补抽专家未开通平台账号"
                .into(),
        )
        .into());
    };
    Ok((new_expert, new_user, new_no))
}

/// The committee with `replaced` swapped for the expert logged in as `new_user`, checked
/// against the rulebook.
fn swapped(
    env: Env<'_>,
    ev: &Evaluation,
    replaced: &str,
    new_user: &str,
) -> Result<Committee, ReplacementError> {
    let book = service::rulebook(env.rulebooks, &ev.tender)?;
    let member = Member {
        id: new_user.to_string(),
        role: MemberRole::Expert,
    };
    Ok(ev
        .committee(book)?
        .replace(book, replaced, member)
        .map_err(|e| match e {
            CommitteeError::NotAMember(_) => {
                EvaluationError::corrupt("the replaced member left the committee")
            }
            other => EvaluationError::Committee(other),
        })?)
}

/// What a completed replacement made void.
struct VoidedAll {
    /// The replaced member's conclusions (by [`void_conclusions`]).
    conclusions: Voided,
    /// The other members' sheets, when the review is decided again.
    sheets_of_others: usize,
    /// The acts on the old report: (member, act).
    acts: Vec<Value>,
}

/// Moves everything the replacement makes void out of the live tables into
/// `evaluation_void`: the replaced member's marks and sheets, everyone's sheets when the
/// review is decided again, and the report's price table and every act on the report when
/// the report is void.
async fn void_all(
    tx: &mut Tx,
    now: DateTime<Utc>,
    ev: &Evaluation,
    r: &ReplacementRow,
    redo: &Redo,
) -> Result<VoidedAll, ReplacementError> {
    let tid = ev.tender.tender_id.clone();
    // The replaced member's conclusions, by the pure rule; then the same rows out of the
    // live tables and into `evaluation_void`.
    let (mut marks, mark_rows) = marks_of(tx, &tid).await?;
    let (mut sheets, sheet_rows) = sheets_of(tx, &tid).await?;
    let conclusions = void_conclusions(&r.member, &mut marks, &mut sheets);
    let mut v = Voider {
        tx,
        now,
        replacement_id: &r.replacement_id,
        tender_id: &tid,
    };
    for (member, row) in &mark_rows {
        if *member == r.member {
            v.archive("mark", member, "replaced_member", row.clone())
                .await?;
        }
    }
    let mut sheets_of_others = 0usize;
    for (member, row) in &sheet_rows {
        if *member == r.member {
            v.archive("sheet", member, "replaced_member", row.clone())
                .await?;
        } else if redo.all_sheets_void {
            v.archive("sheet", member, "review_redone", row.clone())
                .await?;
            sheets_of_others += 1;
        }
    }
    let acts = if redo.report_void {
        void_report(&mut v, ev).await?
    } else {
        Vec::new()
    };
    delete_voided(v.tx, &tid, &r.member, redo).await?;
    Ok(VoidedAll {
        conclusions,
        sheets_of_others,
        acts,
    })
}

/// The void report's price comparison table and every act on the report, archived; the
/// acts as (member, act).
async fn void_report(v: &mut Voider<'_>, ev: &Evaluation) -> Result<Vec<Value>, ReplacementError> {
    // A lowest-evaluated-price report carries the committee's price comparison table: the
    // review is decided again, so the table is void with the report.
    let table = ev
        .row
        .report_json
        .as_deref()
        .map(serde_json::from_str::<Value>)
        .transpose()
        .map_err(service::corrupt)?
        .and_then(|r| r.get("adjustments").cloned());
    if let (Some(table), Some(leader)) = (table, ev.row.leader_user_id.as_deref()) {
        v.archive("price_table", leader, "review_redone", table)
            .await?;
    }
    let acts: Vec<ActRow> = q_all!(
        v.tx,
        ActRow,
        "select member, act, reason, report_sha256, credential_id, signed_at
         from evaluation_signature where tender_id = $1 order by member",
        ev.tender.tender_id.clone()
    )?;
    let mut voided = Vec::new();
    for (member, act, reason, sha, cred, at) in acts {
        let row = json!({"member": member, "act": act, "reason": reason,
                         "report_sha256": sha, "credential_id": cred, "signed_at": at});
        v.archive("signature", &member, "report_changed", row)
            .await?;
        voided.push(json!({"member": member, "act": act}));
    }
    Ok(voided)
}

/// Deletes what [`void_all`] archived from the live tables.
async fn delete_voided(
    tx: &mut Tx,
    tid: &str,
    replaced: &str,
    redo: &Redo,
) -> Result<(), ReplacementError> {
    q_exec!(
        tx,
        "delete from evaluation_mark where tender_id = $1 and member = $2",
        tid.to_string(),
        replaced.to_string()
    )?;
    if redo.all_sheets_void {
        q_exec!(
            tx,
            "delete from evaluation_sheet where tender_id = $1",
            tid.to_string()
        )?;
    } else {
        q_exec!(
            tx,
            "delete from evaluation_sheet where tender_id = $1 and member = $2",
            tid.to_string(),
            replaced.to_string()
        )?;
    }
    if redo.report_void {
        q_exec!(
            tx,
            "delete from evaluation_signature where tender_id = $1",
            tid.to_string()
        )?;
    }
    Ok(())
}

async fn replacement_of(
    tx: &mut Tx,
    ev: &Evaluation,
    id: &str,
) -> Result<ReplacementRow, ReplacementError> {
    if !is_id(id) {
        return Err(EvaluationError::not_found("replacement").into());
    }
    let sql = format!("{COLS} where replacement_id = $1 and tender_id = $2");
    Ok(q_opt!(
        tx,
        ReplacementRow,
        sqlx::AssertSqlSafe(sql),
        id.to_string(),
        ev.tender.tender_id.clone()
    )?
    .ok_or(EvaluationError::not_found("replacement"))?)
}

/// member, act, reason, report digest, credential, time.
type ActRow = (String, String, Option<String>, String, Option<String>, i64);

type MarkRow = (String, String, String, String, String, String, i64);

async fn marks_of(
    tx: &mut Tx,
    tid: &str,
) -> Result<(Vec<Mark>, Vec<(String, Value)>), ReplacementError> {
    let rows: Vec<MarkRow> = q_all!(
        tx,
        MarkRow,
        "select member, bid_id, criterion, verdict, reason, sha256, marked_at from evaluation_mark
         where tender_id = $1 order by member, bid_id, criterion",
        tid.to_string()
    )?;
    let mut marks = Vec::with_capacity(rows.len());
    let mut raw = Vec::with_capacity(rows.len());
    for (member, bid, criterion, verdict, reason, sha, at) in rows {
        raw.push((
            member.clone(),
            json!({"member": member, "bid_id": bid, "criterion": criterion, "verdict": verdict,
                   "reason": reason, "sha256": sha, "marked_at": at}),
        ));
        marks.push(Mark {
            expert: member,
            bid,
            criterion,
            verdict: if verdict == "fail" {
                Verdict::Fail
            } else {
                Verdict::Pass
            },
            reason,
        });
    }
    Ok((marks, raw))
}

async fn sheets_of(
    tx: &mut Tx,
    tid: &str,
) -> Result<(Vec<ScoreSheet>, Vec<(String, Value)>), ReplacementError> {
    let rows: Vec<(String, String, String, String, i64)> = q_all!(
        tx,
        (String, String, String, String, i64),
        "select member, bid_id, scores_json, sha256, submitted_at from evaluation_sheet
         where tender_id = $1 order by member, bid_id",
        tid.to_string()
    )?;
    let mut sheets = Vec::with_capacity(rows.len());
    let mut raw = Vec::with_capacity(rows.len());
    for (member, bid, scores, sha, at) in rows {
        let parsed: std::collections::BTreeMap<String, i64> =
            serde_json::from_str(&scores).map_err(service::corrupt)?;
        raw.push((
            member.clone(),
            json!({"member": member, "bid_id": bid, "scores": parsed, "sha256": sha,
                   "submitted_at": at}),
        ));
        sheets.push(ScoreSheet {
            expert: member,
            bid,
            scores: parsed,
        });
    }
    Ok((sheets, raw))
}

/// The replacements of a tender: the owning agent and operators (member numbers only until
/// the award), members and regulators (with the members' ids). A replacement still drawing says whether it can be
/// completed (`ready`: the replacement expert is confirmed and checked in) or what it waits
/// for (`waiting`), so the agent's page offers "complete" only when [`complete`] would accept.
pub async fn list(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<Vec<ReplacementView>, ReplacementError> {
    let mut tx = env.db.read().await?;
    let ev = service::load(&mut tx, code).await?;
    let insider = ev.member(&caller.user.user_id).is_some()
        || matches!(caller.user.role, Role::Regulator | Role::Operator);
    if !insider && !service::owns(caller, &ev.tender) {
        return Err(EvaluationError::forbidden(
            "only the tender's agent, the committee and regulators may see replacements / 无权查看成员更换",
        )
        .into());
    }
    // Operators see the members' ids only once the result is settled (招标投标法 第37条).
    let names = insider
        && crate::evaluation::committee::sees_members(
            caller.user.role,
            ev.member(&caller.user.user_id).is_some(),
            Some(ev.tender.state),
        );
    let sql = format!("{COLS} where tender_id = $1 order by requested_at, replacement_id");
    let rows = q_all!(
        tx,
        ReplacementRow,
        sqlx::AssertSqlSafe(sql),
        ev.tender.tender_id.clone()
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let no = assignment_of(&mut tx, &r.tender_id, &r.expert_id)
            .await?
            .map(|a| a.member_no);
        let mut v = ReplacementView {
            replacement_id: r.replacement_id,
            member_no: no,
            reason: r.reason,
            from_state: r.from_state,
            draw_id: r.draw_id,
            state: r.state,
            requested_at: from_millis(r.requested_at),
            to_state: r.to_state,
            completed_at: r.completed_at.map(from_millis),
            ready: None,
            waiting: None,
            member: None,
            replacement: None,
        };
        if v.state == "drawing" {
            let chain = draw_chain(&mut tx, &r.tender_id, &v.draw_id).await?;
            match replacement_expert(&mut tx, &r.tender_id, &chain).await {
                Ok(_) => v.ready = Some(true),
                Err(ReplacementError::NotReady(why)) => {
                    v.ready = Some(false);
                    v.waiting = Some(why);
                }
                Err(e) => return Err(e),
            }
        }
        if names {
            v.member = Some(r.member);
            v.replacement = Some(r.replacement);
        }
        out.push(v);
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests;
