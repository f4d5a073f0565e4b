//! A drawn member's answer (confirm or decline), the replacement draw a decline or a missed
//! answer commits (条例 第46条), and the `draw_confirm_timeout` job that expires answers.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::eligibility::Quota;
use super::error::ExpertError;
use super::pool;
use super::request::{NewDraw, commit_draw, drawn_experts, load_draw};
use crate::audit::{self, Actor};
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::Caller;
use crate::ids::{is_id, new_id};
use crate::lifecycle::tender;
use crate::store::{Db, StoreError, Tx};
use crate::{q_all, q_exec, q_opt};

/// The job kind that expires unanswered confirmations.
pub const CONFIRM_JOB: &str = "draw_confirm_timeout";

/// Makes sure a `draw_confirm_timeout` job runs for the tender no later than `run_at`.
/// (The job table holds one job per kind and tender; the job reschedules itself while
/// answers are outstanding.)
pub(crate) async fn schedule_confirm_job(
    tx: &mut Tx,
    tender_id: &str,
    run_at: i64,
) -> Result<(), ExpertError> {
    q_exec!(
        tx,
        "insert into job (job_id, kind, tender_id, run_at, state, attempts) values ($1, $2, $3, $4, 'pending', 0)
         on conflict (kind, tender_id) do update set
             run_at = case when job.state = 'pending' and job.run_at < excluded.run_at then job.run_at else excluded.run_at end,
             state = 'pending', done_at = null",
        new_id(),
        CONFIRM_JOB.to_string(),
        tender_id.to_string(),
        run_at
    )?;
    Ok(())
}

// ---- confirmation, decline, replacement ---------------------------------------------------

/// `POST …/decline`.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineInput {
    /// Why (optional, kept for the regulator).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct AssignmentRow {
    pub draw_id: String,
    pub expert_id: String,
    pub tender_id: String,
    pub specialty: String,
    pub member_no: i64,
    pub role: String,
    pub state: String,
    pub respond_by: Option<i64>,
    pub responded_at: Option<i64>,
    pub decline_reason: Option<String>,
}

pub(crate) const ASSIGNMENT_COLS: &str = "select draw_id, expert_id, tender_id, specialty, member_no, role, state, respond_by, responded_at, decline_reason from expert_assignment";

/// A drawn expert confirms (true) or declines (false) their assignment from `draw_id`.
/// A decline commits a replacement draw at once (step 1 of the same procedure).
pub async fn respond(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
    accept: bool,
    reason: Option<&str>,
) -> Result<(), ExpertError> {
    let reason = reason
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(2000).collect::<String>());
    if let Some(r) = &reason {
        crate::text::check("reason", r, crate::text::Lines::Multi)?;
    }
    let mut tx = db.begin().await?;
    let me = pool::expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::not_found("assignment"))?;
    if !is_id(draw_id) {
        return Err(ExpertError::not_found("assignment"));
    }
    let sql = format!("{ASSIGNMENT_COLS} where draw_id = $1 and expert_id = $2");
    let a = q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        draw_id.to_string(),
        me.expert_id.clone()
    )?
    .ok_or(ExpertError::not_found("assignment"))?;
    if a.state != "notified" {
        return Err(ExpertError::AssignmentState);
    }
    if a.respond_by.is_some_and(|by| to_millis(now) > by) {
        return Err(ExpertError::ResponseWindowClosed);
    }
    let target = if accept { "confirmed" } else { "declined" };
    let n = q_exec!(
        tx,
        "update expert_assignment set state = $1, responded_at = $2, decline_reason = $3
         where draw_id = $4 and expert_id = $5 and state = 'notified'",
        target.to_string(),
        to_millis(now),
        if accept { None } else { reason.clone() },
        draw_id.to_string(),
        me.expert_id.clone()
    )?;
    if n == 0 {
        return Err(ExpertError::AssignmentState);
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        if accept {
            "expert.assignment.confirm"
        } else {
            "expert.assignment.decline"
        },
        &a.tender_id,
        json!({"draw_id": draw_id, "expert_id": me.expert_id, "member_no": a.member_no,
               "reason": if accept { None } else { reason }}),
        audit::Stage::Award,
    )
    .await?;
    if !accept {
        // The replacement's commitment is public at once; were it the declining expert's
        // act (their id, their address), it would publish who was drawn (招标投标法
        // 第37条). The platform commits it, as the consequence of the withheld decline.
        replace_member(&mut tx, now, &Actor::system(), &a).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Commits the replacement draw for a member who declined or did not answer (条例 第46条:
/// drawn the same way): one quota of one member, everyone drawn so far excluded. The
/// evaluation also calls it for a member who withdraws (`evaluation::replacement`).
pub(crate) async fn replace_member(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    a: &AssignmentRow,
) -> Result<String, ExpertError> {
    let parent = load_draw(tx, &a.draw_id).await?;
    let tender = tender::by_id(tx, &a.tender_id).await?;
    let drawn = drawn_experts(tx, &a.tender_id).await?;
    let request = parent.request()?.replacement(
        Quota {
            specialty: a.specialty.clone(),
            count: 1,
            alternates: 0,
        },
        &drawn,
    );
    commit_draw(
        tx,
        now,
        actor,
        NewDraw {
            tender: &tender,
            kind: "replacement",
            parent_draw_id: Some(parent.draw_id.clone()),
            replaces: Some((a.expert_id.clone(), a.member_no)),
            requested_by: parent.requested_by.clone(),
            supervisor_user_id: parent.supervisor_user_id.clone(),
            request,
            evaluation_at: parent.evaluation_at,
            evaluation_place: parent.evaluation_place.clone(),
            checkin_opens_at: parent.checkin_opens_at,
            checkin_closes_at: parent.checkin_closes_at,
            confirm_minutes: parent.confirm_minutes,
        },
    )
    .await
}

/// The `draw_confirm_timeout` job: members who did not answer in time are marked expired
/// and a replacement draw is committed for each, in one transaction; the job reschedules
/// itself for the next outstanding answer. True when something expired.
///
/// Dispatch from `tender::jobs::perform`:
/// `("draw_confirm_timeout", Some(t)) => Ok(crate::expert::service::confirm_timeout_job(db, now, &job.job_id, t).await?),`
pub async fn confirm_timeout_job(
    db: &Db,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<bool, StoreError> {
    expire_unanswered(db, now, job_id, tender_id)
        .await
        .map_err(|e| match e {
            ExpertError::Common(Common::Store(s)) => s,
            other => StoreError::Sql(sqlx::Error::Protocol(format!("confirm timeout: {other}"))),
        })
}

async fn expire_unanswered(
    db: &Db,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<bool, ExpertError> {
    let mut tx = db.begin().await?;
    let sql = format!(
        "{ASSIGNMENT_COLS} where tender_id = $1 and state = 'notified' and respond_by <= $2 order by member_no"
    );
    let due = q_all!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string(),
        to_millis(now)
    )?;
    let mut expired = 0;
    for a in &due {
        let n = q_exec!(
            tx,
            "update expert_assignment set state = 'expired', responded_at = $1
             where draw_id = $2 and expert_id = $3 and state = 'notified'",
            to_millis(now),
            a.draw_id.clone(),
            a.expert_id.clone()
        )?;
        if n == 0 {
            continue;
        }
        expired += 1;
        audit::append_withheld_until(
            &mut tx,
            now,
            &Actor::system(),
            "expert.assignment.expire",
            tender_id,
            json!({"draw_id": a.draw_id, "expert_id": a.expert_id, "member_no": a.member_no}),
            audit::Stage::Award,
        )
        .await?;
        replace_member(&mut tx, now, &Actor::system(), a).await?;
    }
    let next: Option<(i64,)> = q_opt!(
        tx,
        (i64,),
        "select min(respond_by) from expert_assignment where tender_id = $1 and state = 'notified' having min(respond_by) is not null",
        tender_id.to_string()
    )?;
    match next {
        Some((at,)) => {
            q_exec!(
                tx,
                "update job set run_at = $1, locked_until = null, state = 'pending', done_at = null where job_id = $2",
                at,
                job_id.to_string()
            )?;
        }
        None => {
            q_exec!(
                tx,
                "update job set state = 'done', done_at = $1, locked_until = null where job_id = $2 and state = 'pending'",
                to_millis(now),
                job_id.to_string()
            )?;
        }
    }
    tx.commit().await?;
    Ok(expired > 0)
}

// ---- views --------------------------------------------------------------------------------
