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
//!    ([`super::unlock_limit`]). The unlocked share is stored in the database **sealed**
//!    under the opening's own key, itself sealed under a key derived from the platform
//!    signing key ([`shares`]), in the transaction that records the unlock; any process can
//!    carry the ceremony on, and a process lost mid-opening is taken over by another
//!    ([`shares::resume_stalled`]). Shares and key are deleted when the opening ends.
//! 3. When k shares are in memory, the key is rebuilt and checked against the published
//!    public key (`rebuild_and_check`: one custodian alone can never open), every part of
//!    every current bid is decrypted with `open_stream` into a temporary file in the blob
//!    directory, its stored ciphertext is checked against the receipt digest, the bid form
//!    is parsed, and the opening record (开标记录) is published; the tender becomes `opened`.
//!    Key and shares are wiped on drop (zeroize), and their sealed copies are deleted in the
//!    transaction that publishes the record.
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
//!
//! By concern: [`ceremony`] (start, the failed tender), [`unlock`] (the custodians' shares),
//! [`decrypt`] (opening every part), [`record`] (the key rebuilt, the record published) and
//! [`view`] (what anyone sees, confirmations and objections). The operations take an
//! [`Env`]; passkey ceremonies come from the HTTP layer through [`PasskeySignatures`].

use std::collections::HashSet;
use std::io::Read;
use std::sync::{Arc, Mutex};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use ring::digest;
use serde::Serialize;
use serde_json::{Value, json};

use super::custodian::{key_of, parse_public_key};
use super::fault::{Fault, PartFailure};
use super::model::{BidForm, MAX_FORM_BYTES};
use super::service::{bidder_org, tender_ref};
use super::unlock_limit;
use super::{BidError, service};
use crate::audit;
use crate::clock::Clock;
use crate::clock::{from_millis, to_millis};
use crate::error::Common;
use crate::identity::Role;
use crate::identity::passkey::{self, PasskeyError, VerifiedAssertion};
use crate::ids::new_id;
use crate::lifecycle::tender::{self as lifecycle, Facts, Move, TenderState};
use crate::seal::custodian::share_digest;
use crate::seal::{self, LockedCustodianKey, PrivateKey, SealError, SealedShare, Share};
use crate::store::blob::{BlobStore, BlobWriter, sha256_hex};
use crate::store::{Db, Tx, is_unique_violation};
use crate::tender::rulebook::Rulebooks;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_one, q_opt};

use webauthn_rs::prelude::{PublicKeyCredential, RequestChallengeResponse};

mod ceremony;
mod decrypt;
mod record;
pub(in crate::bid) mod shares;
mod unlock;
mod view;

pub use ceremony::start;
pub use shares::{ShareWrap, resume_stalled};
pub use unlock::{PasskeyUnlock, PasskeyUnlockStart, UnlockProof, start_passkey_unlock, unlock};
pub use view::{
    ConfirmationView, ObjectionView, OpeningObjectionAnswered, OpeningObjectionRaised,
    OpeningProgress, OpeningView, RecordConfirmed, UnlockView, answer, confirm, object, view,
};

/// What the opening works with: the database, the blob store, the clock (the slow checks of
/// an unlock read it again when they finish), the shares held in this process and the
/// rulebooks. Cheap to clone: the unlock and the opening run in their own tasks.
#[derive(Clone)]
pub struct Env {
    /// The database.
    pub db: Db,
    /// Where envelopes and plaintexts are stored.
    pub blobs: BlobStore,
    /// The clock.
    pub clock: Arc<dyn Clock>,
    /// The share sealing key and this process's running unlock checks.
    pub ceremonies: Arc<Ceremonies>,
    /// The rulebooks.
    pub rulebooks: Arc<Rulebooks>,
}

/// The passkey ceremonies sealed bidding asks of the identity feature: an assertion over a
/// challenge the caller chose, and its verification. The HTTP layer supplies them, so the
/// opening does not depend on how the identity feature is wired.
pub trait PasskeySignatures: Clone + Send + Sync + 'static {
    /// Starts an assertion of `user_id` whose challenge is `challenge`: the ceremony id and
    /// the options for `navigator.credentials.get`.
    fn start_signature(
        &self,
        user_id: &str,
        challenge: &[u8],
    ) -> impl Future<Output = Result<(String, RequestChallengeResponse), PasskeyError>> + Send;

    /// Verifies an assertion started with [`start_signature`](Self::start_signature) over
    /// `challenge` (the ceremony is consumed).
    fn verify_signature(
        &self,
        actor: &audit::Actor,
        user_id: &str,
        ceremony_id: &str,
        credential: &PublicKeyCredential,
        challenge: &[u8],
    ) -> impl Future<Output = Result<VerifiedAssertion, PasskeyError>> + Send;
}

/// What the opening keeps in a process: the key that seals each opening's key (the same in
/// every process, see [`shares`]) and the unlock attempts being checked here. The unlocked
/// shares themselves are in the database, sealed, so any process can open.
pub struct Ceremonies {
    wrap: ShareWrap,
    /// (tender id, custodian user id) of the passphrase checks running now.
    attempts: Mutex<HashSet<(String, String)>>,
}

impl Ceremonies {
    /// Ceremonies whose shares are sealed under a key derived from the platform signing key
    /// (its PKCS#8 bytes), which every process of one platform shares.
    pub fn new(platform_pkcs8: &[u8]) -> Self {
        Self {
            wrap: ShareWrap::derive(platform_pkcs8),
            attempts: Mutex::default(),
        }
    }
}

impl Ceremonies {
    /// The key that seals unlocked shares at rest (the auction reserve uses it too).
    pub(crate) fn wrap(&self) -> &ShareWrap {
        &self.wrap
    }
}

impl Default for Ceremonies {
    /// A random sealing key: good for one process alone (tests).
    fn default() -> Self {
        Self {
            wrap: ShareWrap::random(),
            attempts: Mutex::default(),
        }
    }
}

/// One running passphrase check; dropping it (however the attempt ends, a panic or a
/// cancelled request included) lets the next attempt of that custodian in.
pub(crate) struct AttemptGuard {
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

impl Ceremonies {
    /// Claims the one passphrase check of `user_id` for `tender_id` that may run at a time
    /// in this process (across processes, `unlock_limit` counts and delays the guesses).
    pub(crate) fn begin_attempt(
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
}

pub(super) fn rulebook<'a>(
    books: &'a Rulebooks,
    t: &Facts,
) -> Result<&'a crate::tender::rulebook::Rulebook, BidError> {
    books
        .by_id(&t.rulebook_id)
        .or_else(|| books.get(&t.category, &t.procedure))
        .ok_or_else(|| Common::Corrupt(format!("no rulebook {}", t.rulebook_id)).into())
}

pub(crate) fn ensure_owner(caller: &Caller, t: &Facts) -> Result<(), BidError> {
    if lifecycle::is_owner(caller, t.agent_org_id.as_deref()) {
        Ok(())
    } else {
        Err(Common::Forbidden(
            "only the agent organisation that owns this tender may do this / 仅该项目的招标代理单位可执行此操作",
        )
        .into())
    }
}

pub(super) async fn opening_state(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Option<String>, BidError> {
    Ok(q_opt!(
        tx,
        (String,),
        "select state from opening where tender_id = $1",
        tender_id.to_string()
    )?
    .map(|r| r.0))
}

pub(super) async fn key_params(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<(String, u32, u32), BidError> {
    let (pk, k, n): (String, i64, i64) = q_opt!(
        tx,
        (String, i64, i64),
        "select public_key, k, n from tender_opening_key where tender_id = $1",
        tender_id.to_string()
    )?
    .ok_or(Common::NotFound("opening key"))?;
    Ok((
        pk,
        u32::try_from(k).unwrap_or(0),
        u32::try_from(n).unwrap_or(0),
    ))
}
