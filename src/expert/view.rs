//! What a viewer may see of a tender's draws and of their own assignments. The member list
//! is secret until the award (招标投标法 第37条): regulators see names, the tender's agent
//! and operators anonymous numbers, and every look is an audit event.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use super::answer::{ASSIGNMENT_COLS, AssignmentRow};
use super::eligibility::RegionRestriction;
use super::error::ExpertError;
use super::pool;
use super::request::{DrawRow, draws_of, load_draw};
use crate::audit;
use crate::clock::from_millis;
use crate::identity::{Caller, Role};
use crate::lifecycle::tender::{self, Facts, is_owner};
use crate::store::{Db, Tx};
use crate::{q_all, q_opt};

/// What the viewer may see of the members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Anonymous member numbers and counts (the agent, operators).
    Numbers,
    /// Names and ids (regulators; everyone once revealed).
    Names,
}

/// One member or alternate of a draw.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberView {
    /// Anonymous number within the tender.
    pub member_no: i64,
    /// The draw that drew them.
    pub draw_id: String,
    /// Specialty code of the quota.
    pub specialty: String,
    /// `member` or `alternate`.
    pub role: String,
    /// `notified`, `confirmed`, `declined`, `expired`, `alternate`.
    pub state: String,
    /// Answer due.
    pub respond_by: Option<DateTime<Utc>>,
    /// Answered (or expired) at.
    pub responded_at: Option<DateTime<Utc>>,
    /// Checked in (and how: passkey / emergency).
    pub checkin: Option<String>,
    /// Expert id (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expert_id: Option<String>,
    /// Name (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Decline reason (names visible only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decline_reason: Option<String>,
}

/// A quota as requested and, once drawn, its public counts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct QuotaView {
    /// Specialty code.
    pub specialty: String,
    /// Members.
    pub count: u32,
    /// Alternates.
    pub alternates: u32,
    /// Eligible pool size (after the draw).
    pub eligible: Option<u64>,
    /// Pool hash, hex (after the draw).
    pub pool_hash: Option<String>,
}

/// A draw as one viewer may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DrawView {
    /// Id.
    pub draw_id: String,
    /// Tender id.
    pub tender_id: String,
    /// Tender code.
    pub tender_code: String,
    /// `initial` or `replacement`.
    pub kind: String,
    /// `committed`, `drawn`, `failed`.
    pub state: String,
    /// For a replacement: the draw and the member number replaced.
    pub parent_draw_id: Option<String>,
    /// The member number replaced.
    pub replaces_member_no: Option<i64>,
    /// When the draw was performed.
    pub drawn_at: Option<DateTime<Utc>>,
    /// SHA-256(secret), hex.
    pub commitment: String,
    /// Audit seq of the commitment.
    pub commit_seq: i64,
    /// Supervisor (user id).
    pub supervisor_user_id: String,
    /// The supervisor's input, once entered (public).
    pub supervisor_input: Option<String>,
    /// Audit seq of the input.
    pub input_seq: Option<i64>,
    /// Audit root after the input, hex.
    pub audit_root: Option<String>,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Check-in window.
    pub checkin_opens_at: DateTime<Utc>,
    /// Check-in window end.
    pub checkin_closes_at: DateTime<Utc>,
    /// Region restriction and reason.
    pub region: Option<RegionRestriction>,
    /// Quotas.
    pub quotas: Vec<QuotaView>,
    /// Members and alternates.
    pub members: Vec<MemberView>,
    /// Why it failed.
    pub failure: Option<String>,
    /// Whether names are shown.
    pub names_visible: bool,
    /// Whether the secret was revealed (after the award).
    pub revealed: bool,
}

impl DrawView {
    /// Whether the viewer is the supervisor and the draw waits for their input.
    pub fn is_supervisor_pending(&self, is_supervisor: &bool) -> bool {
        *is_supervisor && self.state == "committed"
    }

    /// Members with role member.
    pub fn member_count(&self) -> usize {
        self.members.iter().filter(|m| m.role == "member").count()
    }

    /// Confirmed members.
    pub fn confirmed_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.state == "confirmed")
            .count()
    }
}

async fn checkins_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<BTreeMap<String, String>, ExpertError> {
    let rows: Vec<(String, String)> = q_all!(
        tx,
        (String, String),
        "select expert_id, method from expert_checkin where tender_id = $1",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().collect())
}

pub(crate) async fn member_views(
    tx: &mut Tx,
    tender_id: &str,
    draw_id: Option<&str>,
    vis: Visibility,
) -> Result<Vec<MemberView>, ExpertError> {
    let sql = format!("{ASSIGNMENT_COLS} where tender_id = $1 order by member_no");
    let rows = q_all!(
        tx,
        AssignmentRow,
        sqlx::AssertSqlSafe(sql),
        tender_id.to_string()
    )?;
    let checkins = checkins_of(tx, tender_id).await?;
    let mut out = Vec::new();
    for a in rows {
        if draw_id.is_some_and(|d| d != a.draw_id) {
            continue;
        }
        let names = vis == Visibility::Names;
        let name = if names {
            Some(pool::load(tx, &a.expert_id).await?.name)
        } else {
            None
        };
        out.push(MemberView {
            member_no: a.member_no,
            draw_id: a.draw_id,
            specialty: a.specialty,
            role: a.role,
            state: a.state,
            respond_by: a.respond_by.map(from_millis),
            responded_at: a.responded_at.map(from_millis),
            checkin: checkins.get(&a.expert_id).cloned(),
            expert_id: names.then(|| a.expert_id.clone()),
            name,
            decline_reason: if names { a.decline_reason } else { None },
        });
    }
    Ok(out)
}

pub(crate) async fn build_view(
    tx: &mut Tx,
    tender: &Facts,
    row: &DrawRow,
    vis: Visibility,
) -> Result<DrawView, ExpertError> {
    let revealed = row.reveal_seq.is_some();
    let vis = if revealed { Visibility::Names } else { vis };
    let request = row.request()?;
    let result = row.result()?;
    let quotas = request
        .quotas
        .iter()
        .map(|q| {
            let drawn = result
                .as_ref()
                .and_then(|r| r.quotas.iter().find(|x| x.specialty == q.specialty));
            QuotaView {
                specialty: q.specialty.clone(),
                count: q.count,
                alternates: q.alternates,
                eligible: drawn.map(|d| d.eligible),
                pool_hash: drawn.map(|d| hex::encode(d.pool_hash)),
            }
        })
        .collect();
    let replaces_member_no = match &row.replaces_expert_id {
        Some(e) => q_opt!(
            tx,
            (i64,),
            "select member_no from expert_assignment where tender_id = $1 and expert_id = $2",
            row.tender_id.clone(),
            e.clone()
        )?
        .map(|(n,)| n),
        None => None,
    };
    Ok(DrawView {
        draw_id: row.draw_id.clone(),
        tender_id: row.tender_id.clone(),
        tender_code: tender.code.clone(),
        kind: row.kind.clone(),
        state: row.state.clone(),
        parent_draw_id: row.parent_draw_id.clone(),
        replaces_member_no,
        drawn_at: row.drawn_at.map(from_millis),
        commitment: row.commitment_hex.clone(),
        commit_seq: row.commit_seq,
        supervisor_user_id: row.supervisor_user_id.clone(),
        supervisor_input: row
            .supervisor_input
            .clone()
            .filter(|_| row.input_seq.is_some()),
        input_seq: row.input_seq,
        audit_root: row.audit_root_hex.clone(),
        evaluation_at: from_millis(row.evaluation_at),
        evaluation_place: row.evaluation_place.clone(),
        checkin_opens_at: from_millis(row.checkin_opens_at),
        checkin_closes_at: from_millis(row.checkin_closes_at),
        region: request.region.clone(),
        quotas,
        members: member_views(tx, &row.tender_id, Some(&row.draw_id), vis).await?,
        failure: row.failure.clone(),
        names_visible: vis == Visibility::Names,
        revealed,
    })
}

/// Who may look at a tender's draws, and what they see: regulators (the supervisor among
/// them) see names; the tender's agent and operators see member numbers; nobody else.
pub(crate) fn visibility(caller: &Caller, tender: &Facts) -> Result<Visibility, ExpertError> {
    match caller.user.role {
        Role::Regulator => Ok(Visibility::Names),
        Role::Operator => Ok(Visibility::Numbers),
        Role::Agent if is_owner(caller, tender.agent_org_id.as_deref()) => Ok(Visibility::Numbers),
        _ => Err(ExpertError::not_found("draw")),
    }
}

/// Records that `caller` looked at a member list (法 第37条: the list is secret; every look
/// is on the record).
pub(crate) async fn record_view(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender_id: &str,
    what: Value,
    vis: Visibility,
) -> Result<(), ExpertError> {
    // Public until the award, the look would tell who holds the list (a drawn member).
    audit::append_withheld_until(
        tx,
        now,
        &caller.actor,
        "expert.draw.view",
        tender_id,
        json!({"what": what, "names": vis == Visibility::Names}),
        audit::Stage::Award,
    )
    .await?;
    Ok(())
}

/// One draw as the caller may see it; the look is an audit event.
pub async fn view_draw(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    draw_id: &str,
) -> Result<DrawView, ExpertError> {
    let mut tx = db.begin().await?;
    let row = load_draw(&mut tx, draw_id).await?;
    let tender = tender::by_id(&mut tx, &row.tender_id).await?;
    let vis = visibility(caller, &tender)?;
    let view = build_view(&mut tx, &tender, &row, vis).await?;
    record_view(
        &mut tx,
        now,
        caller,
        &row.tender_id,
        json!({"draw_id": draw_id}),
        vis,
    )
    .await?;
    tx.commit().await?;
    Ok(view)
}

/// Every draw of a tender as the caller may see them; the look is one audit event.
pub async fn list_draws(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Vec<DrawView>, ExpertError> {
    let mut tx = db.begin().await?;
    let tender = tender::by_code(&mut tx, code).await?;
    let vis = visibility(caller, &tender)?;
    let mut out = Vec::new();
    for row in draws_of(&mut tx, &tender.tender_id).await? {
        out.push(build_view(&mut tx, &tender, &row, vis).await?);
    }
    record_view(
        &mut tx,
        now,
        caller,
        &tender.tender_id,
        json!({"tender_draws": tender.code}),
        vis,
    )
    .await?;
    tx.commit().await?;
    Ok(out)
}

/// An expert's own assignment.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MyAssignment {
    /// The draw.
    pub draw_id: String,
    /// Tender code.
    pub tender_code: String,
    /// Member number.
    pub member_no: i64,
    /// Specialty.
    pub specialty: String,
    /// `member` / `alternate`.
    pub role: String,
    /// State.
    pub state: String,
    /// Answer due.
    pub respond_by: Option<DateTime<Utc>>,
    /// Evaluation start.
    pub evaluation_at: DateTime<Utc>,
    /// Place.
    pub evaluation_place: String,
    /// Check-in window.
    pub checkin_opens_at: DateTime<Utc>,
    /// Check-in window end.
    pub checkin_closes_at: DateTime<Utc>,
    /// Checked in already.
    pub checked_in: bool,
}

/// The caller's own assignments (an expert sees their own draw only); the look is audited.
pub async fn my_assignments(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
) -> Result<Vec<MyAssignment>, ExpertError> {
    let mut tx = db.begin().await?;
    let Some(me) = pool::expert_of_user(&mut tx, &caller.user.user_id).await? else {
        return Ok(vec![]);
    };
    #[derive(sqlx::FromRow)]
    struct Row {
        draw_id: String,
        code: String,
        member_no: i64,
        specialty: String,
        role: String,
        state: String,
        respond_by: Option<i64>,
        evaluation_at: i64,
        evaluation_place: String,
        checkin_opens_at: i64,
        checkin_closes_at: i64,
        checked: i64,
        tender_id: String,
    }
    let rows = q_all!(
        tx,
        Row,
        "select a.draw_id, t.code, a.member_no, a.specialty, a.role, a.state, a.respond_by,
                d.evaluation_at, d.evaluation_place, d.checkin_opens_at, d.checkin_closes_at,
                (select count(*) from expert_checkin c where c.tender_id = a.tender_id and c.expert_id = a.expert_id) as checked,
                a.tender_id
         from expert_assignment a
         join expert_draw d on d.draw_id = a.draw_id
         join tender t on t.tender_id = a.tender_id
         where a.expert_id = $1 order by d.evaluation_at desc",
        me.expert_id.clone()
    )?;
    for r in &rows {
        record_view(
            &mut tx,
            now,
            caller,
            &r.tender_id,
            json!({"own_assignment": r.draw_id}),
            Visibility::Numbers,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|r| MyAssignment {
            draw_id: r.draw_id,
            tender_code: r.code,
            member_no: r.member_no,
            specialty: r.specialty,
            role: r.role,
            state: r.state,
            respond_by: r.respond_by.map(from_millis),
            evaluation_at: from_millis(r.evaluation_at),
            evaluation_place: r.evaluation_place,
            checkin_opens_at: from_millis(r.checkin_opens_at),
            checkin_closes_at: from_millis(r.checkin_closes_at),
            checked_in: r.checked > 0,
        })
        .collect())
}

// ---- reveal and the public record ---------------------------------------------------------
