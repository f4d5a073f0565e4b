//! Changes to the pool: adding and editing experts (operators), their status (suspend, bar,
//! reinstate), and an expert's own region, unavailable dates and conflicts.

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use serde_json::json;

use super::*;
use crate::audit;
use crate::clock::to_millis;
use crate::identity::Caller;
use crate::ids::{is_id, new_id};
use crate::store::{Db, Tx};
use crate::{q_exec, q_opt};

// ---- database checks ----------------------------------------------------------------

async fn org_exists(tx: &mut Tx, org_id: &str) -> Result<bool, ExpertError> {
    if !is_id(org_id) {
        return Ok(false);
    }
    Ok(q_opt!(
        tx,
        (String,),
        "select org_id from organisation where org_id = $1",
        org_id.to_string()
    )?
    .is_some())
}

/// Organisation ids and the expert's login must exist; the login must be an expert's and
/// not linked to another expert.
pub(super) async fn check_refs(
    tx: &mut Tx,
    p: &Profile,
    this_expert: Option<&str>,
) -> Result<(), ExpertError> {
    if let Some(org) = &p.employer_org_id
        && !org_exists(tx, org).await?
    {
        return Err(ExpertError::UnknownOrg(org.chars().take(60).collect()));
    }
    for c in &p.conflicts {
        if !org_exists(tx, &c.org_id).await? {
            return Err(ExpertError::UnknownOrg(c.org_id.chars().take(60).collect()));
        }
    }
    if let Some(user) = &p.user_id {
        if !is_id(user) {
            return Err(ExpertError::BadExpertUser);
        }
        let role: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select role from app_user where user_id = $1",
            user.clone()
        )?;
        if role.is_none_or(|(r,)| r != "expert") {
            return Err(ExpertError::BadExpertUser);
        }
        let linked: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select expert_id from expert where user_id = $1",
            user.clone()
        )?;
        if linked.is_some_and(|(id,)| Some(id.as_str()) != this_expert) {
            return Err(ExpertError::UserAlreadyLinked);
        }
    }
    Ok(())
}

fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "[]".into())
}

pub(super) async fn insert(
    tx: &mut Tx,
    now: DateTime<Utc>,
    p: &Profile,
) -> Result<String, ExpertError> {
    let id = new_id();
    q_exec!(
        tx,
        "insert into expert (expert_id, user_id, name, specialties, region, employer_org_id, title,
             years_of_practice, birth_year, status, status_reason, penalised, unavailable, conflicts,
             created_at, updated_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', null, $10, $11, $12, $13, $13)",
        id.clone(),
        p.user_id.clone(),
        p.name.clone(),
        json_text(&p.specialties),
        p.region.clone(),
        p.employer_org_id.clone(),
        title_str(p.title).to_string(),
        i64::from(p.years_of_practice),
        i64::from(p.birth_year),
        i64::from(p.penalised),
        json_text(&p.unavailable),
        json_text(&p.conflicts),
        to_millis(now)
    )?;
    Ok(id)
}

pub(super) fn ensure_operator(caller: &Caller) -> Result<(), ExpertError> {
    if caller.user.role == crate::identity::Role::Operator {
        Ok(())
    } else {
        Err(ExpertError::forbidden(
            "only operators manage the expert pool / 仅平台运营人员可管理专家库",
        ))
    }
}

// ---- operations ---------------------------------------------------------------------

/// Adds an expert (operator).
pub async fn add_expert(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &ExpertInput,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let p = validate(input, now.year())?;
    let mut tx = db.begin().await?;
    check_refs(&mut tx, &p, None).await?;
    let id = insert(&mut tx, now, &p).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.add",
        None,
        json!({"expert_id": id, "profile_sha256": profile_digest(&p), "source": "api"}),
    )
    .await?;
    let view = load(&mut tx, &id).await?;
    tx.commit().await?;
    Ok(view)
}

/// Replaces an expert's profile (operator). Status is changed only by suspend/bar/reinstate.
pub async fn edit_expert(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    expert_id: &str,
    input: &ExpertInput,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let p = validate(input, now.year())?;
    let mut tx = db.begin().await?;
    load(&mut tx, expert_id).await?;
    check_refs(&mut tx, &p, Some(expert_id)).await?;
    q_exec!(
        tx,
        "update expert set user_id = $1, name = $2, specialties = $3, region = $4, employer_org_id = $5,
             title = $6, years_of_practice = $7, birth_year = $8, penalised = $9, unavailable = $10,
             conflicts = $11, updated_at = $12
         where expert_id = $13",
        p.user_id.clone(),
        p.name.clone(),
        json_text(&p.specialties),
        p.region.clone(),
        p.employer_org_id.clone(),
        title_str(p.title).to_string(),
        i64::from(p.years_of_practice),
        i64::from(p.birth_year),
        i64::from(p.penalised),
        json_text(&p.unavailable),
        json_text(&p.conflicts),
        to_millis(now),
        expert_id.to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.edit",
        None,
        json!({"expert_id": expert_id, "profile_sha256": profile_digest(&p)}),
    )
    .await?;
    let view = load(&mut tx, expert_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// A status change an operator may make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusChange {
    /// active → suspended.
    Suspend,
    /// active or suspended → barred (final: 清退).
    Bar,
    /// suspended → active.
    Reinstate,
}

impl StatusChange {
    fn target(self) -> &'static str {
        match self {
            StatusChange::Suspend => "suspended",
            StatusChange::Bar => "barred",
            StatusChange::Reinstate => "active",
        }
    }

    fn allowed_from(self) -> &'static [&'static str] {
        match self {
            StatusChange::Suspend => &["active"],
            StatusChange::Bar => &["active", "suspended"],
            StatusChange::Reinstate => &["suspended"],
        }
    }

    fn action(self) -> &'static str {
        match self {
            StatusChange::Suspend => "expert.suspend",
            StatusChange::Bar => "expert.bar",
            StatusChange::Reinstate => "expert.reinstate",
        }
    }
}

/// Suspends, bars or reinstates an expert (operator), with a reason.
pub async fn change_status(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    expert_id: &str,
    change: StatusChange,
    reason: &str,
) -> Result<ExpertView, ExpertError> {
    ensure_operator(caller)?;
    let reason = match check_text("reason", reason, 2000) {
        Err(ExpertError::Invalid { .. }) => return Err(ExpertError::ReasonRequired),
        other => other?,
    };
    let mut tx = db.begin().await?;
    let current = load(&mut tx, expert_id).await?;
    if !change.allowed_from().contains(&current.status_str()) {
        return Err(ExpertError::WrongStatus {
            status: current.status_str(),
            target: change.target(),
        });
    }
    q_exec!(
        tx,
        "update expert set status = $1, status_reason = $2, updated_at = $3 where expert_id = $4 and status = $5",
        change.target().to_string(),
        reason.clone(),
        to_millis(now),
        expert_id.to_string(),
        current.status_str().to_string()
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        change.action(),
        None,
        json!({"expert_id": expert_id, "from": current.status_str(), "to": change.target(),
               "reason": reason}),
    )
    .await?;
    let view = load(&mut tx, expert_id).await?;
    tx.commit().await?;
    Ok(view)
}

/// An expert keeps their own region, unavailable dates and declared conflicts.
pub async fn edit_own_profile(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    edit: &SelfEdit,
) -> Result<ExpertView, ExpertError> {
    if caller.user.role != crate::identity::Role::Expert {
        return Err(ExpertError::forbidden(
            "only experts keep their own profile / 仅专家本人可维护个人信息",
        ));
    }
    let mut tx = db.begin().await?;
    let current = expert_of_user(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(ExpertError::not_found("expert profile"))?;
    let region = match &edit.region {
        Some(r) => check_region(r)?,
        None => current.region.clone(),
    };
    let unavailable = match &edit.unavailable {
        Some(d) => parse_dates(d)?,
        None => current.unavailable.clone(),
    };
    let conflicts = match &edit.conflicts {
        Some(c) => check_conflicts(c)?,
        None => current.conflicts.clone(),
    };
    for c in &conflicts {
        if !org_exists(&mut tx, &c.org_id).await? {
            return Err(ExpertError::UnknownOrg(c.org_id.chars().take(60).collect()));
        }
    }
    q_exec!(
        tx,
        "update expert set region = $1, unavailable = $2, conflicts = $3, updated_at = $4 where expert_id = $5",
        region.clone(),
        json_text(&unavailable),
        json_text(&conflicts),
        to_millis(now),
        current.expert_id.clone()
    )?;
    let digest = crate::store::blob::sha256_hex(
        serde_json_canonicalizer::to_string(&json!({
            "region": region, "unavailable": unavailable, "conflicts": conflicts
        }))
        .unwrap_or_default()
        .as_bytes(),
    );
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "expert.self_edit",
        None,
        json!({"expert_id": current.expert_id, "fields_sha256": digest}),
    )
    .await?;
    let view = load(&mut tx, &current.expert_id).await?;
    tx.commit().await?;
    Ok(view)
}
