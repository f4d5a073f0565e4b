//! The upload path: what the server checks of a sealed envelope without any key
//! (`EnvelopeHeader::parse` on the first `MAX_HEADER_LEN` bytes, `check_binding`,
//! `envelope_len`, `check_total_len`; src/bid/service.rs `receive_envelope`), and the
//! streaming header reader the opening uses (`open_stream`), which must agree with it.
#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use sunbid::bid::fault::{Fault, PartFailure};
use sunbid::seal::{EnvelopeHeader, MAX_HEADER_LEN, SealError, open_stream};

fuzz_target!(|data: &[u8]| {
    let key = &common::vectors().key;
    // As the upload handler: it parses at most the first MAX_HEADER_LEN bytes.
    let head = data
        .get(..data.len().min(MAX_HEADER_LEN))
        .unwrap_or_default();
    let parsed = EnvelopeHeader::parse(head);
    // A header never reaches past MAX_HEADER_LEN, so the whole input parses the same way.
    match (&parsed, EnvelopeHeader::parse(data)) {
        (Ok(a), Ok(b)) => assert_eq!(*a, b),
        (Err(a), Err(b)) => assert_eq!(a.code(), b.code()),
        (a, b) => panic!("the head and the whole input disagree: {a:?} vs {b:?}"),
    }
    let mut sink = Vec::new();
    match parsed {
        Ok((header, len)) => {
            assert!(len <= MAX_HEADER_LEN);
            assert_eq!(len, header.header_len());
            assert_eq!(Some(header.as_bytes()), data.get(..len));
            // Exactly the header parses; one byte less is truncated, not anything else.
            let exact = data.get(..len).expect("len within data");
            assert_eq!(
                EnvelopeHeader::parse(exact).expect("exact header").0,
                header
            );
            let short = data.get(..len - 1).expect("len > 0");
            assert!(
                matches!(
                    EnvelopeHeader::parse(short),
                    Err(SealError::Truncated { .. })
                ),
                "a header cut by one byte must be truncated"
            );
            header
                .check_binding(&header.tender_id.clone(), &header.bidder_id.clone())
                .expect("a header is bound to the ids it names");
            assert!(header.check_binding("", &header.bidder_id.clone()).is_err());
            assert!(header.chunk_count() >= 1);
            let total = header.envelope_len().expect("parse checked the length");
            assert!(total >= len as u64 + 16);
            let have = data.len() as u64;
            match header.check_total_len(have) {
                Ok(()) => assert_eq!(have, total),
                Err(SealError::Truncated { .. }) => assert!(have < total),
                Err(SealError::TrailingData { .. }) => assert!(have > total),
                Err(e) => panic!("check_total_len: unexpected {e:?}"),
            }
            let _ = header.digest();
            // The opening's streaming reader gets past the same header: whatever stops it
            // then is the key, a chunk or the length, never the header's structure.
            let opened = open_stream(
                &mut &data[..],
                &mut sink,
                key,
                &header.tender_id,
                &header.bidder_id,
            );
            if let Err(e) = opened {
                assert!(
                    !matches!(
                        e,
                        SealError::NotAnEnvelope
                            | SealError::UnsupportedVersion(_)
                            | SealError::UnsupportedSuite { .. }
                            | SealError::Malformed(_)
                            | SealError::WrongTender { .. }
                            | SealError::WrongBidder { .. }
                    ),
                    "parse accepted the header but open_stream refused it: {e:?}"
                );
                assert_eq!(PartFailure::Envelope(&e).fault(), Fault::Bidder, "{e:?}");
            }
        }
        Err(e) => {
            assert_eq!(PartFailure::Envelope(&e).fault(), Fault::Bidder, "{e:?}");
            // The streaming reader refuses it for the same reason.
            let streamed = open_stream(&mut &data[..], &mut sink, key, "T", "B")
                .expect_err("open_stream accepted a header that parse refused");
            assert_eq!(
                streamed.code(),
                e.code(),
                "parse: {e:?}, streamed: {streamed:?}"
            );
            let _ = e.to_string();
        }
    }
});
