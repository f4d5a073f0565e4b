//! A split-view report: the two checkpoints the log signed that do not fit one history,
//! signed by a witness key the platform trusts, so that only configured witnesses can make
//! the platform raise an alert (nobody else can flood supervision with reports).
//!
//! The witness signs `sunbid-split-view/v1\ntime <t>\naccepted <sha256>\noffered <sha256>\n`
//! with its Ed25519 cosignature key. The first line keeps these signatures apart from
//! cosignatures, whose signed message always starts with `cosignature/v1`, so a report
//! can never be replayed as a cosignature or the other way round. Pure functions.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::digest;
use ring::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use serde::{Deserialize, Serialize};

use crate::audit::checkpoint::VerifierKey;

/// The first line of every signed report message.
pub const CONTEXT: &str = "sunbid-split-view/v1";

/// A witness's report of two log checkpoints that no single log can have signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitViewReport {
    /// The checkpoint the witness accepted before (a signed note from the log).
    pub accepted: String,
    /// The checkpoint the log offered later, which does not extend the accepted one.
    pub offered: String,
    /// The witness's key name (as in the platform's `witness_keys`).
    pub witness: String,
    /// When the witness signed the report, seconds since the epoch.
    pub time: u64,
    /// Base64 Ed25519 signature by the witness key over the report message.
    pub signature: String,
}

/// Why a report's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No configured witness key has the report's name.
    #[error("no trusted witness is named {0}")]
    UnknownWitness(String),
    /// The signature is not base64 or does not verify with the witness's key.
    #[error("the report's signature does not verify with the key of {0}")]
    BadSignature(String),
}

fn message(accepted: &str, offered: &str, time: u64) -> String {
    let sha = |s: &str| hex::encode(digest::digest(&digest::SHA256, s.as_bytes()));
    format!(
        "{CONTEXT}\ntime {time}\naccepted {}\noffered {}\n",
        sha(accepted),
        sha(offered)
    )
}

/// Signs a report of `accepted` and `offered` as witness `name` with its key.
pub fn sign(
    accepted: &str,
    offered: &str,
    name: &str,
    key: &Ed25519KeyPair,
    time: u64,
) -> SplitViewReport {
    let signature = key.sign(message(accepted, offered, time).as_bytes());
    SplitViewReport {
        accepted: accepted.to_owned(),
        offered: offered.to_owned(),
        witness: name.to_owned(),
        time,
        signature: STANDARD.encode(signature.as_ref()),
    }
}

/// Finds the trusted key the report names and checks its signature.
pub fn check_signature<'a>(
    report: &SplitViewReport,
    trusted: &'a [VerifierKey],
) -> Result<&'a VerifierKey, SignatureError> {
    let bad = || SignatureError::BadSignature(report.witness.clone());
    let signature = STANDARD.decode(&report.signature).map_err(|_| bad())?;
    // Two configured keys may share a name during a key rotation: either may have signed.
    let mut named = trusted
        .iter()
        .filter(|k| k.name == report.witness)
        .peekable();
    if named.peek().is_none() {
        return Err(SignatureError::UnknownWitness(report.witness.clone()));
    }
    let msg = message(&report.accepted, &report.offered, report.time);
    named
        .find(|k| {
            UnparsedPublicKey::new(&ED25519, &k.public_key)
                .verify(msg.as_bytes(), &signature)
                .is_ok()
        })
        .ok_or_else(bad)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::audit::cosign::{parse_witness_vkey, witness_vkey};
    use ring::signature::KeyPair as _;

    fn key(b: u8) -> Ed25519KeyPair {
        Ed25519KeyPair::from_seed_unchecked(&[b; 32]).unwrap()
    }

    fn vkey(name: &str, k: &Ed25519KeyPair) -> VerifierKey {
        let pk: [u8; 32] = k.public_key().as_ref().try_into().unwrap();
        parse_witness_vkey(&witness_vkey(name, &pk)).unwrap()
    }

    #[test]
    fn a_signed_report_verifies_and_a_changed_one_does_not() {
        let trusted = [vkey("w.example/w", &key(1))];
        let r = sign("a\n\n— x y\n", "b\n\n— x z\n", "w.example/w", &key(1), 7);
        assert_eq!(check_signature(&r, &trusted).unwrap().name, "w.example/w");
        for changed in [
            SplitViewReport {
                offered: "c".into(),
                ..r.clone()
            },
            SplitViewReport {
                time: 8,
                ..r.clone()
            },
            SplitViewReport {
                signature: "not base64!".into(),
                ..r.clone()
            },
        ] {
            assert!(matches!(
                check_signature(&changed, &trusted),
                Err(SignatureError::BadSignature(_))
            ));
        }
        // Another key under the trusted name: forged.
        let forged = sign("a", "b", "w.example/w", &key(2), 7);
        assert!(matches!(
            check_signature(&forged, &trusted),
            Err(SignatureError::BadSignature(_))
        ));
        // A name the platform does not trust.
        let stranger = sign("a", "b", "s.example/w", &key(2), 7);
        assert_eq!(
            check_signature(&stranger, &trusted),
            Err(SignatureError::UnknownWitness("s.example/w".into()))
        );
    }
}
