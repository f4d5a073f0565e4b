//! Custodians (开标密钥保管人) and the tender's opening key.
//!
//! A custodian enrols once: the server creates a P-256 key pair and stores its private half
//! only locked under the custodian's passphrase (PBKDF2-HMAC-SHA256, 600,000 iterations,
//! in `spawn_blocking`); the passphrase is neither logged, stored nor returned. At
//! publication [`issue_opening_key`] runs inside the publishing transaction: it draws the
//! opening seed, keeps only the derived public key, splits the seed k of n (k from the
//! rulebook's custodian quorum, n = the tender's custodians) and seals each share to its
//! custodian. Seed and private key are wiped before the function returns.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use serde::Serialize;
use serde_json::json;

use super::BidError;
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::identity::Role;
use crate::seal::{self, LockedCustodianKey, PublicKey, SealError};
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::service::Caller;
use crate::{q_exec, q_opt};

/// A custodian's enrolled key as shown to them (public data only).
#[derive(Clone, Debug, Serialize)]
pub struct CustodianKeyView {
    /// The custodian.
    pub user_id: String,
    /// Standard base64 of the 65-byte SEC1 public key.
    pub public_key: String,
    /// Key derivation of the lock.
    pub kdf: String,
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Enrolled.
    pub created_at: DateTime<Utc>,
}

fn view(user_id: &str, locked: &LockedCustodianKey, created_at: i64) -> CustodianKeyView {
    CustodianKeyView {
        user_id: user_id.to_string(),
        public_key: base64::engine::general_purpose::STANDARD.encode(locked.public_key.to_bytes()),
        kdf: locked.kdf.clone(),
        iterations: locked.iterations,
        created_at: from_millis(created_at),
    }
}

fn require_custodian(caller: &Caller) -> Result<(), BidError> {
    if caller.user.role == Role::Custodian {
        Ok(())
    } else {
        Err(BidError::Forbidden(
            "only key custodians may do this / 仅开标密钥保管人可执行此操作",
        ))
    }
}

/// Enrols the caller's custodian key. Refused when one exists: shares already sealed to it
/// would be lost (re-keying is an operator procedure, see docs/sealed-bidding.md).
pub async fn enrol(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    passphrase: String,
) -> Result<CustodianKeyView, BidError> {
    require_custodian(caller)?;
    {
        let mut tx = db.read().await?;
        if key_of(&mut tx, &caller.user.user_id).await?.is_some() {
            return Err(BidError::AlreadyEnrolled);
        }
    }
    // PBKDF2 with 600,000 iterations takes a noticeable fraction of a second.
    let locked = tokio::task::spawn_blocking(move || {
        LockedCustodianKey::generate(&passphrase, &SystemRandom::new())
    })
    .await
    .map_err(|e| BidError::Corrupt(format!("key generation task: {e}")))?
    .map_err(|e| match e {
        SealError::WeakPassphrase(n) => BidError::WeakPassphrase(n),
        other => BidError::Crypto(other),
    })?;
    let locked_json =
        serde_json::to_string(&locked).map_err(|e| BidError::Corrupt(e.to_string()))?;
    let public_b64 = base64::engine::general_purpose::STANDARD.encode(locked.public_key.to_bytes());
    let mut tx = db.begin().await?;
    let inserted = q_exec!(
        tx,
        "insert into custodian_key (user_id, public_key, locked_json, created_at) values ($1, $2, $3, $4)",
        caller.user.user_id.clone(),
        public_b64.clone(),
        locked_json,
        to_millis(now)
    );
    match inserted {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(BidError::AlreadyEnrolled),
        Err(e) => return Err(e.into()),
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "custodian.enrol",
        None,
        json!({"custodian": caller.user.user_id, "public_key": public_b64,
               "kdf": locked.kdf, "iterations": locked.iterations}),
    )
    .await?;
    tx.commit().await?;
    Ok(view(&caller.user.user_id, &locked, to_millis(now)))
}

/// The caller's enrolled key (public part).
pub async fn my_key(db: &Db, caller: &Caller) -> Result<CustodianKeyView, BidError> {
    require_custodian(caller)?;
    let mut tx = db.read().await?;
    let (locked, at) = key_of(&mut tx, &caller.user.user_id)
        .await?
        .ok_or(BidError::NotEnrolled)?;
    Ok(view(&caller.user.user_id, &locked, at))
}

/// A user's locked key and when it was enrolled.
pub(crate) async fn key_of(
    tx: &mut Tx,
    user_id: &str,
) -> Result<Option<(LockedCustodianKey, i64)>, BidError> {
    let row = q_opt!(
        tx,
        (String, i64),
        "select locked_json, created_at from custodian_key where user_id = $1",
        user_id.to_string()
    )?;
    row.map(|(json, at)| {
        serde_json::from_str::<LockedCustodianKey>(&json)
            .map(|k| (k, at))
            .map_err(|e| BidError::Corrupt(format!("custodian key of {user_id}: {e}")))
    })
    .transpose()
}

/// What publication issued, for the `tender.publish` audit payload.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedKey {
    /// base64url (no padding) of the 65-byte SEC1 opening public key.
    pub public_key: String,
    /// Shares needed.
    pub k: u32,
    /// Shares issued.
    pub n: u32,
    /// `(custodian user id, Shamir share index)`.
    pub shares: Vec<(String, u8)>,
}

/// Generates and stores the tender's opening key inside the publishing transaction (see the
/// module comment). Every custodian must have enrolled, otherwise nothing is written and
/// the error names who has not.
pub async fn issue_opening_key(
    tx: &mut Tx,
    now: DateTime<Utc>,
    tender_id: &str,
    custodians: &[String],
    k: u32,
) -> Result<IssuedKey, BidError> {
    let mut keys = Vec::with_capacity(custodians.len());
    let mut missing = Vec::new();
    for user_id in custodians {
        match key_of(tx, user_id).await? {
            Some((locked, _)) => keys.push((user_id.clone(), locked.public_key)),
            None => {
                let name = q_opt!(
                    tx,
                    (String,),
                    "select display_name from app_user where user_id = $1",
                    user_id.clone()
                )?
                .map(|r| r.0)
                .unwrap_or_default();
                missing.push(format!("{name} ({user_id})"));
            }
        }
    }
    if !missing.is_empty() {
        return Err(BidError::CustodiansNotEnrolled(missing));
    }
    let n = keys.len();
    let rng = SystemRandom::new();
    // The seed and private key live only inside new_opening_key; the shares are wiped on
    // drop once sealed.
    let (public, shares) =
        seal::opening::new_opening_key(k as usize, n, &rng).map_err(BidError::Crypto)?;
    let mut issued = Vec::with_capacity(n);
    for ((user_id, custodian_pk), share) in keys.iter().zip(shares.iter()) {
        let sealed = seal::encrypt_share_to(custodian_pk, share, tender_id, &rng)
            .map_err(BidError::Crypto)?;
        let sealed_json =
            serde_json::to_string(&sealed).map_err(|e| BidError::Corrupt(e.to_string()))?;
        q_exec!(
            tx,
            "insert into tender_key_share (tender_id, user_id, share_index, sealed_json) values ($1, $2, $3, $4)",
            tender_id.to_string(),
            user_id.clone(),
            i64::from(share.id()),
            sealed_json
        )?;
        issued.push((user_id.clone(), share.id()));
    }
    drop(shares);
    let public_key = URL_SAFE_NO_PAD.encode(public.to_bytes());
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    q_exec!(
        tx,
        "insert into tender_opening_key (tender_id, public_key, k, n, created_at) values ($1, $2, $3, $4, $5)",
        tender_id.to_string(),
        public_key.clone(),
        i64::from(k),
        i64::from(n),
        to_millis(now)
    )?;
    Ok(IssuedKey {
        public_key,
        k,
        n,
        shares: issued,
    })
}

/// `GET /api/v1/tenders/{code}/opening-key`.
#[derive(Clone, Debug, Serialize)]
pub struct OpeningKeyView {
    /// Tender id (what envelopes bind).
    pub tender_id: String,
    /// base64url (no padding) of the 65-byte SEC1 uncompressed point.
    pub public_key: String,
    /// Shares needed to open.
    pub k: u32,
    /// Shares issued.
    pub n: u32,
}

/// The published opening key of a tender (404 for drafts and tenders published before
/// sealed bidding existed).
pub async fn opening_key(db: &Db, code: &str) -> Result<OpeningKeyView, BidError> {
    let mut tx = db.read().await?;
    let row = q_opt!(
        tx,
        (String, String, i64, i64),
        "select t.tender_id, k.public_key, k.k, k.n from tender t
         join tender_opening_key k on k.tender_id = t.tender_id
         where t.code = $1 and t.published_at is not null",
        code.to_string()
    )?
    .ok_or(BidError::NotFound("opening key"))?;
    Ok(OpeningKeyView {
        tender_id: row.0,
        public_key: row.1,
        k: u32::try_from(row.2).unwrap_or(0),
        n: u32::try_from(row.3).unwrap_or(0),
    })
}

/// Parses a stored opening public key.
pub(crate) fn parse_public_key(b64url: &str) -> Result<PublicKey, BidError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(b64url.as_bytes())
        .map_err(|e| BidError::Corrupt(format!("opening public key: {e}")))?;
    PublicKey::from_bytes(&bytes).map_err(BidError::Crypto)
}
