//! A tender's own lifecycle: drafting and editing a draft, publication against the
//! rulebook, amendments (法 第23条) and termination. Each state move goes through
//! [`crate::lifecycle::tender::transition`], with its audit event in the same transaction.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::super::model::{
    Amendment, AmendmentInput, CancelInput, Tender, TenderInput, TenderState,
};
use super::super::rulebook::Rulebooks;
use super::checks::{Validated, check_text, extra_publication_rules, validate};
use super::common::{
    check_custodians, check_tenderee, cst_time, custodians_of, documents_of, find_tender,
    find_tender_by_id, map_code_taken, move_deadline, notify_downloaders, random_salt,
    replace_custodians, rfc3339, rulebook_of,
};
use super::{AGENTS_ONLY, Caller, TenderError, ensure_owner};
use crate::audit;
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::Role;
use crate::ids::new_id;
use crate::lifecycle::tender::{self as lifecycle, Move};
use crate::q_exec;
use crate::store::Db;
use crate::store::blob::sha256_hex;
use crate::text::Lines;

fn draft_payload(v: &Validated) -> Value {
    // Drafts are not public yet: the public log learns only that a draft exists and a
    // digest of its terms; the full terms are logged at publication.
    let terms = json!({
        "title": v.title, "description": v.description, "category": v.category,
        "procedure": v.procedure, "tenderee_org_id": v.tenderee_org_id,
        "estimated_price_fen": v.estimated_price_fen, "ceiling_price_fen": v.ceiling_price_fen,
        "bid_security_fen": v.bid_security_fen,
        "documents_available_at": rfc3339(v.documents_available_at),
        "documents_available_until": v.documents_available_until.map(rfc3339),
        "clarification_cutoff_at": rfc3339(v.clarification_cutoff_at),
        "bid_deadline_at": rfc3339(v.bid_deadline_at), "opening_place": v.opening_place,
        "evaluation_method": v.evaluation_method.as_str(), "criteria": v.criteria_json,
        "expert_quotas": v.expert_quotas_json, "custodians": v.custodians,
    });
    let canonical = serde_json_canonicalizer::to_string(&terms).unwrap_or_default();
    json!({"code": v.code, "rulebook_id": v.rulebook_id, "terms_sha256": sha256_hex(canonical.as_bytes())})
}

/// An agent drafts a tender for their organisation.
pub async fn create_draft(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    input: &TenderInput,
) -> Result<Tender, TenderError> {
    if !caller.is(Role::Agent) {
        return Err(Common::Forbidden(AGENTS_ONLY).into());
    }
    let agent_org = caller
        .user
        .org_id
        .clone()
        .ok_or(TenderError::NoOrganisation)?;
    let v = validate(input, books.fresh(db).await?)?;
    let mut tx = db.begin().await?;
    let tender_id = insert_draft(&mut tx, now, caller, &agent_org, &v, None).await?;
    let tender = find_tender_by_id(&mut tx, &tender_id).await?;
    tx.commit().await?;
    Ok(tender)
}

/// A re-tender's link: the failed tender and what the audit entry records about it.
pub(super) struct Link<'a> {
    /// The failed tender's id.
    pub tender_id: &'a str,
    /// Extra fields of the creation event (predecessor, attempt, approval).
    pub payload: Value,
}

/// Inserts a validated draft (linked to the failed tender it re-tenders, if any) and its
/// audit event in the caller's transaction; returns its id.
pub(super) async fn insert_draft(
    tx: &mut crate::store::Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    agent_org: &str,
    v: &Validated,
    link: Option<Link<'_>>,
) -> Result<String, TenderError> {
    check_tenderee(tx, &v.tenderee_org_id).await?;
    check_custodians(tx, &v.custodians).await?;
    let tender_id = new_id();
    q_exec!(
        tx,
        "insert into tender (tender_id, code, title, description, category, procedure, rulebook_id,
            tenderee_org_id, agent_org_id, created_by, state, currency, estimated_price_fen,
            ceiling_price_fen, bid_security_fen, documents_available_at, documents_available_until,
            clarification_cutoff_at, bid_deadline_at, opening_place, evaluation_method,
            criteria_json, expert_quotas_json, created_at, updated_at, pseudonym_salt)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'draft', 'CNY', $11, $12, $13, $14, $15,
            $16, $17, $18, $19, $20, $21, $22, $22, $23)",
        tender_id.clone(),
        v.code.clone(),
        v.title.clone(),
        v.description.clone(),
        v.category.clone(),
        v.procedure.clone(),
        v.rulebook_id.clone(),
        v.tenderee_org_id.clone(),
        agent_org.to_owned(),
        caller.user.user_id.clone(),
        v.estimated_price_fen,
        v.ceiling_price_fen,
        v.bid_security_fen,
        to_millis(v.documents_available_at),
        v.documents_available_until.map(to_millis),
        to_millis(v.clarification_cutoff_at),
        to_millis(v.bid_deadline_at),
        v.opening_place.clone(),
        v.evaluation_method.as_str(),
        v.criteria_json.clone(),
        v.expert_quotas_json.clone(),
        to_millis(now),
        random_salt()
    )
    .map_err(|e| map_code_taken(e, &v.code))?;
    replace_custodians(tx, &tender_id, &v.custodians).await?;
    let mut payload = draft_payload(v);
    if let Some(link) = link {
        // The unique index makes a second re-tender of the same failed tender a conflict
        // even when two requests race.
        let linked = q_exec!(
            tx,
            "update tender set retender_of = $1 where tender_id = $2",
            link.tender_id.to_owned(),
            tender_id.clone()
        );
        match linked {
            Ok(_) => {}
            Err(e) if crate::store::is_unique_violation(&e) => {
                return Err(TenderError::AlreadyRetendered);
            }
            Err(e) => return Err(e.into()),
        }
        if let (Some(p), Value::Object(extra)) = (payload.as_object_mut(), link.payload) {
            p.extend(extra);
        }
    }
    audit::append(
        tx,
        now,
        &caller.actor,
        "tender.draft.create",
        Some(&tender_id),
        payload,
    )
    .await?;
    Ok(tender_id)
}

/// The owning agent replaces a draft's terms (the code may change while it is a draft).
pub async fn update_draft(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &TenderInput,
) -> Result<Tender, TenderError> {
    let v = validate(input, books.fresh(db).await?)?;
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Draft {
        return Err(TenderError::WrongState {
            action: "edit",
            action_zh: "修改草稿",
            state: tender.state,
        });
    }
    check_tenderee(&mut tx, &v.tenderee_org_id).await?;
    check_custodians(&mut tx, &v.custodians).await?;
    let n = q_exec!(
        tx,
        "update tender set code = $1, title = $2, description = $3, category = $4, procedure = $5,
            rulebook_id = $6, tenderee_org_id = $7, estimated_price_fen = $8, ceiling_price_fen = $9,
            bid_security_fen = $10, documents_available_at = $11, documents_available_until = $12,
            clarification_cutoff_at = $13, bid_deadline_at = $14, opening_place = $15,
            evaluation_method = $16, criteria_json = $17, expert_quotas_json = $18, updated_at = $19
         where tender_id = $20 and state = 'draft'",
        v.code.clone(),
        v.title.clone(),
        v.description.clone(),
        v.category.clone(),
        v.procedure.clone(),
        v.rulebook_id.clone(),
        v.tenderee_org_id.clone(),
        v.estimated_price_fen,
        v.ceiling_price_fen,
        v.bid_security_fen,
        to_millis(v.documents_available_at),
        v.documents_available_until.map(to_millis),
        to_millis(v.clarification_cutoff_at),
        to_millis(v.bid_deadline_at),
        v.opening_place.clone(),
        v.evaluation_method.as_str(),
        v.criteria_json.clone(),
        v.expert_quotas_json.clone(),
        to_millis(now),
        tender.tender_id.clone()
    )
    .map_err(|e| map_code_taken(e, &v.code))?;
    if n == 0 {
        return Err(Common::Concurrent.into());
    }
    replace_custodians(&mut tx, &tender.tender_id, &v.custodians).await?;
    let mut payload = draft_payload(&v);
    payload["previous_code"] = json!(tender.code);
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.draft.update",
        Some(&tender.tender_id),
        payload,
    )
    .await?;
    let updated = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(updated)
}

fn tender_terms_payload(t: &Tender) -> Value {
    json!({
        "code": t.code, "title": t.title, "category": t.category, "procedure": t.procedure,
        "rulebook_id": t.rulebook_id, "tenderee_org_id": t.tenderee_org_id,
        "agent_org_id": t.agent_org_id, "currency": t.currency,
        "estimated_price_fen": t.estimated_price_fen, "ceiling_price_fen": t.ceiling_price_fen,
        "bid_security_fen": t.bid_security_fen,
        "documents_available_at": rfc3339(t.documents_available_at),
        "documents_available_until": t.documents_available_until.map(rfc3339),
        "clarification_cutoff_at": rfc3339(t.clarification_cutoff_at),
        "bid_deadline_at": rfc3339(t.bid_deadline_at), "opening_place": t.opening_place,
        "evaluation_method": t.evaluation_method.as_str(), "criteria": t.criteria,
        "expert_quotas": t.expert_quotas,
        "description_sha256": sha256_hex(t.description.as_bytes()),
    })
}

/// The owning agent publishes a draft: the rulebook must accept its terms (every violation
/// is reported with its article), at least one document must exist, and the deadline job is
/// created in the same transaction.
pub async fn publish(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Tender, TenderError> {
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Draft {
        return Err(TenderError::WrongState {
            action: "publish",
            action_zh: "发布",
            state: tender.state,
        });
    }
    // A tender is judged by the rulebook in force when it is published, and keeps that
    // version (its stamp) whatever replaces the rulebook later.
    books.fresh_in(&mut tx).await?;
    let book = books
        .get(&tender.category, &tender.procedure)
        .ok_or_else(|| TenderError::UnknownRulebook {
            category: tender.category.clone(),
            procedure: tender.procedure.clone(),
        })?;
    let stamp = book.stamp();
    if stamp != tender.rulebook_id {
        q_exec!(
            tx,
            "update tender set rulebook_id = $1 where tender_id = $2 and state = 'draft'",
            stamp.clone(),
            tender.tender_id.clone()
        )?;
    }
    let custodians = custodians_of(&mut tx, &tender.tender_id).await?;
    let documents = documents_of(&mut tx, &tender.tender_id).await?;
    let count = u32::try_from(custodians.len()).unwrap_or(u32::MAX);
    let mut violations = match book.check_publication(&tender.terms(count), now) {
        Ok(()) => Vec::new(),
        Err(v) => v,
    };
    violations.extend(extra_publication_rules(&tender, documents.len()));
    // 招标投标法 第17条 / 政府采购法 第34条: invited tendering invites three or more.
    if let Some(rule) = &book.rules.invitees_min {
        let got = super::invitations::count_invitees(&mut tx, &tender.tender_id).await?;
        if got < usize::try_from(rule.value).unwrap_or(usize::MAX) {
            violations.push(crate::tender::rulebook::RuleViolation {
                rule: std::borrow::Cow::Borrowed("TOO_FEW_INVITEES"),
                article: rule.article.clone(),
                message_zh: format!(
                    "邀请招标须向至少{}家投标人发出投标邀请（{}），当前{got}家",
                    rule.value, rule.article
                ),
                message_en: format!(
                    "Invited tendering needs at least {} invitees ({}); {got} are invited",
                    rule.value, rule.article
                ),
            });
        }
    }
    if !violations.is_empty() {
        return Err(TenderError::Rulebook(violations));
    }
    // DESIGN.md "Sealed bids" 1: the opening key is generated now, in this transaction;
    // only its public half and the shares sealed to each custodian are stored. Every
    // custodian must have enrolled a key (else nothing is published).
    let opening_key = crate::bid::custodian::issue_opening_key(
        &mut tx,
        now,
        &tender.tender_id,
        &custodians,
        book.rules.custodian_quorum.k,
    )
    .await?;
    let job_id = new_id();
    q_exec!(
        tx,
        "insert into job (job_id, kind, tender_id, run_at, state, attempts)
         values ($1, 'deadline', $2, $3, 'pending', 0)",
        job_id.clone(),
        tender.tender_id.clone(),
        to_millis(tender.bid_deadline_at)
    )?;
    let mut payload = tender_terms_payload(&tender);
    payload["published_at"] = json!(rfc3339(now));
    payload["rulebook_id"] = json!(stamp);
    payload["custodian_count"] = json!(count);
    payload["deadline_job_id"] = json!(job_id);
    payload["opening_key"] = json!(opening_key);
    payload["documents"] = json!(
        documents
            .iter()
            .map(
                |d| json!({"document_id": d.document_id, "filename": d.filename,
                            "size_bytes": d.size_bytes, "sha256": d.sha256})
            )
            .collect::<Vec<_>>()
    );
    // The key and the job above roll back with everything else if the move fails.
    lifecycle::transition(
        &mut tx,
        now,
        &tender.tender_id,
        TenderState::Draft,
        TenderState::Published,
        Move::new(&caller.actor, "tender.publish", payload),
    )
    .await?;
    let published = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(published)
}

/// The owning agent publishes an amendment (澄清/修改) before the deadline. 招标投标法
/// 第23条: when fewer than 15 days remain, the deadline moves to now + 15 days (and the job
/// with it). Everyone who downloaded the documents gets a notice.
///
/// Every amendment is treated as one that may affect bid preparation (条例 第21条): the
/// platform cannot judge the text, and moving the deadline never takes time from bidders.
pub async fn amend(
    db: &Db,
    books: &Rulebooks,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &AmendmentInput,
) -> Result<Amendment, TenderError> {
    let summary = check_text("summary", &input.summary, 1, 200, Lines::Single)?;
    let body = check_text("body", &input.body, 1, 20_000, Lines::Multi)?;
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if tender.state != TenderState::Published {
        return Err(TenderError::WrongState {
            action: "amend",
            action_zh: "发布澄清/修改",
            state: tender.state,
        });
    }
    if now >= tender.bid_deadline_at {
        return Err(TenderError::DeadlinePassed);
    }
    let book = rulebook_of(books, &tender)?;
    let old_deadline = tender.bid_deadline_at;
    let new_deadline = book.deadline_after_amendment(old_deadline, now);
    move_deadline(&mut tx, now, &tender, new_deadline).await?;
    let amendment_id = new_id();
    q_exec!(
        tx,
        "insert into tender_amendment (amendment_id, tender_id, summary, body, old_deadline,
            new_deadline, created_by, created_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
        amendment_id.clone(),
        tender.tender_id.clone(),
        summary.clone(),
        body.clone(),
        to_millis(old_deadline),
        to_millis(new_deadline),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    let moved = new_deadline != old_deadline;
    let notice = format!(
        "招标项目 {}「{}」发布澄清/修改：{}。投标截止时间：北京时间{}{} / Tender {} was amended: {}. Bid deadline: {} China time{}",
        tender.code,
        tender.title,
        summary,
        cst_time(new_deadline),
        if moved { "（已顺延）" } else { "" },
        tender.code,
        summary,
        cst_time(new_deadline),
        if moved { " (moved)" } else { "" },
    );
    notify_downloaders(&mut tx, now, &tender.tender_id, "amendment", &notice).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.amend",
        Some(&tender.tender_id),
        json!({
            "amendment_id": amendment_id, "summary": summary,
            "body_sha256": sha256_hex(body.as_bytes()),
            "old_deadline": rfc3339(old_deadline), "new_deadline": rfc3339(new_deadline),
            "deadline_moved": moved,
            "rule": book.rules.amendment_min_days_before_deadline.article,
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(Amendment {
        amendment_id,
        summary,
        body,
        old_deadline,
        new_deadline,
        created_at: now,
    })
}

/// The owning agent terminates (终止) the tender with a public reason, from any state before
/// the award; the deadline job is cancelled and everyone who downloaded is told.
pub async fn cancel(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &CancelInput,
) -> Result<Tender, TenderError> {
    let reason = match check_text("reason", &input.reason, 1, 2_000, Lines::Multi) {
        Err(TenderError::BadText { .. }) => return Err(TenderError::ReasonRequired),
        other => other?,
    };
    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if !tender.state.cancellable() {
        return Err(TenderError::WrongState {
            action: "cancel",
            action_zh: "终止",
            state: tender.state,
        });
    }
    let jobs = q_exec!(
        tx,
        "update job set state = 'cancelled', done_at = $1 where tender_id = $2 and state = 'pending'",
        to_millis(now),
        tender.tender_id.clone()
    )?;
    let notice = format!(
        "招标项目 {}「{}」已终止，原因：{} / Tender {} was cancelled: {}",
        tender.code, tender.title, reason, tender.code, reason
    );
    notify_downloaders(&mut tx, now, &tender.tender_id, "cancel", &notice).await?;
    let payload =
        json!({"reason": reason, "previous_state": tender.state.as_str(), "jobs_cancelled": jobs});
    let mut change = Move::new(&caller.actor, "tender.cancel", payload);
    change.cancel_reason = Some(reason);
    // The jobs and notices above roll back with everything else if the move fails.
    lifecycle::transition(
        &mut tx,
        now,
        &tender.tender_id,
        tender.state,
        TenderState::Cancelled,
        change,
    )
    .await?;
    let cancelled = find_tender_by_id(&mut tx, &tender.tender_id).await?;
    tx.commit().await?;
    Ok(cancelled)
}
