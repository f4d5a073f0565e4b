//! The signed receipt a bidder gets for a submitted bid (DESIGN.md "Sealed bids" step 4),
//! and its offline verification.
//!
//! The receipt file is the server's answer as it came:
//!
//! ```json
//! {"receipt": {"v":1, "bid_id", "tender_id", "tender_code", "bidder_id",
//!              "parts": [{"label","name","sha256","size"}], "server_time", "audit_index"},
//!  "signature": "<base64 Ed25519 over the JCS (RFC 8785) canonical JSON of receipt>",
//!  "vkey": "<name>+<key id hex>+<base64(0x01 ‖ public key)>"}
//! ```
//!
//! The signature covers the receipt object exactly as received — re-canonicalised from the
//! parsed JSON value, never from our own struct, so a field this build does not know about
//! is still covered. The `vkey` inside the file is only a hint: the key that counts is the
//! one the caller trusts (pinned, or fetched from the platform). A receipt names the key
//! that signed it (`kid`, hex of the first 8 bytes of SHA-256 of the public key), so after a
//! rotation the right one of the platform's published keys is used; a receipt without a
//! `kid` (issued before key ids) is checked against each trusted key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{ED25519, UnparsedPublicKey};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::audit::checkpoint::{VerifierKey, parse_verifier_key};
use crate::audit::tlog_proof;
use crate::keys::kid_of;

/// The receipt format this build reads.
pub const RECEIPT_VERSION: u64 = 1;

/// The largest receipt file read: a receipt lists a few parts.
pub const MAX_RECEIPT_LEN: usize = 4 * 1024 * 1024;

/// One sealed part as the platform recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReceiptPart {
    /// `form` or `attachment`.
    pub label: String,
    /// The file name given at upload.
    pub name: String,
    /// Lower-case hex SHA-256 of the whole envelope.
    pub sha256: String,
    /// Envelope size in bytes.
    pub size: u64,
}

/// The signed content of a receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Format version, [`RECEIPT_VERSION`].
    pub v: u64,
    /// The bid's id.
    pub bid_id: String,
    /// The tender's id (the one sealed into every envelope).
    pub tender_id: String,
    /// The tender's public code.
    pub tender_code: String,
    /// The bidder (organisation) id.
    pub bidder_id: String,
    /// Every part of the bid.
    pub parts: Vec<ReceiptPart>,
    /// When the platform recorded the submission (as the server wrote it).
    pub server_time: Value,
    /// The audit log index of the submission event.
    pub audit_index: u64,
    /// The id of the platform key that signed it (absent in receipts before key ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
}

impl Receipt {
    /// The server time as text (RFC 3339 string, or whatever JSON the server used).
    pub fn server_time_text(&self) -> String {
        match &self.server_time {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// A receipt whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedReceipt {
    /// The receipt.
    pub receipt: Receipt,
    /// The verifier key the file names (informational; verification used the caller's).
    pub vkey: Option<String>,
}

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt file: not JSON, or missing `receipt` / `signature`.
    #[error("not a Sunbid receipt: {0}")]
    Malformed(String),
    /// The signature does not verify with the trusted key: the receipt was altered, or was
    /// not issued by this platform.
    #[error(
        "INVALID SIGNATURE: the receipt was altered or was not signed by platform key {expected}{}",
        .claimed.as_ref().map(|c| format!(" (the file names key {c})")).unwrap_or_default()
    )]
    BadSignature {
        /// `name+keyid` of the trusted key.
        expected: String,
        /// The key the file claims, when it differs.
        claimed: Option<String>,
    },
    /// A receipt version this build does not read.
    #[error("receipt version {0} is not supported (this build reads version 1)")]
    UnsupportedVersion(u64),
    /// The receipt verifies but does not record what was sent.
    #[error("the receipt does not match the bid that was sent: {0}")]
    Mismatch(String),
    /// The receipt's inclusion proof does not show its submission in the audit log.
    #[error("INVALID INCLUSION PROOF: {0}")]
    BadProof(String),
}

/// What a receipt's inclusion proof showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofSummary {
    /// The audit log index of the submission.
    pub index: u64,
    /// The size of the checkpoint the proof is for.
    pub size: u64,
    /// The trusted witnesses that cosigned that checkpoint.
    pub witnesses: Vec<String>,
}

/// Checks the receipt file's inclusion proof, when it has one (`tlog_proof`, C2SP
/// tlog-proof, with the submission's audit entry in `audit_entry`): the entry is this
/// receipt's submission at its audit index, and it is included in a checkpoint signed with
/// the platform key `key`. Offline; panic-free on any input. `Ok(None)`: no proof in the
/// file (receipts from before proofs, or the proof was not fetched yet).
pub fn check_inclusion(
    text: &[u8],
    receipt: &Receipt,
    key: &VerifierKey,
    witnesses: &[VerifierKey],
) -> Result<Option<ProofSummary>, ReceiptError> {
    let doc: Value = serde_json::from_slice(text)
        .map_err(|e| ReceiptError::Malformed(format!("not JSON: {e}")))?;
    let Some(proof_text) = doc.get("tlog_proof") else {
        return Ok(None);
    };
    let bad = |m: &str| ReceiptError::BadProof(m.to_owned());
    let proof_text = proof_text
        .as_str()
        .ok_or_else(|| bad("tlog_proof is not text"))?;
    let entry = doc
        .get("audit_entry")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("no audit_entry to prove"))?;
    let e: Value = serde_json::from_str(entry).map_err(|_| bad("audit_entry is not JSON"))?;
    if e.get("seq").and_then(Value::as_u64) != Some(receipt.audit_index)
        || e.get("action").and_then(Value::as_str) != Some("bid.submit")
        || e.pointer("/payload/bid_id").and_then(Value::as_str) != Some(receipt.bid_id.as_str())
    {
        return Err(bad(
            "audit_entry is not this receipt's submission at its audit index",
        ));
    }
    let proof = tlog_proof::parse(proof_text).map_err(|e| ReceiptError::BadProof(e.to_string()))?;
    if proof.index != receipt.audit_index {
        return Err(bad("the proof is for another audit index"));
    }
    // The platform signs checkpoints with the key that signs receipts, under the log's
    // origin as key name.
    let origin = proof
        .checkpoint
        .split('\n')
        .next()
        .unwrap_or_default()
        .to_owned();
    let log_key = VerifierKey {
        key_id: crate::audit::checkpoint::key_id(&origin, &key.public_key),
        name: origin,
        public_key: key.public_key,
    };
    let leaf = crate::audit::merkle::leaf_hash(entry.as_bytes());
    let ok = tlog_proof::verify(&proof, &leaf, &log_key, witnesses)
        .map_err(|e| ReceiptError::BadProof(e.to_string()))?;
    Ok(Some(ProofSummary {
        index: proof.index,
        size: ok.checkpoint.size,
        witnesses: ok.cosignatures.into_iter().map(|c| c.witness).collect(),
    }))
}

/// `name+keyid`, how a key is named in messages.
pub fn key_label(key: &VerifierKey) -> String {
    format!("{}+{}", key.name, hex::encode(key.key_id))
}

/// Checks a receipt file's signature against `key` and parses it. Panic-free on any input.
///
/// The signature is checked before any receipt field is interpreted.
pub fn verify_receipt(text: &[u8], key: &VerifierKey) -> Result<SignedReceipt, ReceiptError> {
    verify_receipt_any(text, std::slice::from_ref(key)).map(|(signed, _)| signed)
}

/// Checks a receipt file against a set of trusted keys (the platform's active and retired
/// keys): the key its `kid` names, or each key when it names none. Returns the receipt and
/// the key that verified it. Panic-free on any input.
pub fn verify_receipt_any(
    text: &[u8],
    keys: &[VerifierKey],
) -> Result<(SignedReceipt, VerifierKey), ReceiptError> {
    if text.len() > MAX_RECEIPT_LEN {
        return Err(ReceiptError::Malformed(format!(
            "{} bytes is far larger than any receipt",
            text.len()
        )));
    }
    let doc: Value = serde_json::from_slice(text)
        .map_err(|e| ReceiptError::Malformed(format!("not JSON: {e}")))?;
    let receipt_value = doc
        .get("receipt")
        .filter(|v| v.is_object())
        .ok_or_else(|| ReceiptError::Malformed("no \"receipt\" object".into()))?;
    let signature_b64 = doc
        .get("signature")
        .and_then(Value::as_str)
        .ok_or_else(|| ReceiptError::Malformed("no \"signature\" string".into()))?;
    let vkey = doc.get("vkey").and_then(Value::as_str).map(str::to_owned);
    let signature = STANDARD
        .decode(signature_b64.trim())
        .map_err(|_| ReceiptError::Malformed("the signature is not base64".into()))?;
    let canonical = serde_json_canonicalizer::to_vec(receipt_value)
        .map_err(|e| ReceiptError::Malformed(format!("cannot canonicalise the receipt: {e}")))?;
    // The kid is only a hint for choosing the key (it is signed, so a changed kid fails).
    let kid = receipt_value.get("kid").and_then(Value::as_str);
    let verified = keys
        .iter()
        .filter(|k| kid.is_none_or(|kid| kid_of(&k.public_key) == kid))
        .find(|k| {
            UnparsedPublicKey::new(&ED25519, k.public_key)
                .verify(&canonical, &signature)
                .is_ok()
        });
    let Some(key) = verified else {
        let expected = keys.iter().map(key_label).collect::<Vec<_>>().join(", ");
        // Name the file's key only when it is another key than the trusted ones.
        let claimed = vkey
            .as_deref()
            .and_then(|v| parse_verifier_key(v).ok())
            .filter(|k| !keys.contains(k))
            .map(|k| key_label(&k))
            .or_else(|| {
                kid.filter(|kid| !keys.iter().any(|k| kid_of(&k.public_key) == *kid))
                    .map(|kid| format!("kid {kid}"))
            });
        return Err(ReceiptError::BadSignature { expected, claimed });
    };
    let version = receipt_value.get("v").and_then(Value::as_u64);
    if version != Some(RECEIPT_VERSION) {
        return Err(ReceiptError::UnsupportedVersion(version.unwrap_or(0)));
    }
    let receipt: Receipt = serde_json::from_value(receipt_value.clone())
        .map_err(|e| ReceiptError::Malformed(format!("receipt fields: {e}")))?;
    Ok((SignedReceipt { receipt, vkey }, key.clone()))
}

/// What the client sent for one part: the envelope's digest and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPart {
    /// `form` or `attachment`.
    pub label: String,
    /// The file name.
    pub name: String,
    /// SHA-256 of the envelope, computed while sealing.
    pub sha256: [u8; 32],
    /// Envelope size.
    pub size: u64,
}

/// Checks that a verified receipt records exactly the parts sent (same digests, sizes and
/// labels; order free), for this tender and bidder.
pub fn check_matches(
    receipt: &Receipt,
    tender_code: &str,
    tender_id: &str,
    bidder_id: &str,
    sent: &[SentPart],
) -> Result<(), ReceiptError> {
    let mismatch = |m: String| Err(ReceiptError::Mismatch(m));
    if receipt.tender_id != tender_id || receipt.tender_code != tender_code {
        return mismatch(format!(
            "it is for tender {} ({}), the bid was for {tender_code} ({tender_id})",
            receipt.tender_code, receipt.tender_id
        ));
    }
    if receipt.bidder_id != bidder_id {
        return mismatch(format!(
            "it names bidder {}, the bid was sealed for {bidder_id}",
            receipt.bidder_id
        ));
    }
    if receipt.parts.len() != sent.len() {
        return mismatch(format!(
            "it lists {} parts, {} were sent",
            receipt.parts.len(),
            sent.len()
        ));
    }
    let mut got: Vec<(String, u64, String)> = receipt
        .parts
        .iter()
        .map(|p| (p.sha256.to_ascii_lowercase(), p.size, p.label.clone()))
        .collect();
    let mut want: Vec<(String, u64, String)> = sent
        .iter()
        .map(|p| (hex::encode(p.sha256), p.size, p.label.clone()))
        .collect();
    got.sort();
    want.sort();
    for (g, w) in got.iter().zip(&want) {
        if g != w {
            let name = sent
                .iter()
                .find(|p| hex::encode(p.sha256) == w.0)
                .map(|p| p.name.as_str())
                .unwrap_or("?");
            return mismatch(format!(
                "the part {name} ({}, {} bytes, sha256 {}) is not recorded as sent",
                w.2, w.1, w.0
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::verifier_key;
    use ring::rand::SystemRandom;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};
    use serde_json::json;

    fn keypair() -> Ed25519KeyPair {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap()
    }

    fn vkey_of(kp: &Ed25519KeyPair) -> String {
        let pk: [u8; 32] = kp.public_key().as_ref().try_into().unwrap();
        verifier_key("sunbid-platform", &pk)
    }

    fn receipt_value() -> Value {
        json!({
            "v": 1,
            "bid_id": "01JBIDBIDBIDBIDBIDBIDBIDBI",
            "tender_id": "01JTENDERTENDERTENDERTENDE",
            "tender_code": "ZB-2025-0001",
            "bidder_id": "org-1",
            "parts": [
                {"label": "form", "name": "bid.json", "sha256": hex::encode([1u8; 32]), "size": 400},
                {"label": "attachment", "name": "方案.pdf", "sha256": hex::encode([2u8; 32]), "size": 70000}
            ],
            "server_time": "2025-03-01T08:00:00Z",
            "audit_index": 42
        })
    }

    /// Signs like the server: Ed25519 over the JCS canonical JSON of `receipt`.
    fn sign(receipt: &Value, kp: &Ed25519KeyPair) -> Value {
        let canonical = serde_json_canonicalizer::to_vec(receipt).unwrap();
        json!({
            "receipt": receipt,
            "signature": STANDARD.encode(kp.sign(&canonical).as_ref()),
            "vkey": vkey_of(kp),
        })
    }

    fn bytes(v: &Value) -> Vec<u8> {
        serde_json::to_vec_pretty(v).unwrap()
    }

    #[test]
    fn a_good_receipt_verifies_and_parses() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let file = sign(&receipt_value(), &kp);
        let ok = verify_receipt(&bytes(&file), &key).unwrap();
        assert_eq!(ok.receipt.bid_id, "01JBIDBIDBIDBIDBIDBIDBIDBI");
        assert_eq!(ok.receipt.tender_code, "ZB-2025-0001");
        assert_eq!(ok.receipt.parts.len(), 2);
        assert_eq!(ok.receipt.audit_index, 42);
        assert_eq!(ok.receipt.server_time_text(), "2025-03-01T08:00:00Z");
        assert_eq!(ok.vkey.as_deref(), Some(vkey_of(&kp).as_str()));
        // Compact or pretty, key order changed: the signature is over the canonical form.
        let compact = serde_json::to_vec(&file).unwrap();
        assert!(verify_receipt(&compact, &key).is_ok());
    }

    #[test]
    fn fields_unknown_to_this_build_are_still_covered() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let mut r = receipt_value();
        r["withdrawable_until"] = json!("2025-03-20T08:00:00Z");
        let mut file = sign(&r, &kp);
        assert!(verify_receipt(&bytes(&file), &key).is_ok());
        file["receipt"]["withdrawable_until"] = json!("2025-04-20T08:00:00Z");
        assert!(matches!(
            verify_receipt(&bytes(&file), &key),
            Err(ReceiptError::BadSignature { .. })
        ));
    }

    #[test]
    fn any_altered_field_breaks_the_signature() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let good = sign(&receipt_value(), &kp);
        type Edit = Box<dyn Fn(&mut Value)>;
        let edits: Vec<(&str, Edit)> = vec![
            (
                "bidder",
                Box::new(|f| f["receipt"]["bidder_id"] = json!("org-2")),
            ),
            (
                "digest",
                Box::new(|f| f["receipt"]["parts"][0]["sha256"] = json!(hex::encode([3u8; 32]))),
            ),
            (
                "size",
                Box::new(|f| f["receipt"]["parts"][1]["size"] = json!(70001)),
            ),
            (
                "time",
                Box::new(|f| f["receipt"]["server_time"] = json!("2025-02-28T08:00:00Z")),
            ),
            (
                "index",
                Box::new(|f| f["receipt"]["audit_index"] = json!(43)),
            ),
            (
                "dropped part",
                Box::new(|f| {
                    f["receipt"]["parts"].as_array_mut().unwrap().pop();
                }),
            ),
            (
                "added field",
                Box::new(|f| f["receipt"]["note"] = json!("x")),
            ),
            (
                "signature",
                Box::new(|f| {
                    let mut sig = STANDARD.decode(f["signature"].as_str().unwrap()).unwrap();
                    sig[10] ^= 1;
                    f["signature"] = json!(STANDARD.encode(sig));
                }),
            ),
        ];
        for (what, edit) in edits {
            let mut f = good.clone();
            edit(&mut f);
            let got = verify_receipt(&bytes(&f), &key);
            assert!(
                matches!(got, Err(ReceiptError::BadSignature { claimed: None, .. })),
                "{what}: {got:?}"
            );
        }
    }

    #[test]
    fn another_key_is_refused_and_named() {
        let signer = keypair();
        let trusted = parse_verifier_key(&vkey_of(&keypair())).unwrap();
        let file = sign(&receipt_value(), &signer);
        let err = verify_receipt(&bytes(&file), &trusted).unwrap_err();
        let ReceiptError::BadSignature { expected, claimed } = &err else {
            panic!("{err:?}");
        };
        assert_eq!(expected, &key_label(&trusted));
        let signer_key = parse_verifier_key(&vkey_of(&signer)).unwrap();
        assert_eq!(claimed.as_deref(), Some(key_label(&signer_key).as_str()));
        assert!(err.to_string().contains("INVALID SIGNATURE"), "{err}");
    }

    #[test]
    fn a_wrong_vkey_in_the_file_does_not_matter_when_the_signature_holds() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let mut file = sign(&receipt_value(), &kp);
        file["vkey"] = json!(vkey_of(&keypair()));
        assert!(verify_receipt(&bytes(&file), &key).is_ok());
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let good = sign(&receipt_value(), &kp);
        let mut no_sig = good.clone();
        no_sig.as_object_mut().unwrap().remove("signature");
        let mut sig_not_b64 = good.clone();
        sig_not_b64["signature"] = json!("@@@not base64@@@");
        let mut receipt_string = good.clone();
        receipt_string["receipt"] = json!("a receipt");
        let cases: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"not json".to_vec(),
            b"{\"receipt\": {".to_vec(),
            vec![0xff; 100],
            b"[]".to_vec(),
            b"null".to_vec(),
            bytes(&no_sig),
            bytes(&sig_not_b64),
            bytes(&receipt_string),
            vec![b' '; MAX_RECEIPT_LEN + 1],
        ];
        for case in cases {
            let got = verify_receipt(&case, &key);
            assert!(
                matches!(got, Err(ReceiptError::Malformed(_))),
                "{:?}: {got:?}",
                String::from_utf8_lossy(&case[..case.len().min(40)])
            );
        }
        // Signed, but missing fields or another version: refused after the signature.
        let mut missing = receipt_value();
        missing.as_object_mut().unwrap().remove("bid_id");
        assert!(matches!(
            verify_receipt(&bytes(&sign(&missing, &kp)), &key),
            Err(ReceiptError::Malformed(_))
        ));
        let mut v2 = receipt_value();
        v2["v"] = json!(2);
        assert_eq!(
            verify_receipt(&bytes(&sign(&v2, &kp)), &key),
            Err(ReceiptError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn after_a_rotation_the_key_the_receipt_names_verifies_it() {
        let (old, new) = (keypair(), keypair());
        let trusted = [
            parse_verifier_key(&vkey_of(&new)).unwrap(),
            parse_verifier_key(&vkey_of(&old)).unwrap(),
        ];
        let old_pk: [u8; 32] = old.public_key().as_ref().try_into().unwrap();
        let mut r = receipt_value();
        r["kid"] = json!(kid_of(&old_pk));
        let (ok, key) = verify_receipt_any(&bytes(&sign(&r, &old)), &trusted).unwrap();
        assert_eq!(key, trusted[1]);
        assert_eq!(ok.receipt.kid.as_deref(), Some(kid_of(&old_pk).as_str()));
        // Without a kid (a receipt from before key ids), every trusted key is tried.
        let (_, key) = verify_receipt_any(&bytes(&sign(&receipt_value(), &old)), &trusted).unwrap();
        assert_eq!(key, trusted[1]);
        // Only the new key trusted (the old one not published): refused, naming the kid.
        let err = verify_receipt_any(&bytes(&sign(&r, &old)), &trusted[..1]).unwrap_err();
        assert!(matches!(err, ReceiptError::BadSignature { .. }), "{err}");
        // A kid naming a trusted key other than the signer: refused.
        let mut lying = r.clone();
        lying["kid"] = json!(kid_of(&trusted[0].public_key));
        assert!(verify_receipt_any(&bytes(&sign(&lying, &old)), &trusted).is_err());
    }

    #[test]
    fn the_receipt_must_record_what_was_sent() {
        let kp = keypair();
        let key = parse_verifier_key(&vkey_of(&kp)).unwrap();
        let ok = verify_receipt(&bytes(&sign(&receipt_value(), &kp)), &key).unwrap();
        let r = &ok.receipt;
        let sent = vec![
            SentPart {
                label: "attachment".into(),
                name: "方案.pdf".into(),
                sha256: [2u8; 32],
                size: 70000,
            },
            SentPart {
                label: "form".into(),
                name: "bid.json".into(),
                sha256: [1u8; 32],
                size: 400,
            },
        ];
        let (code, tid, bidder) = ("ZB-2025-0001", "01JTENDERTENDERTENDERTENDE", "org-1");
        assert_eq!(check_matches(r, code, tid, bidder, &sent), Ok(()));
        assert!(check_matches(r, code, tid, "org-2", &sent).is_err());
        assert!(check_matches(r, "ZB-2025-0002", tid, bidder, &sent).is_err());
        assert!(check_matches(r, code, tid, bidder, &sent[..1]).is_err());
        let mut other = sent.clone();
        other[0].sha256 = [9u8; 32];
        let err = check_matches(r, code, tid, bidder, &other).unwrap_err();
        assert!(err.to_string().contains("方案.pdf"), "{err}");
        let mut bigger = sent.clone();
        bigger[1].size = 401;
        assert!(check_matches(r, code, tid, bidder, &bigger).is_err());
    }
}
