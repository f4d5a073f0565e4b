//! Kept checkpoints: every checkpoint the platform signs is stored, with the witness
//! cosignatures it gathers, so that the latest one and any past one can be served and
//! nobody can be shown a log the platform did not commit to.
//!
//! The platform never signs two inconsistent checkpoints: the size is the table's key (a
//! second root for one size is refused by the database), and before a checkpoint is stored
//! it is checked against the largest kept one below it with an RFC 9162 consistency proof
//! built from the stored tree nodes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ring::signature::Ed25519KeyPair;
use serde::Serialize;

use super::checkpoint::{Checkpoint, VerifierKey};
use super::cosign::{Cosignature, trusted_cosignatures};
use super::merkle::{self, Hash, NodeId};
use crate::clock::{from_millis, to_millis};
use crate::error::{Coded, Common, Kind};
use crate::store::{Conn, Db, Tx};
use crate::{q_all, q_exec, q_opt};

/// Why a checkpoint could not be kept, or a cosignature not accepted.
#[derive(Debug, thiserror::Error)]
pub enum KeptError {
    /// Shared failures (storage).
    #[error(transparent)]
    Common(#[from] Common),
    /// The new tree is not an extension of a kept checkpoint: the platform refuses to
    /// sign it (this would be a split view).
    #[error("tree of size {new} is not consistent with kept checkpoint {old}")]
    Inconsistent {
        /// The kept checkpoint's size.
        old: u64,
        /// The size that was to be signed.
        new: u64,
    },
    /// The tree nodes a proof needs are missing or a proof cannot be built.
    #[error("cannot build a proof: {0}")]
    Proof(String),
    /// The cosigned note is malformed or a trusted witness's line does not verify.
    #[error("the cosigned checkpoint is not valid: {0} / 见证签名无效")]
    BadNote(String),
    /// No trusted witness signed the note.
    #[error("no cosignature from a witness this platform trusts / 没有受信任见证方的签名")]
    UnknownWitness,
    /// The note's checkpoint is not one the platform kept.
    #[error("no kept checkpoint of size {0} / 无此检查点")]
    NoSuchCheckpoint(u64),
    /// The note's checkpoint differs from the kept one of its size.
    #[error("the checkpoint of size {0} differs from the one the platform signed / 检查点不一致")]
    Mismatch(u64),
}

crate::common_errors!(KeptError);

impl Coded for KeptError {
    fn kind(&self) -> Kind {
        match self {
            KeptError::Common(c) => c.kind(),
            KeptError::Inconsistent { .. } | KeptError::Proof(_) => Kind::Internal,
            KeptError::BadNote(_) => Kind::BadRequest,
            KeptError::UnknownWitness => Kind::Forbidden,
            KeptError::NoSuchCheckpoint(_) => Kind::NotFound,
            KeptError::Mismatch(_) => Kind::Conflict,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            KeptError::Common(c) => c.code(),
            KeptError::Inconsistent { .. } | KeptError::Proof(_) => "INTERNAL",
            KeptError::BadNote(_) => "BAD_COSIGNATURE",
            KeptError::UnknownWitness => "UNKNOWN_WITNESS",
            KeptError::NoSuchCheckpoint(_) => "NO_SUCH_CHECKPOINT",
            KeptError::Mismatch(_) => "CHECKPOINT_MISMATCH",
        }
    }
}

/// A witness's cosignature as kept.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeptCosignature {
    /// The witness's key name.
    pub witness: String,
    /// Hex of the cosignature key id.
    pub key_id: String,
    /// The witness's timestamp, RFC 3339 UTC.
    pub time: String,
    /// The signature line (append it to the checkpoint note).
    #[serde(skip)]
    pub line: String,
}

/// A kept checkpoint with its cosignatures.
#[derive(Debug, Clone)]
pub struct KeptCheckpoint {
    /// Tree size.
    pub size: u64,
    /// Root hash.
    pub root: Hash,
    /// The note as the platform signed it.
    pub note: String,
    /// When it was signed.
    pub created_at: DateTime<Utc>,
    /// Witness cosignatures, oldest first.
    pub cosignatures: Vec<KeptCosignature>,
}

impl KeptCheckpoint {
    /// The note with every kept cosignature line appended (C2SP tlog-cosignature).
    pub fn cosigned_note(&self) -> String {
        let mut note = self.note.clone();
        for c in &self.cosignatures {
            note.push_str(&c.line);
            note.push('\n');
        }
        note
    }
}

type Row = (i64, Vec<u8>, String, i64);

async fn with_cosignatures(
    tx: &mut Tx,
    row: Option<Row>,
) -> Result<Option<KeptCheckpoint>, KeptError> {
    let Some((size, root, note, created_at)) = row else {
        return Ok(None);
    };
    let root: Hash = root
        .as_slice()
        .try_into()
        .map_err(|_| Common::Corrupt(format!("checkpoint {size} root")))?;
    let cosignatures = q_all!(
        tx,
        (String, String, String, i64),
        "select witness, key_id, line, cosigned_at from audit_cosignature
         where size = $1 order by received_at, witness",
        size
    )?
    .into_iter()
    .map(|(witness, key_id, line, at)| KeptCosignature {
        witness,
        key_id,
        line,
        time: super::entry_time(from_millis(at.saturating_mul(1000))),
    })
    .collect();
    Ok(Some(KeptCheckpoint {
        size: u64::try_from(size).unwrap_or(0),
        root,
        note,
        created_at: from_millis(created_at),
        cosignatures,
    }))
}

/// The largest kept checkpoint.
pub async fn latest(tx: &mut Tx) -> Result<Option<KeptCheckpoint>, KeptError> {
    let row: Option<Row> = q_opt!(
        tx,
        Row,
        "select size, root, note, created_at from audit_checkpoint order by size desc limit 1"
    )?;
    with_cosignatures(tx, row).await
}

/// The kept checkpoint of exactly `size` leaves.
pub async fn by_size(tx: &mut Tx, size: u64) -> Result<Option<KeptCheckpoint>, KeptError> {
    let Ok(size) = i64::try_from(size) else {
        return Ok(None);
    };
    let row: Option<Row> = q_opt!(
        tx,
        Row,
        "select size, root, note, created_at from audit_checkpoint where size = $1",
        size
    )?;
    with_cosignatures(tx, row).await
}

/// The largest kept checkpoint with at least `size` leaves and at least one cosignature,
/// else the largest kept one with at least `size` leaves (what a receipt's proof is for).
pub async fn covering(tx: &mut Tx, size: u64) -> Result<Option<KeptCheckpoint>, KeptError> {
    let size = i64::try_from(size).unwrap_or(i64::MAX);
    let witnessed: Option<(i64,)> = q_opt!(
        tx,
        (i64,),
        "select c.size from audit_checkpoint c
         where c.size >= $1 and exists (select 1 from audit_cosignature w where w.size = c.size)
         order by c.size desc limit 1",
        size
    )?;
    let chosen: Option<(i64,)> = match witnessed {
        Some(s) => Some(s),
        None => q_opt!(
            tx,
            (i64,),
            "select size from audit_checkpoint where size >= $1 order by size desc limit 1",
            size
        )?,
    };
    match chosen {
        Some((s,)) => by_size(tx, u64::try_from(s).unwrap_or(0)).await,
        None => Ok(None),
    }
}

/// Loads stored tree nodes and assembles the proof of `plan`.
///
/// All the nodes come in one query (at most ~2·log2 n of them): one round trip instead of
/// one per node, which is what keeps a proof under a millisecond on PostgreSQL, where each
/// round trip costs tens of microseconds (docs/BENCHMARKS.md).
pub async fn proof_from_nodes(
    tx: &mut Tx,
    plan: &merkle::ProofPlan,
) -> Result<Vec<Hash>, KeptError> {
    let mut ids: Vec<NodeId> = plan.iter().flatten().copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut nodes: HashMap<NodeId, Hash> = HashMap::with_capacity(ids.len());
    if !ids.is_empty() {
        let rows: Vec<(i64, i64, Vec<u8>)> = match tx.conn() {
            Conn::Sqlite(c) => {
                // Integers only (a level is a u8, an index a u64 below 2^63 in any real
                // tree), so the literal list is safe; `level = … and idx = …` terms OR-ed
                // use the primary key.
                let terms: Vec<String> = ids
                    .iter()
                    .map(|(level, idx)| {
                        format!(
                            "(level = {level} and idx = {})",
                            (*idx).min(i64::MAX as u64)
                        )
                    })
                    .collect();
                let sql = format!(
                    "select level, idx, hash from audit_node where {}",
                    terms.join(" or ")
                );
                sqlx::query_as(sqlx::AssertSqlSafe(sql))
                    .fetch_all(&mut *c)
                    .await
                    .map_err(Common::from)?
            }
            Conn::Postgres(c) => {
                // One fixed statement for every proof: prepared once per connection and
                // planned once, where a text that changes with the proof would be parsed
                // and planned on every request (the round trips that kept PostgreSQL
                // above 1 ms at 10 million events).
                let (levels, idxs): (Vec<i64>, Vec<i64>) = ids
                    .iter()
                    .map(|(level, idx)| {
                        (i64::from(*level), i64::try_from(*idx).unwrap_or(i64::MAX))
                    })
                    .unzip();
                sqlx::query_as(
                    "select n.level, n.idx, n.hash
                       from unnest($1::bigint[], $2::bigint[]) as w(level, idx)
                       join audit_node n on n.level = w.level and n.idx = w.idx",
                )
                .bind(levels)
                .bind(idxs)
                .fetch_all(&mut *c)
                .await
                .map_err(Common::from)?
            }
        };
        for (level, idx, hash) in rows {
            if let (Ok(level), Ok(idx), Ok(hash)) = (
                u8::try_from(level),
                u64::try_from(idx),
                <Hash>::try_from(hash.as_slice()),
            ) {
                nodes.insert((level, idx), hash);
            }
        }
    }
    merkle::assemble_proof(plan, |id| nodes.get(&id).copied())
        .map_err(|e| KeptError::Proof(e.to_string()))
}

/// Checks that the tree (`size`, `root`) extends the kept checkpoint (`old`, `old_root`).
async fn check_extends(
    tx: &mut Tx,
    old: u64,
    old_root: &Hash,
    size: u64,
    root: &Hash,
) -> Result<(), KeptError> {
    let plan =
        merkle::consistency_proof_plan(old, size).map_err(|e| KeptError::Proof(e.to_string()))?;
    let proof = proof_from_nodes(tx, &plan).await?;
    if merkle::verify_consistency(old, size, old_root, root, &proof) {
        Ok(())
    } else {
        Err(KeptError::Inconsistent { old, new: size })
    }
}

/// Signs and keeps a checkpoint of the log's current head, unless the latest kept one
/// already has its size; returns the latest kept checkpoint either way.
///
/// Two processes signing at once sign the same size and root: the second insert does
/// nothing and the first one's note is returned.
pub async fn sign_head(
    db: &Db,
    now: DateTime<Utc>,
    origin: &str,
    key: &Ed25519KeyPair,
) -> Result<KeptCheckpoint, KeptError> {
    let mut tx = db.begin().await?;
    let (size, root) = super::head(&mut tx).await?;
    if let Some(kept) = latest(&mut tx).await?
        && kept.size >= size
    {
        return Ok(kept);
    }
    let below: Option<(i64, Vec<u8>)> = q_opt!(
        tx,
        (i64, Vec<u8>),
        "select size, root from audit_checkpoint where size < $1 order by size desc limit 1",
        i64::try_from(size).unwrap_or(i64::MAX)
    )?;
    if let Some((old, old_root)) = below
        && old > 0
    {
        let old_root: Hash = old_root
            .as_slice()
            .try_into()
            .map_err(|_| Common::Corrupt(format!("checkpoint {old} root")))?;
        let old = u64::try_from(old).unwrap_or(0);
        if let Err(e) = check_extends(&mut tx, old, &old_root, size, &root).await {
            tracing::error!(error = %e, old, new = size, "refusing to sign an inconsistent checkpoint");
            return Err(e);
        }
    }
    let note = Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    }
    .sign(origin, key);
    q_exec!(
        tx,
        "insert into audit_checkpoint (size, root, note, created_at) values ($1, $2, $3, $4)
         on conflict (size) do nothing",
        i64::try_from(size).unwrap_or(i64::MAX),
        root.to_vec(),
        note,
        to_millis(now)
    )?;
    let kept = by_size(&mut tx, size)
        .await?
        .ok_or(KeptError::NoSuchCheckpoint(size))?;
    if kept.root != root {
        return Err(KeptError::Inconsistent {
            old: size,
            new: size,
        });
    }
    tx.commit().await?;
    Ok(kept)
}

/// Whether a new checkpoint is due: the head has moved at least `every_events` past the
/// latest kept one, or has moved at all and the latest is `every_seconds` old.
pub async fn due(
    db: &Db,
    now: DateTime<Utc>,
    every_events: u64,
    every_seconds: u64,
) -> Result<bool, KeptError> {
    let mut tx = db.read().await?;
    let (size, _) = super::head(&mut tx).await?;
    let last: Option<(i64, i64)> = q_opt!(
        tx,
        (i64, i64),
        "select size, created_at from audit_checkpoint order by size desc limit 1"
    )?;
    let (kept, at) = last
        .map(|(s, t)| (u64::try_from(s).unwrap_or(0), t))
        .unwrap_or((0, i64::MIN));
    if size <= kept {
        return Ok(false);
    }
    let age_ms = to_millis(now).saturating_sub(at);
    let interval_ms = i64::try_from(every_seconds.saturating_mul(1000)).unwrap_or(i64::MAX);
    Ok(size - kept >= every_events.max(1) || age_ms >= interval_ms)
}

/// Accepts a cosigned checkpoint from a witness: the note must be a kept checkpoint
/// exactly, with at least one valid cosignature from a `trusted` witness; every such
/// cosignature is kept (a repeated one is ignored). Returns the checkpoint with all its
/// cosignatures.
pub async fn add_cosignatures(
    db: &Db,
    now: DateTime<Utc>,
    note: &str,
    trusted: &[VerifierKey],
) -> Result<KeptCheckpoint, KeptError> {
    let (body, cosigs) =
        trusted_cosignatures(note, trusted).map_err(|e| KeptError::BadNote(e.to_string()))?;
    let cp = Checkpoint::parse_body(body).map_err(|e| KeptError::BadNote(e.to_string()))?;
    if cosigs.is_empty() {
        return Err(KeptError::UnknownWitness);
    }
    let mut tx = db.begin().await?;
    let kept = by_size(&mut tx, cp.size)
        .await?
        .ok_or(KeptError::NoSuchCheckpoint(cp.size))?;
    let (kept_body, _) = super::checkpoint::split_note(&kept.note)
        .map_err(|e| Common::Corrupt(format!("kept checkpoint {}: {e}", cp.size)))?;
    if kept_body != body {
        return Err(KeptError::Mismatch(cp.size));
    }
    for Cosignature {
        witness,
        key_id,
        timestamp,
        line,
    } in cosigs
    {
        q_exec!(
            tx,
            "insert into audit_cosignature (size, witness, key_id, line, cosigned_at, received_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (size, witness, key_id) do nothing",
            i64::try_from(cp.size).unwrap_or(i64::MAX),
            witness,
            hex::encode(key_id),
            line,
            i64::try_from(timestamp).unwrap_or(i64::MAX),
            to_millis(now)
        )?;
    }
    let kept = by_size(&mut tx, cp.size)
        .await?
        .ok_or(KeptError::NoSuchCheckpoint(cp.size))?;
    tx.commit().await?;
    Ok(kept)
}

/// An inclusion proof of one event in C2SP tlog-proof form, with the event's entry when
/// the reader may see it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventProof {
    /// The event's sequence number.
    pub seq: u64,
    /// The size of the checkpoint the proof is for (witnessed when one is).
    pub size: u64,
    /// The proof (C2SP tlog-proof@v1 text, checkpoint and cosignatures included).
    pub proof: String,
    /// The canonical entry, exactly as hashed; `None` while withheld from this reader.
    pub entry: Option<String>,
    /// The leaf hash, hex.
    pub leaf_hash: String,
}

/// Builds the inclusion proof of event `seq` against the largest kept checkpoint that
/// covers it, preferring a witnessed one, signing a fresh checkpoint when none covers it
/// yet. The entry is returned to `privileged` readers, to the event's own actor (a bidder
/// proving its own withheld submission), and to everyone once it is public.
pub async fn event_proof(
    db: &Db,
    now: DateTime<Utc>,
    seq: u64,
    reader: Option<&str>,
    privileged: bool,
    origin: &str,
    key: &Ed25519KeyPair,
) -> Result<EventProof, KeptError> {
    let mut tx = db.read().await?;
    let covering_cp = covering(&mut tx, seq.saturating_add(1)).await?;
    drop(tx);
    let cp = match covering_cp {
        Some(cp) => cp,
        None => {
            let signed = sign_head(db, now, origin, key).await?;
            if signed.size <= seq {
                return Err(Common::NotFound("audit event").into());
            }
            signed
        }
    };
    let mut tx = db.read().await?;
    let event = super::events(&mut tx, seq, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| u64::try_from(e.seq).ok() == Some(seq))
        .ok_or(Common::NotFound("audit event"))?;
    let actor: Option<(Option<String>,)> = q_opt!(
        tx,
        (Option<String>,),
        "select actor_id from audit_event where seq = $1",
        i64::try_from(seq).unwrap_or(i64::MAX)
    )?;
    let own = reader.is_some() && actor.and_then(|(a,)| a).as_deref() == reader;
    let leaf_hash = hex::encode(&event.leaf_hash);
    let event = event.for_reader(now, privileged || own);
    let plan =
        merkle::inclusion_proof_plan(seq, cp.size).map_err(|e| KeptError::Proof(e.to_string()))?;
    let proof = proof_from_nodes(&mut tx, &plan).await?;
    Ok(EventProof {
        seq,
        size: cp.size,
        proof: super::tlog_proof::format(seq, &proof, &cp.cosigned_note()),
        entry: event.entry,
        leaf_hash,
    })
}
