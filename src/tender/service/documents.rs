//! Tender documents: the owning agent's uploads (to a draft, or through an amendment) and
//! the bidders' downloads, each recorded and logged under a pseudonym (法 第22条).

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::super::model::{DocumentRow, Tender, TenderDocument};
use super::super::rulebook::Rulebooks;
use super::checks::{
    check_download_window, check_upload_state, clean_content_type, sanitize_filename,
};
use super::common::{
    bidder_actor, bidder_company_active, cst_time, find_tender, keyed_digest, move_deadline,
    notify_downloaders, rfc3339, rulebook_of,
};
use super::{BIDDERS_ONLY, Caller, TenderError, ensure_owner, may_read_all};
use crate::audit;
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::store::blob::BlobStore;
use crate::store::{Db, Tx};
use crate::{q_exec, q_opt};

/// What the document operations work with: the rows, the bytes, the rulebooks (an
/// amendment's upload moves the deadline) and the size cap of one document.
#[derive(Clone, Copy)]
pub struct Documents<'a> {
    /// The database.
    pub db: &'a Db,
    /// Where the bytes are stored.
    pub blobs: &'a BlobStore,
    /// The rulebooks.
    pub books: &'a Rulebooks,
    /// The largest document accepted, in bytes.
    pub max_bytes: u64,
}

/// A document being uploaded.
#[derive(Clone, Debug)]
pub struct NewDocument {
    /// File name as sent (sanitised here).
    pub filename: String,
    /// Content-Type as sent.
    pub content_type: Option<String>,
    /// The amendment it belongs to (required once the tender is published).
    pub amendment_id: Option<String>,
    /// The bytes.
    pub bytes: Bytes,
}

/// The owning agent uploads a tender document: to a draft, or to a published tender as part
/// of an amendment (which re-applies the 15-day rule, 招标投标法 第23条, from now).
pub async fn upload_document(
    docs: Documents<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    doc: NewDocument,
) -> Result<TenderDocument, TenderError> {
    let (db, blobs, max_bytes) = (docs.db, docs.blobs, docs.max_bytes);
    let size = u64::try_from(doc.bytes.len()).unwrap_or(u64::MAX);
    if size > max_bytes {
        return Err(TenderError::DocumentTooLarge { limit: max_bytes });
    }
    if size == 0 {
        return Err(TenderError::EmptyDocument);
    }
    // Check rights and state before storing anything.
    {
        let mut tx = db.read().await?;
        let tender = find_tender(&mut tx, code).await?;
        ensure_owner(caller, &tender)?;
        check_upload_state(&tender, doc.amendment_id.as_deref(), now)?;
    }
    let filename = sanitize_filename(&doc.filename);
    let content_type = clean_content_type(doc.content_type.as_deref());
    // Content-addressed: storing twice is a no-op, and a blob whose row never commits is
    // harmless (no row points at it).
    let sha256 = blobs.put(doc.bytes).await?;

    let mut tx = db.begin().await?;
    let tender = find_tender(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    check_upload_state(&tender, doc.amendment_id.as_deref(), now)?;
    let mut deadline_move = None;
    if let Some(amendment_id) = &doc.amendment_id {
        let found = q_opt!(
            tx,
            (String,),
            "select amendment_id from tender_amendment where amendment_id = $1 and tender_id = $2",
            amendment_id.clone(),
            tender.tender_id.clone()
        )?;
        if found.is_none() {
            return Err(Common::NotFound("amendment").into());
        }
        // 招标投标法 第23条: a document added by an amendment changes the tender documents,
        // so the 15 days count from this upload too.
        let book = rulebook_of(docs.books, &tender)?;
        let new_deadline = book.deadline_after_amendment(tender.bid_deadline_at, now);
        move_deadline(&mut tx, now, &tender, new_deadline).await?;
        if new_deadline != tender.bid_deadline_at {
            q_exec!(
                tx,
                "update tender_amendment set new_deadline = $1 where amendment_id = $2",
                to_millis(new_deadline),
                amendment_id.clone()
            )?;
            deadline_move = Some(new_deadline);
        }
        let body = format!(
            "招标项目 {}「{}」的澄清/修改新增文件：{}{} / Tender {} amendment adds document {}{}",
            tender.code,
            tender.title,
            filename,
            deadline_move
                .map(|d| format!("，投标截止时间顺延至北京时间{}", cst_time(d)))
                .unwrap_or_default(),
            tender.code,
            filename,
            deadline_move
                .map(|d| format!("; bid deadline moved to {} China time", cst_time(d)))
                .unwrap_or_default(),
        );
        notify_downloaders(&mut tx, now, &tender.tender_id, "amendment", &body).await?;
    } else {
        // Guard: still a draft when we write.
        let n = q_exec!(
            tx,
            "update tender set updated_at = $1 where tender_id = $2 and state = 'draft'",
            to_millis(now),
            tender.tender_id.clone()
        )?;
        if n == 0 {
            return Err(Common::Concurrent.into());
        }
    }
    let document_id = new_id();
    let size_bytes = i64::try_from(size).unwrap_or(i64::MAX);
    q_exec!(
        tx,
        "insert into tender_document (document_id, tender_id, amendment_id, filename, content_type,
            size_bytes, sha256, uploaded_by, uploaded_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        document_id.clone(),
        tender.tender_id.clone(),
        doc.amendment_id.clone(),
        filename.clone(),
        content_type.clone(),
        size_bytes,
        sha256.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    )?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "tender.document.upload",
        Some(&tender.tender_id),
        json!({
            "document_id": document_id, "filename": filename, "content_type": content_type,
            "size_bytes": size_bytes, "sha256": sha256, "amendment_id": doc.amendment_id,
            "new_deadline": deadline_move.map(rfc3339),
        }),
    )
    .await?;
    tx.commit().await?;
    Ok(TenderDocument {
        document_id,
        tender_id: tender.tender_id,
        amendment_id: doc.amendment_id,
        filename,
        content_type,
        size_bytes,
        sha256,
        uploaded_at: now,
    })
}

/// Records one download (user, IP, user agent) and its audit event inside the caller's
/// transaction; returns the download id. The event is pseudonymous (招标投标法 第22条) and
/// carries a keyed digest of the confidential row.
pub async fn record_download(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender: &Tender,
    document: &TenderDocument,
) -> Result<String, TenderError> {
    let download_id = new_id();
    q_exec!(
        tx,
        "insert into document_download (download_id, tender_id, document_id, user_id, client_ip,
            user_agent, at)
         values ($1, $2, $3, $4, $5, $6, $7)",
        download_id.clone(),
        tender.tender_id.clone(),
        document.document_id.clone(),
        caller.user.user_id.clone(),
        caller.actor.client_ip.clone(),
        caller.user_agent.clone(),
        to_millis(now)
    )?;
    let record = keyed_digest(
        tx,
        &tender.tender_id,
        &[
            &download_id,
            &caller.user.user_id,
            caller.actor.client_ip.as_deref().unwrap_or(""),
            caller.user_agent.as_deref().unwrap_or(""),
            &to_millis(now).to_string(),
        ],
    )
    .await?;
    let actor = bidder_actor(tx, caller, &tender.tender_id).await?;
    // Even the number of downloads is confidential before the opening (法 第22条), so the
    // public sees this entry's leaf hash only until then, however the deadline moves.
    audit::append_withheld_until(
        tx,
        now,
        &actor,
        "tender.document.download",
        &tender.tender_id,
        json!({"download_id": download_id, "document_id": document.document_id,
               "sha256": document.sha256, "record_hmac": record}),
        audit::Stage::Opening,
    )
    .await?;
    Ok(download_id)
}

/// One document's bytes for the logged-in user. Bidders of approved companies get the
/// documents of published or closed tenders (each download recorded with IP and user
/// agent); the owning agent, operators and regulators may read them in any state without a
/// download record (they are not potential bidders).
pub async fn download_document(
    docs: Documents<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    document_id: &str,
) -> Result<(TenderDocument, Bytes), TenderError> {
    if !is_id(document_id) {
        return Err(Common::NotFound("document").into());
    }
    // Checks on a read snapshot, the blob read outside any transaction, then a short write
    // transaction for the record: no write lock is held while bytes are read.
    let mut tx = docs.db.read().await?;
    let tender = find_tender(&mut tx, code).await?;
    let document: TenderDocument = q_opt!(
        tx,
        DocumentRow,
        "select document_id, tender_id, amendment_id, filename, content_type, size_bytes, sha256, uploaded_at
         from tender_document where document_id = $1 and tender_id = $2",
        document_id.to_string(),
        tender.tender_id.clone()
    )?
    .ok_or(Common::NotFound("document"))?
    .into();
    let record = if may_read_all(Some(&caller.user), &tender) {
        false
    } else if caller.is(Role::Bidder) {
        if !tender.is_public() {
            return Err(Common::NotFound("tender").into());
        }
        if !bidder_company_active(&mut tx, &caller.user.user_id).await? {
            return Err(TenderError::CompanyNotActive);
        }
        // Invited tendering: only the invitees obtain the documents (招标投标法 第17条).
        let org = caller.org_id().unwrap_or_default();
        if !crate::lifecycle::tender::may_take_part(
            &mut tx,
            &tender.tender_id,
            &tender.procedure,
            org,
        )
        .await?
        {
            return Err(TenderError::NotInvited);
        }
        let before = q_opt!(
            tx,
            (String,),
            "select download_id from document_download where tender_id = $1 and user_id = $2 limit 1",
            tender.tender_id.clone(),
            caller.user.user_id.clone()
        )?
        .is_some();
        check_download_window(&tender, now, before)?;
        true
    } else {
        return Err(Common::Forbidden(BIDDERS_ONLY).into());
    };
    drop(tx);
    // Read the bytes first: a failed read must not be recorded as a download.
    let bytes = docs.blobs.get(&document.sha256).await?;
    if record {
        let mut tx = docs.db.begin().await?;
        record_download(&mut tx, now, caller, &tender, &document).await?;
        tx.commit().await?;
    }
    Ok((document, bytes))
}
