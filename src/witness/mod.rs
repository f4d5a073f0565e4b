//! The witness (`sunbid witness`), run by a regulator or anyone: it keeps the last
//! checkpoint of the platform's audit log it accepted, and accepts a newer one only when the
//! log's signature holds and a consistency proof shows the new tree extends the old one
//! (C2SP tlog-witness). It then cosigns it (C2SP tlog-cosignature, Ed25519
//! `cosignature/v1`) and posts the cosignature back. A log that shows the witness a tree
//! that does not extend what it showed before has shown a split view; the witness refuses
//! it and keeps the evidence.
//!
//! This module holds the rules (pure functions); [`client`] does the I/O.

pub mod client;
pub mod incremental;
pub mod report;
pub mod routes;
pub mod service;

use crate::audit::checkpoint::{Checkpoint, CheckpointError, VerifierKey, open_note};
use crate::audit::merkle::{self, Hash};

/// Why the witness refused a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The note is not signed by the log the witness follows, or names another origin.
    #[error("checkpoint from another log: {0}")]
    ForeignLog(String),
    /// The note names the log's key but the signature does not verify.
    #[error("forged or altered checkpoint: the log's signature does not verify")]
    BadSignature,
    /// The note is not a well-formed checkpoint.
    #[error("malformed checkpoint: {0}")]
    Malformed(String),
    /// The new checkpoint is smaller than the one accepted before: the log rolled back.
    #[error(
        "checkpoint of size {got} is smaller than the accepted size {have}: the log rolled back"
    )]
    Smaller {
        /// The accepted size.
        have: u64,
        /// The offered size.
        got: u64,
    },
    /// The consistency proof has the wrong number of hashes for the two sizes.
    #[error("consistency proof from {old} to {new} has {got} hashes, {want} expected")]
    ProofLength {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
        /// Hashes received.
        got: usize,
        /// Hashes a proof between these sizes has.
        want: usize,
    },
    /// The new tree does not extend the accepted one: a split view.
    #[error(
        "SPLIT VIEW: the checkpoint of size {new} is not consistent with the accepted checkpoint of size {old}"
    )]
    Inconsistent {
        /// The accepted size.
        old: u64,
        /// The offered size.
        new: u64,
    },
}

/// Opens a checkpoint note from the log: signed by `log_key`, with the log's origin.
pub fn open_log_checkpoint(note: &str, log_key: &VerifierKey) -> Result<Checkpoint, Refusal> {
    let text = open_note(note, log_key).map_err(|e| match e {
        CheckpointError::NotSigned(k) => Refusal::ForeignLog(format!("no signature by {k}")),
        CheckpointError::InvalidSignature(_) => Refusal::BadSignature,
        other => Refusal::Malformed(other.to_string()),
    })?;
    let cp = Checkpoint::parse_body(text).map_err(|e| Refusal::Malformed(e.to_string()))?;
    // The platform signs with its origin as the key name; another origin is another log.
    if cp.origin != log_key.name {
        return Err(Refusal::ForeignLog(format!(
            "origin {} is not {}",
            cp.origin, log_key.name
        )));
    }
    Ok(cp)
}

/// How many hashes a consistency proof from `old` to `new` has (0 when there is nothing
/// to prove).
pub fn consistency_proof_len(old: u64, new: u64) -> usize {
    if old == 0 || old >= new {
        return 0;
    }
    merkle::consistency_proof_plan(old, new)
        .map(|p| p.len())
        .unwrap_or(0)
}

/// Decides whether to accept `new` after `accepted` (if any) given the consistency
/// `proof` between them. Both checkpoints are already opened with the log's key.
pub fn check_extends(
    accepted: Option<&Checkpoint>,
    new: &Checkpoint,
    proof: &[Hash],
) -> Result<(), Refusal> {
    let Some(old) = accepted else {
        // First contact: nothing to be consistent with (trust on first use).
        return Ok(());
    };
    if old.origin != new.origin {
        return Err(Refusal::ForeignLog(format!(
            "origin {} is not {}",
            new.origin, old.origin
        )));
    }
    if new.size < old.size {
        return Err(Refusal::Smaller {
            have: old.size,
            got: new.size,
        });
    }
    let want = consistency_proof_len(old.size, new.size);
    if proof.len() != want {
        return Err(Refusal::ProofLength {
            old: old.size,
            new: new.size,
            got: proof.len(),
            want,
        });
    }
    // A witness that accepted the empty tree has nothing to check against.
    let consistent = old.size == 0
        || merkle::verify_consistency(old.size, new.size, &old.root, &new.root, proof);
    if !consistent {
        return Err(Refusal::Inconsistent {
            old: old.size,
            new: new.size,
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{parse_verifier_key, verifier_key};
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    const ORIGIN: &str = "bid.example/sunbid-audit";

    fn key(b: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[b; 32]).unwrap()
    }

    fn log_key() -> VerifierKey {
        let pk: [u8; 32] = key(1).public_key().as_ref().try_into().unwrap();
        parse_verifier_key(&verifier_key(ORIGIN, &pk)).unwrap()
    }

    fn leaves(n: u64, tag: u8) -> Vec<Hash> {
        (0..n)
            .map(|i| merkle::leaf_hash(&[tag, i as u8, (i >> 8) as u8]))
            .collect()
    }

    fn cp(leaves: &[Hash]) -> Checkpoint {
        Checkpoint {
            origin: ORIGIN.into(),
            size: leaves.len() as u64,
            root: merkle::root(leaves),
        }
    }

    #[test]
    fn a_consistent_larger_checkpoint_is_accepted() {
        let all = leaves(13, 0);
        let old = cp(&all[..5]);
        let new = cp(&all);
        let proof = merkle::consistency_proof(&all, 5, 13).unwrap();
        assert_eq!(check_extends(Some(&old), &new, &proof), Ok(()));
        assert_eq!(check_extends(None, &new, &[]), Ok(()));
        assert_eq!(check_extends(Some(&new), &new, &[]), Ok(()));
        let note = new.sign(ORIGIN, &key(1));
        assert_eq!(open_log_checkpoint(&note, &log_key()), Ok(new));
    }

    #[test]
    fn an_inconsistent_checkpoint_is_a_split_view() {
        let all = leaves(13, 0);
        let old = cp(&all[..5]);
        // Another history of the same length as `all` that differs in leaf 2.
        let mut forked = all.clone();
        forked[2] = merkle::leaf_hash(b"rewritten");
        let new = cp(&forked);
        let proof = merkle::consistency_proof(&forked, 5, 13).unwrap();
        assert_eq!(
            check_extends(Some(&old), &new, &proof),
            Err(Refusal::Inconsistent { old: 5, new: 13 })
        );
        // Same size, other root.
        let same_size = cp(&forked[..5]);
        assert!(matches!(
            check_extends(Some(&old), &same_size, &[]),
            Err(Refusal::Inconsistent { .. })
        ));
    }

    #[test]
    fn a_smaller_checkpoint_is_refused() {
        let all = leaves(9, 0);
        let got = check_extends(Some(&cp(&all)), &cp(&all[..4]), &[]);
        assert_eq!(got, Err(Refusal::Smaller { have: 9, got: 4 }));
    }

    #[test]
    fn a_proof_of_the_wrong_length_is_refused() {
        let all = leaves(13, 0);
        let proof = merkle::consistency_proof(&all, 5, 13).unwrap();
        let mut longer = proof.clone();
        longer.push([0u8; 32]);
        for bad in [&proof[..proof.len() - 1], &longer[..], &[][..]] {
            assert!(matches!(
                check_extends(Some(&cp(&all[..5])), &cp(&all), bad),
                Err(Refusal::ProofLength { .. })
            ));
        }
    }

    #[test]
    fn another_logs_checkpoint_is_refused() {
        let all = leaves(4, 0);
        // Signed by another key under the same name.
        let note = cp(&all).sign(ORIGIN, &key(2));
        assert!(matches!(
            open_log_checkpoint(&note, &log_key()),
            Err(Refusal::ForeignLog(_))
        ));
        // Another origin, signed by another log.
        let other = Checkpoint {
            origin: "other.example/log".into(),
            ..cp(&all)
        };
        let note = other.sign("other.example/log", &key(2));
        assert!(matches!(
            open_log_checkpoint(&note, &log_key()),
            Err(Refusal::ForeignLog(_))
        ));
        // An accepted checkpoint of one origin, a new one of another.
        assert!(matches!(
            check_extends(Some(&cp(&all)), &other, &[]),
            Err(Refusal::ForeignLog(_))
        ));
    }

    #[test]
    fn a_forged_signature_is_refused() {
        let all = leaves(4, 0);
        let note = cp(&all).sign(ORIGIN, &key(1));
        let forged = note.replacen(&format!("\n{}\n", 4), "\n5\n", 1);
        assert_ne!(forged, note);
        assert_eq!(
            open_log_checkpoint(&forged, &log_key()),
            Err(Refusal::BadSignature)
        );
    }
}
