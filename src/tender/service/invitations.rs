//! Invited tendering (邀请招标): the owning agent names the bidder companies invited while
//! the tender is a draft; publication needs at least the rulebook's number of invitees
//! (招标投标法 第17条 / 政府采购法 第34条: three or more), and only invitees may obtain the
//! documents and bid (`lifecycle::tender::may_take_part`).
//!
//! Who is invited is confidential until the opening, like who obtained the documents
//! (招标投标法 第22条: the tenderer must not disclose the names or number of potential
//! bidders): the list is one audit event withheld until the opening — one event whatever
//! the number, so not even the count shows — and only the owning agent, regulators and the
//! operator read it; a bidder learns only whether its own company is invited.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::common::find_tender;
use super::{Caller, TenderError, ensure_owner};
use crate::audit::{self, Stage};
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::Role;
use crate::store::Db;
use crate::tender::model::TenderState;
use crate::tender::rulebook::Rulebooks;
use crate::{q_all, q_exec, q_opt};

/// Most companies one tender may invite.
const MAX_INVITEES: usize = 500;

/// Body of `PUT …/invitations`: the whole list of companies invited.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationInput {
    /// Organisation ids of active bidder companies.
    pub org_ids: Vec<String>,
}

/// One company invited.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invitee {
    /// Organisation id.
    pub org_id: String,
    /// Company name.
    pub name: String,
}

/// The invitation list of a tender, for those who may read it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitations {
    /// The companies invited, by name.
    pub invitees: Vec<Invitee>,
    /// The rulebook's minimum.
    pub min: u32,
    /// The article that sets it.
    pub article: String,
}

/// Whether the caller's company is invited (all a bidder may learn).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MyInvitation {
    /// True when the tender is invited tendering and the company is on the list, or when
    /// the tender is open to all.
    pub may_take_part: bool,
}

async fn load(tx: &mut crate::store::Tx, tender_id: &str) -> Result<Vec<Invitee>, TenderError> {
    Ok(q_all!(
        tx,
        Invitee,
        "select i.org_id, o.name from tender_invitation i
         join organisation o on o.org_id = i.org_id
         where i.tender_id = $1 order by o.name, i.org_id",
        tender_id.to_owned()
    )?)
}

fn minimum(books: &Rulebooks, category: &str) -> Result<(u32, String), TenderError> {
    books
        .get(category, "invited")
        .and_then(|b| b.rules.invitees_min.as_ref())
        .map(|r| (r.value, r.article.clone()))
        .ok_or_else(|| TenderError::UnknownRulebook {
            category: category.to_owned(),
            procedure: "invited".to_owned(),
        })
}

/// The owning agent replaces the invitation list of an invited draft.
pub async fn set_invitations(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &InvitationInput,
) -> Result<Invitations, TenderError> {
    let books = books.fresh(db).await?;
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.procedure != "invited" {
        return Err(TenderError::NotInvitedTendering);
    }
    if tender.state != TenderState::Draft {
        return Err(TenderError::WrongState {
            action: "change the invitations of",
            action_zh: "修改投标邀请",
            state: tender.state,
        });
    }
    let mut ids: Vec<String> = input.org_ids.iter().map(|s| s.trim().to_owned()).collect();
    ids.sort();
    ids.dedup();
    let (min, article) = minimum(books, &tender.category)?;
    if ids.len() < usize::try_from(min).unwrap_or(usize::MAX) || ids.len() > MAX_INVITEES {
        return Err(TenderError::TooFewInvitees {
            min,
            got: ids.len(),
            article,
        });
    }
    for id in &ids {
        let ok: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select org_id from organisation where org_id = $1 and kind = 'bidder' and status = 'active'",
            id.clone()
        )?;
        if ok.is_none() {
            return Err(TenderError::BadInvitee(id.chars().take(40).collect()));
        }
    }
    q_exec!(
        tx,
        "delete from tender_invitation where tender_id = $1",
        tender.tender_id.clone()
    )?;
    for id in &ids {
        q_exec!(
            tx,
            "insert into tender_invitation (tender_id, org_id, invited_by, invited_at)
             values ($1, $2, $3, $4)",
            tender.tender_id.clone(),
            id.clone(),
            caller.user.user_id.clone(),
            to_millis(now)
        )?;
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "tender.invitations",
        &tender.tender_id,
        json!({"org_ids": ids}),
        Stage::Opening,
    )
    .await?;
    let invitees = load(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(Invitations {
        invitees,
        min,
        article,
    })
}

/// The invitation list: the owning agent, regulators and the operator.
pub async fn get_invitations(
    db: &Db,
    books: &Rulebooks,
    caller: &Caller,
    code: &str,
) -> Result<Invitations, TenderError> {
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !(caller.is(Role::Regulator) || caller.is(Role::Operator)) {
        ensure_owner(caller, &tender)?;
    }
    if tender.procedure != "invited" {
        return Err(TenderError::NotInvitedTendering);
    }
    let invitees = load(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    let (min, article) = minimum(books, &tender.category)?;
    Ok(Invitations {
        invitees,
        min,
        article,
    })
}

/// Whether the bidder's own company may take part in the published tender `code`.
pub async fn my_invitation(
    db: &Db,
    caller: &Caller,
    code: &str,
) -> Result<MyInvitation, TenderError> {
    if !caller.is(Role::Bidder) {
        return Err(Common::Forbidden(super::BIDDERS_ONLY).into());
    }
    let mut tx = db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    if !tender.is_public() {
        return Err(Common::NotFound("tender").into());
    }
    let org = caller.org_id().unwrap_or_default();
    let may_take_part =
        crate::lifecycle::tender::may_take_part(&mut tx, &tender.tender_id, &tender.procedure, org)
            .await?;
    tx.commit().await?;
    Ok(MyInvitation { may_take_part })
}

/// Publication rule: an invited tender needs at least the rulebook's number of invitees.
pub(super) async fn count_invitees(
    tx: &mut crate::store::Tx,
    tender_id: &str,
) -> Result<usize, TenderError> {
    let (n,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from tender_invitation where tender_id = $1",
        tender_id.to_owned()
    )?;
    Ok(usize::try_from(n).unwrap_or(0))
}
