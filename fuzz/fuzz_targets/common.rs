//! What several targets share: the seal test vectors (tests/vectors/seal-v1.json) and the
//! tender opening key they were sealed to, loaded once per process.
#![allow(dead_code)]

use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sunbid::seal::{PrivateKey, derive_keypair};

/// One envelope of the shared vectors and what it must open to.
pub struct Vector {
    /// The tender id sealed into it.
    pub tender_id: String,
    /// The bidder id sealed into it.
    pub bidder_id: String,
    /// The whole envelope.
    pub envelope: Vec<u8>,
    /// Its plaintext.
    pub plaintext: Vec<u8>,
}

/// The vectors' opening key and envelopes.
pub struct Vectors {
    /// The tender's opening private key, derived from the vectors' seed.
    pub key: PrivateKey,
    /// Every envelope, in file order.
    pub envelopes: Vec<Vector>,
}

/// The shared seal vectors, parsed once. Malformed vectors are a bug in the repository,
/// not a finding, so this panics loudly at start-up.
pub fn vectors() -> &'static Vectors {
    static V: OnceLock<Vectors> = OnceLock::new();
    V.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/seal-v1.json"))
                .expect("tests/vectors/seal-v1.json is JSON");
        let seed: [u8; 32] = hex::decode(doc["opening_seed"].as_str().expect("opening_seed"))
            .expect("seed hex")
            .try_into()
            .expect("32-byte seed");
        let (key, _) = derive_keypair(&seed);
        let text = |v: &serde_json::Value, k: &str| v[k].as_str().expect(k).to_owned();
        let b64 = |v: &serde_json::Value, k: &str| STANDARD.decode(text(v, k)).expect(k);
        let envelopes = doc["vectors"]
            .as_array()
            .expect("vectors")
            .iter()
            .map(|v| Vector {
                tender_id: text(v, "tender_id"),
                bidder_id: text(v, "bidder_id"),
                envelope: b64(v, "envelope_b64"),
                plaintext: b64(v, "plaintext_b64"),
            })
            .collect();
        Vectors { key, envelopes }
    })
}
