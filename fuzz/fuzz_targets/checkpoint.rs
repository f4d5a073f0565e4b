//! The audit log's signed checkpoints (src/audit/checkpoint.rs), as `sunbid audit verify`
//! and any regulator read them from a server: C2SP signed notes, tlog-checkpoint bodies and
//! verifier keys. The first byte picks what the rest is:
//!
//! - 0: a note, opened with the documented test key (docs/audit-format.md §5);
//! - 1: a verifier key;
//! - 2: a verifier key line, then the note;
//! - 3: a checkpoint body, which is also signed and opened again (the fuzzer cannot forge
//!   a signature, so this is how arbitrary bodies reach the parser behind it).
//!
//! Beyond "no panic": what parses is canonical (formatting it again gives the same bytes),
//! and what is signed opens to the same checkpoint.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ring::signature::{Ed25519KeyPair, KeyPair as _};
use sunbid::audit::checkpoint::{
    Checkpoint, MAX_NOTE_LEN, VerifierKey, open_note, parse_verifier_key, verifier_key,
};

/// The documented test key: seed 32×0x07, key name = the origin.
const NAME: &str = "localhost:8080/sunbid-audit";

fn test_key() -> &'static (Ed25519KeyPair, String, VerifierKey) {
    static K: OnceLock<(Ed25519KeyPair, String, VerifierKey)> = OnceLock::new();
    K.get_or_init(|| {
        let pair = Ed25519KeyPair::from_seed_unchecked(&[7u8; 32]).expect("seed");
        let public: [u8; 32] = pair.public_key().as_ref().try_into().expect("32 bytes");
        let vkey = verifier_key(NAME, &public);
        let parsed = parse_verifier_key(&vkey).expect("own vkey parses");
        (pair, vkey, parsed)
    })
}

/// Whatever opened must be a canonical body of exactly what was signed.
fn check_opened(note: &str, key: &VerifierKey, cp: &Checkpoint) {
    let text = open_note(note, key).expect("Checkpoint::open succeeded, so the note opens");
    assert_eq!(text, cp.body(), "the signed body is not canonical");
    assert_eq!(Checkpoint::parse_body(&cp.body()).as_ref(), Ok(cp));
}

/// A key that parses is the canonical one, except that the key id's hex digits may be in
/// either case (as Go's golang.org/x/mod/sumdb/note reads them).
fn check_vkey(vkey: &str) -> Option<VerifierKey> {
    let key = parse_verifier_key(vkey).ok()?;
    let (name, rest) = vkey.split_once('+').expect("parsed");
    let (id, b64) = rest.split_once('+').expect("parsed");
    let spelled = format!("{name}+{}+{b64}", id.to_ascii_lowercase());
    assert_eq!(
        verifier_key(&key.name, &key.public_key),
        spelled,
        "vkey not canonical"
    );
    Some(key)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (pair, vkey, key) = test_key();
    match mode % 4 {
        0 => {
            if let Ok(cp) = Checkpoint::open(text, vkey) {
                check_opened(text, key, &cp);
            }
            let _ = open_note(text, key);
        }
        1 => {
            check_vkey(text);
        }
        2 => {
            let (line, note) = text.split_once('\n').unwrap_or((text, ""));
            if let Some(k) = check_vkey(line) {
                let _ = open_note(note, &k);
            }
            if let Ok(cp) = Checkpoint::open(note, line) {
                let k = parse_verifier_key(line).expect("opened with it");
                check_opened(note, &k, &cp);
            }
        }
        _ => {
            if let Ok(cp) = Checkpoint::parse_body(text) {
                assert_eq!(cp.body(), text, "a parsed body is not canonical");
                let note = cp.sign(NAME, pair);
                // Notes over the limit are refused whatever they hold.
                if note.len() <= MAX_NOTE_LEN {
                    assert_eq!(Checkpoint::open(&note, vkey).as_ref(), Ok(&cp));
                }
            }
        }
    }
});
