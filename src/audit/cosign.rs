//! Witness cosignatures of checkpoints: C2SP tlog-cosignature, Ed25519 `cosignature/v1`.
//!
//! A cosignature is a signed-note signature line whose key id uses signature type 0x04 and
//! whose blob is key id ‖ 8-byte big-endian timestamp ‖ Ed25519 signature over
//! `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint body. Pure functions, no
//! I/O, panic-free on hostile input.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use super::checkpoint::{
    CheckpointError, NoteSignature, VerifierKey, parse_typed_verifier_key, split_note,
    typed_key_id, typed_verifier_key,
};

/// The signed-note signature type of an Ed25519 cosignature/v1 key.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;

/// A cosignature timestamp may not exceed 2^63 − 1 (C2SP tlog-cosignature).
const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// A cosignature that verified against a trusted witness key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's key name.
    pub witness: String,
    /// Its cosignature key id.
    pub key_id: [u8; 4],
    /// The witness's timestamp, seconds since the epoch.
    pub timestamp: u64,
    /// The signature line, without its newline.
    pub line: String,
}

/// The published verifier key of a witness: `<name>+<key id>+base64(0x04 ‖ key)`.
pub fn witness_vkey(name: &str, public_key: &[u8; 32]) -> String {
    typed_verifier_key(ALG_COSIGNATURE_V1, name, public_key)
}

/// Parses a witness verifier key (type 0x04) and checks its key id.
pub fn parse_witness_vkey(vkey: &str) -> Result<VerifierKey, CheckpointError> {
    parse_typed_verifier_key(ALG_COSIGNATURE_V1, vkey)
}

fn signed_message(body: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// Cosigns a checkpoint body (the note text, final newline included) at `timestamp`;
/// returns the signature line without its newline.
pub fn cosign(body: &str, name: &str, key: &Ed25519KeyPair, timestamp: u64) -> String {
    let mut public_key = [0u8; 32];
    for (o, b) in public_key.iter_mut().zip(key.public_key().as_ref()) {
        *o = *b;
    }
    let signature = key.sign(signed_message(body, timestamp).as_bytes());
    let mut blob = Vec::with_capacity(4 + 8 + 64);
    blob.extend_from_slice(&typed_key_id(ALG_COSIGNATURE_V1, name, &public_key));
    blob.extend_from_slice(&timestamp.to_be_bytes());
    blob.extend_from_slice(signature.as_ref());
    format!("\u{2014} {name} {}", STANDARD.encode(blob))
}

/// Checks one signature line against a witness key; `Ok(None)` when the line is not from
/// that key.
fn check_line(
    body: &str,
    sig: &NoteSignature,
    key: &VerifierKey,
) -> Result<Option<Cosignature>, CheckpointError> {
    if sig.name != key.name || sig.key_id != key.key_id {
        return Ok(None);
    }
    let bad = || CheckpointError::InvalidSignature(key.label());
    let (ts, signature) = sig.signature.split_at_checked(8).ok_or_else(bad)?;
    let ts: [u8; 8] = ts.try_into().map_err(|_| bad())?;
    let timestamp = u64::from_be_bytes(ts);
    if timestamp > MAX_TIMESTAMP {
        return Err(bad());
    }
    UnparsedPublicKey::new(&ED25519, &key.public_key)
        .verify(signed_message(body, timestamp).as_bytes(), signature)
        .map_err(|_| bad())?;
    Ok(Some(Cosignature {
        witness: key.name.clone(),
        key_id: key.key_id,
        timestamp,
        line: sig.line.clone(),
    }))
}

/// Returns the note's text and the cosignatures in it from `trusted` witnesses. Lines from
/// other keys are ignored (C2SP tlog-witness); a line naming a trusted key that does not
/// verify is an error, because it means the note was altered or the cosignature forged.
pub fn trusted_cosignatures<'a>(
    note: &'a str,
    trusted: &[VerifierKey],
) -> Result<(&'a str, Vec<Cosignature>), CheckpointError> {
    let (text, lines) = split_note(note)?;
    let mut out = Vec::new();
    for sig in &lines {
        for key in trusted {
            if let Some(c) = check_line(text, sig, key)? {
                out.push(c);
            }
        }
    }
    Ok((text, out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{Checkpoint, verifier_key};

    fn key(b: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[b; 32]).unwrap()
    }

    fn pk(k: &Ed25519KeyPair) -> [u8; 32] {
        k.public_key().as_ref().try_into().unwrap()
    }

    fn note() -> String {
        Checkpoint {
            origin: "example.com/log".into(),
            size: 5,
            root: [7u8; 32],
        }
        .sign("example.com/log", &key(1))
    }

    #[test]
    fn a_cosignature_verifies_and_an_altered_one_does_not() {
        let w = key(2);
        let vkey = parse_witness_vkey(&witness_vkey("w.example/w1", &pk(&w))).unwrap();
        let n = note();
        let (body, _) = split_note(&n).unwrap();
        let line = cosign(body, "w.example/w1", &w, 1_700_000_000);
        let cosigned = format!("{n}{line}\n");
        let (_, got) = trusted_cosignatures(&cosigned, std::slice::from_ref(&vkey)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp, 1_700_000_000);
        assert_eq!(got[0].witness, "w.example/w1");
        // The log's own signature still opens: cosignature lines are other keys' lines.
        let log = verifier_key("example.com/log", &pk(&key(1)));
        assert_eq!(Checkpoint::open(&cosigned, &log).unwrap().size, 5);
        // Another body under the same cosignature fails.
        let other = cosigned.replacen("\n5\n", "\n6\n", 1);
        assert!(trusted_cosignatures(&other, std::slice::from_ref(&vkey)).is_err());
        // A forged cosignature (another key claiming the witness's name and id) fails.
        let forged_line = cosign(body, "w.example/w1", &key(3), 1_700_000_000);
        let mut blob = STANDARD
            .decode(forged_line.rsplit(' ').next().unwrap())
            .unwrap();
        blob[..4].copy_from_slice(&vkey.key_id);
        let forged = format!("{n}\u{2014} w.example/w1 {}\n", STANDARD.encode(blob));
        assert!(matches!(
            trusted_cosignatures(&forged, std::slice::from_ref(&vkey)),
            Err(CheckpointError::InvalidSignature(_))
        ));
        // An untrusted witness is ignored.
        let other_w = parse_witness_vkey(&witness_vkey("w.example/w2", &pk(&key(4)))).unwrap();
        let (_, none) = trusted_cosignatures(&cosigned, &[other_w]).unwrap();
        assert!(none.is_empty());
    }

    #[test]
    fn key_types_do_not_mix() {
        let w = key(2);
        // A log (0x01) key string is not a witness key, and the other way round.
        assert!(parse_witness_vkey(&verifier_key("w", &pk(&w))).is_err());
        assert!(crate::audit::checkpoint::parse_verifier_key(&witness_vkey("w", &pk(&w))).is_err());
    }
}
