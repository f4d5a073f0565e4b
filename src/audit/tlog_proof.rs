//! Offline inclusion proofs in the C2SP `tlog-proof@v1` text format: the entry's index,
//! its RFC 9162 inclusion proof, and the checkpoint (with any witness cosignatures) it is
//! proved against. A bid receipt carries one, so `sunbid receipt verify --offline` needs no
//! server. Pure functions, panic-free on hostile input.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::checkpoint::{Checkpoint, CheckpointError, VerifierKey, decode_base64, open_note};
use super::cosign::{Cosignature, trusted_cosignatures};
use super::merkle::{self, Hash, MAX_INCLUSION_PROOF_LEN};

/// The first line of every proof.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A parsed proof (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The entry's index in the log.
    pub index: u64,
    /// The inclusion proof, leaf's sibling first.
    pub proof: Vec<Hash>,
    /// The checkpoint note, verbatim.
    pub checkpoint: String,
}

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a tlog-proof.
    #[error("malformed tlog-proof: {0}")]
    Malformed(&'static str),
    /// The checkpoint's signature or body is bad.
    #[error("the proof's checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The entry is not at the index under the checkpoint's root.
    #[error("the entry is not included at index {index} in the tree of size {size}")]
    NotIncluded {
        /// The index.
        index: u64,
        /// The checkpoint's size.
        size: u64,
    },
}

/// Writes a proof (C2SP tlog-proof@v1).
pub fn format(index: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut out = format!("{HEADER}\nindex {index}\n");
    for h in proof {
        out.push_str(&STANDARD.encode(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

/// Parses a proof strictly (canonical decimal index and base64, at most 64 hashes).
pub fn parse(text: &str) -> Result<TlogProof, ProofError> {
    let (head, checkpoint) = text
        .split_once("\n\n")
        .ok_or(ProofError::Malformed("no blank line before the checkpoint"))?;
    let mut lines = head.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(ProofError::Malformed(
            "first line is not c2sp.org/tlog-proof@v1",
        ));
    }
    let mut line = lines.next();
    let mut extra = None;
    if let Some(e) = line.and_then(|l| l.strip_prefix("extra ")) {
        extra = Some(decode_base64(e).ok_or(ProofError::Malformed("extra is not base64"))?);
        line = lines.next();
    }
    let index = line
        .and_then(|l| l.strip_prefix("index "))
        .filter(|d| {
            !d.is_empty()
                && d.bytes().all(|b| b.is_ascii_digit())
                && (*d == "0" || !d.starts_with('0'))
        })
        .and_then(|d| d.parse::<u64>().ok())
        .ok_or(ProofError::Malformed("no index line"))?;
    let mut proof = Vec::new();
    for l in lines {
        if proof.len() >= MAX_INCLUSION_PROOF_LEN {
            return Err(ProofError::Malformed("too many proof hashes"));
        }
        let h: Hash =
            decode_base64(l)
                .and_then(|b| b.try_into().ok())
                .ok_or(ProofError::Malformed(
                    "a proof line is not a base64 SHA-256 hash",
                ))?;
        proof.push(h);
    }
    Ok(TlogProof {
        extra,
        index,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

/// A proof that verified: the checkpoint and the trusted witnesses that cosigned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The checkpoint proved against.
    pub checkpoint: Checkpoint,
    /// Cosignatures from `witnesses` on it.
    pub cosignatures: Vec<Cosignature>,
}

/// Verifies that `leaf` is included at the proof's index under its checkpoint, signed by
/// `log_key`; reports which of the `witnesses` cosigned the checkpoint.
pub fn verify(
    p: &TlogProof,
    leaf: &Hash,
    log_key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<Verified, ProofError> {
    let text = open_note(&p.checkpoint, log_key)?;
    let checkpoint = Checkpoint::parse_body(text)?;
    if !merkle::verify_inclusion(leaf, p.index, checkpoint.size, &p.proof, &checkpoint.root) {
        return Err(ProofError::NotIncluded {
            index: p.index,
            size: checkpoint.size,
        });
    }
    let (_, cosignatures) = trusted_cosignatures(&p.checkpoint, witnesses)?;
    Ok(Verified {
        checkpoint,
        cosignatures,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{parse_verifier_key, verifier_key};
    use crate::audit::cosign::{cosign, parse_witness_vkey, witness_vkey};
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    fn key(b: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[b; 32]).unwrap()
    }

    fn pk(k: &Ed25519KeyPair) -> [u8; 32] {
        k.public_key().as_ref().try_into().unwrap()
    }

    #[test]
    fn a_proof_round_trips_and_verifies_offline() {
        let leaves: Vec<Hash> = (0..11u8).map(|i| merkle::leaf_hash(&[i])).collect();
        let cp = Checkpoint {
            origin: "o.example/log".into(),
            size: 11,
            root: merkle::root(&leaves),
        };
        let mut note = cp.sign("o.example/log", &key(1));
        let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
        note.push_str(&cosign(&body, "w.example", &key(2), 1_700_000_000));
        note.push('\n');
        let proof = merkle::inclusion_proof(&leaves, 6).unwrap();
        let text = format(6, &proof, &note);
        let parsed = parse(&text).unwrap();
        assert_eq!(parsed.index, 6);
        assert_eq!(parsed.proof, proof);
        let log = parse_verifier_key(&verifier_key("o.example/log", &pk(&key(1)))).unwrap();
        let w = parse_witness_vkey(&witness_vkey("w.example", &pk(&key(2)))).unwrap();
        let ok = verify(&parsed, &leaves[6], &log, &[w]).unwrap();
        assert_eq!(ok.checkpoint.size, 11);
        assert_eq!(ok.cosignatures.len(), 1);
        // Another leaf, another index, another log key: refused.
        assert!(matches!(
            verify(&parsed, &leaves[5], &log, &[]),
            Err(ProofError::NotIncluded { .. })
        ));
        let other = parse_verifier_key(&verifier_key("o.example/log", &pk(&key(3)))).unwrap();
        assert!(verify(&parsed, &leaves[6], &other, &[]).is_err());
        let moved = TlogProof {
            index: 7,
            ..parsed.clone()
        };
        assert!(verify(&moved, &leaves[6], &log, &[]).is_err());
        // A dropped proof line.
        let short = TlogProof {
            proof: parsed.proof[1..].to_vec(),
            ..parsed
        };
        assert!(verify(&short, &leaves[6], &log, &[]).is_err());
    }

    #[test]
    fn malformed_proofs_are_refused() {
        let h = STANDARD.encode([0u8; 32]);
        for bad in [
            "",
            "c2sp.org/tlog-proof@v1\nindex 1\n",
            "c2sp.org/tlog-proof@v2\nindex 1\n\nx\n",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nx\n",
            "c2sp.org/tlog-proof@v1\nindex -1\n\nx\n",
            "c2sp.org/tlog-proof@v1\nextra @@\nindex 1\n\nx\n",
            &format!("c2sp.org/tlog-proof@v1\nindex 1\n{}\n\nx\n", &h[1..]),
            &format!(
                "c2sp.org/tlog-proof@v1\nindex 1\n{}\n\nx\n",
                format!("{h}\n").repeat(65).trim_end()
            ),
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let ok = parse(&format!(
            "c2sp.org/tlog-proof@v1\nextra AAE=\nindex 0\n{h}\n\nx\n"
        ))
        .unwrap();
        assert_eq!(ok.extra, Some(vec![0, 1]));
    }
}
