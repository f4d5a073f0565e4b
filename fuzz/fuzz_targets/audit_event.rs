//! `sunbid audit verify` reading a server's events (src/audit/verify.rs `check_event`): a
//! served event as JSON, its entry recomputed and checked against the recorded leaf hash.
//! What passes must hash to the leaf hash the server recorded, and be canonical JSON.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sunbid::audit::merkle::leaf_hash;
use sunbid::audit::verify::{ServedEvent, check_event};

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = serde_json::from_slice::<ServedEvent>(data) else {
        return;
    };
    if let Ok(leaf) = check_event(ev.seq, &ev) {
        assert_eq!(hex::encode(leaf), ev.leaf_hash.to_ascii_lowercase());
        if let Some(entry) = &ev.entry {
            assert_eq!(leaf, leaf_hash(entry.as_bytes()));
            assert_eq!(
                hex::encode(leaf),
                ev.leaf_hash,
                "a leaf hash in another spelling"
            );
            let value: serde_json::Value = serde_json::from_str(entry).expect("checked JSON");
            assert_eq!(
                serde_json_canonicalizer::to_string(&value).expect("canonical"),
                *entry
            );
        }
    }
    // Another position is always refused.
    assert!(check_event(ev.seq.wrapping_add(1), &ev).is_err());
});
