//! `sunbid audit verify --server URL --state DIR`: an incremental verifier. Like a witness
//! it keeps the last checkpoint it verified; unlike one it also recomputes every entry.
//! Each run asks only for the entries added since, plus a consistency proof from the kept
//! checkpoint: the old tree's frontier (one hash per set bit of its size, kept in the
//! state) and the new leaves give the new root, which must equal the signed one.
//!
//! The state folder holds `verified.json` (`vkey`, `checkpoint`, `frontier`), written
//! atomically after each verified run. A checkpoint that does not extend the kept one is a
//! split view: refused, kept as evidence and, given a trusted witness key, reported to the
//! server (which raises a supervision alert).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::client::{decode_proof, post_report, read_opt, write_atomic};
use super::{Refusal, check_extends, open_log_checkpoint};
use crate::audit::checkpoint::{Checkpoint, VerifierKey, parse_verifier_key};
use crate::audit::merkle::{self, Hash};
use crate::audit::verify::{ServedEvent, check_event, get_json};
use crate::keys::SigningKey;

/// What an incremental run needs.
#[derive(Debug, Clone)]
pub struct IncrementalOptions {
    /// The server's base URL.
    pub server: String,
    /// The verifier's state folder.
    pub state_dir: PathBuf,
    /// Pin the log's verifier key instead of trusting the served one on first contact.
    pub vkey: Option<String>,
    /// A regulator's token: withheld entries are recomputed too.
    pub token: Option<String>,
    /// A witness key file and name the platform trusts, to report a split view with.
    pub report_as: Option<(PathBuf, String)>,
}

/// What a verified run found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The tree size verified now.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The size verified before (0 on the first run).
    pub previous: u64,
    /// Entries the server withheld (checked by leaf hash only) among the new ones.
    pub withheld: u64,
    /// The log's key, pinned in the state.
    pub vkey: String,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum IncrementalError {
    /// The checkpoint was refused: another log, a forged signature, a rollback, a proof of
    /// the wrong length, or a split view.
    #[error("REFUSED: {0}")]
    Refused(#[from] Refusal),
    /// A new event is malformed or does not hash to its recorded leaf.
    #[error("MISMATCH event {seq}: {reason}")]
    BadEvent {
        /// Its sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The new events, appended to the verified tree, do not give the signed root.
    #[error(
        "MISMATCH: events {from}..{to} do not hash to the signed checkpoint's root (an event was changed after it was logged)"
    )]
    Root {
        /// First new event.
        from: u64,
        /// The checkpoint's size.
        to: u64,
    },
    /// The server could not be reached or answered nonsense.
    #[error("talking to the server: {0}")]
    Http(String),
    /// The state folder could not be read or written, or does not hold together.
    #[error("verifier state: {0}")]
    State(String),
}

impl From<super::client::WitnessError> for IncrementalError {
    fn from(e: super::client::WitnessError) -> Self {
        match e {
            super::client::WitnessError::Refused(r) => IncrementalError::Refused(r),
            super::client::WitnessError::State(s) => IncrementalError::State(s),
            other => IncrementalError::Http(other.to_string()),
        }
    }
}

impl From<crate::audit::verify::VerifyError> for IncrementalError {
    fn from(e: crate::audit::verify::VerifyError) -> Self {
        IncrementalError::Http(e.to_string())
    }
}

/// The state file.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    vkey: String,
    checkpoint: String,
    /// Hex hashes of `merkle::frontier(size)`, largest subtree first.
    frontier: Vec<String>,
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    checkpoint: String,
    vkey: String,
}

#[derive(Deserialize)]
struct ProofAnswer {
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct EventsAnswer {
    events: Vec<ServedEvent>,
}

/// The verified tree the state holds.
struct Kept {
    note: String,
    checkpoint: Checkpoint,
    frontier: Vec<Hash>,
}

fn load_state(text: &str, key: &VerifierKey) -> Result<Kept, IncrementalError> {
    let bad = |why: String| IncrementalError::State(format!("verified.json: {why}"));
    let state: State = serde_json::from_str(text).map_err(|e| bad(e.to_string()))?;
    let checkpoint = open_log_checkpoint(&state.checkpoint, key).map_err(|e| bad(e.to_string()))?;
    let frontier = decode_proof(&state.frontier).map_err(|e| bad(e.to_string()))?;
    // The frontier is what the next run builds on: it must be the checkpoint's tree.
    if frontier.len() != checkpoint.size.count_ones() as usize
        || merkle::root_from_frontier(&frontier) != checkpoint.root
    {
        return Err(bad(
            "the frontier does not give the checkpoint's root".into()
        ));
    }
    Ok(Kept {
        note: state.checkpoint,
        checkpoint,
        frontier,
    })
}

/// Appends one leaf to a tree of `size` leaves given by its frontier.
fn push_leaf(size: u64, frontier: &mut Vec<Hash>, leaf: Hash) -> Result<(), IncrementalError> {
    let nodes =
        merkle::append(size, frontier, leaf).map_err(|e| IncrementalError::State(e.to_string()))?;
    // The merged subtrees (the trailing one bits of `size`) leave the frontier; the
    // highest node the append completed takes their place.
    let keep = frontier.len().saturating_sub(size.trailing_ones() as usize);
    frontier.truncate(keep);
    if let Some((_, top)) = nodes.last() {
        frontier.push(*top);
    }
    Ok(())
}

/// One incremental run: fetch the newest checkpoint, check it extends the verified one,
/// recompute the new entries onto the kept frontier, compare roots, keep the new state.
pub async fn run(opts: &IncrementalOptions) -> Result<Verified, IncrementalError> {
    let state_dir = &opts.state_dir;
    std::fs::create_dir_all(state_dir)
        .map_err(|e| IncrementalError::State(format!("creating {}: {e}", state_dir.display())))?;
    let state_path = state_dir.join("verified.json");
    let saved = read_opt(&state_path)?;
    let saved_vkey = match &saved {
        Some(text) => Some(
            serde_json::from_str::<State>(text)
                .map_err(|e| IncrementalError::State(format!("verified.json: {e}")))?
                .vkey,
        ),
        None => None,
    };

    let base = opts.server.trim_end_matches('/');
    let http = reqwest::Client::new();
    let answer: CheckpointAnswer =
        get_json(&http, &format!("{base}/api/v1/audit/checkpoint"), None).await?;
    let vkey = match (saved_vkey, &opts.vkey) {
        (Some(kept), Some(pinned)) if &kept != pinned => {
            return Err(IncrementalError::State(format!(
                "the state folder follows log key {kept}, not {pinned}"
            )));
        }
        (Some(kept), _) => kept,
        (None, Some(pinned)) => pinned.clone(),
        (None, None) => answer.vkey.clone(),
    };
    let key = parse_verifier_key(&vkey)
        .map_err(|e| IncrementalError::State(format!("log key {vkey}: {e}")))?;
    let kept = saved.map(|t| load_state(&t, &key)).transpose()?;
    let new = open_log_checkpoint(&answer.checkpoint, &key)?;

    let proof = match &kept {
        Some(k) if k.checkpoint.size > 0 && k.checkpoint.size < new.size => {
            let url = format!(
                "{base}/api/v1/audit/proof/consistency?old={}&new={}",
                k.checkpoint.size, new.size
            );
            decode_proof(&get_json::<ProofAnswer>(&http, &url, None).await?.proof)?
        }
        _ => Vec::new(),
    };
    if let Err(refusal) = check_extends(kept.as_ref().map(|k| &k.checkpoint), &new, &proof) {
        if let (Refusal::Inconsistent { old, new: size }, Some(k)) = (&refusal, &kept) {
            split_view(opts, &http, base, &k.note, &answer.checkpoint, *old, *size).await?;
        }
        return Err(refusal.into());
    }

    let previous = kept.as_ref().map_or(0, |k| k.checkpoint.size);
    let mut frontier = kept.map(|k| k.frontier).unwrap_or_default();
    let mut size = previous;
    let mut withheld = 0u64;
    while size < new.size {
        let limit = (new.size - size).min(1000);
        let page: EventsAnswer = get_json(
            &http,
            &format!("{base}/api/v1/audit/events?from={size}&limit={limit}"),
            opts.token.as_deref(),
        )
        .await?;
        if page.events.is_empty() {
            return Err(IncrementalError::Http(format!(
                "the log stops at {size}, its checkpoint says {}",
                new.size
            )));
        }
        for ev in page.events.iter().take(usize::try_from(limit).unwrap_or(0)) {
            let leaf = check_event(size, ev)
                .map_err(|reason| IncrementalError::BadEvent { seq: size, reason })?;
            withheld += u64::from(ev.entry.is_none());
            push_leaf(size, &mut frontier, leaf)?;
            size += 1;
        }
    }
    if merkle::root_from_frontier(&frontier) != new.root {
        return Err(IncrementalError::Root {
            from: previous,
            to: new.size,
        });
    }
    let state = State {
        vkey: vkey.clone(),
        checkpoint: answer.checkpoint,
        frontier: frontier.iter().map(hex::encode).collect(),
    };
    let text =
        serde_json::to_string_pretty(&state).map_err(|e| IncrementalError::State(e.to_string()))?;
    write_atomic(&state_path, &text)?;
    Ok(Verified {
        size: new.size,
        root: new.root,
        previous,
        withheld,
        vkey,
    })
}

/// Keeps the two checkpoints as evidence and, with a witness key, reports them.
async fn split_view(
    opts: &IncrementalOptions,
    http: &reqwest::Client,
    base: &str,
    accepted: &str,
    offered: &str,
    old: u64,
    new: u64,
) -> Result<(), IncrementalError> {
    let evidence = opts.state_dir.join(format!("split-view-{old}-{new}.txt"));
    write_atomic(
        &evidence,
        &format!("verified checkpoint:\n{accepted}\noffered checkpoint:\n{offered}"),
    )?;
    if let Some((key_file, name)) = &opts.report_as {
        let key = SigningKey::load_or_create(key_file)
            .map_err(|e| IncrementalError::State(format!("loading {}: {e}", key_file.display())))?;
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        let report = super::report::sign(accepted, offered, name, &key.pair, now);
        let outcome = post_report(http, base, &report).await;
        write_atomic(
            &evidence.with_extension("reported"),
            &format!("{outcome}\n"),
        )?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_frontier_grown_leaf_by_leaf_gives_the_root() {
        let leaves: Vec<Hash> = (0..300u16)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let mut frontier = Vec::new();
        for (i, leaf) in leaves.iter().enumerate() {
            push_leaf(i as u64, &mut frontier, *leaf).unwrap();
            assert_eq!(
                merkle::root_from_frontier(&frontier),
                merkle::root(&leaves[..=i]),
                "size {}",
                i + 1
            );
        }
        // A frontier of the wrong length is refused, not misused.
        assert!(push_leaf(3, &mut vec![[0u8; 32]], leaves[0]).is_err());
    }
}
