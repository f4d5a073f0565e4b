//! `sunbid receipt verify` and `sunbid bid submit` reading the platform's signed receipt
//! (src/bidcli/receipt.rs `verify_receipt`, `check_matches`). The first byte picks:
//!
//! - even: the file as it came, checked against a fixed platform key;
//! - odd: the file's `receipt` object signed with that key first (the fuzzer cannot forge
//!   a signature, so this is how arbitrary receipts reach the parser behind it). A receipt
//!   signed by the trusted key must then never be called forged, and one that parses must
//!   match the parts it lists.
#![no_main]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use sunbid::audit::checkpoint::{VerifierKey, parse_verifier_key, verifier_key};
use sunbid::bidcli::receipt::{ReceiptError, SentPart, check_matches, verify_receipt};

fn platform_key() -> &'static (Ed25519KeyPair, VerifierKey) {
    static K: OnceLock<(Ed25519KeyPair, VerifierKey)> = OnceLock::new();
    K.get_or_init(|| {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[9u8; 32]).expect("seed");
        let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("32 bytes");
        let key = parse_verifier_key(&verifier_key("sunbid-platform", &public)).expect("vkey");
        (pair, key)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, file)) = data.split_first() else {
        return;
    };
    let (pair, key) = platform_key();
    if mode % 2 == 0 {
        let _ = verify_receipt(file, key);
        return;
    }
    let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(file) else {
        return;
    };
    let Some(receipt) = doc.get("receipt").filter(|r| r.is_object()) else {
        return;
    };
    let Ok(canonical) = serde_json_canonicalizer::to_vec(receipt) else {
        return;
    };
    let signature = STANDARD.encode(pair.sign(&canonical));
    if let Some(obj) = doc.as_object_mut() {
        obj.insert("signature".into(), signature.into());
    }
    let signed = serde_json::to_vec(&doc).expect("a Value serialises");
    match verify_receipt(&signed, key) {
        Ok(ok) => {
            let r = &ok.receipt;
            let sent: Option<Vec<SentPart>> = r
                .parts
                .iter()
                .map(|p| {
                    let sha256 = hex::decode(&p.sha256).ok()?.try_into().ok()?;
                    Some(SentPart {
                        label: p.label.clone(),
                        name: p.name.clone(),
                        sha256,
                        size: p.size,
                    })
                })
                .collect();
            if let Some(sent) = sent {
                check_matches(r, &r.tender_code, &r.tender_id, &r.bidder_id, &sent)
                    .expect("a receipt matches the parts it lists");
            }
        }
        Err(ReceiptError::BadSignature { .. }) => {
            panic!("a receipt signed by the trusted key was called forged")
        }
        Err(_) => {}
    }
});
