//! The sealed reserve price (底价) of a trade, with the tenders' scheme (DESIGN.md "Sealed
//! bids", docs/sealed-bidding.md) so that nobody — the operator included — can read it
//! before the end:
//!
//! 1. A trade drafted with custodians gets, at publication, its own opening key: a random
//!    seed, split k of n (the rulebook's `custodian_quorum`) among the custodians, each share
//!    sealed to the custodian's enrolled key and bound to the trade; only the public key is
//!    kept ([`issue_key`]).
//! 2. Until bidding starts, the seller's agent uploads the reserve sealed to that key like a
//!    bid part (`bidder_id` = [`RESERVE_BIDDER_ID`], plaintext `{"reserve_fen": <int>}`
//!    padded with spaces to exactly [`RESERVE_PLAIN_LEN`] bytes, so that the length in the
//!    envelope header says nothing about the number of digits). The server checks the
//!    envelope's structure and binding ([`seal_reserve`]); it cannot open it.
//! 3. When bidding ends with a bid and a reserve is sealed, the trade waits in `ended`
//!    (`auction::jobs`). Each custodian unlocks their share with their passphrase; the
//!    share is kept sealed under a key derived from the platform signing key, never in the
//!    clear ([`unlock`]). With k shares the key is rebuilt and checked against the published
//!    public key, the reserve is opened, and the trade moves to `deal` (highest ≥ reserve)
//!    or `no_deal`, in the transaction that deletes the shares ([`open_if_ready`]).
//!
//! The reserve's amount is in the database only after that opening; the public audit
//! events before it carry its digest only.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AuctionError;
use super::jobs::{self, Decision};
use crate::audit;
use crate::bid::BidError;
use crate::bid::custodian::{enrolled_keys, key_of, parse_public_key, split_to};
use crate::bid::opening::Ceremonies;
use crate::bid::unlock_limit::{self, Failure, Scope};
use crate::clock::to_millis;
use crate::error::Common;
use crate::identity::{Caller, Role};
use crate::keys::SigningKey;
use crate::lifecycle::auction::{self as lifecycle, AuctionState, Facts};
use crate::seal::{self, EnvelopeHeader, SealError, SealedShare, Share};
use crate::store::blob::BlobStore;
use crate::store::{Db, Tx, is_unique_violation};
use crate::{q_all, q_exec, q_one, q_opt};

/// The `bidder_id` a sealed reserve carries in its envelope: the HPKE `info` binds it, so a
/// bid cannot pass for the reserve, nor the reverse.
pub const RESERVE_BIDDER_ID: &str = "reserve-price";

/// The exact plaintext length of a sealed reserve: `{"reserve_fen": <int>}` padded with
/// spaces, so every reserve's envelope has the same length whatever the amount.
pub const RESERVE_PLAIN_LEN: u64 = 64;

/// Largest reserve envelope accepted (header and one chunk of 64 bytes are far smaller).
pub const MAX_RESERVE_ENVELOPE: usize = 16 * 1024;

fn invalid(code: &'static str, msg: impl Into<String>) -> AuctionError {
    AuctionError::Invalid(code, msg.into())
}

fn conflict(code: &'static str, msg: impl Into<String>) -> AuctionError {
    AuctionError::Conflict(code, msg.into())
}

/// Checks the custodians named at drafting: distinct active users with the custodian role,
/// as many as the quorum's n at least (or none: no reserve). Returns them deduplicated.
pub(super) async fn check_custodians(
    tx: &mut Tx,
    ids: &[String],
    n: u32,
) -> Result<Vec<String>, AuctionError> {
    let mut out: Vec<String> = Vec::new();
    for id in ids {
        if !crate::ids::is_id(id) {
            return Err(invalid(
                "AUCTION_BAD_CUSTODIAN",
                format!("custodian {id:?} is not a user id / 保管人编号格式不正确"),
            ));
        }
        if !out.contains(id) {
            out.push(id.clone());
        }
    }
    if out.is_empty() {
        return Ok(out);
    }
    if out.len() > 20 || (out.len() as u64) < u64::from(n) {
        return Err(invalid(
            "AUCTION_CUSTODIANS_TOO_FEW",
            format!(
                "the reserve's key needs {n}–20 custodians, {} named / 底价密钥需{n}至20名保管人",
                out.len()
            ),
        ));
    }
    for id in &out {
        let row: Option<(String, String)> = q_opt!(
            tx,
            (String, String),
            "select role, status from app_user where user_id = $1",
            id.clone()
        )?;
        if !matches!(row, Some((ref r, ref s)) if r == "custodian" && s == "active") {
            return Err(invalid(
                "AUCTION_BAD_CUSTODIAN",
                format!("{id} is not an active custodian / {id} 不是已启用的密钥保管人"),
            ));
        }
    }
    Ok(out)
}

/// Stores the custodians of a new draft.
pub(super) async fn store_custodians(
    tx: &mut Tx,
    trade_id: &str,
    ids: &[String],
) -> Result<(), AuctionError> {
    for id in ids {
        q_exec!(
            tx,
            "insert into auction_custodian (trade_id, user_id) values ($1, $2)",
            trade_id.to_string(),
            id.clone()
        )?;
    }
    Ok(())
}

/// The opening key issued at publication, for the `auction.announce` payload.
#[derive(Clone, Debug, Serialize)]
pub struct IssuedKey {
    /// base64url (no padding) of the 65-byte SEC1 public key.
    pub public_key: String,
    /// Shares needed.
    pub k: u32,
    /// Shares issued.
    pub n: u32,
}

/// Issues the trade's opening key in the publishing transaction when it has custodians
/// (step 1 of the module comment); `None` without custodians. Every custodian must have
/// enrolled a key, or nothing is published and the error names who has not.
pub(super) async fn issue_key(
    tx: &mut Tx,
    now: DateTime<Utc>,
    trade_id: &str,
    k: u32,
) -> Result<Option<IssuedKey>, AuctionError> {
    let custodians: Vec<String> = q_all!(
        tx,
        (String,),
        "select user_id from auction_custodian where trade_id = $1 order by user_id",
        trade_id.to_string()
    )?
    .into_iter()
    .map(|(u,)| u)
    .collect();
    if custodians.is_empty() {
        return Ok(None);
    }
    let keys = enrolled_keys(tx, &custodians).await?;
    let (public, shares) = split_to(&keys, k, trade_id)?;
    for s in shares {
        q_exec!(
            tx,
            "insert into auction_key_share (trade_id, user_id, share_index, sealed_json, share_sha256)
             values ($1, $2, $3, $4, $5)",
            trade_id.to_string(),
            s.user_id,
            i64::from(s.index),
            s.sealed_json,
            s.digest
        )?;
    }
    let public_key = URL_SAFE_NO_PAD.encode(public.to_bytes());
    let n = u32::try_from(keys.len()).unwrap_or(u32::MAX);
    q_exec!(
        tx,
        "insert into auction_opening_key (trade_id, public_key, k, n, created_at)
         values ($1, $2, $3, $4, $5)",
        trade_id.to_string(),
        public_key.clone(),
        i64::from(k),
        i64::from(n),
        to_millis(now)
    )?;
    Ok(Some(IssuedKey { public_key, k, n }))
}

/// The reserve of a trade as anyone may read it: whether one is sealed, the key to seal it
/// to, how far the opening is — and the amount only once the custodians have opened it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ReserveView {
    /// The trade id (what a reserve envelope binds as its `tender_id`).
    pub trade_id: String,
    /// The opening public key (base64url, no padding), when the trade has custodians.
    pub public_key: Option<String>,
    /// Shares needed to open.
    pub k: Option<u32>,
    /// Shares issued.
    pub n: Option<u32>,
    /// Whether a reserve is sealed.
    pub sealed: bool,
    /// SHA-256 hex of the sealed envelope.
    pub sha256: Option<String>,
    /// When it was sealed (ms).
    pub sealed_at: Option<i64>,
    /// Custodians who have unlocked their share so far.
    pub unlocked: i64,
    /// The reserve (fen): only after it was opened at the end.
    pub reserve_fen: Option<i64>,
    /// When it was opened (ms).
    pub opened_at: Option<i64>,
    /// Why the opened envelope gave no reserve (code: message), if so.
    pub open_error: Option<String>,
    /// The caller is one of the custodians and has not unlocked yet.
    pub you_may_unlock: bool,
}

#[derive(sqlx::FromRow)]
struct ReserveRow {
    sha256: String,
    sealed_at: i64,
    reserve_fen: Option<i64>,
    opened_at: Option<i64>,
    open_error: Option<String>,
}

/// The reserve of a trade (drafts: only for those who may read them).
pub async fn view(
    db: &Db,
    user: Option<&crate::identity::SessionUser>,
    code: &str,
) -> Result<ReserveView, AuctionError> {
    let mut tx = db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state == AuctionState::Draft
        && !super::service::may_read_all(user, &facts.agent_org_id)
    {
        return Err(Common::NotFound("trade").into());
    }
    view_in(&mut tx, &facts, user.map(|u| u.user_id.as_str())).await
}

async fn view_in(
    tx: &mut Tx,
    facts: &Facts,
    user_id: Option<&str>,
) -> Result<ReserveView, AuctionError> {
    let key = q_opt!(
        tx,
        (String, i64, i64),
        "select public_key, k, n from auction_opening_key where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let row = q_opt!(
        tx,
        ReserveRow,
        "select sha256, sealed_at, reserve_fen, opened_at, open_error from auction_reserve
         where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let (unlocked,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from auction_reserve_share where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let you_may_unlock = match user_id {
        Some(u) if facts.state == AuctionState::Ended => {
            let share = q_opt!(
                tx,
                (i64,),
                "select share_index from auction_key_share where trade_id = $1 and user_id = $2",
                facts.trade_id.clone(),
                u.to_string()
            )?;
            let done = q_opt!(
                tx,
                (i64,),
                "select unlocked_at from auction_reserve_share where trade_id = $1 and user_id = $2",
                facts.trade_id.clone(),
                u.to_string()
            )?;
            share.is_some() && done.is_none()
        }
        _ => false,
    };
    Ok(ReserveView {
        trade_id: facts.trade_id.clone(),
        public_key: key.as_ref().map(|k| k.0.clone()),
        k: key.as_ref().map(|k| u32::try_from(k.1).unwrap_or(0)),
        n: key.as_ref().map(|k| u32::try_from(k.2).unwrap_or(0)),
        sealed: row.is_some(),
        sha256: row.as_ref().map(|r| r.sha256.clone()),
        sealed_at: row.as_ref().map(|r| r.sealed_at),
        unlocked,
        reserve_fen: row.as_ref().and_then(|r| r.reserve_fen),
        opened_at: row.as_ref().and_then(|r| r.opened_at),
        open_error: row.as_ref().and_then(|r| r.open_error.clone()),
        you_may_unlock,
    })
}

/// Checks a reserve envelope without opening it: a well-formed envelope for this trade and
/// [`RESERVE_BIDDER_ID`], exactly as long as its header says, with a plaintext of
/// [`RESERVE_PLAIN_LEN`] bytes.
pub fn check_envelope(trade_id: &str, body: &[u8]) -> Result<(), AuctionError> {
    let bad = |e: SealError| {
        invalid(
            "AUCTION_RESERVE_INVALID",
            format!(
                "not a sealed reserve for this trade: {} ({}) / 不是本项目有效的底价密封文件",
                e,
                e.code()
            ),
        )
    };
    if body.len() > MAX_RESERVE_ENVELOPE {
        return Err(invalid(
            "AUCTION_RESERVE_INVALID",
            format!("a sealed reserve is at most {MAX_RESERVE_ENVELOPE} bytes / 底价密封文件过大"),
        ));
    }
    let (header, _) = EnvelopeHeader::parse(body).map_err(bad)?;
    header
        .check_binding(trade_id, RESERVE_BIDDER_ID)
        .map_err(bad)?;
    header.check_total_len(body.len() as u64).map_err(bad)?;
    if header.plaintext_len != RESERVE_PLAIN_LEN {
        return Err(invalid(
            "AUCTION_RESERVE_INVALID",
            format!(
                "the sealed plaintext must be exactly {RESERVE_PLAIN_LEN} bytes ({{\"reserve_fen\": <int>}} padded with spaces), so its length says nothing / 底价明文须补齐为{RESERVE_PLAIN_LEN}字节"
            ),
        ));
    }
    Ok(())
}

/// `POST …/reserve` answer.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SealedReserve {
    /// SHA-256 hex of the stored envelope.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether an earlier sealed reserve was replaced.
    pub replaced: bool,
}

/// The owner agent seals the reserve before bidding starts (step 2 of the module comment);
/// a later one replaces the earlier.
pub async fn seal_reserve(
    db: &Db,
    blobs: &BlobStore,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    body: axum::body::Bytes,
) -> Result<SealedReserve, AuctionError> {
    let facts = {
        let mut tx = db.read().await?;
        lifecycle::by_code(&mut tx, code).await?
    };
    if !(caller.is(Role::Agent) && caller.org_id() == Some(facts.agent_org_id.as_str())) {
        return Err(Common::Forbidden(
            "only the trade's agent may seal its reserve / 仅项目代理机构可密封底价",
        )
        .into());
    }
    let has_key = {
        let mut tx = db.read().await?;
        q_opt!(
            tx,
            (String,),
            "select public_key from auction_opening_key where trade_id = $1",
            facts.trade_id.clone()
        )?
        .is_some()
    };
    if !has_key {
        return Err(conflict(
            "AUCTION_NO_RESERVE_KEY",
            "a reserve is sealed to the key issued at publication to the trade's custodians; this trade has none (draft it with custodians, then publish) / 本项目无底价密钥（须指定保管人并发布）",
        ));
    }
    too_late(&facts, now)?;
    check_envelope(&facts.trade_id, &body)?;
    let size = body.len() as u64;
    let sha256 = blobs.put(body).await?;

    let mut tx = db.begin().await?;
    // The guard is in the statements: bidding must not have started by now.
    let open = "exists (select 1 from auction_trade where trade_id = $1 and state = 'announced'
                and starts_at > $2)";
    let replaced = q_exec!(
        tx,
        sqlx::AssertSqlSafe(format!(
            "delete from auction_reserve where trade_id = $1 and {open}"
        )),
        facts.trade_id.clone(),
        to_millis(now)
    )? > 0;
    let n = q_exec!(
        tx,
        sqlx::AssertSqlSafe(format!(
            "insert into auction_reserve (trade_id, sha256, size_bytes, sealed_by, sealed_at)
             select $1, $3, $4, $5, $2 where {open}"
        )),
        facts.trade_id.clone(),
        to_millis(now),
        sha256.clone(),
        i64::try_from(size).unwrap_or(i64::MAX),
        caller.user.user_id.clone()
    )?;
    if n == 0 {
        let facts = lifecycle::by_code(&mut tx, code).await?;
        too_late(&facts, now)?;
        return Err(Common::Concurrent.into());
    }
    // Public: that a reserve exists is announced (39号令: 无底价的应当说明); its amount is
    // sealed, and the envelope's length is the same for every amount.
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "auction.reserve.seal",
        Some(&facts.trade_id),
        json!({"code": facts.code, "sha256": sha256, "size": size, "replaced": replaced}),
    )
    .await?;
    tx.commit().await?;
    Ok(SealedReserve {
        sha256,
        size,
        replaced,
    })
}

fn too_late(facts: &Facts, now: DateTime<Utc>) -> Result<(), AuctionError> {
    if facts.state != AuctionState::Announced || facts.starts_at <= to_millis(now) {
        return Err(conflict(
            "AUCTION_RESERVE_TOO_LATE",
            "the reserve is sealed after publication and before bidding starts / 底价须在发布后、竞价开始前密封",
        ));
    }
    Ok(())
}

/// A custodian's unlock of their share.
#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlockInput {
    /// The passphrase of the custodian's key (never stored, logged or returned).
    pub passphrase: String,
}

impl std::fmt::Debug for UnlockInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnlockInput { passphrase: *** }")
    }
}

fn share_aad(trade_id: &str, user_id: &str) -> String {
    format!("sunbid/v1/reserve-share\0{trade_id}\0{user_id}")
}

/// What the reserve opening works with.
pub struct Opening<'a> {
    /// The database.
    pub db: &'a Db,
    /// Where the sealed reserve is.
    pub blobs: &'a BlobStore,
    /// The key that seals unlocked shares at rest, and the passphrase checks running here.
    pub ceremonies: &'a Arc<Ceremonies>,
    /// The platform key (signs the deal confirmation).
    pub key: &'a SigningKey,
}

/// A custodian unlocks their share after the end (step 3 of the module comment); the k-th
/// unlock opens the reserve and decides.
pub async fn unlock(
    o: &Opening<'_>,
    now: DateTime<Utc>,
    caller: &Caller,
    code: &str,
    input: &UnlockInput,
) -> Result<ReserveView, AuctionError> {
    let (facts, locked, sealed) = {
        let mut tx = o.db.read().await?;
        let facts = lifecycle::by_code(&mut tx, code).await?;
        let sealed = q_opt!(
            tx,
            (String,),
            "select sealed_json from auction_key_share where trade_id = $1 and user_id = $2",
            facts.trade_id.clone(),
            caller.user.user_id.clone()
        )?;
        let Some((sealed,)) = sealed else {
            return Err(Common::Forbidden(
                "only the trade's custodians unlock its reserve / 仅本项目底价密钥保管人可解锁",
            )
            .into());
        };
        if facts.state != AuctionState::Ended {
            return Err(conflict(
                "AUCTION_RESERVE_NOT_DUE",
                "the reserve is opened only after bidding has ended with a bid / 竞价结束后方可开启底价",
            ));
        }
        let sealed: SealedShare = serde_json::from_str(&sealed)
            .map_err(|e| Common::Corrupt(format!("sealed share: {e}")))?;
        let locked = key_of(&mut tx, &caller.user.user_id)
            .await?
            .ok_or(BidError::NotEnrolled)?;
        (facts, locked.0, sealed)
    };
    if locked.is_passkey() {
        return Err(BidError::WrongUnlockMethod(
            "this key is held by a passkey; reserve unlocks take a passphrase key only for now / 本密钥由通行密钥保管，底价解锁暂仅支持口令密钥",
        )
        .into());
    }
    // The tenders' rule for guesses: counted per trade and custodian, delayed after five.
    unlock_limit::check_in(
        Scope::Trade,
        o.db,
        now,
        &facts.trade_id,
        &caller.user.user_id,
    )
    .await?;
    let _attempt = o
        .ceremonies
        .begin_attempt(&facts.trade_id, &caller.user.user_id)?;
    // PBKDF2 + HPKE open: slow, off the async threads.
    let passphrase = input.passphrase.clone();
    let trade_id = facts.trade_id.clone();
    let opened = tokio::task::spawn_blocking(move || {
        seal::decrypt_share(&locked, &passphrase, &sealed, &trade_id)
    })
    .await
    .map_err(|e| Common::Corrupt(format!("unlock task: {e}")))?;
    let share = match opened {
        Ok(share) => share,
        Err(SealError::WrongPassphrase) => {
            return Err(unlock_limit::record_failure_in(
                Scope::Trade,
                o.db,
                now,
                &caller.actor,
                &facts.trade_id,
                &caller.user.user_id,
                Failure::Passphrase,
            )
            .await?
            .into());
        }
        Err(e) => return Err(BidError::Crypto(e).into()),
    };
    let mut tx = o.db.begin().await?;
    let sealed_share = o.ceremonies.wrap().seal(
        &share_aad(&facts.trade_id, &caller.user.user_id),
        share.as_bytes(),
    )?;
    drop(share);
    let stored = q_exec!(
        tx,
        "insert into auction_reserve_share (trade_id, user_id, sealed, unlocked_at)
         select $1, $2, $3, $4 where exists
           (select 1 from auction_trade where trade_id = $1 and state = 'ended')",
        facts.trade_id.clone(),
        caller.user.user_id.clone(),
        sealed_share,
        to_millis(now)
    );
    match stored {
        Ok(0) => {
            return Err(conflict(
                "AUCTION_RESERVE_NOT_DUE",
                "the reserve has been opened already / 底价已开启",
            ));
        }
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {
            return Err(conflict(
                "AUCTION_ALREADY_UNLOCKED",
                "you have unlocked your share already / 您已解锁",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    unlock_limit::reset_in(Scope::Trade, &mut tx, &facts.trade_id, &caller.user.user_id).await?;
    audit::append(
        &mut tx,
        now,
        &caller.actor,
        "auction.reserve.unlock",
        Some(&facts.trade_id),
        json!({"code": facts.code, "custodian": caller.user.user_id}),
    )
    .await?;
    tx.commit().await?;
    open_if_ready(o, now, code).await?;
    let mut tx = o.db.read().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    view_in(&mut tx, &facts, Some(&caller.user.user_id)).await
}

/// Opens the reserve of an `ended` trade once k shares are held, and decides the trade, in
/// one transaction that also deletes the shares. `false` when not ready or decided by
/// another request. The job loop calls this too, so a process lost after the k-th unlock
/// is made good by any other.
pub async fn open_if_ready(
    o: &Opening<'_>,
    now: DateTime<Utc>,
    code: &str,
) -> Result<bool, AuctionError> {
    let mut tx = o.db.begin().await?;
    let facts = lifecycle::by_code(&mut tx, code).await?;
    if facts.state != AuctionState::Ended {
        return Ok(false);
    }
    let Some((public_key, k, _)) = q_opt!(
        tx,
        (String, i64, i64),
        "select public_key, k, n from auction_opening_key where trade_id = $1",
        facts.trade_id.clone()
    )?
    else {
        return Err(
            Common::Corrupt(format!("ended trade {} has no opening key", facts.code)).into(),
        );
    };
    let rows = q_all!(
        tx,
        (String, String),
        "select user_id, sealed from auction_reserve_share where trade_id = $1
         order by unlocked_at, user_id",
        facts.trade_id.clone()
    )?;
    if (rows.len() as i64) < k {
        return Ok(false);
    }
    let mut shares: Vec<Share> = Vec::with_capacity(rows.len());
    for (user, sealed) in &rows {
        let share = o
            .ceremonies
            .wrap()
            .open(&share_aad(&facts.trade_id, user), sealed)
            .and_then(|b| Share::from_bytes(&b).ok());
        match share {
            Some(s) => shares.push(s),
            None => {
                // Sealed under another platform key: the custodians unlock again.
                tracing::error!(code = %facts.code, "held reserve shares no longer open (platform key changed?)");
                q_exec!(
                    tx,
                    "delete from auction_reserve_share where trade_id = $1",
                    facts.trade_id.clone()
                )?;
                tx.commit().await?;
                return Err(BidError::SharesLost.into());
            }
        }
    }
    let published = parse_public_key(&public_key)?;
    let key = seal::rebuild_and_check(&shares, &published).map_err(|e| match e {
        SealError::SharesDoNotMatch | SealError::InvalidShares(_) => BidError::KeyMismatch,
        e => BidError::Crypto(e),
    })?;
    drop(shares);
    let sha = q_opt!(
        tx,
        (String,),
        "select sha256 from auction_reserve where trade_id = $1",
        facts.trade_id.clone()
    )?
    .map(|r| r.0)
    .ok_or_else(|| Common::Corrupt(format!("ended trade {} has no reserve", facts.code)))?;
    // A storage failure is the platform's: nothing is decided, the next attempt retries.
    let envelope = o.blobs.get(&sha).await?;
    if crate::store::blob::sha256_hex(&envelope) != sha {
        return Err(
            Common::Corrupt(format!("the stored reserve of {} changed", facts.code)).into(),
        );
    }
    let trade_id = facts.trade_id.clone();
    let opened = tokio::task::spawn_blocking(move || open_reserve(&key, &trade_id, &envelope))
        .await
        .map_err(|e| Common::Corrupt(format!("reserve task: {e}")))?;
    let at = to_millis(now);
    let (reserve_fen, open_error) = match &opened {
        Ok(fen) => (Some(*fen), None),
        Err(reason) => (None, Some(reason.clone())),
    };
    q_exec!(
        tx,
        "update auction_reserve set reserve_fen = $1, opened_at = $2, open_error = $3
         where trade_id = $4",
        reserve_fen,
        at,
        open_error.clone(),
        facts.trade_id.clone()
    )?;
    q_exec!(
        tx,
        "delete from auction_reserve_share where trade_id = $1",
        facts.trade_id.clone()
    )?;
    let decision = match opened {
        Ok(fen) => Decision::Reserve(fen),
        Err(reason) => Decision::ReserveUnreadable(reason),
    };
    let moved = jobs::decide(&mut tx, o.key, now, &facts, decision).await?;
    tx.commit().await?;
    Ok(moved)
}

/// Opens every `ended` trade's reserve whose k shares are in but which no request opened
/// (the process of the k-th unlock stopped, or storage failed then); returns how many.
pub async fn run_due(o: &Opening<'_>, now: DateTime<Utc>) -> Result<usize, AuctionError> {
    let due = {
        let mut tx = o.db.read().await?;
        q_all!(
            tx,
            (String,),
            "select t.code from auction_trade t join auction_opening_key k on k.trade_id = t.trade_id
             where t.state = 'ended'
               and (select count(*) from auction_reserve_share s where s.trade_id = t.trade_id) >= k.k
             limit 50"
        )?
    };
    let mut done = 0;
    for (code,) in due {
        match open_if_ready(o, now, &code).await {
            Ok(true) => done += 1,
            Ok(false) => {}
            Err(e) => tracing::error!(code = %code, error = %e, "reserve opening failed"),
        }
    }
    Ok(done)
}

/// Opens a reserve envelope with the rebuilt key: the amount, or why the seller's envelope
/// gives none (recorded; the trade then has no deal).
fn open_reserve(key: &seal::PrivateKey, trade_id: &str, envelope: &[u8]) -> Result<i64, String> {
    let mut plain = Vec::new();
    seal::open_stream(
        &mut &envelope[..],
        &mut plain,
        key,
        trade_id,
        RESERVE_BIDDER_ID,
    )
    .map_err(|e| format!("{}: {e}", e.code()))?;
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Reserve {
        reserve_fen: i64,
    }
    let parsed: Reserve = serde_json::from_slice(&plain)
        .map_err(|e| format!("RESERVE_INVALID: not {{\"reserve_fen\": <int>}}: {e}"))?;
    if !(0..=crate::tender::rulebook::MAX_MONEY_FEN).contains(&parsed.reserve_fen) {
        return Err("RESERVE_INVALID: reserve_fen out of range".into());
    }
    Ok(parsed.reserve_fen)
}

/// The plaintext to seal for a reserve of `fen`: `{"reserve_fen": fen}` padded with spaces
/// to [`RESERVE_PLAIN_LEN`] bytes (what the seller's browser and the demo seal).
pub fn reserve_plaintext(fen: i64) -> Vec<u8> {
    let mut text = format!("{{\"reserve_fen\": {fen}}}").into_bytes();
    text.resize(RESERVE_PLAIN_LEN as usize, b' ');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reserve_plaintext_has_the_same_length_and_parses() {
        for fen in [
            0_i64,
            7,
            2_860_000_000,
            crate::tender::rulebook::MAX_MONEY_FEN,
        ] {
            let p = reserve_plaintext(fen);
            assert_eq!(p.len() as u64, RESERVE_PLAIN_LEN);
            let v: serde_json::Value = serde_json::from_slice(&p).expect("json");
            assert_eq!(v["reserve_fen"], fen);
        }
    }

    #[test]
    fn a_reserve_sealed_to_the_key_opens_and_anything_else_is_refused() {
        let rng = ring::rand::SystemRandom::new();
        let (pk, shares) = seal::opening::new_opening_key(2, 3, &rng).expect("key");
        let plain = reserve_plaintext(123_456);
        let seal_for = |bidder: &str, text: &[u8]| {
            let mut out = Vec::new();
            seal::seal_stream(
                &mut &text[..],
                &mut out,
                &pk,
                &seal::PartInfo {
                    tender_id: "TRADE1",
                    bidder_id: bidder,
                    label: "form",
                    plaintext_len: text.len() as u64,
                },
                &rng,
            )
            .expect("seal");
            out
        };
        let good = seal_for(RESERVE_BIDDER_ID, &plain);
        assert!(check_envelope("TRADE1", &good).is_ok());
        assert!(check_envelope("TRADE2", &good).is_err(), "another trade");
        assert!(
            check_envelope("TRADE1", &good[..good.len() - 1]).is_err(),
            "cut"
        );
        assert!(check_envelope("TRADE1", b"not an envelope").is_err());
        let as_bidder = seal_for("ORG1", &plain);
        assert!(check_envelope("TRADE1", &as_bidder).is_err(), "a bid");
        let short = seal_for(RESERVE_BIDDER_ID, b"{\"reserve_fen\": 1}");
        assert!(check_envelope("TRADE1", &short).is_err(), "unpadded");

        let key = seal::rebuild_and_check(&shares[1..], &pk).expect("rebuild");
        assert_eq!(open_reserve(&key, "TRADE1", &good), Ok(123_456));
        let junk = seal_for(RESERVE_BIDDER_ID, &[b' '; 64]);
        assert!(open_reserve(&key, "TRADE1", &junk).is_err());
    }
}
