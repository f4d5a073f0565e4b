//! The append-only audit trail: every state change appends one event in the same
//! transaction; events are the leaves of an RFC 9162 Merkle tree whose signed checkpoints
//! let a regulator verify the log without trusting the operator (docs/audit-format.md).

pub mod checkpoint;
pub mod cosign;
pub mod export;
pub mod kept;
pub mod merkle;
pub mod routes;
pub mod tlog_proof;
pub mod verify;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Value, json};

use crate::clock::to_millis;
use crate::store::{StoreError, Tx};
use crate::{q_exec, q_one};
use merkle::Hash;

/// Who acted and from where; the HTTP layer fills it from the request.
#[derive(Clone, Debug, Default)]
pub struct Actor {
    /// The acting user, `None` for the platform itself (jobs, start-up).
    pub user_id: Option<String>,
    /// The role the user acted in.
    pub role: Option<String>,
    /// The request's correlation id.
    pub request_id: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
}

impl Actor {
    /// The platform acting on its own (time-driven jobs, demo loading).
    pub fn system() -> Self {
        Self {
            role: Some("system".into()),
            ..Self::default()
        }
    }
}

/// Formats an instant the way entries carry it: RFC 3339, UTC, milliseconds.
pub fn entry_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// The canonical entry bytes for one event (version 1 of the encoding). A withheld entry
/// carries a random `salt`: its leaf hash is public from the start, and without one anyone
/// could test guesses of the hidden content (who was drawn, from which address) against it.
pub fn canonical_entry(
    seq: u64,
    time: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: Option<&str>,
    payload: &Value,
    salt: Option<&str>,
) -> String {
    let mut value = json!({
        "v": 1,
        "seq": seq,
        "time": entry_time(time),
        "actor": actor.user_id,
        "role": actor.role,
        "action": action,
        "tender": tender_id,
        "payload": payload,
        "request_id": actor.request_id,
        "client_ip": actor.client_ip,
    });
    if let Some(salt) = salt {
        value["salt"] = json!(salt);
    }
    // Serialising a `Value` built from strings and integers cannot fail.
    serde_json_canonicalizer::to_string(&value).unwrap_or_default()
}

fn split_hashes(bytes: &[u8]) -> Vec<Hash> {
    bytes
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect()
}

/// Appends one event inside the caller's transaction and returns its sequence number.
pub async fn append(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: Option<&str>,
    payload: Value,
) -> Result<u64, StoreError> {
    append_entry(tx, now, actor, action, tender_id, payload, None, None).await
}

/// A stage of a tender after which a withheld entry becomes public.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The bids are opened, or the tender fails or is cancelled before that.
    Opening,
    /// The award is made, or the tender fails or is cancelled.
    Award,
    /// An auction or listing (whose id the entry names as its `tender`) has ended: deal,
    /// no deal or cancelled. Who applied and which bidder number is whose stay secret until
    /// then (拍卖/挂牌: 竞买人 are not disclosed before the end).
    TradeEnd,
}

impl Stage {
    fn as_str(self) -> &'static str {
        match self {
            Stage::Opening => "opening",
            Stage::Award => "award",
            Stage::TradeEnd => "trade_end",
        }
    }
}

/// Appends an event concerning `tender_id` whose entry the public sees only as its leaf
/// hash until the tender reaches `stage` (regulators see it at once). Who bid, who obtained
/// the documents and who was drawn stay confidential until then (招标投标法 第22、37条),
/// however the deadline moves.
pub async fn append_withheld_until(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: &str,
    payload: Value,
    stage: Stage,
) -> Result<u64, StoreError> {
    append_entry(
        tx,
        now,
        actor,
        action,
        Some(tender_id),
        payload,
        None,
        Some(stage),
    )
    .await
}

/// Appends an event whose entry the public sees only as its leaf hash until
/// `withheld_until` (regulators see it at once). The tree, and so every checkpoint, covers
/// it from the start: nothing can be slipped in or changed later.
pub async fn append_withheld(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: Option<&str>,
    payload: Value,
    withheld_until: DateTime<Utc>,
) -> Result<u64, StoreError> {
    append_entry(
        tx,
        now,
        actor,
        action,
        tender_id,
        payload,
        Some(withheld_until),
        None,
    )
    .await
}

/// The head row update comes first: it takes the row lock on PostgreSQL (SQLite already
/// holds the write lock), so concurrent appenders are serialised and indices never repeat.
#[allow(clippy::too_many_arguments)]
async fn append_entry(
    tx: &mut Tx,
    now: DateTime<Utc>,
    actor: &Actor,
    action: &str,
    tender_id: Option<&str>,
    payload: Value,
    withheld_until: Option<DateTime<Utc>>,
    withheld_stage: Option<Stage>,
) -> Result<u64, StoreError> {
    let (size, frontier): (i64, Vec<u8>) = q_one!(
        tx,
        (i64, Vec<u8>),
        "update audit_head set size = size + 1 where id = 1 returning size, frontier"
    )?;
    let seq = u64::try_from(size - 1).unwrap_or(0);
    let withheld = withheld_until.is_some() || withheld_stage.is_some();
    let salt = withheld.then(crate::ids::new_salt);
    let entry = canonical_entry(
        seq,
        now,
        actor,
        action,
        tender_id,
        &payload,
        salt.as_deref(),
    );
    let leaf = merkle::leaf_hash(entry.as_bytes());
    let old_hashes = split_hashes(&frontier);
    let new_nodes = merkle::append(seq, &old_hashes, leaf)
        .map_err(|e| StoreError::Sql(sqlx::Error::Protocol(format!("audit frontier: {e}"))))?;

    // The new frontier is made of old frontier nodes and freshly completed ones.
    let old_coords = merkle::frontier(seq);
    let mut new_frontier = Vec::new();
    for coord in merkle::frontier(seq + 1) {
        let hash = new_nodes
            .iter()
            .find(|(c, _)| *c == coord)
            .map(|(_, h)| *h)
            .or_else(|| {
                old_coords
                    .iter()
                    .position(|c| *c == coord)
                    .and_then(|i| old_hashes.get(i).copied())
            })
            .ok_or_else(|| {
                StoreError::Sql(sqlx::Error::Protocol("audit frontier mismatch".into()))
            })?;
        new_frontier.push(hash);
    }
    let root = merkle::root_from_frontier(&new_frontier);

    q_exec!(
        tx,
        "insert into audit_event (seq, entry, leaf_hash, action, tender_id, actor_id, created_at,
            withheld_until, withheld_stage)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        size - 1,
        entry,
        leaf.to_vec(),
        action.to_string(),
        tender_id.map(str::to_string),
        actor.user_id.clone(),
        to_millis(now),
        withheld_until.map(to_millis),
        withheld_stage.map(Stage::as_str)
    )?;
    for ((level, idx), hash) in new_nodes {
        q_exec!(
            tx,
            "insert into audit_node (level, idx, hash) values ($1, $2, $3)",
            i64::from(level),
            i64::try_from(idx).unwrap_or(i64::MAX),
            hash.to_vec()
        )?;
    }
    q_exec!(
        tx,
        "update audit_head set frontier = $1, root = $2 where id = 1",
        new_frontier.concat(),
        root.to_vec()
    )?;
    Ok(seq)
}

/// The current tree size and root.
pub async fn head(tx: &mut Tx) -> Result<(u64, Hash), StoreError> {
    let (size, root): (i64, Vec<u8>) = q_one!(
        tx,
        (i64, Vec<u8>),
        "select size, root from audit_head where id = 1"
    )?;
    let mut hash = [0u8; 32];
    if root.len() == 32 {
        hash.copy_from_slice(&root);
    }
    Ok((u64::try_from(size).unwrap_or(0), hash))
}

/// One stored event as served to verifiers.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StoredEvent {
    /// Leaf index.
    pub seq: i64,
    /// The canonical entry text, exactly as hashed; `None` while withheld from this reader.
    pub entry: Option<String>,
    /// The leaf hash recorded at append time.
    #[serde(serialize_with = "hex_bytes")]
    #[schema(value_type = String)]
    pub leaf_hash: Vec<u8>,
    /// Until when the public sees only the leaf hash (ms since the epoch).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld_until: Option<i64>,
    /// The tender stage that reveals the entry, while it has not been reached.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub withheld_stage: Option<String>,
}

impl StoredEvent {
    /// Drops the entry text if it is still withheld at `now` from a reader who may not see it.
    pub fn for_reader(mut self, now: DateTime<Utc>, privileged: bool) -> Self {
        let by_time = self.withheld_until.is_some_and(|t| t > to_millis(now));
        let withheld = by_time || self.withheld_stage.is_some();
        if withheld && !privileged {
            self.entry = None;
        }
        if !by_time {
            self.withheld_until = None;
        }
        self
    }
}

fn hex_bytes<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}

/// The columns (and join) of a [`StoredEvent`] query: a stage-withheld entry stays withheld
/// while its tender has not reached the stage (unknown tenders count as not reached). A
/// suspended tender counts as the state it was suspended from: suspending a tender before
/// its opening must not reveal who obtained its documents.
macro_rules! events_columns {
    () => {
        "e.seq, e.entry, e.leaf_hash, e.withheld_until,
            case
              when e.withheld_stage = 'opening'
                   and coalesce(t.state, 'draft') in ('draft', 'published', 'closed', 'suspended')
                   and (coalesce(t.state, 'draft') <> 'suspended' or exists (
                       select 1 from tender_suspension s where s.tender_id = t.tender_id
                       and s.resumed_at is null and s.from_state in ('published', 'closed')))
                then e.withheld_stage
              when e.withheld_stage = 'award'
                   and coalesce(t.state, 'draft') not in ('awarded', 'contracted', 'cancelled', 'failed')
                then e.withheld_stage
              when e.withheld_stage = 'trade_end'
                   and not exists (select 1 from auction_trade a where a.trade_id = e.tender_id
                                   and a.state in ('deal', 'no_deal', 'cancelled'))
                then e.withheld_stage
              when e.withheld_stage not in ('opening', 'award', 'trade_end')
                then e.withheld_stage
            end as withheld_stage
         from audit_event e left join tender t on t.tender_id = e.tender_id"
    };
}

/// Events with `seq` in `[from, from + limit)`.
pub async fn events(tx: &mut Tx, from: u64, limit: u32) -> Result<Vec<StoredEvent>, StoreError> {
    let from = i64::try_from(from).unwrap_or(i64::MAX);
    Ok(crate::q_all!(
        tx,
        StoredEvent,
        concat!(
            "select ",
            events_columns!(),
            " where e.seq >= $1 order by e.seq limit $2"
        ),
        from,
        i64::from(limit)
    )?)
}

/// Events concerning one tender, newest last (for the tender's history page).
pub async fn tender_events(tx: &mut Tx, tender_id: &str) -> Result<Vec<StoredEvent>, StoreError> {
    Ok(crate::q_all!(
        tx,
        StoredEvent,
        concat!(
            "select ",
            events_columns!(),
            " where e.tender_id = $1 order by e.seq"
        ),
        tender_id.to_string()
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Db;
    use chrono::Duration;

    #[tokio::test]
    async fn withheld_entries_show_only_their_hash_until_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        let now = chrono::Utc::now();
        let mut tx = db.begin().await.unwrap();
        append(&mut tx, now, &Actor::system(), "a.public", None, json!({}))
            .await
            .unwrap();
        append_withheld(
            &mut tx,
            now,
            &Actor::system(),
            "a.secret",
            None,
            json!({"who": "x"}),
            now + Duration::days(1),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut tx = db.read().await.unwrap();
        let evs = events(&mut tx, 0, 10).await.unwrap();
        let (size, root) = head(&mut tx).await.unwrap();
        assert_eq!(size, 2);
        let leaves: Vec<Hash> = evs
            .iter()
            .map(|e| <Hash>::try_from(e.leaf_hash.as_slice()).unwrap())
            .collect();
        assert_eq!(
            merkle::root(&leaves),
            root,
            "the tree covers withheld entries too"
        );

        let public: Vec<_> = events(&mut tx, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.for_reader(now, false))
            .collect();
        assert!(public[0].entry.is_some());
        assert!(public[1].entry.is_none());
        let regulator = events(&mut tx, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .nth(1)
            .unwrap()
            .for_reader(now, true);
        assert!(regulator.entry.unwrap().contains("a.secret"));
        let later = events(&mut tx, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .nth(1)
            .unwrap()
            .for_reader(now + Duration::days(2), false);
        assert!(later.entry.is_some() && later.withheld_until.is_none());

        // The hidden entry is salted, the public one is not: knowing every other field of
        // the hidden entry (the sequence number, the time, the action, the payload) is not
        // enough to confirm a guess against its public leaf hash.
        let all = events(&mut tx, 0, 10).await.unwrap();
        assert!(!all[0].entry.as_deref().unwrap().contains("\"salt\""));
        let hidden = all[1].entry.as_deref().unwrap();
        let v: Value = serde_json::from_str(hidden).unwrap();
        let salt = v["salt"].as_str().unwrap();
        assert_eq!(salt.len(), 32, "128 bits in hex");
        let guess = canonical_entry(
            1,
            now,
            &Actor::system(),
            "a.secret",
            None,
            &json!({"who": "x"}),
            None,
        );
        assert_ne!(
            merkle::leaf_hash(guess.as_bytes()).as_slice(),
            all[1].leaf_hash
        );
        let with_salt = canonical_entry(
            1,
            now,
            &Actor::system(),
            "a.secret",
            None,
            &json!({"who": "x"}),
            Some(salt),
        );
        assert_eq!(
            with_salt, hidden,
            "the stored entry is the salted canonical form"
        );
    }
}
