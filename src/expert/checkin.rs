//! Check-in at the evaluation (DESIGN.md "Check-in"): inside the draw's check-in window a
//! drawn and confirmed member proves presence with a passkey assertion with user
//! verification (`identity::passkey::start_assertion_for_user` / `verify_assertion`, which
//! refuse missing UV, replayed ceremonies and counter regressions — the latter with an alert
//! for the regulator). A supervisor can record an emergency check-in with a written reason.
//! The committee is ready when every confirmed member has checked in and the confirmed
//! members fill the quotas.
//!
//! The rules are the pure [`may_check_in`]; the services load what it needs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::answer::{ASSIGNMENT_COLS, AssignmentRow};
use super::error::ExpertError;
use super::pool;
use super::request::load_draw;
use super::view::{MemberView, Visibility, member_views, record_view, visibility};
use crate::audit;
use crate::clock::{cst, from_millis, to_millis};
use crate::identity::Caller;
use crate::identity::passkey::{self, Passkeys};
use crate::lifecycle::tender;
use crate::store::{Db, Tx};
use crate::{q_all, q_exec, q_opt};
use webauthn_rs::prelude::RequestChallengeResponse;

/// Where a member stands, as far as check-in cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Not drawn for this tender (or drawn as an alternate only).
    NotDrawn,
    /// Drawn, no answer yet.
    Pending,
    /// Confirmed.
    Confirmed,
    /// Declined.
    Declined,
    /// Did not answer in time.
    Expired,
}

impl Standing {
    fn of(a: Option<&AssignmentRow>) -> Standing {
        match a {
            None => Standing::NotDrawn,
            Some(a) if a.role != "member" => Standing::NotDrawn,
            Some(a) => match a.state.as_str() {
                "confirmed" => Standing::Confirmed,
                "notified" => Standing::Pending,
                "declined" => Standing::Declined,
                _ => Standing::Expired,
            },
        }
    }
}

/// The check-in rule: a confirmed member, not yet checked in, inside `[opens, closes]`
/// (ms). Checked before the passkey ceremony starts and again when it finishes.
pub fn may_check_in(
    standing: Standing,
    already: bool,
    now: i64,
    opens: i64,
    closes: i64,
) -> Result<(), ExpertError> {
    match standing {
        Standing::NotDrawn => return Err(ExpertError::NotDrawn),
        Standing::Pending => {
            return Err(ExpertError::NotConfirmed(
                "confirm your assignment before checking in / 请先确认参加评标再签到",
            ));
        }
        Standing::Declined => {
            return Err(ExpertError::NotConfirmed(
                "you declined this assignment; a replacement was drawn / 您已拒绝参加，已另行抽取",
            ));
        }
        Standing::Expired => {
            return Err(ExpertError::NotConfirmed(
                "you did not confirm in time; a replacement was drawn / 您未按时确认，已另行抽取",
            ));
        }
        Standing::Confirmed => {}
    }
    if already {
        return Err(ExpertError::AlreadyCheckedIn);
    }
    if now < opens {
        return Err(ExpertError::CheckinNotOpen(cst(opens)));
    }
    if now > closes {
        return Err(ExpertError::CheckinClosed(cst(closes)));
    }
    Ok(())
}

struct Context {
    tender_id: String,
    expert_id: String,
    assignment: Option<AssignmentRow>,
    already: bool,
    opens: i64,
    closes: i64,
}

async fn context(tx: &mut Tx, code: &str, expert_id: &str) -> Result<Context, ExpertError> {
    let tender = tender::by_code(tx, code).await?;
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 and expert_id = $2");
    let assignment = q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender.tender_id.clone(),
        expert_id.to_string()
    )?;
    let (opens, closes) = match &assignment {
        Some(a) => {
            let d = load_draw(tx, &a.draw_id).await?;
            (d.checkin_opens_at, d.checkin_closes_at)
        }
        None => (0, 0),
    };
    let already = q_opt!(
        tx,
        (String,),
        "select expert_id from expert_checkin where tender_id = $1 and expert_id = $2",
        tender.tender_id.clone(),
        expert_id.to_string()
    )?
    .is_some();
    Ok(Context {
        tender_id: tender.tender_id,
        expert_id: expert_id.to_string(),
        assignment,
        already,
        opens,
        closes,
    })
}

impl Context {
    fn check(&self, now: DateTime<Utc>) -> Result<(), ExpertError> {
        may_check_in(
            Standing::of(self.assignment.as_ref()),
            self.already,
            to_millis(now),
            self.opens,
            self.closes,
        )
    }
}

/// `POST /api/v1/tenders/{code}/checkin/finish`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishCheckin {
    /// From `checkin/start`.
    pub ceremony_id: String,
    /// What `navigator.credentials.get` returned.
    pub credential: Value,
}

/// `POST /api/v1/tenders/{code}/checkin/emergency`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmergencyCheckin {
    /// The member's anonymous number.
    pub member_no: i64,
    /// Why the passkey could not be used (5–2000 characters).
    pub reason: String,
}

/// Starts a check-in: the rules first (so a stranger gets no ceremony), then the passkey
/// assertion options and the ceremony id.
pub async fn start_checkin(
    pk: Passkeys<'_>,
    caller: &Caller,
    code: &str,
) -> Result<(String, RequestChallengeResponse), ExpertError> {
    let now = pk.now;
    let mut tx = pk.db.read().await?;
    let me = pool::expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::NotDrawn)?;
    context(&mut tx, code, &me.expert_id).await?.check(now)?;
    drop(tx);
    Ok(passkey::start_assertion_for_user(pk, &caller.user.user_id).await?)
}

/// What a check-in recorded.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CheckinRecord {
    /// When.
    pub at: DateTime<Utc>,
    /// `passkey` or `emergency`.
    pub method: String,
    /// The member number.
    pub member_no: i64,
    /// The credential used (passkey).
    pub credential_id: Option<String>,
    /// The signature counter seen (passkey).
    pub counter: Option<u32>,
    /// The audit event.
    pub audit_seq: i64,
}

/// Finishes a check-in: the assertion must verify with UV for the caller's own credential
/// (single-use ceremony, counter above the stored one), and the rules must still hold.
pub async fn finish_checkin(
    pk: Passkeys<'_>,
    caller: &Caller,
    code: &str,
    req: FinishCheckin,
) -> Result<CheckinRecord, ExpertError> {
    let credential = passkey::parse_assertion(req.credential)?;
    let verified = passkey::verify_assertion(
        pk,
        &caller.actor,
        Some(&caller.user.user_id),
        &req.ceremony_id,
        &credential,
    )
    .await?;
    if !verified.user_verified || verified.user_id != caller.user.user_id {
        return Err(ExpertError::Passkey(passkey::PasskeyError::UserNotVerified));
    }
    let now = pk.now;
    let mut tx = pk.db.begin().await?;
    let me = pool::expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::NotDrawn)?;
    let ctx = context(&mut tx, code, &me.expert_id).await?;
    ctx.check(now)?;
    let a = ctx.assignment.as_ref().ok_or(ExpertError::NotDrawn)?;
    let seq = audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "expert.checkin",
        &ctx.tender_id,
        json!({"expert_id": ctx.expert_id, "member_no": a.member_no, "draw_id": a.draw_id,
               "method": "passkey", "credential_id": verified.credential_id,
               "passkey_id": verified.passkey_id, "counter": verified.counter,
               "user_verified": verified.user_verified, "client_ip": caller.actor.client_ip,
               "user_agent": caller.user_agent}),
        audit::Stage::Award,
    )
    .await?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    q_exec!(
        tx,
        "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, credential_id, passkey_id,
             sign_count, client_ip, user_agent, recorded_by, reason, audit_seq)
         values ($1, $2, $3, 'passkey', $4, $5, $6, $7, $8, $9, null, null, $10)",
        ctx.tender_id.clone(),
        ctx.expert_id.clone(),
        a.draw_id.clone(),
        to_millis(now),
        verified.credential_id.clone(),
        verified.passkey_id.clone(),
        i64::from(verified.counter),
        caller.actor.client_ip.clone(),
        caller.user_agent.clone(),
        seq
    )?;
    tx.commit().await?;
    Ok(CheckinRecord {
        at: now,
        method: "passkey".into(),
        member_no: a.member_no,
        credential_id: Some(verified.credential_id),
        counter: Some(verified.counter),
        audit_seq: seq,
    })
}

/// The supervisor of the member's draw records an emergency check-in (the expert is present
/// but cannot use a passkey), with a written reason the regulator sees.
pub async fn emergency_checkin(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    req: &EmergencyCheckin,
) -> Result<CheckinRecord, ExpertError> {
    let reason = req.reason.trim();
    let n = reason.chars().count();
    if !(5..=2000).contains(&n) {
        return Err(ExpertError::ReasonRequired);
    }
    crate::text::check("reason", reason, crate::text::Lines::Multi)?;
    let mut tx = db.begin().await?;
    let tender = tender::by_code(&mut tx, code).await?;
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 and member_no = $2");
    let a = q_opt!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender.tender_id.clone(),
        req.member_no
    )?
    .ok_or(ExpertError::not_found("member"))?;
    let draw = load_draw(&mut tx, &a.draw_id).await?;
    if draw.supervisor_user_id != caller.user.user_id {
        return Err(ExpertError::forbidden(
            "only the supervisor of this draw may record an emergency check-in / 仅本次抽取的监督人可登记应急签到",
        ));
    }
    let ctx = context(&mut tx, code, &a.expert_id).await?;
    ctx.check(now)?;
    let seq = audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "expert.checkin.emergency",
        &tender.tender_id,
        json!({"expert_id": a.expert_id, "member_no": a.member_no, "draw_id": a.draw_id,
               "method": "emergency", "reason": reason}),
        audit::Stage::Award,
    )
    .await?;
    let seq = i64::try_from(seq).unwrap_or(i64::MAX);
    q_exec!(
        tx,
        "insert into expert_checkin (tender_id, expert_id, draw_id, method, at, credential_id, passkey_id,
             sign_count, client_ip, user_agent, recorded_by, reason, audit_seq)
         values ($1, $2, $3, 'emergency', $4, null, null, null, $5, $6, $7, $8, $9)",
        tender.tender_id.clone(),
        a.expert_id.clone(),
        a.draw_id.clone(),
        to_millis(now),
        caller.actor.client_ip.clone(),
        caller.user_agent.clone(),
        caller.user.user_id.clone(),
        reason.to_string(),
        seq
    )?;
    tx.commit().await?;
    Ok(CheckinRecord {
        at: now,
        method: "emergency".into(),
        member_no: a.member_no,
        credential_id: None,
        counter: None,
        audit_seq: seq,
    })
}

/// Whether the committee of a tender is complete: the confirmed members fill every quota of
/// the initial draw and each of them has checked in. The evaluation may start only then.
pub async fn committee_ready(tx: &mut Tx, tender_id: &str) -> Result<bool, ExpertError> {
    let (required, confirmed, checked) = committee_counts(tx, tender_id).await?;
    Ok(required > 0 && confirmed >= required && checked >= confirmed)
}

async fn committee_counts(tx: &mut Tx, tender_id: &str) -> Result<(i64, i64, i64), ExpertError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select request_json from expert_draw where tender_id = $1 and kind = 'initial' and state = 'drawn'",
        tender_id.to_string()
    )?;
    let mut required = 0i64;
    for (json_text,) in rows {
        let r: super::DrawRequest =
            serde_json::from_str(&json_text).map_err(|e| ExpertError::corrupt(e.to_string()))?;
        required += r.quotas.iter().map(|q| i64::from(q.count)).sum::<i64>();
    }
    let (confirmed, checked): (i64, i64) = crate::q_one!(
        tx,
        (i64, i64),
        "select count(*),
                coalesce(sum(case when exists (select 1 from expert_checkin c
                    where c.tender_id = a.tender_id and c.expert_id = a.expert_id) then 1 else 0 end), 0)
         from expert_assignment a where a.tender_id = $1 and a.role = 'member' and a.state = 'confirmed'",
        tender_id.to_string()
    )?;
    Ok((required, confirmed, checked))
}

/// The committee of a tender as the caller may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CommitteeView {
    /// Tender code.
    pub tender_code: String,
    /// Members the quotas ask for.
    pub required: i64,
    /// Confirmed members.
    pub confirmed: i64,
    /// Confirmed members checked in.
    pub checked_in: i64,
    /// Ready to evaluate.
    pub ready: bool,
    /// Everyone drawn (names for regulators only).
    pub members: Vec<MemberView>,
    /// Emergency check-ins with reasons (regulators only).
    pub emergency: Vec<Value>,
}

/// The committee status (agent: numbers; regulators: names and emergency reasons). The look
/// is audited.
pub async fn committee(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<CommitteeView, ExpertError> {
    let mut tx = db.begin().await?;
    let tender = tender::by_code(&mut tx, code).await?;
    let vis = visibility(caller, &tender)?;
    let (required, confirmed, checked_in) = committee_counts(&mut tx, &tender.tender_id).await?;
    let members = member_views(&mut tx, &tender.tender_id, None, vis).await?;
    let emergency = if vis == Visibility::Names {
        let rows: Vec<(String, Option<String>, Option<String>, i64)> = q_all!(
            tx,
            (String, Option<String>, Option<String>, i64),
            "select expert_id, recorded_by, reason, at from expert_checkin where tender_id = $1 and method = 'emergency'",
            tender.tender_id.clone()
        )?;
        rows.into_iter()
            .map(|(e, by, reason, at)| {
                json!({"expert_id": e, "recorded_by": by, "reason": reason, "at": from_millis(at)})
            })
            .collect()
    } else {
        vec![]
    };
    record_view(
        &mut tx,
        now,
        caller,
        &tender.tender_id,
        json!({"committee": tender.code}),
        vis,
    )
    .await?;
    tx.commit().await?;
    Ok(CommitteeView {
        tender_code: tender.code,
        required,
        confirmed,
        checked_in,
        ready: required > 0 && confirmed >= required && checked_in >= confirmed,
        members,
        emergency,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_confirmed_members_inside_the_window() {
        let (o, c) = (1_000, 2_000);
        assert!(may_check_in(Standing::Confirmed, false, 1_500, o, c).is_ok());
        assert!(may_check_in(Standing::Confirmed, false, o, o, c).is_ok());
        assert!(may_check_in(Standing::Confirmed, false, c, o, c).is_ok());
        assert!(matches!(
            may_check_in(Standing::NotDrawn, false, 1_500, o, c),
            Err(ExpertError::NotDrawn)
        ));
        assert!(matches!(
            may_check_in(Standing::Declined, false, 1_500, o, c),
            Err(ExpertError::NotConfirmed(_))
        ));
        assert!(matches!(
            may_check_in(Standing::Expired, false, 1_500, o, c),
            Err(ExpertError::NotConfirmed(_))
        ));
        assert!(matches!(
            may_check_in(Standing::Pending, false, 1_500, o, c),
            Err(ExpertError::NotConfirmed(_))
        ));
        assert!(matches!(
            may_check_in(Standing::Confirmed, true, 1_500, o, c),
            Err(ExpertError::AlreadyCheckedIn)
        ));
        assert!(matches!(
            may_check_in(Standing::Confirmed, false, 999, o, c),
            Err(ExpertError::CheckinNotOpen(_))
        ));
        assert!(matches!(
            may_check_in(Standing::Confirmed, false, 2_001, o, c),
            Err(ExpertError::CheckinClosed(_))
        ));
    }
}
