//! Unlocked shares between a custodian's unlock and the end of the opening, kept in the
//! database so that any process can run (or take over) the opening.
//!
//! Each opening gets its own random 256-bit key when the first custodian unlocks (so only
//! after the deadline); that key is stored sealed under a key derived from the platform
//! signing key, which lives in the processes' key files, never in the database. Each share
//! is stored sealed under the opening's key, bound to its tender and custodian. The
//! transaction that publishes the opening record deletes both, and so does a failed key
//! rebuild (the custodians unlock again). Someone holding only the database — a copy, a
//! backup, a read replica — holds ciphertext; see docs/sealed-bidding.md, "Several
//! processes", for the whole argument.
//!
//! Which process decrypts: the one that takes the lease (`running_until`) when k shares are
//! in; it renews the lease while it works. A process that dies leaves an expired lease,
//! and the job loop of any process ([`resume_stalled`]) takes the opening over. The record
//! is written guarded by the opening's state, so an opening is published once even if two
//! processes ever decrypted at the same time.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hkdf;
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use super::*;

/// How long a process holds an opening it decrypts without renewing the lease.
pub(super) const LEASE_MS: i64 = 15_000;

/// The key that seals each opening's key, derived from the platform signing key (every
/// process has the same one). Never stored, never logged.
pub struct ShareWrap(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ShareWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ShareWrap(..)")
    }
}

struct Len32;

impl hkdf::KeyType for Len32 {
    fn len(&self) -> usize {
        32
    }
}

impl ShareWrap {
    /// Derives the wrapping key from the platform key's PKCS#8 bytes (HKDF-SHA256).
    pub fn derive(platform_pkcs8: &[u8]) -> Self {
        let mut out = Zeroizing::new([0u8; 32]);
        let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, b"sunbid/v1/opening-share-wrap")
            .extract(platform_pkcs8);
        // 32 bytes is far below HKDF-SHA256's limit, so neither step can fail.
        if let Ok(okm) = prk.expand(&[b"opening key"], Len32) {
            let _ = okm.fill(out.as_mut_slice());
        }
        Self(out)
    }

    /// A random key, good for this process only (tests with one process).
    pub fn random() -> Self {
        let mut out = Zeroizing::new([0u8; 32]);
        let _ = SystemRandom::new().fill(out.as_mut_slice());
        Self(out)
    }
}

impl ShareWrap {
    /// Seals `plain` directly under this key, bound to `aad`: base64(nonce ‖ ciphertext ‖
    /// tag). The auction reserve's unlocked shares are kept so (`auction::reserve`).
    pub(crate) fn seal(&self, aad: &str, plain: &[u8]) -> Result<String, BidError> {
        seal_bytes(&self.0, aad, plain)
    }

    /// Opens what [`ShareWrap::seal`] sealed with the same `aad`; `None` if anything differs.
    pub(crate) fn open(&self, aad: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
        open_bytes(&self.0, aad, sealed)
    }
}

fn seal_bytes(key: &[u8; 32], aad: &str, plain: &[u8]) -> Result<String, BidError> {
    let rng = SystemRandom::new();
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce)
        .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let k = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key).map_err(|_| BidError::Crypto(SealError::Rng))?,
    );
    let mut buf = Zeroizing::new(plain.to_vec());
    k.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_bytes()),
        &mut *buf,
    )
    .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(STANDARD.encode(out))
}

fn open_bytes(key: &[u8; 32], aad: &str, sealed: &str) -> Option<Zeroizing<Vec<u8>>> {
    let raw = STANDARD.decode(sealed.as_bytes()).ok()?;
    let (nonce, ct) = raw.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let k = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, key).ok()?);
    let mut buf = Zeroizing::new(ct.to_vec());
    let plain = k
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .ok()?;
    Some(Zeroizing::new(plain.to_vec()))
}

fn key_aad(tender_id: &str) -> String {
    format!("sunbid/v1/opening-key\0{tender_id}")
}

fn share_aad(tender_id: &str, user_id: &str) -> String {
    format!("sunbid/v1/opening-share\0{tender_id}\0{user_id}")
}

/// The opening's key, created on first use (the caller checked that the opening is
/// unlocking, so the deadline has passed).
async fn opening_key(
    tx: &mut Tx,
    wrap: &ShareWrap,
    tender_id: &str,
    now: DateTime<Utc>,
) -> Result<Zeroizing<[u8; 32]>, BidError> {
    let existing = q_opt!(
        tx,
        (String,),
        "select wrapped_key from opening_share_key where tender_id = $1",
        tender_id.to_string()
    )?;
    if let Some((wrapped,)) = existing {
        let raw = open_bytes(&wrap.0, &key_aad(tender_id), &wrapped)
            .filter(|k| k.len() == 32)
            .ok_or(BidError::SharesLost)?;
        let mut key = Zeroizing::new([0u8; 32]);
        key.copy_from_slice(&raw);
        return Ok(key);
    }
    let mut key = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(key.as_mut_slice())
        .map_err(|_| BidError::Crypto(SealError::Rng))?;
    let wrapped = seal_bytes(&wrap.0, &key_aad(tender_id), key.as_slice())?;
    q_exec!(
        tx,
        "insert into opening_share_key (tender_id, wrapped_key, created_at) values ($1, $2, $3)",
        tender_id.to_string(),
        wrapped,
        to_millis(now)
    )?;
    Ok(key)
}

/// Stores a custodian's unlocked share, sealed, in the caller's transaction (the one that
/// records the unlock). A custodian whose share is already held gets `AlreadyUnlocked`.
pub(super) async fn store(
    tx: &mut Tx,
    wrap: &ShareWrap,
    tender_id: &str,
    user_id: &str,
    share: &Share,
    now: DateTime<Utc>,
) -> Result<(), BidError> {
    let key = opening_key(tx, wrap, tender_id, now).await?;
    let sealed = seal_bytes(&key, &share_aad(tender_id, user_id), share.as_bytes())?;
    let res = q_exec!(
        tx,
        "insert into opening_share (tender_id, user_id, sealed, unlocked_at) values ($1, $2, $3, $4)",
        tender_id.to_string(),
        user_id.to_string(),
        sealed,
        to_millis(now)
    );
    match res {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(BidError::AlreadyUnlocked),
        Err(e) => Err(e.into()),
    }
}

/// Whether this custodian's share is held, or the opening is being decrypted.
pub(super) async fn holds(db: &Db, tender_id: &str, user_id: &str) -> Result<bool, BidError> {
    let mut tx = db.read().await?;
    let (held, running) = held(&mut tx, tender_id).await?;
    if running {
        return Ok(true);
    }
    if held == 0 {
        return Ok(false);
    }
    Ok(q_opt!(
        tx,
        (i64,),
        "select unlocked_at from opening_share where tender_id = $1 and user_id = $2",
        tender_id.to_string(),
        user_id.to_string()
    )?
    .is_some())
}

/// How many shares are held for a tender, and whether a process is decrypting it now.
pub(super) async fn held(tx: &mut Tx, tender_id: &str) -> Result<(usize, bool), BidError> {
    let (n, progress) = held_and_progress(tx, tender_id).await?;
    Ok((n, progress.is_some()))
}

/// Shares held, and while a process decrypts: bids decrypted so far and bids in all.
pub(super) async fn held_and_progress(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<(usize, Option<(u64, u64)>), BidError> {
    let (n,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from opening_share where tender_id = $1",
        tender_id.to_string()
    )?;
    let progress = running(tx, tender_id).await?.map(|(opened, total)| {
        (
            u64::try_from(opened).unwrap_or(0),
            u64::try_from(total).unwrap_or(0),
        )
    });
    Ok((usize::try_from(n).unwrap_or(0), progress))
}

/// The progress of a running decryption (0 of 0 before the first renewal), or `None`.
async fn running(tx: &mut Tx, tender_id: &str) -> Result<Option<(i64, i64)>, BidError> {
    let row = q_opt!(
        tx,
        (Option<i64>, Option<i64>, Option<i64>),
        "select running_until, bids_opened, bids_total from opening_share_key where tender_id = $1",
        tender_id.to_string()
    )?;
    Ok(match row {
        Some((Some(_), opened, total)) => Some((opened.unwrap_or(0), total.unwrap_or(0))),
        _ => None,
    })
}

/// Takes the opening for this process when `k` shares are held and nobody else holds it:
/// the shares, opened, or `None`. Shares that no longer open (the platform key changed)
/// are deleted, and the custodians must unlock again.
pub(super) async fn claim(
    db: &Db,
    wrap: &ShareWrap,
    tender_id: &str,
    k: u32,
    now: DateTime<Utc>,
) -> Result<Option<Vec<Share>>, BidError> {
    let mut tx = db.begin().await?;
    if opening_state(&mut tx, tender_id).await?.as_deref() != Some("unlocking") {
        return Ok(None);
    }
    let rows = q_all!(
        tx,
        (String, String),
        "select user_id, sealed from opening_share where tender_id = $1 order by unlocked_at, user_id",
        tender_id.to_string()
    )?;
    if rows.len() < k as usize {
        return Ok(None);
    }
    let now_ms = to_millis(now);
    let took = q_exec!(
        tx,
        "update opening_share_key set running_until = $2
         where tender_id = $1 and (running_until is null or running_until < $3)",
        tender_id.to_string(),
        now_ms + LEASE_MS,
        now_ms
    )?;
    if took == 0 {
        return Ok(None);
    }
    let opened = match opening_key(&mut tx, wrap, tender_id, now).await {
        Ok(key) => rows
            .iter()
            .map(|(user, sealed)| {
                open_bytes(&key, &share_aad(tender_id, user), sealed)
                    .and_then(|b| Share::from_bytes(&b).ok())
            })
            .collect::<Option<Vec<Share>>>(),
        Err(BidError::SharesLost) => None,
        Err(e) => return Err(e),
    };
    let Some(shares) = opened else {
        tracing::error!(
            tender_id,
            "held opening shares no longer open (platform key changed?): custodians must unlock again"
        );
        wipe(&mut tx, tender_id).await?;
        tx.commit().await?;
        return Err(BidError::SharesLost);
    };
    tx.commit().await?;
    Ok(Some(shares))
}

/// Renews this process's lease while it decrypts (see the module comment), with how far
/// it has come: `(bids decrypted, bids in all)`.
pub(in crate::bid) async fn renew(
    db: &Db,
    tender_id: &str,
    now: DateTime<Utc>,
    progress: (u64, u64),
) -> Result<(), BidError> {
    let mut tx = db.begin().await?;
    q_exec!(
        tx,
        "update opening_share_key set running_until = $2, bids_opened = $3, bids_total = $4
         where tender_id = $1 and running_until is not null",
        tender_id.to_string(),
        to_millis(now) + LEASE_MS,
        i64::try_from(progress.0).unwrap_or(i64::MAX),
        i64::try_from(progress.1).unwrap_or(i64::MAX)
    )?;
    tx.commit().await?;
    Ok(())
}

/// Gives the opening back (an error other than wrong shares): another attempt may claim it.
pub(super) async fn release(db: &Db, tender_id: &str) -> Result<(), BidError> {
    let mut tx = db.begin().await?;
    q_exec!(
        tx,
        "update opening_share_key set running_until = null where tender_id = $1",
        tender_id.to_string()
    )?;
    tx.commit().await?;
    Ok(())
}

/// Deletes every share and the opening's key (the opening ended, or its shares were wrong).
pub(super) async fn wipe(tx: &mut Tx, tender_id: &str) -> Result<(), BidError> {
    q_exec!(
        tx,
        "delete from opening_share where tender_id = $1",
        tender_id.to_string()
    )?;
    q_exec!(
        tx,
        "delete from opening_share_key where tender_id = $1",
        tender_id.to_string()
    )?;
    Ok(())
}

/// Openings with k shares that no live process is decrypting (the one that was died, or
/// died between the last unlock and its claim), and shares left by openings that ended
/// some other way (a cancelled tender): the job loop of every process calls this.
pub async fn resume_stalled(env: &Env) -> Result<usize, BidError> {
    let now = env.clock.now();
    let (stalled, ended) = {
        let mut tx = env.db.read().await?;
        let stalled = q_all!(
            tx,
            (String, i64),
            "select s.tender_id, k.k from opening_share_key s
             join opening o on o.tender_id = s.tender_id
             join tender_opening_key k on k.tender_id = s.tender_id
             where o.state = 'unlocking' and (s.running_until is null or s.running_until < $1)
               and (select count(*) from opening_share x where x.tender_id = s.tender_id) >= k.k",
            to_millis(now)
        )?;
        let ended = q_all!(
            tx,
            (String,),
            "select s.tender_id from opening_share_key s
             left join opening o on o.tender_id = s.tender_id
             where o.state is null or o.state <> 'unlocking'",
        )?;
        (stalled, ended)
    };
    for (tender_id,) in ended {
        let mut tx = env.db.begin().await?;
        wipe(&mut tx, &tender_id).await?;
        tx.commit().await?;
    }
    let mut resumed = 0;
    for (tender_id, k) in stalled {
        let k = u32::try_from(k).unwrap_or(u32::MAX);
        let Some(shares) = claim(&env.db, &env.ceremonies.wrap, &tender_id, k, now).await? else {
            continue;
        };
        let tender = {
            let mut tx = env.db.read().await?;
            lifecycle::by_id(&mut tx, &tender_id).await?
        };
        tracing::warn!(tender_id, "taking over an opening whose process stopped");
        record::run_claimed(env, &tender, shares).await?;
        resumed += 1;
    }
    Ok(resumed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_shares_open_only_with_their_key_and_binding() {
        let wrap = ShareWrap::derive(b"platform key one");
        let same = ShareWrap::derive(b"platform key one");
        let other = ShareWrap::derive(b"platform key two");
        assert_eq!(*wrap.0, *same.0, "every process derives the same key");
        let sealed = seal_bytes(&wrap.0, &share_aad("t1", "u1"), b"share").unwrap();
        assert_eq!(
            open_bytes(&same.0, &share_aad("t1", "u1"), &sealed).as_deref(),
            Some(&b"share".to_vec())
        );
        assert!(open_bytes(&other.0, &share_aad("t1", "u1"), &sealed).is_none());
        // Moved to another custodian or tender, it does not open.
        assert!(open_bytes(&wrap.0, &share_aad("t1", "u2"), &sealed).is_none());
        assert!(open_bytes(&wrap.0, &share_aad("t2", "u1"), &sealed).is_none());
        assert!(open_bytes(&wrap.0, &share_aad("t1", "u1"), "not base64!").is_none());
        assert!(open_bytes(&wrap.0, &share_aad("t1", "u1"), "AAAA").is_none());
    }
}
