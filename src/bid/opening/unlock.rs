//! The custodians' unlocks: a passphrase checked here, or a share opened in the browser
//! with the passkey that holds the key; each attempt counted (`unlock_limit`), each share
//! stored sealed in the database ([`super::shares`]), and the k-th unlock runs the opening
//! (in whichever process takes it).

use super::*;

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
pub(super) const UNLOCK_NONCE_LEN: usize = 16;

/// The challenge of an unlock assertion: SHA-256 over a label, the tender, the custodian and
/// a random nonce, so an assertion is good for one unlock of one tender by one custodian
/// (the ceremony itself is single-use and expires after five minutes).
pub(super) fn unlock_challenge(tender_id: &str, user_id: &str, nonce: &[u8]) -> [u8; 32] {
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
pub(super) enum Checked {
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
pub(super) struct Attempt<P> {
    env: Env,
    passkeys: P,
    actor: audit::Actor,
    tender: Facts,
    user_id: String,
}

impl<P: PasskeySignatures> Attempt<P> {
    /// Checks the proof. A wrong passphrase or a wrong share is counted and audited
    /// ([`unlock_limit::record_failure`]); a right one records the unlock and resets the
    /// count. Any other outcome (a passkey ceremony that fails, say) leaves the count as it was.
    async fn run(self, proof: Checked) -> Result<(), BidError> {
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
                .map_err(|e| Common::Corrupt(format!("unlock task: {e}")))?;
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
            Ok(share) => self.record_unlock(&share, method).await,
            Err(failure) => Err(unlock_limit::record_failure(
                &self.env.db,
                self.env.clock.now(),
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
        let verified = self
            .passkeys
            .verify_signature(
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

    /// Records the unlock (the share itself only sealed, see [`shares`]) and resets the
    /// failure count.
    async fn record_unlock(&self, share: &Share, method: Value) -> Result<(), BidError> {
        let (tender, user_id) = (&self.tender, &self.user_id);
        let now = self.env.clock.now();
        let mut tx = self.env.db.begin().await?;
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
        shares::store(
            &mut tx,
            &self.env.ceremonies.wrap,
            &tender.tender_id,
            user_id,
            share,
            now,
        )
        .await?;
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
pub(super) fn check_share(
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
pub(super) struct UnlockContext {
    tender: Facts,
    sealed: SealedShare,
    sealed_json: String,
    digest: Option<String>,
    locked: LockedCustodianKey,
    k: u32,
}

/// Loads the tender, the caller's sealed share and key; refuses what is not an unlock of a
/// waiting opening by one of its custodians.
pub(super) async fn unlock_context(
    db: &Db,
    caller: &Caller,
    code: &str,
) -> Result<UnlockContext, BidError> {
    if caller.user.role != Role::Custodian {
        return Err(BidError::NotACustodian);
    }
    let user_id = caller.user.user_id.clone();
    let mut tx = db.read().await?;
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
        .map_err(|e| Common::Corrupt(format!("sealed share: {e}")))?;
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

pub(super) const HELD_BY_PASSKEY: &str = "your custodian key is held by your passkey: unlock with the passkey, not a passphrase / 您的开标密钥由通行密钥保管，请使用通行密钥解锁";
pub(super) const HELD_BY_PASSPHRASE: &str = "your custodian key is locked under a passphrase: unlock with the passphrase / 您的开标密钥由口令保护，请使用口令解锁";

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
    env: &Env,
    passkeys: &impl PasskeySignatures,
    caller: &Caller,
    code: &str,
) -> Result<PasskeyUnlockStart, BidError> {
    let ctx = unlock_context(&env.db, caller, code).await?;
    if !ctx.locked.is_passkey() {
        return Err(BidError::WrongUnlockMethod(HELD_BY_PASSPHRASE));
    }
    let user_id = &caller.user.user_id;
    if shares::holds(&env.db, &ctx.tender.tender_id, user_id).await? {
        return Err(BidError::AlreadyUnlocked);
    }
    unlock_limit::check(&env.db, env.clock.now(), &ctx.tender.tender_id, user_id).await?;
    let mut nonce = [0u8; UNLOCK_NONCE_LEN];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut nonce)
        .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let challenge = unlock_challenge(&ctx.tender.tender_id, user_id, &nonce);
    let (ceremony_id, options) = passkeys.start_signature(user_id, &challenge).await?;
    let sealed_share = serde_json::from_str(&ctx.sealed_json)
        .map_err(|e| Common::Corrupt(format!("sealed share: {e}")))?;
    Ok(PasskeyUnlockStart {
        ceremony_id,
        options,
        nonce: STANDARD.encode(nonce),
        tender_id: ctx.tender.tender_id,
        key: serde_json::to_value(&ctx.locked).map_err(|e| Common::Corrupt(e.to_string()))?,
        sealed_share,
    })
}

/// A custodian unlocks their share (see the module comment) with a passphrase or, for a key
/// held by a passkey, with the share their browser opened; from the share on both take the
/// same path, and the k-th unlock runs the opening before answering.
pub async fn unlock<P: PasskeySignatures>(
    env: &Env,
    passkeys: &P,
    caller: &Caller,
    code: &str,
    proof: UnlockProof,
) -> Result<OpeningView, BidError> {
    let ctx = unlock_context(&env.db, caller, code).await?;
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
                Common::Corrupt(format!(
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
    if shares::holds(&env.db, &tender.tender_id, &user_id).await? {
        return Err(BidError::AlreadyUnlocked);
    }
    // One check at a time per tender and custodian, counted (see `unlock_limit`): refused
    // while a delay runs, before the passphrase or share is even looked at.
    let guard = env.ceremonies.begin_attempt(&tender.tender_id, &user_id)?;
    unlock_limit::check(&env.db, env.clock.now(), &tender.tender_id, &user_id).await?;
    // The check and its record run in their own task, so that a client that disconnects
    // cannot leave a guess unrecorded.
    let attempt = Attempt {
        env: env.clone(),
        passkeys: passkeys.clone(),
        actor: caller.actor.clone(),
        tender: tender.clone(),
        user_id: user_id.clone(),
    };
    tokio::spawn(async move {
        let stored = attempt.run(checked).await;
        drop(guard);
        stored
    })
    .await
    .map_err(|e| Common::Corrupt(format!("unlock task: {e}")))??;

    // With k shares in, the process that takes the lease opens; the others answer at once.
    let now = env.clock.now();
    if let Some(shares) =
        shares::claim(&env.db, &env.ceremonies.wrap, &tender.tender_id, k, now).await?
    {
        // The opening runs in its own task so that a client that disconnects (or the
        // request timeout) cannot cut it in half.
        let env = env.clone();
        let t = tender.clone();
        tokio::spawn(async move { super::record::run_claimed(&env, &t, shares).await })
            .await
            .map_err(|e| Common::Corrupt(format!("opening task: {e}")))??;
    }
    view(&env.db, code).await
}
