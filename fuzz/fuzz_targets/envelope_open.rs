//! The opening path: `open_stream` with the tender's verified opening key on envelopes
//! derived from the shared seal vectors by a few edits the input chooses (flip or set a
//! byte, cut, append, delete/duplicate/swap whole chunks). It must open exactly the
//! unedited envelopes, to exactly their plaintext, refuse every edited one, and attribute
//! every refusal to the bidder (src/bid/fault.rs): the stored bytes match the receipt and
//! the key is verified, so any failure is in what the bidder sealed.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use sunbid::bid::fault::{Fault, PartFailure};
use sunbid::seal::envelope::TAG_LEN;
use sunbid::seal::{CHUNK_SIZE, EnvelopeHeader, SealError, open_stream};

/// Byte ranges of the chunks of an unedited envelope.
fn chunk_ranges(env: &[u8]) -> Vec<std::ops::Range<usize>> {
    let (header, mut at) = EnvelopeHeader::parse(env).expect("a vector parses");
    let mut left = header.plaintext_len as usize;
    let mut out = Vec::new();
    for _ in 0..header.chunk_count() {
        let plain = left.min(CHUNK_SIZE as usize);
        left -= plain;
        out.push(at..at + plain + TAG_LEN);
        at += plain + TAG_LEN;
    }
    out
}

/// What was done to the envelope, to check the error's precision where it is certain.
#[derive(Default)]
struct Edits {
    cut: bool,
    appended: bool,
    other: bool,
}

fn u32_at(data: &[u8], at: usize) -> usize {
    let mut b = [0u8; 4];
    for (o, i) in b.iter_mut().zip(data.iter().skip(at)) {
        *o = *i;
    }
    u32::from_be_bytes(b) as usize
}

fuzz_target!(|data: &[u8]| {
    let v = common::vectors();
    let Some((&pick, ops)) = data.split_first() else {
        return;
    };
    let vector = &v.envelopes[usize::from(pick) % v.envelopes.len()];
    let chunks = chunk_ranges(&vector.envelope);
    let mut env = vector.envelope.clone();
    let mut edits = Edits::default();
    // Each edit: one byte of kind, four of argument, one of value; at most four edits.
    for op in ops.chunks(6).take(4) {
        let kind = op[0] % 7;
        let arg = u32_at(op, 1);
        let val = op.get(5).copied().unwrap_or(1);
        match kind {
            0 if !env.is_empty() => {
                let at = arg % env.len();
                env[at] ^= val.max(1);
                edits.other = true;
            }
            1 if !env.is_empty() => {
                let at = arg % env.len();
                env[at] = val;
                edits.other = true;
            }
            2 => {
                env.truncate(arg % (env.len() + 1));
                edits.cut = true;
            }
            3 => {
                let n = usize::from(val % 17) + 1;
                env.extend(std::iter::repeat_n(val, n));
                edits.appended = true;
            }
            // Chunk edits act on the unedited layout, once the envelope has not been cut
            // or extended, so the ranges still hold.
            4..=6 if env.len() == vector.envelope.len() => {
                let a = chunks[arg % chunks.len()].clone();
                let b = chunks[usize::from(val) % chunks.len()].clone();
                let mut out = Vec::with_capacity(env.len() + a.len());
                match kind {
                    // Delete chunk a.
                    4 => {
                        out.extend_from_slice(&env[..a.start]);
                        out.extend_from_slice(&env[a.end..]);
                    }
                    // Duplicate chunk a after itself.
                    5 => {
                        out.extend_from_slice(&env[..a.end]);
                        out.extend_from_slice(&env[a.clone()]);
                        out.extend_from_slice(&env[a.end..]);
                    }
                    // Swap chunks a and b.
                    _ => {
                        let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
                        out.extend_from_slice(&env[..first.start]);
                        out.extend_from_slice(&env[second.clone()]);
                        out.extend_from_slice(&env[first.end..second.start.max(first.end)]);
                        if first != second {
                            out.extend_from_slice(&env[first.clone()]);
                        }
                        out.extend_from_slice(&env[second.end.max(first.end)..]);
                    }
                }
                env = out;
                edits.other = true;
            }
            _ => {}
        }
    }

    let mut plain = Vec::new();
    let result = open_stream(
        &mut &env[..],
        &mut plain,
        &v.key,
        &vector.tender_id,
        &vector.bidder_id,
    );
    if env == vector.envelope {
        let opened = result.expect("an unedited vector opens");
        assert_eq!(plain, vector.plaintext);
        assert_eq!(opened.envelope_len, env.len() as u64);
        return;
    }
    let e = match result {
        Ok(_) => panic!("an edited envelope opened"),
        Err(e) => e,
    };
    assert_eq!(PartFailure::Envelope(&e).fault(), Fault::Bidder, "{e:?}");
    let _ = (e.code(), e.to_string());
    // A pure cut is a truncation (or, cut to nothing, not an envelope); a pure extension is
    // trailing data: the message must tell the bidder so.
    if edits.cut && !edits.appended && !edits.other {
        if env.is_empty() {
            assert!(matches!(e, SealError::NotAnEnvelope), "{e:?}");
        } else {
            assert!(matches!(e, SealError::Truncated { .. }), "cut: {e:?}");
        }
    }
    if edits.appended && !edits.cut && !edits.other {
        assert!(
            matches!(e, SealError::TrailingData { .. }),
            "appended: {e:?}"
        );
    }
});
