//! Questions and answers (澄清提问): bidders ask before the clarification cut-off, the owning
//! agent answers in public; the asker is never shown to other bidders, the agent or the
//! public.

use chrono::{DateTime, Utc};
use serde_json::json;

use super::super::model::{AnswerInput, QuestionInput, QuestionRow, QuestionView, TenderState};
use super::checks::check_text;
use super::common::{bidder_actor, bidder_company_active, cst_time, find_tender, questions_of};
use super::{BIDDERS_ONLY, Caller, TenderError, ensure_owner, may_read_all};
use crate::audit;
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::{Role, SessionUser};
use crate::ids::{is_id, new_id};
use crate::lifecycle::tender::user_is_owner;
use crate::store::Db;
use crate::store::blob::sha256_hex;
use crate::text::Lines;
use crate::{q_exec, q_opt};

/// A bidder of an approved company asks a question before the clarification cut-off. The
/// asker is stored but never shown to other bidders, the agent or the public; the audit
/// event carries the per-tender pseudonym and a digest of the text.
pub async fn ask_question(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &QuestionInput,
) -> Result<QuestionView, TenderError> {
    if !caller.is(Role::Bidder) {
        return Err(Common::Forbidden(BIDDERS_ONLY).into());
    }
    let body = check_text("body", &input.body, 1, 5_000, Lines::Multi)?;
    let mut tx = db.begin().await?;
    if !bidder_company_active(&mut tx, &caller.user.user_id).await? {
        return Err(TenderError::CompanyNotActive);
    }
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() {
        return Err(Common::NotFound("tender").into());
    }
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "ask questions about",
            action_zh: "提问",
            state: tender.state,
        });
    }
    if now >= tender.clarification_cutoff_at {
        return Err(TenderError::ClarificationClosed(cst_time(
            tender.clarification_cutoff_at,
        )));
    }
    let question_id = new_id();
    // The insert carries its own guard, so a concurrent cancel or cut-off move wins cleanly.
    let n = q_exec!(
        tx,
        "insert into question (question_id, tender_id, asked_by, body, asked_at)
         select $1, $2, $3, $4, $5 where exists (
            select 1 from tender where tender_id = $2 and state = 'published'
            and clarification_cutoff_at > $5)",
        question_id.clone(),
        tender.tender_id.clone(),
        caller.user.user_id.clone(),
        body.clone(),
        to_millis(now)
    )?;
    if n == 0 {
        return Err(Common::Concurrent.into());
    }
    let actor = bidder_actor(&mut tx, caller, &tender.tender_id).await?;
    audit::append(
        &mut tx,
        now,
        &actor,
        "tender.question.ask",
        Some(&tender.tender_id),
        json!({"question_id": question_id, "body_sha256": sha256_hex(body.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    Ok(QuestionView {
        question_id,
        body,
        asked_at: now,
        answer: None,
        answered_at: None,
        mine: true,
        asked_by: None,
    })
}

/// The owning agent answers a question while the tender is published; the answer is public
/// and the asker gets a notice.
pub async fn answer_question(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    question_id: &str,
    input: &AnswerInput,
) -> Result<QuestionView, TenderError> {
    let answer = check_text("answer", &input.answer, 1, 10_000, Lines::Multi)?;
    if !is_id(question_id) {
        return Err(Common::NotFound("question").into());
    }
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "answer questions of",
            action_zh: "答复提问",
            state: tender.state,
        });
    }
    let question = q_opt!(
        tx,
        QuestionRow,
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where question_id = $1 and tender_id = $2",
        question_id.to_string(),
        tender.tender_id.clone()
    )?
    .ok_or(Common::NotFound("question"))?;
    let n = q_exec!(
        tx,
        "update question set answer = $1, answered_by = $2, answered_at = $3
         where question_id = $4 and answer is null",
        answer.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        question_id.to_string()
    )?;
    if n == 0 {
        return Err(TenderError::AlreadyAnswered);
    }
    q_exec!(
        tx,
        "insert into notice (notice_id, user_id, tender_id, kind, body, created_at)
         values ($1, $2, $3, 'answer', $4, $5)",
        new_id(),
        question.asked_by.clone(),
        tender.tender_id.clone(),
        format!(
            "您对招标项目 {} 的提问已答复 / Your question on tender {} was answered",
            tender.code, tender.code
        ),
        to_millis(now)
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.question.answer",
        Some(&tender.tender_id),
        json!({"question_id": question_id,
               "question_sha256": sha256_hex(question.body.as_bytes()),
               "answer_sha256": sha256_hex(answer.as_bytes())}),
    )
    .await?;
    tx.commit().await?;
    let mut view = question.view(None, false);
    view.answer = Some(answer);
    view.answered_at = Some(now);
    Ok(view)
}

/// The questions of a tender as `viewer` may see them: the owning agent sees all (without
/// askers, so answers cannot favour anyone); regulators and operators see all with askers;
/// a bidder sees the answered ones and their own; the public the answered ones.
pub async fn list_questions(
    db: &Db,
    viewer: Option<&SessionUser>,
    code: &str,
) -> Result<Vec<QuestionView>, TenderError> {
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() && !may_read_all(viewer, &tender) {
        return Err(Common::NotFound("tender").into());
    }
    let supervisor = viewer.is_some_and(|u| matches!(u.role, Role::Operator | Role::Regulator));
    let owner = viewer.is_some_and(|u| user_is_owner(u, tender.agent_org_id.as_deref()));
    let me = viewer.map(|u| u.user_id.as_str());
    let rows = questions_of(&mut tx, &tender.tender_id, false).await?;
    Ok(rows
        .into_iter()
        .filter(|q| supervisor || owner || q.answer.is_some() || Some(q.asked_by.as_str()) == me)
        .map(|q| q.view(me, supervisor))
        .collect())
}
