//! What the tender operations share: loading a tender and its parts, the pseudonyms of the
//! public audit log, the checks of organisations and custodians that read the database,
//! notices to downloaders, the rulebook of a tender and the deadline move of an amendment.

use chrono::{DateTime, TimeDelta, Utc};
use ring::hmac;

use super::super::model::{
    Amendment, AmendmentRow, DocumentRow, QuestionRow, Tender, TenderDocument, TenderRow,
};
use super::super::rulebook::{Rulebook, Rulebooks};
use super::{Caller, TenderError};
use crate::audit::Actor;
use crate::clock::to_millis;
use crate::error::Common;
use crate::ids::{is_id, new_id};
use crate::store::{Tx, is_unique_violation};
use crate::{q_all, q_exec, q_one, q_opt};

/// RFC 3339 as the audit log writes times.
pub(super) use crate::audit::entry_time as rfc3339;

/// China time to the minute, as notices show it.
pub(super) fn cst_time(at: DateTime<Utc>) -> String {
    crate::clock::cst(to_millis(at))
}

macro_rules! tender_select {
    () => {
        "select t.tender_id, t.code, t.title, t.description, t.category, t.procedure,
                t.rulebook_id, t.tenderee_org_id, tt.name as tenderee_name, t.agent_org_id,
                ag.name as agent_name, t.state, t.currency, t.estimated_price_fen,
                t.ceiling_price_fen, t.bid_security_fen, t.documents_available_at,
                t.documents_available_until, t.clarification_cutoff_at, t.bid_deadline_at,
                t.opening_place, t.evaluation_method, t.criteria_json, t.expert_quotas_json,
                t.published_at, t.cancelled_at, t.cancel_reason, t.created_at, t.updated_at,
                (select p.code from tender p where p.tender_id = t.retender_of) as retender_of,
                (select n.code from tender n
                 where n.retender_of = t.tender_id and n.published_at is not null) as retendered_by
         from tender t
         join organisation tt on tt.org_id = t.tenderee_org_id
         left join organisation ag on ag.org_id = t.agent_org_id"
    };
}

pub(super) async fn find_tender(tx: &mut Tx, code: &str) -> Result<Tender, TenderError> {
    let row = q_opt!(
        tx,
        TenderRow,
        concat!(tender_select!(), " where t.code = $1"),
        code.to_string()
    )?
    .ok_or(Common::NotFound("tender"))?;
    row.into_tender().map_err(|e| Common::Corrupt(e).into())
}

pub(super) async fn find_tender_by_id(tx: &mut Tx, tender_id: &str) -> Result<Tender, TenderError> {
    let row = q_opt!(
        tx,
        TenderRow,
        concat!(tender_select!(), " where t.tender_id = $1"),
        tender_id.to_string()
    )?
    .ok_or(Common::NotFound("tender"))?;
    row.into_tender().map_err(|e| Common::Corrupt(e).into())
}

pub(super) async fn documents_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<TenderDocument>, TenderError> {
    let rows = q_all!(
        tx,
        DocumentRow,
        "select document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_at
         from tender_document where tender_id = $1 order by uploaded_at, document_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(TenderDocument::from).collect())
}

pub(super) async fn amendments_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<Amendment>, TenderError> {
    let rows = q_all!(
        tx,
        AmendmentRow,
        "select amendment_id, summary, body, old_deadline, new_deadline, created_at
         from tender_amendment where tender_id = $1 order by created_at, amendment_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(Amendment::from).collect())
}

pub(super) async fn custodians_of(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<String>, TenderError> {
    let rows = q_all!(
        tx,
        (String,),
        "select user_id from tender_custodian where tender_id = $1 order by user_id",
        tender_id.to_string()
    )?;
    Ok(rows.into_iter().map(|r| r.0).collect())
}

pub(super) async fn questions_of(
    tx: &mut Tx,
    tender_id: &str,
    answered_only: bool,
) -> Result<Vec<QuestionRow>, TenderError> {
    let sql = if answered_only {
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where tender_id = $1 and answer is not null order by asked_at, question_id"
    } else {
        "select question_id, asked_by, body, asked_at, answer, answered_at from question
         where tender_id = $1 order by asked_at, question_id"
    };
    Ok(q_all!(tx, QuestionRow, sql, tender_id.to_string())?)
}

/// The per-tender pseudonym of a user in the public audit log (see the module comment).
pub(super) async fn pseudonym(
    tx: &mut Tx,
    tender_id: &str,
    user_id: &str,
) -> Result<String, TenderError> {
    let salt = q_one!(
        tx,
        (Option<String>,),
        "select pseudonym_salt from tender where tender_id = $1",
        tender_id.to_string()
    )?
    .0
    // Rows from before migration 0002 have no salt; the tender id is public, so such a
    // pseudonym only hides the user from someone who does not know the user ids.
    .unwrap_or_else(|| tender_id.to_string());
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt.as_bytes());
    let tag = hmac::sign(&key, user_id.as_bytes());
    Ok(format!("anon:{}", hex::encode(tag.as_ref())))
}

/// The same salt keyed over arbitrary data (commitments to confidential rows).
pub(super) async fn keyed_digest(
    tx: &mut Tx,
    tender_id: &str,
    parts: &[&str],
) -> Result<String, TenderError> {
    let salt = q_one!(
        tx,
        (Option<String>,),
        "select pseudonym_salt from tender where tender_id = $1",
        tender_id.to_string()
    )?
    .0
    .unwrap_or_else(|| tender_id.to_string());
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    for p in parts {
        // Length-prefixed so that ("ab","c") and ("a","bc") differ.
        ctx.update(&(p.len() as u64).to_be_bytes());
        ctx.update(p.as_bytes());
    }
    Ok(hex::encode(ctx.sign().as_ref()))
}

/// The audit actor for a bidder's confidential action: pseudonym, role, request id, no IP.
pub(super) async fn bidder_actor(
    tx: &mut Tx,
    caller: &Caller,
    tender_id: &str,
) -> Result<Actor, TenderError> {
    Ok(Actor {
        user_id: Some(pseudonym(tx, tender_id, &caller.user.user_id).await?),
        role: caller.actor.role.clone(),
        request_id: caller.actor.request_id.clone(),
        client_ip: None,
    })
}

pub(super) fn random_salt() -> String {
    let mut bytes = [0u8; 32];
    // Without an entropy source the salt would be zeros: still unique per tender id below.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    hex::encode(bytes)
}

pub(super) async fn check_tenderee(tx: &mut Tx, org_id: &str) -> Result<(), TenderError> {
    if !is_id(org_id) {
        return Err(TenderError::BadTenderee);
    }
    let row = q_opt!(
        tx,
        (String, String),
        "select kind, status from organisation where org_id = $1",
        org_id.to_string()
    )?;
    match row {
        Some((kind, status)) if kind == "tenderee" && status == "active" => Ok(()),
        _ => Err(TenderError::BadTenderee),
    }
}

pub(super) async fn check_custodians(tx: &mut Tx, ids: &[String]) -> Result<(), TenderError> {
    for id in ids {
        let row = q_opt!(
            tx,
            (String, String),
            "select role, status from app_user where user_id = $1",
            id.clone()
        )?;
        match row {
            Some((role, status)) if role == "custodian" && status == "active" => {}
            _ => return Err(TenderError::BadCustodian(id.clone())),
        }
    }
    Ok(())
}

pub(super) async fn replace_custodians(
    tx: &mut Tx,
    tender_id: &str,
    ids: &[String],
) -> Result<(), TenderError> {
    q_exec!(
        tx,
        "delete from tender_custodian where tender_id = $1",
        tender_id.to_string()
    )?;
    for id in ids {
        q_exec!(
            tx,
            "insert into tender_custodian (tender_id, user_id) values ($1, $2)",
            tender_id.to_string(),
            id.clone()
        )?;
    }
    Ok(())
}

/// Whether the bidder's user and company are both active.
pub(super) async fn bidder_company_active(tx: &mut Tx, user_id: &str) -> Result<bool, TenderError> {
    let row = q_opt!(
        tx,
        (String, Option<String>),
        "select u.status, o.status from app_user u left join organisation o on o.org_id = u.org_id
         where u.user_id = $1",
        user_id.to_string()
    )?;
    Ok(matches!(row, Some((u, Some(o))) if u == "active" && o == "active"))
}

/// Writes a notice for every user who downloaded this tender's documents (法 第23条: a
/// change must reach everyone who obtained the documents). Returns how many were written.
pub(super) async fn notify_downloaders(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender_id: &str,
    kind: &str,
    body: &str,
) -> Result<usize, TenderError> {
    let users = q_all!(
        tx,
        (String,),
        "select distinct user_id from document_download where tender_id = $1 order by user_id",
        tender_id.to_string()
    )?;
    for (user_id,) in &users {
        q_exec!(
            tx,
            "insert into notice (notice_id, user_id, tender_id, kind, body, created_at)
             values ($1, $2, $3, $4, $5, $6)",
            new_id(),
            user_id.clone(),
            tender_id.to_string(),
            kind.to_string(),
            body.to_string(),
            to_millis(now)
        )?;
    }
    Ok(users.len())
}

pub(super) fn map_code_taken(e: sqlx::Error, code: &str) -> TenderError {
    if is_unique_violation(&e) {
        TenderError::CodeTaken(code.to_string())
    } else {
        e.into()
    }
}

/// The rulebook a tender was drafted under (by id, so a renamed category keeps working).
pub(super) fn rulebook_of<'a>(
    books: &'a Rulebooks,
    tender: &Tender,
) -> Result<&'a Rulebook, TenderError> {
    books
        .by_id(&tender.rulebook_id)
        .or_else(|| books.get(&tender.category, &tender.procedure))
        .ok_or_else(|| TenderError::UnknownRulebook {
            category: tender.category.clone(),
            procedure: tender.procedure.clone(),
        })
}

/// Moves the deadline (and the clarification cut-off by the same amount, so bidders keep
/// their objection window, 条例 第22条) and the deadline job's run time, guarded on the
/// deadline we computed from so a concurrent change is detected.
pub(super) async fn move_deadline(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender: &Tender,
    new_deadline: DateTime<Utc>,
) -> Result<(), TenderError> {
    let shift = new_deadline.signed_duration_since(tender.bid_deadline_at);
    let new_cutoff = tender
        .clarification_cutoff_at
        .checked_add_signed(shift.max(TimeDelta::zero()))
        .unwrap_or(tender.clarification_cutoff_at);
    let n = q_exec!(
        tx,
        "update tender set bid_deadline_at = $1, clarification_cutoff_at = $2, updated_at = $3
         where tender_id = $4 and state = 'published' and bid_deadline_at = $5 and bid_deadline_at > $3",
        to_millis(new_deadline),
        to_millis(new_cutoff),
        to_millis(now),
        tender.tender_id.clone(),
        to_millis(tender.bid_deadline_at)
    )?;
    if n == 0 {
        return Err(Common::Concurrent.into());
    }
    if new_deadline != tender.bid_deadline_at {
        q_exec!(
            tx,
            "update job set run_at = $1 where kind = 'deadline' and tender_id = $2 and state = 'pending'",
            to_millis(new_deadline),
            tender.tender_id.clone()
        )?;
    }
    Ok(())
}
