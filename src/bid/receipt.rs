//! The submission receipt (回执): what the platform signs with its Ed25519 key when it
//! records a bid, so a bidder can prove later what they submitted and when.
//!
//! The signature covers the receipt's canonical JSON (RFC 8785 JCS,
//! `serde_json_canonicalizer`): any verifier re-canonicalises the `receipt` object it got and
//! checks the signature against the platform public key (`GET /api/v1/platform-key`, the
//! same key as the audit checkpoints' `vkey`). `audit_index` is the sequence number of the
//! submission's audit event, so the receipt can be matched to the public log. `kid` names
//! the platform key that signed it (see [`crate::keys`]), so that after a key rotation a
//! verifier picks the right one of the published keys; receipts issued before key ids
//! existed have no `kid`, and their canonical JSON (and signature) stays what it was.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::keys::SigningKey;

/// Version of the receipt format.
pub const RECEIPT_VERSION: u32 = 1;

/// One part as the receipt lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptPart {
    /// `form` or `attachment`.
    pub label: String,
    /// The file name the bidder gave.
    pub name: String,
    /// SHA-256 hex of the whole envelope as stored.
    pub sha256: String,
    /// Envelope size in bytes.
    pub size: u64,
}

/// The signed receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// Format version (1).
    pub v: u32,
    /// The submission.
    pub bid_id: String,
    /// The tender (its id is what the envelopes are bound to).
    pub tender_id: String,
    /// The tender's project code.
    pub tender_code: String,
    /// The bidder organisation (as bound in the envelopes).
    pub bidder_id: String,
    /// Every part, in submission order.
    pub parts: Vec<ReceiptPart>,
    /// When the platform recorded it: RFC 3339, UTC, milliseconds.
    pub server_time: String,
    /// Sequence number of the submission's audit event.
    pub audit_index: u64,
    /// Key id of the platform key that signs this receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Receipt {
    /// The exact bytes signed: RFC 8785 canonical JSON.
    pub fn canonical(&self) -> Result<String, serde_json::Error> {
        serde_json_canonicalizer::to_string(self)
    }

    /// Signs the canonical JSON; returns standard base64 of the 64-byte signature.
    pub fn sign(&self, key: &SigningKey) -> Result<String, serde_json::Error> {
        let bytes = self.canonical()?;
        Ok(STANDARD.encode(key.pair.sign(bytes.as_bytes()).as_ref()))
    }

    /// Verifies `signature_b64` against a 32-byte Ed25519 platform public key.
    pub fn verify(&self, public_key: &[u8], signature_b64: &str) -> bool {
        let Ok(sig) = STANDARD.decode(signature_b64.trim()) else {
            return false;
        };
        let Ok(bytes) = self.canonical() else {
            return false;
        };
        ring::signature::UnparsedPublicKey::new(&ring::signature::ED25519, public_key)
            .verify(bytes.as_bytes(), &sig)
            .is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> Receipt {
        Receipt {
            v: RECEIPT_VERSION,
            bid_id: "b".into(),
            tender_id: "t".into(),
            tender_code: "SZ-1".into(),
            bidder_id: "o".into(),
            parts: vec![ReceiptPart {
                label: "form".into(),
                name: "投标函.json".into(),
                sha256: "00".repeat(32),
                size: 200,
            }],
            server_time: "2026-01-01T00:00:00.000Z".into(),
            audit_index: 7,
            kid: None,
        }
    }

    #[test]
    fn a_receipt_verifies_and_any_change_breaks_it() {
        let key = SigningKey::generate().unwrap();
        let r = sample();
        let sig = r.sign(&key).unwrap();
        assert!(r.verify(&key.public(), &sig));
        let mut changed = r.clone();
        changed.parts[0].size = 201;
        assert!(!changed.verify(&key.public(), &sig));
        let other = SigningKey::generate().unwrap();
        assert!(!r.verify(&other.public(), &sig));
        assert!(!r.verify(&key.public(), "not base64!"));
        // Canonical form: keys sorted, no spaces.
        assert!(
            r.canonical()
                .unwrap()
                .starts_with("{\"audit_index\":7,\"bid_id\":\"b\"")
        );
    }

    #[test]
    fn the_key_id_is_signed_and_absent_when_unset() {
        let key = SigningKey::generate().unwrap();
        let mut r = sample();
        assert!(!r.canonical().unwrap().contains("kid"));
        r.kid = Some(key.kid());
        assert!(
            r.canonical()
                .unwrap()
                .contains(&format!("\"kid\":\"{}\"", key.kid()))
        );
        let sig = r.sign(&key).unwrap();
        let mut other = r.clone();
        other.kid = Some("0000000000000000".into());
        assert!(r.verify(&key.public(), &sig));
        assert!(
            !other.verify(&key.public(), &sig),
            "the kid is covered by the signature"
        );
    }
}
