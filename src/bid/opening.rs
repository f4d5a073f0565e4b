//! The opening ceremony (开标, 招标投标法 第34–36条, 条例 第44条).
//!
//! 1. After the deadline the owning agent starts the opening. Fewer current bids than the
//!    rulebook's minimum (法 第28条: 3): the tender fails (流标) at once and nothing is
//!    decrypted. Otherwise the opening waits for key shares (`unlocking`).
//! 2. Each custodian of the tender unlocks their share: with the passkey that holds their
//!    key (the browser unwraps the key with the passkey's PRF output, opens the share and
//!    posts it with a user-verified assertion bound to this unlock; the server accepts only
//!    the share whose digest it stored at publication), or with their passphrase (the server
//!    unlocks the key and opens the share). A wrong passphrase or a wrong share is counted
//!    and audited, and five in a row delay the next attempt
//!    ([`super::unlock_limit`]). The unlocked share is kept **only in this
//!    process's memory** ([`Ceremonies`], in `AppState`); the database records who unlocked
//!    and when, never the share. So the ceremony must run against one server process (pin
//!    it with the load balancer); a restart loses the shares in memory and the custodians
//!    simply unlock again (an unlock recorded in the database but absent from memory may be
//!    repeated, and the repetition is audited).
//! 3. When k shares are in memory, the key is rebuilt and checked against the published
//!    public key (`rebuild_and_check`: one custodian alone can never open), every part of
//!    every current bid is decrypted with `open_stream` into a temporary file in the blob
//!    directory, its stored ciphertext is checked against the receipt digest, the bid form
//!    is parsed, and the opening record (开标记录) is published; the tender becomes `opened`.
//!    Key and shares are wiped on drop (zeroize).
//! 4. Outcomes, decided by [`super::fault`]: once the stored bytes match the receipt digest
//!    (and the key was verified in step 3), any failure to open is in the bidder's bytes and
//!    makes the bid revoked (撤销); a stored envelope that is missing or changed, or the
//!    platform's own failure (I/O), makes it withdrawn (撤回) by the platform. A platform
//!    failure takes precedence when both occur, so a bidder is never penalised for the
//!    platform's fault. The reason is recorded either way and the opening of the other bids
//!    goes on.
//! 5. Plaintext: the parts of valid bids are kept in the blob store (content-addressed,
//!    `bid_part.plain_sha256`) for the evaluation — the opening is public, so holding them
//!    in clear from now on is lawful; parts of revoked/withdrawn bids are deleted at once.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ring::digest;
use serde::Serialize;
use serde_json::{Value, json};

use super::BidError;
use super::custodian::{key_of, parse_public_key};
use super::fault::{Fault, PartFailure};
use super::model::{BidForm, MAX_FORM_BYTES, TenderRef};
use super::service::{bidder_org, tender_ref};
use super::unlock_limit;
use crate::audit;
use crate::clock::{from_millis, to_millis};
use crate::http::AppState;
use crate::identity::{Role, passkey};
use crate::ids::new_id;
use crate::seal::custodian::share_digest;
use crate::seal::{self, LockedCustodianKey, PrivateKey, SealError, SealedShare, Share};
use crate::store::blob::{BlobStore, BlobWriter, sha256_hex};
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::rulebook::Rulebooks;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

/// Unlocked shares held in this process, by tender id, and the unlock attempts being
/// checked. Never persisted, never logged.
#[derive(Default)]
pub struct Ceremonies {
    inner: Mutex<HashMap<String, Pending>>,
    /// (tender id, custodian user id) of the passphrase checks running now.
    attempts: Mutex<HashSet<(String, String)>>,
}

/// One running passphrase check; dropping it (however the attempt ends, a panic or a
/// cancelled request included) lets the next attempt of that custodian in.
pub(super) struct AttemptGuard {
    ceremonies: Arc<Ceremonies>,
    key: (String, String),
}

impl Drop for AttemptGuard {
    fn drop(&mut self) {
        self.ceremonies
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

impl std::fmt::Debug for Ceremonies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ceremonies(..)")
    }
}

#[derive(Default)]
struct Pending {
    /// (custodian user id, share).
    shares: Vec<(String, Share)>,
    /// The opening is running with shares taken from here.
    opening: bool,
}

impl Ceremonies {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many shares are held for a tender (and whether the opening runs now).
    pub fn held(&self, tender_id: &str) -> (usize, bool) {
        self.lock()
            .get(tender_id)
            .map(|p| (p.shares.len(), p.opening))
            .unwrap_or((0, false))
    }

    fn holds(&self, tender_id: &str, user_id: &str) -> bool {
        self.lock()
            .get(tender_id)
            .is_some_and(|p| p.opening || p.shares.iter().any(|(u, _)| u == user_id))
    }

    /// Adds a share; when `k` are held, takes them all out for the opening.
    fn add(
        &self,
        tender_id: &str,
        user_id: &str,
        share: Share,
        k: usize,
    ) -> Result<Option<Vec<Share>>, BidError> {
        let mut map = self.lock();
        let entry = map.entry(tender_id.to_string()).or_default();
        if entry.opening || entry.shares.iter().any(|(u, _)| u == user_id) {
            return Err(BidError::AlreadyUnlocked);
        }
        entry.shares.push((user_id.to_string(), share));
        if entry.shares.len() >= k {
            entry.opening = true;
            let shares = std::mem::take(&mut entry.shares);
            return Ok(Some(shares.into_iter().map(|(_, s)| s).collect()));
        }
        Ok(None)
    }

    /// Claims the one passphrase check of `user_id` for `tender_id` that may run at a time.
    pub(super) fn begin_attempt(
        self: &Arc<Self>,
        tender_id: &str,
        user_id: &str,
    ) -> Result<AttemptGuard, BidError> {
        let key = (tender_id.to_string(), user_id.to_string());
        let fresh = self
            .attempts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        if !fresh {
            return Err(BidError::UnlockInProgress);
        }
        Ok(AttemptGuard {
            ceremonies: Arc::clone(self),
            key,
        })
    }

    /// Forgets everything about a tender (after the opening, or after it failed).
    fn clear(&self, tender_id: &str) {
        self.lock().remove(tender_id);
    }
}

fn rulebook<'a>(
    books: &'a Rulebooks,
    t: &TenderRef,
) -> Result<&'a crate::tender::rulebook::Rulebook, BidError> {
    books
        .by_id(&t.rulebook_id)
        .or_else(|| books.get(&t.category, &t.procedure))
        .ok_or_else(|| BidError::Corrupt(format!("no rulebook {}", t.rulebook_id)))
}

pub(crate) fn ensure_owner(caller: &Caller, t: &TenderRef) -> Result<(), BidError> {
    if caller.user.role == Role::Agent
        && caller.user.org_id.is_some()
        && caller.user.org_id == t.agent_org_id
    {
        Ok(())
    } else {
        Err(BidError::Forbidden(
            "only the agent organisation that owns this tender may do this / 仅该项目的招标代理单位可执行此操作",
        ))
    }
}

async fn opening_state(tx: &mut Tx, tender_id: &str) -> Result<Option<String>, BidError> {
    Ok(q_opt!(
        tx,
        (String,),
        "select state from opening where tender_id = $1",
        tender_id.to_string()
    )?
    .map(|r| r.0))
}

async fn key_params(tx: &mut Tx, tender_id: &str) -> Result<(String, u32, u32), BidError> {
    let (pk, k, n): (String, i64, i64) = q_opt!(
        tx,
        (String, i64, i64),
        "select public_key, k, n from tender_opening_key where tender_id = $1",
        tender_id.to_string()
    )?
    .ok_or(BidError::NotFound("opening key"))?;
    Ok((
        pk,
        u32::try_from(k).unwrap_or(0),
        u32::try_from(n).unwrap_or(0),
    ))
}

/// The owning agent starts the opening after the deadline (see the module comment).
pub async fn start(
    state: &AppState,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Value, BidError> {
    let mut tx = state.db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    if opening_state(&mut tx, &tender.tender_id).await?.is_some() {
        return Err(BidError::OpeningAlreadyStarted);
    }
    match tender.state.as_str() {
        "closed" => {}
        "published" if tender.bid_deadline_at <= to_millis(now) => {
            // The deadline job has not run yet: close here, in this transaction.
            let n = q_exec!(
                tx,
                "update tender set state = 'closed', updated_at = $1
                 where tender_id = $2 and state = 'published' and bid_deadline_at <= $1",
                to_millis(now),
                tender.tender_id.clone()
            )?;
            if n == 0 {
                return Err(BidError::Conflict);
            }
            audit::append(
                &mut tx,
                now,
                &caller.actor,
                "tender.close",
                Some(&tender.tender_id),
                json!({"reason": "bid deadline reached; closed when the opening started / 投标截止时间已到"}),
            )
            .await?;
        }
        "published" => return Err(BidError::OpeningTooEarly),
        "opened" | "failed" | "evaluating" | "publicity" | "awarded" | "contracted" => {
            return Err(BidError::OpeningAlreadyStarted);
        }
        other => {
            return Err(BidError::WrongState {
                action: "open the bids",
                state: other.to_string(),
            });
        }
    }
    let (_, k, n) = key_params(&mut tx, &tender.tender_id).await?;
    let book = rulebook(&state.rulebooks, &tender)?;
    let min = book.rules.min_valid_bids.value;
    let (bids,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and state = 'submitted'",
        tender.tender_id.clone()
    )?;
    let (withdrawn,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from bid where tender_id = $1 and state = 'withdrawn'",
        tender.tender_id.clone()
    )?;
    if bids < i64::from(min) {
        // 招标投标法 第28条: fewer than 3 bidders — do not open; re-tender.
        let record = json!({
            "v": 1, "tender_id": tender.tender_id, "tender_code": tender.code,
            "outcome": "failed", "bids_received": bids, "withdrawn_before_deadline": withdrawn,
            "min_required": min, "article": book.rules.min_valid_bids.article,
            "decided_at": audit::entry_time(now),
            "message": format!("fewer than {min} bids: the tender fails (流标), no bid is opened / 投标人少于{min}个，不得开标，依法重新招标"),
        });
        let record_json = serde_json_canonicalizer::to_string(&record)
            .map_err(|e| BidError::Corrupt(e.to_string()))?;
        let n = q_exec!(
            tx,
            "update tender set state = 'failed', updated_at = $1 where tender_id = $2 and state = 'closed'",
            to_millis(now),
            tender.tender_id.clone()
        )?;
        if n == 0 {
            return Err(BidError::Conflict);
        }
        insert_opening(
            &mut tx,
            now,
            caller,
            &tender.tender_id,
            "failed",
            Some(&record_json),
        )
        .await?;
        audit::append(
            &mut tx,
            now,
            &caller.actor,
            "tender.fail",
            Some(&tender.tender_id),
            record,
        )
        .await?;
    } else {
        insert_opening(&mut tx, now, caller, &tender.tender_id, "unlocking", None).await?;
        audit::append(
            &mut tx,
            now,
            &caller.actor,
            "opening.start",
            Some(&tender.tender_id),
            json!({"bids_received": bids, "withdrawn_before_deadline": withdrawn,
                   "k": k, "n": n, "started_at": audit::entry_time(now)}),
        )
        .await?;
    }
    tx.commit().await?;
    view(state, code).await
}

async fn insert_opening(
    tx: &mut Tx,
    now: DateTime<Utc>,
    caller: &Caller,
    tender_id: &str,
    state: &str,
    record_json: Option<&str>,
) -> Result<(), BidError> {
    let digest = record_json.map(|r| sha256_hex(r.as_bytes()));
    let res = q_exec!(
        tx,
        "insert into opening (tender_id, state, started_by, started_at, finished_at, record_json, record_sha256)
         values ($1, $2, $3, $4, $5, $6, $7)",
        tender_id.to_string(),
        state.to_string(),
        caller.user.user_id.clone(),
        to_millis(now),
        record_json.map(|_| to_millis(now)),
        record_json.map(str::to_string),
        digest
    );
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(BidError::OpeningAlreadyStarted),
        Err(e) => Err(e.into()),
    }
}

/// How a custodian proves their share at an unlock.
pub enum UnlockProof {
    /// The passphrase of a version-1 key: the server unlocks the key and opens the share.
    Passphrase(String),
    /// A key held by a passkey: the share the browser opened, and the assertion (challenge
    /// from [`start_passkey_unlock`]) that shows the custodian was present.
    Passkey(PasskeyUnlock),
}

/// A passphrase (the passphrase path's shorthand, as tests and the CLI use it).
impl From<String> for UnlockProof {
    fn from(passphrase: String) -> Self {
        UnlockProof::Passphrase(passphrase)
    }
}

impl From<&str> for UnlockProof {
    fn from(passphrase: &str) -> Self {
        UnlockProof::Passphrase(passphrase.to_owned())
    }
}

/// A share opened in the custodian's browser, with the assertion that accompanies it.
pub struct PasskeyUnlock {
    /// From [`start_passkey_unlock`].
    pub ceremony_id: String,
    /// The assertion (`PublicKeyCredential` JSON, without PRF results).
    pub credential: Value,
    /// The nonce issued by [`start_passkey_unlock`] (standard base64, 16 bytes).
    pub nonce: String,
    /// The opened share (standard base64 of its 33 bytes). Secret: never logged.
    pub share: String,
}

impl std::fmt::Debug for PasskeyUnlock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasskeyUnlock { share: *** }")
    }
}

/// Length of the random part of an unlock challenge.
const UNLOCK_NONCE_LEN: usize = 16;

/// The challenge of an unlock assertion: SHA-256 over a label, the tender, the custodian and
/// a random nonce, so an assertion is good for one unlock of one tender by one custodian
/// (the ceremony itself is single-use and expires after five minutes).
fn unlock_challenge(tender_id: &str, user_id: &str, nonce: &[u8]) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"sunbid/v1/custodian-unlock\0");
    ctx.update(tender_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(user_id.as_bytes());
    ctx.update(&[0]);
    ctx.update(nonce);
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The proof checked inside an attempt, with what checking it needs.
enum Checked {
    Passphrase {
        locked: Box<LockedCustodianKey>,
        sealed: Box<SealedShare>,
        passphrase: String,
    },
    Passkey {
        input: PasskeyUnlock,
        credential_id: String,
        digest: String,
    },
}

/// One unlock attempt of one custodian, with everything it records.
struct Attempt {
    state: AppState,
    actor: audit::Actor,
    tender: TenderRef,
    user_id: String,
}

impl Attempt {
    /// Checks the proof. A wrong passphrase or a wrong share is counted and audited
    /// ([`unlock_limit::record_failure`]); a right one records the unlock and resets the
    /// count. Any other outcome (a passkey ceremony that fails, say) leaves the count as it was.
    async fn run(self, proof: Checked) -> Result<Share, BidError> {
        let (opened, method) = match proof {
            Checked::Passphrase {
                locked,
                sealed,
                passphrase,
            } => {
                // PBKDF2 + HPKE open: slow, off the async threads.
                let tender_id = self.tender.tender_id.clone();
                let opened = tokio::task::spawn_blocking(move || {
                    seal::decrypt_share(&locked, &passphrase, &sealed, &tender_id)
                })
                .await
                .map_err(|e| BidError::Corrupt(format!("unlock task: {e}")))?;
                match opened {
                    Ok(share) => (Ok(share), json!({"method": "passphrase"})),
                    Err(SealError::WrongPassphrase) => {
                        (Err(unlock_limit::Failure::Passphrase), Value::Null)
                    }
                    Err(other) => return Err(BidError::Crypto(other)),
                }
            }
            Checked::Passkey {
                input,
                credential_id,
                digest,
            } => {
                let verified = self.verify_passkey(&input, &credential_id).await?;
                let method = json!({"method": "passkey", "credential_id": verified.credential_id,
                                    "sign_count": verified.counter});
                (
                    check_share(&input.share, &self.tender.tender_id, &digest),
                    method,
                )
            }
        };
        match opened {
            Ok(share) => self.record_unlock(&share, method).await.map(|()| share),
            Err(failure) => Err(unlock_limit::record_failure(
                &self.state.db,
                self.state.clock.now(),
                &self.actor,
                &self.tender.tender_id,
                &self.user_id,
                failure,
            )
            .await?),
        }
    }

    /// The assertion must be this custodian's, user-verified, made with the passkey that
    /// holds their key, over the challenge issued for this tender's unlock.
    async fn verify_passkey(
        &self,
        input: &PasskeyUnlock,
        credential_id: &str,
    ) -> Result<passkey::VerifiedAssertion, BidError> {
        let nonce = STANDARD
            .decode(input.nonce.as_bytes())
            .ok()
            .filter(|n| n.len() == UNLOCK_NONCE_LEN)
            .ok_or(BidError::Passkey(passkey::PasskeyError::ChallengeMismatch))?;
        let credential = passkey::parse_assertion(input.credential.clone())?;
        let verified = passkey::verify_signature(
            &self.state,
            &self.actor,
            &self.user_id,
            &input.ceremony_id,
            &credential,
            &unlock_challenge(&self.tender.tender_id, &self.user_id, &nonce),
        )
        .await?;
        if verified.credential_id != credential_id {
            return Err(BidError::WrongPasskey);
        }
        Ok(verified)
    }

    /// Records the unlock (never the share) and resets the failure count.
    async fn record_unlock(&self, share: &Share, method: Value) -> Result<(), BidError> {
        let (tender, user_id) = (&self.tender, &self.user_id);
        let now = self.state.clock.now();
        let mut tx = self.state.db.begin().await?;
        if opening_state(&mut tx, &tender.tender_id).await?.as_deref() != Some("unlocking") {
            return Err(BidError::NotUnlocking);
        }
        let repeat = q_opt!(
            tx,
            (i64,),
            "select unlocked_at from opening_unlock where tender_id = $1 and user_id = $2",
            tender.tender_id.clone(),
            user_id.clone()
        )?
        .is_some();
        if !repeat {
            q_exec!(
                tx,
                "insert into opening_unlock (tender_id, user_id, unlocked_at) values ($1, $2, $3)",
                tender.tender_id.clone(),
                user_id.clone(),
                to_millis(now)
            )?;
        }
        unlock_limit::reset(&mut tx, &tender.tender_id, user_id).await?;
        let mut payload =
            json!({"custodian": user_id, "share_index": share.id(), "repeat": repeat});
        if let (Some(p), Value::Object(m)) = (payload.as_object_mut(), method) {
            p.extend(m);
        }
        audit::append(
            &mut tx,
            now,
            &self.actor,
            "opening.unlock",
            Some(&tender.tender_id),
            payload,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// A share posted by a browser is accepted only when it is exactly the share issued: its
/// digest (`seal::custodian::share_digest`) equals the one stored at publication. The
/// digests are compared in the clear: they are of 256-bit random values, so timing tells an
/// attacker nothing that would help find a preimage.
fn check_share(
    posted: &str,
    tender_id: &str,
    issued_digest: &str,
) -> Result<Share, unlock_limit::Failure> {
    let share = STANDARD
        .decode(posted.as_bytes())
        .ok()
        .and_then(|b| Share::from_bytes(&b).ok())
        .ok_or(unlock_limit::Failure::Share)?;
    if hex::encode(share_digest(tender_id, &share)) == issued_digest {
        Ok(share)
    } else {
        Err(unlock_limit::Failure::Share)
    }
}

/// What an unlock reads before it checks anything.
struct UnlockContext {
    tender: TenderRef,
    sealed: SealedShare,
    sealed_json: String,
    digest: Option<String>,
    locked: LockedCustodianKey,
    k: u32,
}

/// Loads the tender, the caller's sealed share and key; refuses what is not an unlock of a
/// waiting opening by one of its custodians.
async fn unlock_context(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<UnlockContext, BidError> {
    if caller.user.role != Role::Custodian {
        return Err(BidError::NotACustodian);
    }
    let user_id = caller.user.user_id.clone();
    let mut tx = state.db.read().await?;
    let tender = tender_ref(&mut tx, code).await?;
    match opening_state(&mut tx, &tender.tender_id).await?.as_deref() {
        Some("unlocking") => {}
        Some(_) => return Err(BidError::OpeningAlreadyStarted),
        None => return Err(BidError::NotUnlocking),
    }
    let (sealed_json, digest) = q_opt!(
        tx,
        (String, Option<String>),
        "select sealed_json, share_sha256 from tender_key_share where tender_id = $1 and user_id = $2",
        tender.tender_id.clone(),
        user_id.clone()
    )?
    .ok_or(BidError::NotACustodian)?;
    let sealed: SealedShare = serde_json::from_str(&sealed_json)
        .map_err(|e| BidError::Corrupt(format!("sealed share: {e}")))?;
    let (locked, _) = key_of(&mut tx, &user_id)
        .await?
        .ok_or(BidError::NotEnrolled)?;
    let (_, k, _) = key_params(&mut tx, &tender.tender_id).await?;
    Ok(UnlockContext {
        tender,
        sealed,
        sealed_json,
        digest,
        locked,
        k,
    })
}

const HELD_BY_PASSKEY: &str = "your custodian key is held by your passkey: unlock with the passkey, not a passphrase / 您的开标密钥由通行密钥保管，请使用通行密钥解锁";
const HELD_BY_PASSPHRASE: &str = "your custodian key is locked under a passphrase: unlock with the passphrase / 您的开标密钥由口令保护，请使用口令解锁";

/// What the custodian's browser needs to open its share with the passkey.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PasskeyUnlockStart {
    /// The assertion ceremony to finish with.
    pub ceremony_id: String,
    /// Options for `navigator.credentials.get` (the browser adds the PRF extension).
    #[schema(value_type = Object)]
    pub options: webauthn_rs::prelude::RequestChallengeResponse,
    /// The random part of the challenge, to send back (standard base64).
    pub nonce: String,
    /// The tender id the share is bound to (HPKE `info`).
    pub tender_id: String,
    /// The caller's locked key record (public key, wrapped scalar, credential id, PRF salt).
    pub key: Value,
    /// The caller's sealed share (`SealedShare` JSON).
    pub sealed_share: Value,
}

/// Starts an unlock with the passkey that holds the caller's key: the sealed share, the key
/// record and an assertion ceremony whose challenge binds this tender, this custodian and
/// a fresh nonce. Refused like the unlock itself (wrong state, not a custodian, already
/// unlocked, a delay running).
pub async fn start_passkey_unlock(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<PasskeyUnlockStart, BidError> {
    let ctx = unlock_context(state, caller, code).await?;
    if !ctx.locked.is_passkey() {
        return Err(BidError::WrongUnlockMethod(HELD_BY_PASSPHRASE));
    }
    let user_id = &caller.user.user_id;
    if state.openings.holds(&ctx.tender.tender_id, user_id) {
        return Err(BidError::AlreadyUnlocked);
    }
    unlock_limit::check(&state.db, state.clock.now(), &ctx.tender.tender_id, user_id).await?;
    let mut nonce = [0u8; UNLOCK_NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let challenge = unlock_challenge(&ctx.tender.tender_id, user_id, &nonce);
    let (ceremony_id, options) =
        passkey::start_signature_for_user(state, user_id, &challenge).await?;
    let sealed_share = serde_json::from_str(&ctx.sealed_json)
        .map_err(|e| BidError::Corrupt(format!("sealed share: {e}")))?;
    Ok(PasskeyUnlockStart {
        ceremony_id,
        options,
        nonce: STANDARD.encode(nonce),
        tender_id: ctx.tender.tender_id,
        key: serde_json::to_value(&ctx.locked).map_err(|e| BidError::Corrupt(e.to_string()))?,
        sealed_share,
    })
}

/// A custodian unlocks their share (see the module comment) with a passphrase or, for a key
/// held by a passkey, with the share their browser opened; from the share on both take the
/// same path, and the k-th unlock runs the opening before answering.
pub async fn unlock(
    state: &AppState,
    caller: &Caller,
    code: &str,
    proof: UnlockProof,
) -> Result<Value, BidError> {
    let ctx = unlock_context(state, caller, code).await?;
    let user_id = caller.user.user_id.clone();
    let checked = match proof {
        UnlockProof::Passphrase(passphrase) => {
            if ctx.locked.is_passkey() {
                return Err(BidError::WrongUnlockMethod(HELD_BY_PASSKEY));
            }
            Checked::Passphrase {
                locked: Box::new(ctx.locked),
                sealed: Box::new(ctx.sealed),
                passphrase,
            }
        }
        UnlockProof::Passkey(input) => {
            let credential_id = match (&ctx.locked.credential_id, ctx.locked.is_passkey()) {
                (Some(id), true) => id.clone(),
                _ => return Err(BidError::WrongUnlockMethod(HELD_BY_PASSPHRASE)),
            };
            // Every share sealed to a passkey-held key was issued with its digest (the
            // column came with passkey keys).
            let digest = ctx.digest.ok_or_else(|| {
                BidError::Corrupt(format!(
                    "share of {user_id} for {} has no digest",
                    ctx.tender.tender_id
                ))
            })?;
            Checked::Passkey {
                input,
                credential_id,
                digest,
            }
        }
    };
    let (tender, k) = (ctx.tender, ctx.k);
    if state.openings.holds(&tender.tender_id, &user_id) {
        return Err(BidError::AlreadyUnlocked);
    }
    // One check at a time per tender and custodian, counted (see `unlock_limit`): refused
    // while a delay runs, before the passphrase or share is even looked at.
    let guard = state.openings.begin_attempt(&tender.tender_id, &user_id)?;
    unlock_limit::check(&state.db, state.clock.now(), &tender.tender_id, &user_id).await?;
    // The check and its record run in their own task, so that a client that disconnects
    // cannot leave a guess unrecorded.
    let attempt = Attempt {
        state: state.clone(),
        actor: caller.actor.clone(),
        tender: tender.clone(),
        user_id: user_id.clone(),
    };
    let share = tokio::spawn(async move {
        let share = attempt.run(checked).await;
        drop(guard);
        share
    })
    .await
    .map_err(|e| BidError::Corrupt(format!("unlock task: {e}")))??;

    if let Some(shares) = state
        .openings
        .add(&tender.tender_id, &user_id, share, k as usize)?
    {
        // The opening runs in its own task so that a client that disconnects (or the
        // request timeout) cannot cut it in half.
        let st = state.clone();
        let t = tender.clone();
        let result = tokio::spawn(async move {
            let r = run_opening(&st, &t, shares).await;
            st.openings.clear(&t.tender_id);
            r
        })
        .await
        .map_err(|e| BidError::Corrupt(format!("opening task: {e}")))?;
        result?;
    }
    view(state, code).await
}

/// A part of a current bid, as the opening reads it.
#[derive(Clone, Debug, sqlx::FromRow)]
struct OpeningPart {
    bid_id: String,
    bidder_org_id: String,
    bidder_name: String,
    receipt_audit_seq: i64,
    part_id: String,
    label: String,
    name: String,
    sha256: String,
    size_bytes: i64,
}

/// What became of one part.
#[derive(Clone, Debug)]
enum PartOutcome {
    Opened {
        plain_sha256: String,
        plain_len: u64,
    },
    Failed {
        code: String,
        message: String,
        fault: Fault,
    },
}

impl PartOutcome {
    fn failed(failure: &PartFailure<'_>, message: String) -> PartOutcome {
        PartOutcome::Failed {
            code: failure.code().to_string(),
            message,
            fault: failure.fault(),
        }
    }
}

struct BidResult {
    bid_id: String,
    bidder_org_id: String,
    bidder_name: String,
    audit_seq: i64,
    parts: Vec<(OpeningPart, PartOutcome)>,
    form: Option<BidForm>,
    /// `opened`, `revoked` or `withdrawn`.
    status: &'static str,
    reason: Option<String>,
}

/// Reads and hashes the stored envelope as `open_stream` consumes it.
struct HashingReader<R> {
    inner: R,
    ctx: digest::Context,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.ctx.update(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

/// Keeps the bid form in memory (bounded) and in a blob writer.
struct FormSink {
    buf: Vec<u8>,
    overflow: bool,
    blob: BlobWriter,
}

impl std::io::Write for FormSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_FORM_BYTES {
            self.overflow = true;
            return Err(std::io::Error::other("bid form too large"));
        }
        self.buf.extend_from_slice(data);
        self.blob.write_all(data)?;
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.blob.flush()
    }
}

/// Decrypts one part into a temporary blob; returns the outcome, the writer to keep if
/// the bid turns out valid, and the form bytes for the form.
fn open_part(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    part: &OpeningPart,
) -> (PartOutcome, Option<BlobWriter>, Option<Vec<u8>>) {
    let failed =
        |f: PartFailure<'_>, message: String| (PartOutcome::failed(&f, message), None, None);
    let file = match blobs
        .local_path(&part.sha256)
        .map_err(|e| e.to_string())
        .and_then(|p| std::fs::File::open(p).map_err(|e| e.to_string()))
    {
        Ok(f) => f,
        Err(e) => {
            return failed(
                PartFailure::EnvelopeUnreadable,
                format!("the stored envelope cannot be read: {e}"),
            );
        }
    };
    let blob = match blobs.writer() {
        Ok(w) => w,
        Err(e) => {
            return failed(
                PartFailure::PlaintextStorage,
                format!("no room for the plaintext: {e}"),
            );
        }
    };
    let mut reader = HashingReader {
        inner: std::io::BufReader::new(file),
        ctx: digest::Context::new(&digest::SHA256),
    };
    let is_form = part.label == "form";
    let mut form = FormSink {
        buf: Vec::new(),
        overflow: false,
        blob,
    };
    let result = if is_form {
        seal::open_stream(&mut reader, &mut form, key, tender_id, &part.bidder_org_id)
    } else {
        seal::open_stream(
            &mut reader,
            &mut form.blob,
            key,
            tender_id,
            &part.bidder_org_id,
        )
    };
    // Whatever happened, the digest must cover the whole stored file.
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    let stored = hex::encode(reader.ctx.finish());
    if stored != part.sha256 {
        return failed(
            PartFailure::StoredEnvelopeChanged,
            format!(
                "the stored envelope no longer matches the receipt digest {} (platform storage fault)",
                part.sha256
            ),
        );
    }
    match result {
        Ok(opened) => {
            let plain_len = opened.header.plaintext_len;
            // The plaintext digest comes from the blob writer when `decrypt_all` keeps the
            // part (valid bids only); until then it is empty.
            (
                PartOutcome::Opened {
                    plain_sha256: String::new(),
                    plain_len,
                },
                Some(form.blob),
                is_form.then_some(form.buf),
            )
        }
        Err(_) if form.overflow => failed(
            PartFailure::FormTooLarge,
            format!("the bid form is larger than {MAX_FORM_BYTES} bytes"),
        ),
        Err(e) => {
            let failure = PartFailure::Envelope(&e);
            let message = match failure.fault() {
                // Say why the bidder answers for it: the record is public.
                Fault::Bidder => format!(
                    "{e}; the stored envelope matches the receipt and the opening key was verified, \
                     so the envelope as sealed by the bidder cannot be opened / 存储的密封文件与回执一致且开标密钥已验证，投标文件因投标人原因无法解密"
                ),
                Fault::Platform => e.to_string(),
            };
            failed(failure, message)
        }
    }
}

/// Decrypts every part of every current bid (blocking; runs in `spawn_blocking`).
fn decrypt_all(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    parts: Vec<OpeningPart>,
) -> Vec<BidResult> {
    let mut by_bid: Vec<(String, Vec<OpeningPart>)> = Vec::new();
    for p in parts {
        match by_bid.last_mut() {
            Some((id, list)) if *id == p.bid_id => list.push(p),
            _ => by_bid.push((p.bid_id.clone(), vec![p])),
        }
    }
    let mut results = Vec::with_capacity(by_bid.len());
    for (bid_id, parts) in by_bid {
        let Some(first) = parts.first() else { continue };
        let (org, name, seq) = (
            first.bidder_org_id.clone(),
            first.bidder_name.clone(),
            first.receipt_audit_seq,
        );
        let mut outcomes = Vec::with_capacity(parts.len());
        let mut writers = Vec::with_capacity(parts.len());
        let mut form_bytes = None;
        for part in parts {
            let (outcome, writer, form) = open_part(blobs, key, tender_id, &part);
            if form.is_some() {
                form_bytes = form;
            }
            writers.push(writer);
            outcomes.push((part, outcome));
        }
        let first_failure = |who: Fault| {
            outcomes.iter().find_map(|(p, o)| match o {
                PartOutcome::Failed {
                    code,
                    message,
                    fault,
                } if *fault == who => Some(format!("{} ({}): {code}: {message}", p.name, p.label)),
                _ => None,
            })
        };
        let platform_fail = first_failure(Fault::Platform);
        let bidder_fail = first_failure(Fault::Bidder);
        let (mut status, mut reason, mut form) = match (platform_fail, bidder_fail) {
            (Some(r), _) => ("withdrawn", Some(r), None),
            (None, Some(r)) => ("revoked", Some(r), None),
            (None, None) => ("opened", None, None),
        };
        if status == "opened" {
            match form_bytes.as_deref().map(BidForm::parse) {
                Some(Ok(f)) => form = Some(f),
                Some(Err(e)) => {
                    status = "revoked";
                    reason = Some(format!("{}: {e}", PartFailure::FormInvalid.code()));
                }
                None => {
                    status = "revoked";
                    reason = Some(format!(
                        "{}: no bid form was opened",
                        PartFailure::FormMissing.code()
                    ));
                }
            }
        }
        if status == "opened" {
            // Keep the plaintext of valid bids (see the module comment).
            for ((part, outcome), writer) in outcomes.iter_mut().zip(writers) {
                let Some(w) = writer else { continue };
                match w.finish() {
                    Ok((digest, _)) => {
                        if let PartOutcome::Opened { plain_sha256, .. } = outcome {
                            *plain_sha256 = digest;
                        }
                    }
                    Err(e) => {
                        status = "withdrawn";
                        reason = Some(format!(
                            "{} ({}): {}: the plaintext could not be stored: {e}",
                            part.name,
                            part.label,
                            PartFailure::PlaintextStorage.code()
                        ));
                    }
                }
            }
        }
        // Writers not finished are dropped here: their temporary plaintext is deleted.
        results.push(BidResult {
            bid_id,
            bidder_org_id: org,
            bidder_name: name,
            audit_seq: seq,
            parts: outcomes,
            form: if status == "opened" { form } else { None },
            status,
            reason,
        });
    }
    results
}

/// Largest base-price plaintext read at the opening (it is `{"base_price_fen": <int>}`).
const MAX_BASE_PRICE_PLAIN: usize = 4096;

/// Collects a small plaintext, refusing more than `MAX_BASE_PRICE_PLAIN` bytes.
struct SmallSink(Vec<u8>);

impl std::io::Write for SmallSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + data.len() > MAX_BASE_PRICE_PLAIN {
            return Err(std::io::Error::other("base price plaintext too large"));
        }
        self.0.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens the sealed base price (标底) with the opening key: `Ok(fen)` or the reason it
/// could not be read (recorded, never failing the opening).
fn open_base_price(
    blobs: &BlobStore,
    key: &PrivateKey,
    tender_id: &str,
    sha256: &str,
) -> Result<i64, String> {
    let file = blobs
        .local_path(sha256)
        .map_err(|e| e.to_string())
        .and_then(|p| std::fs::File::open(p).map_err(|e| e.to_string()))
        .map_err(|e| format!("PLATFORM_STORAGE: the stored envelope cannot be read: {e}"))?;
    let mut reader = HashingReader {
        inner: std::io::BufReader::new(file),
        ctx: digest::Context::new(&digest::SHA256),
    };
    let mut sink = SmallSink(Vec::new());
    let result = seal::open_stream(
        &mut reader,
        &mut sink,
        key,
        tender_id,
        super::service::BASE_PRICE_BIDDER_ID,
    );
    let _ = std::io::copy(&mut reader, &mut std::io::sink());
    if hex::encode(reader.ctx.finish()) != sha256 {
        return Err(format!(
            "PLATFORM_STORED_ENVELOPE_CHANGED: the stored envelope no longer matches its digest {sha256}"
        ));
    }
    result.map_err(|e| format!("{}: {e}", e.code()))?;
    #[derive(serde::Deserialize)]
    struct BasePrice {
        base_price_fen: i64,
    }
    let parsed: BasePrice = serde_json::from_slice(&sink.0)
        .map_err(|e| format!("BASE_PRICE_INVALID: not {{\"base_price_fen\": <int>}}: {e}"))?;
    if !(0..=1_000_000_000_000_000).contains(&parsed.base_price_fen) {
        return Err("BASE_PRICE_INVALID: base_price_fen must be 0–10^15".into());
    }
    Ok(parsed.base_price_fen)
}

/// Rebuilds the key from `shares`, decrypts everything and publishes the record.
async fn run_opening(
    state: &AppState,
    tender: &TenderRef,
    shares: Vec<Share>,
) -> Result<(), BidError> {
    let (parts, published, k, n, unlocked, base_price) = {
        let mut tx = state.db.read().await?;
        let (pk, k, n) = key_params(&mut tx, &tender.tender_id).await?;
        let parts = q_all!(
            tx,
            OpeningPart,
            "select b.bid_id, b.bidder_org_id, o.name as bidder_name, b.audit_seq as receipt_audit_seq,
                    p.part_id, p.label, p.name, p.sha256, p.size_bytes
             from bid b
             join organisation o on o.org_id = b.bidder_org_id
             join bid_item i on i.bid_id = b.bid_id
             join bid_part p on p.part_id = i.part_id
             where b.tender_id = $1 and b.state = 'submitted'
             order by b.submitted_at, b.bid_id, i.position",
            tender.tender_id.clone()
        )?;
        let unlocked = q_all!(
            tx,
            (String,),
            "select user_id from opening_unlock where tender_id = $1 order by unlocked_at, user_id",
            tender.tender_id.clone()
        )?;
        let base_price = q_opt!(
            tx,
            (String,),
            "select sha256 from tender_base_price where tender_id = $1",
            tender.tender_id.clone()
        )?
        .map(|r| r.0);
        (parts, pk, k, n, unlocked, base_price)
    };
    let published = parse_public_key(&published)?;
    let key = match seal::rebuild_and_check(&shares, &published) {
        Ok(key) => key,
        Err(SealError::SharesDoNotMatch | SealError::InvalidShares(_)) => {
            return Err(BidError::KeyMismatch);
        }
        Err(e) => return Err(BidError::Crypto(e)),
    };
    drop(shares);
    let blobs = state.blobs.clone();
    let tender_id = tender.tender_id.clone();
    let (results, base_price) = tokio::task::spawn_blocking(move || {
        let r = decrypt_all(&blobs, &key, &tender_id, parts);
        // After the bids, with the same key (条例 第50条: published at the opening).
        let bp = base_price.map(|sha| open_base_price(&blobs, &key, &tender_id, &sha));
        drop(key); // wiped on drop
        (r, bp)
    })
    .await
    .map_err(|e| BidError::Corrupt(format!("decryption task: {e}")))?;

    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    if opening_state(&mut tx, &tender.tender_id).await?.as_deref() != Some("unlocking") {
        return Err(BidError::OpeningAlreadyStarted);
    }
    let actor = audit::Actor::system();
    let mut record_bids = Vec::with_capacity(results.len());
    for bid in &results {
        let mut record_parts = Vec::with_capacity(bid.parts.len());
        for (part, outcome) in &bid.parts {
            let (outcome_json, plain) = match outcome {
                PartOutcome::Opened {
                    plain_sha256,
                    plain_len,
                } => (
                    json!({"outcome": "opened", "plaintext_sha256": plain_sha256,
                           "plaintext_size": plain_len}),
                    (bid.status == "opened").then(|| plain_sha256.clone()),
                ),
                PartOutcome::Failed {
                    code,
                    message,
                    fault,
                } => (
                    json!({"outcome": "failed", "code": code, "message": message,
                           "fault": fault.as_str()}),
                    None,
                ),
            };
            if let Some(digest) = plain {
                q_exec!(
                    tx,
                    "update bid_part set plain_sha256 = $1 where part_id = $2",
                    digest,
                    part.part_id.clone()
                )?;
            }
            let mut entry = json!({"part_id": part.part_id, "label": part.label, "name": part.name,
                                   "sha256": part.sha256, "size": part.size_bytes});
            if let (Some(e), Some(o)) = (entry.as_object_mut(), outcome_json.as_object()) {
                e.extend(o.clone());
            }
            audit::append(
                &mut tx,
                now,
                &actor,
                "opening.part",
                Some(&tender.tender_id),
                json!({"bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "part": entry}),
            )
            .await?;
            record_parts.push(entry);
        }
        let (state_sql, withdrawn_by) = match bid.status {
            "opened" => ("opened", None),
            "revoked" => ("revoked", None),
            _ => ("withdrawn", Some("platform".to_string())),
        };
        q_exec!(
            tx,
            "update bid set state = $1, withdrawn_by = $2, reason = $3, closed_at = $4
             where bid_id = $5 and state = 'submitted'",
            state_sql.to_string(),
            withdrawn_by,
            bid.reason.clone(),
            to_millis(now),
            bid.bid_id.clone()
        )?;
        if bid.status != "opened" {
            let (action, label) = if bid.status == "revoked" {
                ("bid.revoke", "撤销 (the bidder's fault)")
            } else {
                ("bid.withdraw", "撤回 (a platform failure)")
            };
            audit::append(
                &mut tx,
                now,
                &actor,
                action,
                Some(&tender.tender_id),
                json!({"bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "by": "opening",
                       "status": label, "reason": bid.reason}),
            )
            .await?;
        }
        let mut b = json!({
            "bid_id": bid.bid_id, "bidder_id": bid.bidder_org_id, "bidder_name": bid.bidder_name,
            "submission_audit_index": bid.audit_seq, "status": bid.status, "reason": bid.reason,
            "parts": record_parts,
        });
        if let Some(f) = &bid.form {
            b["price_fen"] = json!(f.price_fen);
            b["duration_days"] = json!(f.duration_days);
            b["quality"] = json!(f.quality);
            b["project_manager"] = json!(f.project_manager);
            b["declarations"] = json!(f.declarations);
        }
        record_bids.push(b);
    }
    let valid = results.iter().filter(|b| b.status == "opened").count();
    let mut record = json!({
        "v": 1, "tender_id": tender.tender_id, "tender_code": tender.code, "outcome": "opened",
        "opened_at": audit::entry_time(now), "bid_deadline_at": audit::entry_time(from_millis(tender.bid_deadline_at)),
        "k": k, "n": n, "custodians": unlocked.iter().map(|r| r.0.clone()).collect::<Vec<_>>(),
        "bids": record_bids, "valid_bids": valid,
        "base_price_fen": Value::Null,
    });
    match &base_price {
        Some(Ok(fen)) => record["base_price_fen"] = json!(fen),
        Some(Err(reason)) => record["base_price_error"] = json!(reason),
        None => {}
    }
    let record_json = serde_json_canonicalizer::to_string(&record)
        .map_err(|e| BidError::Corrupt(e.to_string()))?;
    let digest = sha256_hex(record_json.as_bytes());
    let o = q_exec!(
        tx,
        "update opening set state = 'opened', finished_at = $1, record_json = $2, record_sha256 = $3
         where tender_id = $4 and state = 'unlocking'",
        to_millis(now),
        record_json,
        digest.clone(),
        tender.tender_id.clone()
    )?;
    let t = q_exec!(
        tx,
        "update tender set state = 'opened', updated_at = $1 where tender_id = $2 and state = 'closed'",
        to_millis(now),
        tender.tender_id.clone()
    )?;
    if o == 0 || t == 0 {
        return Err(BidError::Conflict);
    }
    audit::append(
        &mut tx,
        now,
        &actor,
        "opening.record",
        Some(&tender.tender_id),
        json!({"record_sha256": digest, "record": record}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The ceremony as anyone may see it: state, quorum progress, and once opened the record,
/// confirmations and objections. Before the opening starts nothing about bids is shown
/// (招标投标法 第22条).
pub async fn view(state: &AppState, code: &str) -> Result<Value, BidError> {
    let mut tx = state.db.read().await?;
    let tender = tender_ref(&mut tx, code).await?;
    let (_, k, n) = key_params(&mut tx, &tender.tender_id).await?;
    let row = q_opt!(
        tx,
        (String, i64, Option<i64>, Option<String>, Option<String>),
        "select state, started_at, finished_at, record_json, record_sha256 from opening where tender_id = $1",
        tender.tender_id.clone()
    )?;
    let Some((ostate, started, finished, record_json, record_sha256)) = row else {
        return Ok(
            json!({"tender_id": tender.tender_id, "tender_code": tender.code,
                         "state": "not_started", "tender_state": tender.state, "k": k, "n": n}),
        );
    };
    let unlocked = q_all!(
        tx,
        (String, String, i64),
        "select u.user_id, a.display_name, u.unlocked_at from opening_unlock u
         join app_user a on a.user_id = u.user_id where u.tender_id = $1 order by u.unlocked_at, u.user_id",
        tender.tender_id.clone()
    )?;
    let confirmations = q_all!(
        tx,
        (String, String, i64),
        "select c.bidder_org_id, o.name, c.confirmed_at from opening_confirmation c
         join organisation o on o.org_id = c.bidder_org_id where c.tender_id = $1 order by c.confirmed_at",
        tender.tender_id.clone()
    )?;
    let objections = q_all!(
        tx,
        (String, String, String, String, i64, Option<String>, Option<i64>),
        "select j.objection_id, j.bidder_org_id, o.name, j.body, j.raised_at, j.answer, j.answered_at
         from opening_objection j join organisation o on o.org_id = j.bidder_org_id
         where j.tender_id = $1 order by j.raised_at, j.objection_id",
        tender.tender_id.clone()
    )?;
    let record: Value = match &record_json {
        Some(r) => serde_json::from_str(r).map_err(|e| BidError::Corrupt(e.to_string()))?,
        None => Value::Null,
    };
    let (held, running) = state.openings.held(&tender.tender_id);
    let t = |ms: i64| audit::entry_time(from_millis(ms));
    Ok(json!({
        "tender_id": tender.tender_id, "tender_code": tender.code, "tender_state": tender.state,
        "state": ostate, "k": k, "n": n,
        "started_at": t(started), "finished_at": finished.map(t),
        "unlocked": unlocked.iter().map(|(u, name, at)| json!({"user_id": u, "name": name, "at": t(*at)})).collect::<Vec<_>>(),
        "shares_in_memory": held, "opening_now": running,
        "record": record, "record_sha256": record_sha256,
        "confirmations": confirmations.iter().map(|(o, name, at)| json!({"bidder_id": o, "bidder_name": name, "at": t(*at)})).collect::<Vec<_>>(),
        "objections": objections.iter().map(|(id, o, name, body, at, answer, answered)| json!({
            "objection_id": id, "bidder_id": o, "bidder_name": name, "body": body, "raised_at": t(*at),
            "answer": answer, "answered_at": answered.map(t)})).collect::<Vec<_>>(),
    }))
}

/// The caller's company, checked to be in the published record.
async fn bidder_of_record(
    tx: &mut Tx,
    caller: &Caller,
    code: &str,
) -> Result<(TenderRef, String), BidError> {
    let tender = tender_ref(tx, code).await?;
    let org_id = bidder_org(tx, caller).await?;
    if opening_state(tx, &tender.tender_id).await?.as_deref() != Some("opened") {
        return Err(BidError::NotOpened);
    }
    let in_record = q_opt!(
        tx,
        (String,),
        "select bid_id from bid where tender_id = $1 and bidder_org_id = $2
           and (state in ('opened', 'revoked') or (state = 'withdrawn' and withdrawn_by = 'platform'))",
        tender.tender_id.clone(),
        org_id.clone()
    )?;
    if in_record.is_none() {
        return Err(BidError::NotInRecord);
    }
    Ok((tender, org_id))
}

/// A bidder confirms the opening record (once per company).
pub async fn confirm(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
) -> Result<Value, BidError> {
    let mut tx = db.begin().await?;
    let (tender, org_id) = bidder_of_record(&mut tx, caller, code).await?;
    let res = q_exec!(
        tx,
        "insert into opening_confirmation (tender_id, bidder_org_id, user_id, confirmed_at) values ($1, $2, $3, $4)",
        tender.tender_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone(),
        to_millis(now)
    );
    match res {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => return Err(BidError::AlreadyConfirmed),
        Err(e) => return Err(e.into()),
    }
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.confirm",
        Some(&tender.tender_id),
        json!({"bidder_id": org_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"tender_id": tender.tender_id, "bidder_id": org_id,
              "confirmed_at": audit::entry_time(now), "audit_index": seq}))
}

/// A bidder raises an objection at the opening (条例 第44条: answered on the spot).
pub async fn object(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    body: &str,
) -> Result<Value, BidError> {
    let body = super::check_text("body", body, 1, 2000)?;
    let mut tx = db.begin().await?;
    let (tender, org_id) = bidder_of_record(&mut tx, caller, code).await?;
    let id = new_id();
    q_exec!(
        tx,
        "insert into opening_objection (objection_id, tender_id, bidder_org_id, raised_by, body, raised_at)
         values ($1, $2, $3, $4, $5, $6)",
        id.clone(),
        tender.tender_id.clone(),
        org_id.clone(),
        caller.user.user_id.clone(),
        body.clone(),
        to_millis(now)
    )?;
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.objection",
        Some(&tender.tender_id),
        json!({"objection_id": id, "bidder_id": org_id, "body": body}),
    )
    .await?;
    tx.commit().await?;
    Ok(
        json!({"objection_id": id, "tender_id": tender.tender_id, "bidder_id": org_id,
              "body": body, "raised_at": audit::entry_time(now), "audit_index": seq}),
    )
}

/// The owning agent answers an objection (once).
pub async fn answer(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    objection_id: &str,
    answer: &str,
) -> Result<Value, BidError> {
    let answer = super::check_text("answer", answer, 1, 2000)?;
    let mut tx = db.begin().await?;
    let tender = tender_ref(&mut tx, code).await?;
    ensure_owner(caller, &tender)?;
    let n = q_exec!(
        tx,
        "update opening_objection set answer = $1, answered_by = $2, answered_at = $3
         where objection_id = $4 and tender_id = $5 and answer is null",
        answer.clone(),
        caller.user.user_id.clone(),
        to_millis(now),
        objection_id.to_string(),
        tender.tender_id.clone()
    )?;
    if n == 0 {
        let exists = q_opt!(
            tx,
            (String,),
            "select objection_id from opening_objection where objection_id = $1 and tender_id = $2",
            objection_id.to_string(),
            tender.tender_id.clone()
        )?
        .is_some();
        return Err(if exists {
            BidError::AlreadyAnswered
        } else {
            BidError::NotFound("objection")
        });
    }
    let seq = audit::append(
        &mut tx,
        now,
        &caller.actor,
        "opening.objection.answer",
        Some(&tender.tender_id),
        json!({"objection_id": objection_id, "answer": answer}),
    )
    .await?;
    tx.commit().await?;
    Ok(json!({"objection_id": objection_id, "answer": answer,
              "answered_at": audit::entry_time(now), "audit_index": seq}))
}
