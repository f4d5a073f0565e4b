//! Upload, submission, replacement and withdrawal of sealed bids (DESIGN.md "Sealed bids"
//! §4, 电子招标投标办法: the platform refuses what is not an encrypted file for this tender
//! and says why, and answers at once with a receipt).
//!
//! - An upload streams to a temporary file in the blob directory while it is hashed; the
//!   server first parses the envelope header from the first bytes and refuses an envelope
//!   for another tender or bidder before storing anything, and at the end checks the length
//!   against the header. Nothing is ever buffered whole.
//! - The deadline is enforced by the statements that record an upload, a submission or a
//!   withdrawal (`… where exists (select 1 from tender where … bid_deadline_at > $now)`),
//!   not by a check before them, so a request that started in time but commits late is
//!   refused.
//! - Until the deadline the audit entries of bidders' actions are withheld from the public
//!   (招标投标法 第22条: who bid, and how many, is confidential until the opening).

use crate::error::Common;
use axum::body::Bytes;
use chrono::{DateTime, Utc};
use futures_util::{Stream, StreamExt};
use serde_json::{Value, json};

use super::BidError;
use super::model::{BidRow, PartLabel, PartRow, UploadedPart};
use super::receipt::{RECEIPT_VERSION, Receipt, ReceiptPart};
use crate::audit;
use crate::clock::Clock;
use crate::clock::{from_millis, to_millis};
use crate::identity::Role;
use crate::ids::{is_id, new_id};
use crate::keys::{KeyRing, SigningKey};
use crate::lifecycle::tender::{self, Facts, TenderState};
use crate::seal::{EnvelopeHeader, MAX_HEADER_LEN};
use crate::store::blob::BlobStore;
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::service::{Caller, sanitize_filename};
use crate::{q_all, q_exec, q_one, q_opt};

/// What the bid operations work with: the database, the blob store, the clock (an upload
/// reads it again once its body has arrived, since the deadline may pass meanwhile), the
/// platform keys that sign and verify receipts, and the size cap of one part.
pub struct Bids<'a> {
    /// The database.
    pub db: &'a Db,
    /// Where sealed envelopes are stored.
    pub blobs: &'a BlobStore,
    /// The clock.
    pub clock: &'a dyn Clock,
    /// The active platform key (signs receipts).
    pub signer: &'a SigningKey,
    /// Every platform key, active and retired (verifies older receipts).
    pub keys: &'a KeyRing,
    /// The audit log's origin, which the verifier keys name.
    pub log_origin: String,
    /// The largest part accepted, in bytes.
    pub max_part_bytes: u64,
}

impl Bids<'_> {
    /// The verifier key of the active platform key.
    fn vkey(&self) -> String {
        crate::audit::checkpoint::verifier_key(&self.log_origin, &self.signer.public())
    }
}

/// Largest number of parts in one submission.
pub const MAX_PARTS: usize = 200;

const BIDDERS_ONLY: &str = "only bidders may do this / 仅投标人可执行此操作";

/// The guard every bid-recording statement carries: the tender (`$1`) is published and its
/// deadline is still ahead at `$2` (now).
macro_rules! open_for_bids {
    () => {
        " exists (select 1 from tender where tender_id = $1 and state = 'published' and bid_deadline_at > $2)"
    };
}

/// A tender by code; drafts do not exist for this module.
pub(crate) async fn tender_ref(tx: &mut Tx, code: &str) -> Result<Facts, BidError> {
    let tender = tender::by_code(tx, code).await?;
    if tender.published_at.is_none() {
        return Err(Common::NotFound("tender").into());
    }
    Ok(tender)
}

/// The caller's bidder organisation: the role is bidder and both user and company are
/// active (approved).
pub(crate) async fn bidder_org(tx: &mut Tx, caller: &Caller) -> Result<String, BidError> {
    if caller.user.role != Role::Bidder {
        return Err(Common::Forbidden(BIDDERS_ONLY).into());
    }
    let org_id = caller
        .user
        .org_id
        .clone()
        .ok_or(BidError::CompanyNotActive)?;
    let row = q_opt!(
        tx,
        (String, String, String),
        "select u.status, o.status, o.kind from app_user u join organisation o on o.org_id = u.org_id
         where u.user_id = $1 and o.org_id = $2",
        caller.user.user_id.clone(),
        org_id.clone()
    )?;
    match row {
        Some((u, o, kind)) if u == "active" && o == "active" && kind == "bidder" => Ok(org_id),
        _ => Err(BidError::CompanyNotActive),
    }
}

/// Invited tendering: only the organisations invited may bid (招标投标法 第17条).
async fn ensure_invited(tx: &mut Tx, tender: &Facts, org_id: &str) -> Result<(), BidError> {
    if tender::may_take_part(tx, &tender.tender_id, &tender.procedure, org_id).await? {
        Ok(())
    } else {
        Err(BidError::NotInvited)
    }
}

/// Why a tender does not take bids now (for a clear message before any work).
fn check_open(tender: &Facts, now: DateTime<Utc>) -> Result<(), BidError> {
    match tender.state {
        TenderState::Published => {}
        TenderState::Closed => return Err(BidError::DeadlinePassed),
        other => return Err(BidError::NotAcceptingBids(other)),
    }
    if tender.bid_deadline_at <= to_millis(now) {
        return Err(BidError::DeadlinePassed);
    }
    Ok(())
}

/// After a guarded statement touched nothing: the deadline passed or the state changed.
async fn refusal(tx: &mut Tx, tender_id: &str, now: DateTime<Utc>) -> BidError {
    match tender::by_id(tx, tender_id).await {
        Ok(t) => check_open(&t, now)
            .err()
            .unwrap_or_else(|| Common::Concurrent.into()),
        Err(e) => e.into(),
    }
}

/// Reads one envelope from `body`: the header first (at most `MAX_HEADER_LEN` bytes, its
/// binding to `tender_id` and `bidder_id` checked before anything is stored), then the whole
/// envelope streamed into the blob store, hashed, and its length checked against the header.
async fn receive_envelope<S, E>(
    bids: &Bids<'_>,
    tender_id: &str,
    bidder_id: &str,
    limit: u64,
    body: &mut S,
) -> Result<(EnvelopeHeader, String, u64), BidError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    // The header first: at most MAX_HEADER_LEN bytes, refused before anything is stored.
    let mut head: Vec<u8> = Vec::with_capacity(MAX_HEADER_LEN);
    let mut rest: Option<Bytes> = None;
    while head.len() < MAX_HEADER_LEN {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk.map_err(|e| BidError::BadBody(e.to_string()))?;
                let take = (MAX_HEADER_LEN - head.len()).min(chunk.len());
                head.extend_from_slice(chunk.get(..take).unwrap_or_default());
                if take < chunk.len() {
                    rest = Some(chunk.slice(take..));
                }
            }
            None => break,
        }
    }
    let (header, _) = EnvelopeHeader::parse(&head).map_err(BidError::Envelope)?;
    header
        .check_binding(tender_id, bidder_id)
        .map_err(BidError::Envelope)?;
    let expected = header.envelope_len().map_err(BidError::Envelope)?;
    if expected > limit {
        return Err(BidError::PartTooLarge { limit });
    }

    // Then the whole envelope to a temporary blob file, hashed on the way.
    let mut writer = Some(bids.blobs.writer()?);
    let mut pending = head;
    if let Some(r) = rest {
        pending.extend_from_slice(&r);
    }
    let mut size: u64 = 0;
    loop {
        size = size.saturating_add(pending.len() as u64);
        if size > limit {
            return Err(BidError::PartTooLarge { limit });
        }
        if size > expected {
            // More bytes than the header announces: refuse without reading the rest.
            return Err(BidError::Envelope(crate::seal::SealError::TrailingData {
                expected,
            }));
        }
        if !pending.is_empty() {
            let mut w = writer.take().ok_or(Common::Concurrent)?;
            let data = std::mem::take(&mut pending);
            w = tokio::task::spawn_blocking(move || w.write_chunk(&data).map(|()| w))
                .await
                .map_err(|e| Common::Corrupt(format!("blob write task: {e}")))?
                .map_err(Common::Blob)?;
            writer = Some(w);
        }
        match body.next().await {
            Some(chunk) => {
                pending = chunk
                    .map_err(|e| BidError::BadBody(e.to_string()))?
                    .to_vec();
            }
            None => break,
        }
    }
    header.check_total_len(size).map_err(BidError::Envelope)?;
    let w = writer.take().ok_or(Common::Concurrent)?;
    let (sha256, stored) = tokio::task::spawn_blocking(move || w.finish())
        .await
        .map_err(|e| Common::Corrupt(format!("blob finish task: {e}")))??;

    Ok((header, sha256, stored))
}

/// What the HTTP layer knows about an upload besides its body.
#[derive(Clone, Debug, Default)]
pub struct UploadMeta {
    /// `form` or `attachment` (as sent).
    pub label: String,
    /// The original file name.
    pub name: Option<String>,
    /// `Content-Length`, when sent (refused early when over the cap).
    pub declared_len: Option<u64>,
    /// `x-device-id`, when sent (collusion signals, 条例 第40条).
    pub device_id: Option<String>,
}

/// Streams one sealed part to the blob store; see the module comment. The caller passes the
/// request body as a stream of chunks.
pub async fn upload_part<S, E>(
    bids: &Bids<'_>,
    caller: &Caller,
    code: &str,
    meta: UploadMeta,
    mut body: S,
) -> Result<UploadedPart, BidError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let limit = bids.max_part_bytes;
    let label = PartLabel::parse(&meta.label).ok_or(BidError::BadLabel)?;
    let name = sanitize_filename(meta.name.as_deref().unwrap_or(match label {
        PartLabel::Form => "bid-form.json",
        PartLabel::Attachment => "attachment",
    }));
    let device_id = meta.device_id.map(|d| {
        d.chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect::<String>()
    });
    // Early refusals, before reading the body. The read transaction ends at once: nothing
    // may hold the database while a large upload streams in.
    let (tender, org_id) = {
        let mut tx = bids.db.read().await?;
        let tender = tender_ref(&mut tx, code).await?;
        let org_id = bidder_org(&mut tx, caller).await?;
        ensure_invited(&mut tx, &tender, &org_id).await?;
        (tender, org_id)
    };
    check_open(&tender, bids.clock.now())?;
    if meta.declared_len.is_some_and(|n| n > limit) {
        return Err(BidError::PartTooLarge { limit });
    }

    let (header, sha256, stored) =
        receive_envelope(bids, &tender.tender_id, &org_id, limit, &mut body).await?;

    // Recorded only if the deadline is still ahead *now*, inside the transaction.
    let now = bids.clock.now();
    let part_id = new_id();
    let mut tx = bids.db.begin().await?;
    let n = q_exec!(
        tx,
        concat!(
            "insert into bid_part (part_id, tender_id, bidder_org_id, uploaded_by, label, name, sha256,
                                   size_bytes, plain_len, client_ip, user_agent, device_id, uploaded_at)
             select $3, $1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $2 where ", open_for_bids!()
        ),
        tender.tender_id.clone(),
        to_millis(now),
        part_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone(),
        label.as_str(),
        name.clone(),
        sha256.clone(),
        i64::try_from(stored).unwrap_or(i64::MAX),
        i64::try_from(header.plaintext_len).unwrap_or(i64::MAX),
        caller.actor.client_ip.clone(),
        caller.user_agent.clone(),
        device_id.clone()
    )?;
    if n == 0 {
        // The ciphertext stays in the blob store unreferenced; it is unreadable anyway.
        return Err(refusal(&mut tx, &tender.tender_id, now).await);
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "bid.upload",
        &tender.tender_id,
        json!({"part_id": part_id, "bidder_id": org_id, "label": label.as_str(), "name": name,
               "sha256": sha256, "size": stored, "client_ip": caller.actor.client_ip,
               "user_agent": caller.user_agent, "device_id": device_id}),
        audit::Stage::Opening,
    )
    .await?;
    tx.commit().await?;
    Ok(UploadedPart {
        part_id,
        sha256,
        size: stored,
    })
}

/// The `bidder_id` a sealed base price (标底) carries in its envelope. The HPKE `info` binds
/// it, so a bidder's envelope cannot pass for the base price, nor the reverse (organisation
/// ids never take this form).
pub const BASE_PRICE_BIDDER_ID: &str = "base-price";

/// Largest base-price envelope accepted (the plaintext is a tiny JSON object).
const MAX_BASE_PRICE_ENVELOPE: u64 = 64 * 1024;

/// `POST …/base-price` answer.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SealedBasePrice {
    /// SHA-256 hex of the stored envelope.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether an earlier sealed base price was replaced.
    pub replaced: bool,
}

/// The owning agent seals the base price (标底, 条例 第27、50条: at most one, kept secret
/// until the opening) before the deadline. The envelope is sealed like a bid part with
/// `bidder_id` = [`BASE_PRICE_BIDDER_ID`]; a later one replaces the earlier.
pub async fn seal_base_price<S, E>(
    bids: &Bids<'_>,
    caller: &Caller,
    code: &str,
    mut body: S,
) -> Result<SealedBasePrice, BidError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let tender = {
        let mut tx = bids.db.read().await?;
        tender_ref(&mut tx, code).await?
    };
    super::opening::ensure_owner(caller, &tender)?;
    check_open(&tender, bids.clock.now())?;
    let limit = bids.max_part_bytes.min(MAX_BASE_PRICE_ENVELOPE);
    let (_, sha256, stored) = receive_envelope(
        bids,
        &tender.tender_id,
        BASE_PRICE_BIDDER_ID,
        limit,
        &mut body,
    )
    .await?;

    let now = bids.clock.now();
    let mut tx = bids.db.begin().await?;
    let replaced = q_exec!(
        tx,
        concat!(
            "delete from tender_base_price where tender_id = $1 and ",
            open_for_bids!()
        ),
        tender.tender_id.clone(),
        to_millis(now)
    )? > 0;
    let n = q_exec!(
        tx,
        concat!(
            "insert into tender_base_price (tender_id, sha256, size_bytes, sealed_by, sealed_at)
             select $1, $3, $4, $5, $2 where ",
            open_for_bids!()
        ),
        tender.tender_id.clone(),
        to_millis(now),
        sha256.clone(),
        i64::try_from(stored).unwrap_or(i64::MAX),
        caller.user.user_id.clone()
    )?;
    if n == 0 {
        return Err(refusal(&mut tx, &tender.tender_id, now).await);
    }
    audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "base_price.seal",
        &tender.tender_id,
        json!({"sha256": sha256, "size": stored, "replaced": replaced}),
        audit::Stage::Opening,
    )
    .await?;
    tx.commit().await?;
    Ok(SealedBasePrice {
        sha256,
        size: stored,
        replaced,
    })
}

/// `POST …/bid/submit` answer: the receipt, its signature and the verifier key.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SignedReceipt {
    /// The receipt (sign its canonical JSON to verify).
    pub receipt: Receipt,
    /// Standard base64 Ed25519 signature over the receipt's JCS form.
    pub signature: String,
    /// The platform verifier key (as in `/api/v1/audit/checkpoint`).
    pub vkey: String,
}

/// Records a submission of earlier uploads (exactly one form, any attachments); replaces
/// the company's current bid. The deadline guard is on the insert itself.
pub async fn submit(
    bids: &Bids<'_>,
    caller: &Caller,
    code: &str,
    part_ids: &[String],
) -> Result<SignedReceipt, BidError> {
    if part_ids.is_empty() || part_ids.len() > MAX_PARTS {
        return Err(BidError::BadParts(format!(
            "a bid lists 1–{MAX_PARTS} parts / 投标文件须包含1–{MAX_PARTS}个部分"
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for id in part_ids {
        if !is_id(id) || !seen.insert(id.as_str()) {
            return Err(BidError::BadParts(format!(
                "part id {id:?} is malformed or listed twice / 文件编号无效或重复"
            )));
        }
    }
    let now = bids.clock.now();
    let mut tx = bids.db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    let org_id = bidder_org(&mut tx, caller).await?;
    ensure_invited(&mut tx, &tender, &org_id).await?;
    check_open(&tender, now)?;
    let mut parts = Vec::with_capacity(part_ids.len());
    for id in part_ids {
        let part = q_opt!(
            tx,
            PartRow,
            "select part_id, tender_id, bidder_org_id, label, name, sha256, size_bytes, uploaded_at
             from bid_part where part_id = $1",
            id.clone()
        )?
        .filter(|p| p.tender_id == tender.tender_id && p.bidder_org_id == org_id)
        .ok_or_else(|| {
            BidError::BadParts(format!(
                "part {id} is not one of your company's uploads for this tender / 文件 {id} 不是贵单位为本项目上传的文件"
            ))
        })?;
        parts.push(part);
    }
    let forms = parts.iter().filter(|p| p.label == "form").count();
    if forms != 1 {
        return Err(BidError::BadParts(format!(
            "a bid has exactly one part labelled form (the bid form), this one has {forms} / 投标文件须有且仅有一份投标函"
        )));
    }

    // The previous submission, if any, is replaced — guarded like the insert.
    let previous = q_opt!(
        tx,
        (String,),
        "select bid_id from bid where tender_id = $1 and bidder_org_id = $2 and state = 'submitted'",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    if let Some((old,)) = &previous {
        let n = q_exec!(
            tx,
            concat!(
                "update bid set state = 'replaced', closed_at = $2
                 where bid_id = $3 and state = 'submitted' and ",
                open_for_bids!()
            ),
            tender.tender_id.clone(),
            to_millis(now),
            old.clone()
        )?;
        if n == 0 {
            return Err(refusal(&mut tx, &tender.tender_id, now).await);
        }
        audit::append_withheld_until(
            &mut tx,
            now,
            &caller.actor,
            "bid.replace",
            &tender.tender_id,
            json!({"bid_id": old, "bidder_id": org_id}),
            audit::Stage::Opening,
        )
        .await?;
    }

    let bid_id = new_id();
    let inserted = q_exec!(
        tx,
        concat!(
            "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
                              signature, audit_seq, submitted_at)
             select $3, $1, $4, $5, 'submitted', '', '', -1, $2 where ",
            open_for_bids!()
        ),
        tender.tender_id.clone(),
        to_millis(now),
        bid_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone()
    );
    match inserted {
        Ok(0) => return Err(refusal(&mut tx, &tender.tender_id, now).await),
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(Common::Concurrent.into()),
        Err(e) => return Err(e.into()),
    }
    for (pos, part) in parts.iter().enumerate() {
        q_exec!(
            tx,
            "insert into bid_item (bid_id, part_id, position) values ($1, $2, $3)",
            bid_id.clone(),
            part.part_id.clone(),
            i64::try_from(pos).unwrap_or(i64::MAX)
        )?;
    }
    let receipt_parts: Vec<ReceiptPart> = parts
        .iter()
        .map(|p| ReceiptPart {
            label: p.label.clone(),
            name: p.name.clone(),
            sha256: p.sha256.clone(),
            size: u64::try_from(p.size_bytes).unwrap_or(0),
        })
        .collect();
    let seq = audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "bid.submit",
        &tender.tender_id,
        json!({"bid_id": bid_id, "bidder_id": org_id, "replaces": previous.map(|p| p.0),
               "parts": receipt_parts.iter().zip(&parts).map(|(r, p)| json!({
                   "part_id": p.part_id, "label": r.label, "name": r.name,
                   "sha256": r.sha256, "size": r.size})).collect::<Vec<_>>(),
               "client_ip": caller.actor.client_ip, "user_agent": caller.user_agent}),
        audit::Stage::Opening,
    )
    .await?;
    let receipt = Receipt {
        v: RECEIPT_VERSION,
        bid_id: bid_id.clone(),
        tender_id: tender.tender_id.clone(),
        tender_code: tender.code.clone(),
        bidder_id: org_id,
        parts: receipt_parts,
        server_time: audit::entry_time(now),
        audit_index: seq,
        kid: Some(bids.signer.kid()),
    };
    let canonical = receipt
        .canonical()
        .map_err(|e| Common::Corrupt(e.to_string()))?;
    let signature = receipt
        .sign(bids.signer)
        .map_err(|e| Common::Corrupt(e.to_string()))?;
    q_exec!(
        tx,
        "update bid set receipt_json = $1, signature = $2, audit_seq = $3 where bid_id = $4",
        canonical,
        signature.clone(),
        i64::try_from(seq).unwrap_or(i64::MAX),
        bid_id
    )?;
    tx.commit().await?;
    Ok(SignedReceipt {
        receipt,
        signature,
        vkey: bids.vkey(),
    })
}

/// The verifier key of the platform key that signed a stored receipt: the one its `kid`
/// names, or for a receipt from before key ids, the published key its signature verifies
/// with; the active key when neither is known (the client's check will then say so).
fn signing_vkey(bids: &Bids<'_>, receipt: &Value, canonical: &str, signature: &str) -> String {
    use base64::Engine as _;
    let keys = bids.keys.all();
    let by_kid = receipt
        .get("kid")
        .and_then(Value::as_str)
        .and_then(|kid| keys.iter().find(|k| k.kid == kid));
    let found = by_kid.or_else(|| {
        let sig = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .ok()?;
        keys.iter().find(|k| {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, k.public)
                .verify(canonical.as_bytes(), &sig)
                .is_ok()
        })
    });
    match found {
        Some(k) => crate::audit::checkpoint::verifier_key(&bids.log_origin, &k.public),
        None => bids.vkey(),
    }
}

/// What [`withdraw`] answers. Fields in alphabetical order, as the answer has always been
/// serialised.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BidWithdrawn {
    /// The withdrawal's audit event.
    pub audit_index: u64,
    /// The bid withdrawn.
    pub bid_id: String,
    /// What happens to the bid security (实施条例 第35条).
    pub bid_security: String,
    /// Always `withdrawn`.
    pub state: String,
    /// When (RFC 3339).
    pub withdrawn_at: String,
}

/// The bidder withdraws (撤回) the company's current bid before the deadline. 条例 第35条:
/// the bid security is refunded within 5 days of the written withdrawal notice.
pub async fn withdraw(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<BidWithdrawn, BidError> {
    let mut tx = db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    let org_id = bidder_org(&mut tx, caller).await?;
    check_open(&tender, now)?;
    let current = q_opt!(
        tx,
        (String,),
        "select bid_id from bid where tender_id = $1 and bidder_org_id = $2 and state = 'submitted'",
        tender.tender_id.clone(),
        org_id.clone()
    )?
    .ok_or(BidError::NoBid)?
    .0;
    let reason = "withdrawn by the bidder before the deadline / 投标人在截止时间前撤回";
    let n = q_exec!(
        tx,
        concat!(
            "update bid set state = 'withdrawn', withdrawn_by = 'bidder', reason = $4, closed_at = $2
             where bid_id = $3 and state = 'submitted' and ", open_for_bids!()
        ),
        tender.tender_id.clone(),
        to_millis(now),
        current.clone(),
        reason.to_string()
    )?;
    if n == 0 {
        return Err(refusal(&mut tx, &tender.tender_id, now).await);
    }
    let seq = audit::append_withheld_until(
        &mut tx,
        now,
        &caller.actor,
        "bid.withdraw",
        &tender.tender_id,
        json!({"bid_id": current, "bidder_id": org_id, "by": "bidder",
               "bid_security": "refund within 5 days of the withdrawal / 投标保证金自收到撤回通知之日起5日内退还",
               "article": "招标投标法实施条例 第35条"}),
        audit::Stage::Opening,
    )
    .await?;
    tx.commit().await?;
    Ok(BidWithdrawn {
        audit_index: seq,
        bid_id: current,
        bid_security: "refunded within 5 days / 投标保证金将于5日内退还".into(),
        state: "withdrawn".into(),
        withdrawn_at: audit::entry_time(now),
    })
}

/// The caller's company's latest bid in this tender (with its receipt) and its uploads.
pub async fn my_bid(bids: &Bids<'_>, caller: &Caller, code: &str) -> Result<MyBid, BidError> {
    let mut tx = bids.db.read().await?;
    let tender = tender_ref(&mut tx, code).await?;
    let org_id = bidder_org(&mut tx, caller).await?;
    let bid = q_opt!(
        tx,
        BidRow,
        "select bid_id, tender_id, bidder_org_id, state, receipt_json, signature, submitted_at,
                withdrawn_by, reason, closed_at
         from bid where tender_id = $1 and bidder_org_id = $2
         order by submitted_at desc, bid_id desc limit 1",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    let uploads = q_all!(
        tx,
        PartRow,
        "select part_id, tender_id, bidder_org_id, label, name, sha256, size_bytes, uploaded_at
         from bid_part where tender_id = $1 and bidder_org_id = $2 order by uploaded_at, part_id",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    let (count,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and bidder_org_id = $2",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    let bid = match bid {
        None => None,
        Some(b) => {
            let receipt: Value = serde_json::from_str(&b.receipt_json)
                .map_err(|e| Common::Corrupt(format!("receipt of {}: {e}", b.bid_id)))?;
            Some(BidView {
                vkey: signing_vkey(bids, &receipt, &b.receipt_json, &b.signature),
                bid_id: b.bid_id,
                state: b.state,
                submitted_at: audit::entry_time(from_millis(b.submitted_at)),
                closed_at: b.closed_at.map(|t| audit::entry_time(from_millis(t))),
                withdrawn_by: b.withdrawn_by,
                reason: b.reason,
                receipt,
                signature: b.signature,
            })
        }
    };
    Ok(MyBid {
        tender_id: tender.tender_id,
        tender_code: tender.code,
        bidder_id: org_id,
        bid_deadline_at: audit::entry_time(from_millis(tender.bid_deadline_at)),
        bid,
        submissions: count,
        uploads: uploads
            .into_iter()
            .map(|p| UploadView {
                part_id: p.part_id,
                label: p.label,
                name: p.name,
                sha256: p.sha256,
                size: p.size_bytes,
                uploaded_at: audit::entry_time(from_millis(p.uploaded_at)),
            })
            .collect(),
    })
}

/// The caller's company's bid in a tender, as [`my_bid`] shows it.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct MyBid {
    /// The tender.
    pub tender_id: String,
    /// Its project code.
    pub tender_code: String,
    /// The caller's bidder organisation.
    pub bidder_id: String,
    /// The bid deadline (RFC 3339).
    pub bid_deadline_at: String,
    /// The latest submission, or null.
    pub bid: Option<BidView>,
    /// How many submissions the company made (replacements included).
    pub submissions: i64,
    /// The company's uploaded parts.
    pub uploads: Vec<UploadView>,
}

/// A submission with its signed receipt.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct BidView {
    /// Identifier.
    pub bid_id: String,
    /// `submitted`, `withdrawn` …
    pub state: String,
    /// Submitted (RFC 3339).
    pub submitted_at: String,
    /// When it left `submitted`.
    pub closed_at: Option<String>,
    /// `bidder` or `platform` for a withdrawn bid.
    pub withdrawn_by: Option<String>,
    /// Why it was withdrawn or revoked.
    pub reason: Option<String>,
    /// The verifier key of the platform key that signed the receipt.
    pub vkey: String,
    /// The receipt as stored (its canonical JSON is what was signed).
    #[schema(value_type = Object)]
    pub receipt: Value,
    /// The signature over it.
    pub signature: String,
}

/// An uploaded part.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct UploadView {
    /// Identifier.
    pub part_id: String,
    /// `form` or `attachment`.
    pub label: String,
    /// File name.
    pub name: String,
    /// SHA-256 hex of the envelope.
    pub sha256: String,
    /// Envelope size in bytes.
    pub size: i64,
    /// Uploaded (RFC 3339).
    pub uploaded_at: String,
}
