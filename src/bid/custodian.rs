//! Custodians (开标密钥保管人) and the tender's opening key.
//!
//! A custodian enrols once, in one of two ways (docs/sealed-bidding.md, "Custodian keys"):
//!
//! - with a passkey ([`start_passkey_enrolment`], [`finish_passkey_enrolment`]): the
//!   browser generates the P-256 key pair, wraps the private scalar under a key derived from
//!   the passkey's PRF output for a salt the server issued, and sends the public key and the
//!   wrapped scalar with a WebAuthn assertion (user verification required) whose challenge
//!   binds the salt and the custodian. The server never sees the private key or the PRF
//!   output, so nothing stored can be opened by guessing;
//! - with a passphrase ([`enrol`]), for authenticators without PRF: the server creates the
//!   key pair and stores its private half locked under the passphrase (PBKDF2-HMAC-SHA256,
//!   600,000 iterations, in `spawn_blocking`) after [`check_passphrase`]; the passphrase is
//!   neither logged, stored nor returned.
//!
//! At publication [`issue_opening_key`] runs inside the publishing transaction: it draws the
//! opening seed, keeps only the derived public key, splits the seed k of n (k from the
//! rulebook's custodian quorum, n = the tender's custodians), seals each share to its
//! custodian and stores each share's digest (the check of a share opened in a browser).
//! Seed and private key are wiped before the function returns.

use crate::error::Common;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use serde::Serialize;
use serde_json::json;

use super::BidError;
use super::opening::PasskeySignatures;
use crate::audit;
use crate::clock::Clock;
use crate::clock::{from_millis, to_millis};
use crate::identity::Role;
use crate::identity::passkey;
use crate::seal::custodian::{PRF_LEN, share_digest};
use crate::seal::{self, LockedCustodianKey, PublicKey, SealError};
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::service::Caller;
use crate::{q_exec, q_opt};

/// A custodian's enrolled key as shown to them (public data only).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CustodianKeyView {
    /// The custodian.
    pub user_id: String,
    /// Standard base64 of the 65-byte SEC1 public key.
    pub public_key: String,
    /// What holds the key: `webauthn-prf` (a passkey) or `pbkdf2-hmac-sha256` (a passphrase).
    pub kdf: String,
    /// PBKDF2 iterations (passphrase keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u32>,
    /// The passkey holding the key, base64url (passkey keys only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    /// Enrolled.
    pub created_at: DateTime<Utc>,
}

fn view(user_id: &str, locked: &LockedCustodianKey, created_at: i64) -> CustodianKeyView {
    CustodianKeyView {
        user_id: user_id.to_string(),
        public_key: base64::engine::general_purpose::STANDARD.encode(locked.public_key.to_bytes()),
        kdf: locked.kdf.clone(),
        iterations: (!locked.is_passkey()).then_some(locked.iterations),
        credential_id: locked.credential_id.clone(),
        created_at: from_millis(created_at),
    }
}

/// The passphrase rule for a custodian key (the fallback for authenticators without PRF):
/// at least [`seal::custodian::MIN_PASSPHRASE_CHARS`] characters and zxcvbn's top score, 4
/// (an estimated 10^10 guesses or more), with the custodian's own name counted as a known
/// word. zxcvbn recognises common passwords, English words and names, keyboard patterns,
/// repeats, sequences and dates. The key is stored where a stolen database copy can be
/// attacked offline, so the bar is high: a score of 3 (10^8 guesses) falls to PBKDF2 at
/// 600,000 iterations in hours on a few GPUs.
pub fn check_passphrase(passphrase: &str, user_inputs: &[&str]) -> Result<(), BidError> {
    let min = seal::custodian::MIN_PASSPHRASE_CHARS;
    if passphrase.chars().count() < min {
        return Err(BidError::WeakPassphrase(min));
    }
    // zxcvbn's cost grows with the length; a passphrase past this is not weak by length,
    // and only its first part is scored.
    let scored: String = passphrase.chars().take(100).collect();
    // Names are typed with and without their spaces ("Zhang Wei", "zhangwei").
    let squeezed: Vec<String> = user_inputs
        .iter()
        .map(|u| u.split_whitespace().collect::<String>())
        .collect();
    let mut inputs: Vec<&str> = user_inputs.to_vec();
    inputs.extend(squeezed.iter().map(String::as_str));
    let score = zxcvbn::zxcvbn(&scored, &inputs).score();
    if u8::from(score) < 4 {
        return Err(BidError::WeakPassphrase(min));
    }
    Ok(())
}

fn require_custodian(caller: &Caller) -> Result<(), BidError> {
    if caller.user.role == Role::Custodian {
        Ok(())
    } else {
        Err(
            Common::Forbidden("only key custodians may do this / 仅开标密钥保管人可执行此操作")
                .into(),
        )
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
    ensure_not_enrolled(db, &caller.user.user_id).await?;
    check_passphrase(&passphrase, &[caller.user.name.as_str()])?;
    // PBKDF2 with 600,000 iterations takes a noticeable fraction of a second.
    let locked = tokio::task::spawn_blocking(move || {
        LockedCustodianKey::generate(&passphrase, &SystemRandom::new())
    })
    .await
    .map_err(|e| Common::Corrupt(format!("key generation task: {e}")))?
    .map_err(|e| match e {
        SealError::WeakPassphrase(n) => BidError::WeakPassphrase(n),
        other => BidError::Crypto(other),
    })?;
    store_key(
        db,
        now,
        caller,
        &locked,
        json!({"iterations": locked.iterations}),
    )
    .await
}

async fn ensure_not_enrolled(db: &Db, user_id: &str) -> Result<(), BidError> {
    let mut tx = db.read().await?;
    if key_of(&mut tx, user_id).await?.is_some() {
        return Err(BidError::AlreadyEnrolled);
    }
    Ok(())
}

/// Stores a new custodian key and appends `custodian.enrol` (public key, kdf and `extra`).
async fn store_key(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    locked: &LockedCustodianKey,
    extra: serde_json::Value,
) -> Result<CustodianKeyView, BidError> {
    let locked_json = serde_json::to_string(locked).map_err(|e| Common::Corrupt(e.to_string()))?;
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
    let mut payload = json!({"custodian": caller.user.user_id, "public_key": public_b64,
                             "kdf": locked.kdf});
    if let (Some(p), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        p.extend(extra.clone());
    }
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "custodian.enrol",
        None,
        payload,
    )
    .await?;
    tx.commit().await?;
    Ok(view(&caller.user.user_id, locked, to_millis(now)))
}

/// What the browser needs to enrol a key held by a passkey.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyEnrolment {
    /// The assertion ceremony to finish with.
    pub ceremony_id: String,
    /// Options for `navigator.credentials.get` (the browser adds the PRF extension).
    #[schema(value_type = Object)]
    pub options: webauthn_rs::prelude::RequestChallengeResponse,
    /// The PRF input `eval.first` for this key: 32 random bytes, standard base64.
    pub prf_salt: String,
}

/// The challenge of an enrolment assertion: it binds the custodian and the PRF salt the
/// server issued, so the finish cannot bring another salt.
fn enrol_challenge(user_id: &str, prf_salt: &[u8]) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(b"sunbid/v1/custodian-enrol\0");
    ctx.update(user_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(prf_salt);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Starts enrolling a key held by one of the caller's passkeys: a fresh PRF salt and an
/// assertion ceremony (user verification required) whose challenge binds it. The caller
/// must have registered a passkey (404 `NO_PASSKEY` otherwise).
pub async fn start_passkey_enrolment(
    db: &Db,
    passkeys: &impl PasskeySignatures,
    caller: &Caller,
) -> Result<PasskeyEnrolment, BidError> {
    require_custodian(caller)?;
    ensure_not_enrolled(db, &caller.user.user_id).await?;
    let mut salt = [0u8; PRF_LEN];
    ring::rand::SecureRandom::fill(&SystemRandom::new(), &mut salt)
        .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let challenge = enrol_challenge(&caller.user.user_id, &salt);
    let (ceremony_id, options) = passkeys
        .start_signature(&caller.user.user_id, &challenge)
        .await?;
    Ok(PasskeyEnrolment {
        ceremony_id,
        options,
        prf_salt: STANDARD.encode(salt),
    })
}

/// What the browser sends to finish a passkey enrolment (base64 fields standard, with
/// padding).
#[derive(Debug)]
pub struct PasskeyEnrolInput {
    /// From [`start_passkey_enrolment`].
    pub ceremony_id: String,
    /// The assertion (`PublicKeyCredential` JSON, without PRF results).
    pub credential: serde_json::Value,
    /// The salt issued at the start.
    pub prf_salt: String,
    /// The new public key, SEC1 uncompressed (65 bytes).
    pub public_key: String,
    /// The AES-256-GCM nonce (12 bytes).
    pub nonce: String,
    /// The wrapped private scalar and tag (48 bytes).
    pub wrapped_key: String,
}

fn decode_field(name: &str, text: &str) -> Result<Vec<u8>, BidError> {
    STANDARD
        .decode(text.as_bytes())
        .map_err(|_| BidError::InvalidKeyRecord(format!("{name} is not standard base64")))
}

/// Finishes a passkey enrolment: the record is checked first (a malformed one leaves the
/// ceremony usable), then the assertion (the caller's, user verified, challenge binding the
/// issued salt); the key is stored bound to the credential that signed, with
/// `custodian.enrol` (kdf `webauthn-prf`, credential id, signature counter).
pub async fn finish_passkey_enrolment(
    db: &Db,
    clock: &dyn Clock,
    passkeys: &impl PasskeySignatures,
    caller: &Caller,
    input: PasskeyEnrolInput,
) -> Result<CustodianKeyView, BidError> {
    require_custodian(caller)?;
    ensure_not_enrolled(db, &caller.user.user_id).await?;
    let prf_salt = decode_field("prf_salt", &input.prf_salt)?;
    let public_key = PublicKey::from_bytes(&decode_field("public_key", &input.public_key)?)
        .map_err(|_| {
            BidError::InvalidKeyRecord("public_key is not a 65-byte P-256 point".into())
        })?;
    let nonce = decode_field("nonce", &input.nonce)?;
    let wrapped = decode_field("wrapped_key", &input.wrapped_key)?;
    // The credential id is the one that signs; a placeholder passes the length checks now.
    LockedCustodianKey::from_passkey_prf(
        public_key.clone(),
        nonce.clone(),
        wrapped.clone(),
        "AA".into(),
        prf_salt.clone(),
    )
    .map_err(|e| BidError::InvalidKeyRecord(e.to_string()))?;
    let credential = passkey::parse_assertion(input.credential)?;
    let verified = passkeys
        .verify_signature(
            &caller.actor,
            &caller.user.user_id,
            &input.ceremony_id,
            &credential,
            &enrol_challenge(&caller.user.user_id, &prf_salt),
        )
        .await?;
    let locked = LockedCustodianKey::from_passkey_prf(
        public_key,
        nonce,
        wrapped,
        verified.credential_id.clone(),
        prf_salt,
    )
    .map_err(|e| BidError::InvalidKeyRecord(e.to_string()))?;
    // The time after the ceremony is verified, as the key is stored.
    store_key(
        db,
        clock.now(),
        caller,
        &locked,
        json!({"credential_id": verified.credential_id, "passkey_id": verified.passkey_id,
               "sign_count": verified.counter, "user_verified": verified.user_verified}),
    )
    .await
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
            .map_err(|e| Common::Corrupt(format!("custodian key of {user_id}: {e}")).into())
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

/// The enrolled public keys of `custodians`, in their order. When one has not enrolled,
/// nothing is returned and the error names everyone who has not.
pub(crate) async fn enrolled_keys(
    tx: &mut Tx,
    custodians: &[String],
) -> Result<Vec<(String, seal::CustodianPublicKey)>, BidError> {
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
    Ok(keys)
}

/// One share of a new opening key, sealed to its custodian.
pub(crate) struct SealedFor {
    /// The custodian.
    pub user_id: String,
    /// The Shamir participant id (public).
    pub index: u8,
    /// The `SealedShare` JSON.
    pub sealed_json: String,
    /// Lower-case hex of the share's digest ([`share_digest`]).
    pub digest: String,
}

/// Draws a new opening key, splits its seed k of n among `keys` and seals each share to its
/// custodian, bound to `binding_id` (a tender or a trade id). Seed and private key are wiped
/// before this returns; the shares leave only sealed.
pub(crate) fn split_to(
    keys: &[(String, seal::CustodianPublicKey)],
    k: u32,
    binding_id: &str,
) -> Result<(PublicKey, Vec<SealedFor>), BidError> {
    let rng = SystemRandom::new();
    let (public, shares) =
        seal::opening::new_opening_key(k as usize, keys.len(), &rng).map_err(BidError::Crypto)?;
    let mut out = Vec::with_capacity(keys.len());
    for ((user_id, custodian_pk), share) in keys.iter().zip(shares.iter()) {
        let sealed = seal::encrypt_share_to(custodian_pk, share, binding_id, &rng)
            .map_err(BidError::Crypto)?;
        out.push(SealedFor {
            user_id: user_id.clone(),
            index: share.id(),
            sealed_json: serde_json::to_string(&sealed)
                .map_err(|e| Common::Corrupt(e.to_string()))?,
            digest: hex::encode(share_digest(binding_id, share)),
        });
    }
    drop(shares);
    Ok((public, out))
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
    let keys = enrolled_keys(tx, custodians).await?;
    let n = keys.len();
    let (public, shares) = split_to(&keys, k, tender_id)?;
    let mut issued = Vec::with_capacity(n);
    for s in shares {
        q_exec!(
            tx,
            "insert into tender_key_share (tender_id, user_id, share_index, sealed_json, share_sha256)
             values ($1, $2, $3, $4, $5)",
            tender_id.to_string(),
            s.user_id.clone(),
            i64::from(s.index),
            s.sealed_json,
            s.digest
        )?;
        issued.push((s.user_id, s.index));
    }
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
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
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
    .ok_or(Common::NotFound("opening key"))?;
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
        .map_err(|e| Common::Corrupt(format!("opening public key: {e}")))?;
    PublicKey::from_bytes(&bytes).map_err(BidError::Crypto)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_passphrase_rule_refuses_short_common_and_patterned_ones() {
        for weak in [
            "short",
            "password1234",
            "passwordpassword",
            "123456789012",
            "qwertyuiopasdf",
            "aaaaaaaaaaaaaaaa",
            "zhangwei19850101",
            "Zhang Wei 2024!",
        ] {
            assert!(
                matches!(
                    check_passphrase(weak, &["Zhang Wei"]),
                    Err(BidError::WeakPassphrase(12))
                ),
                "{weak} was accepted"
            );
        }
        for strong in [
            "correct-horse-battery",
            "sunbid-demo-2026",
            "plum river lantern seventeen",
            "我的开标口令是青山绿水长流",
        ] {
            assert!(
                check_passphrase(strong, &[]).is_ok(),
                "{strong} was refused"
            );
        }
    }
}
