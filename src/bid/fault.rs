//! Who is at fault when a part of a bid cannot be opened: the rule that decides between a
//! revoked bid (撤销, the bidder's fault) and a bid withdrawn by the platform (撤回, the
//! platform's fault). The two have different legal consequences (电子招标投标办法: a bid the
//! bidder's own fault makes undecryptable is revoked; one the platform fails to decrypt is
//! treated as withdrawn, and the platform answers for it), so the decision lives here, in one
//! pure function, and not in the decryption code.
//!
//! The rule: the opening first checks that the stored bytes hash to the digest in the
//! bidder's signed receipt, and it only runs with a key that the custodians' shares rebuilt
//! and that derives the tender's published public key ([`crate::seal::rebuild_and_check`]).
//! Once both hold, the bytes being opened are exactly those the bidder sent, and the key is
//! exactly the one the bidder was told to seal to; whatever then fails to open — the key
//! unwrap, a chunk's authentication, a malformed header, a bid form that does not parse —
//! is in the bidder's bytes. Only a stored envelope that is missing or no longer matches its
//! receipt, or a failure of the platform's own key or machinery (I/O, randomness), is the
//! platform's.

use crate::seal::SealError;

/// Who a failure at the opening is attributed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The bidder's bytes: the bid is revoked (撤销).
    Bidder,
    /// The platform: the bid is withdrawn by the platform (撤回).
    Platform,
}

impl Fault {
    /// The value of `fault` in the opening record.
    pub fn as_str(self) -> &'static str {
        match self {
            Fault::Bidder => "bidder",
            Fault::Platform => "platform",
        }
    }
}

/// Why a part (or, for the bid form, a bid) could not be opened.
#[derive(Debug)]
pub enum PartFailure<'a> {
    /// The stored envelope is missing or cannot be read.
    EnvelopeUnreadable,
    /// The stored envelope's SHA-256 differs from the digest in the receipt.
    StoredEnvelopeChanged,
    /// The platform could not write the plaintext (disk full, I/O).
    PlaintextStorage,
    /// Decryption refused the envelope (read from storage and matching its receipt).
    Envelope(&'a SealError),
    /// The bid form's plaintext is larger than the bid form limit.
    FormTooLarge,
    /// The bid form's plaintext is not a valid bid form.
    FormInvalid,
    /// No part of the bid is labelled `form`.
    FormMissing,
}

impl PartFailure<'_> {
    /// The stable code recorded in the opening record.
    pub fn code(&self) -> &'static str {
        match self {
            PartFailure::EnvelopeUnreadable | PartFailure::PlaintextStorage => "PLATFORM_STORAGE",
            PartFailure::StoredEnvelopeChanged => "PLATFORM_STORED_ENVELOPE_CHANGED",
            PartFailure::Envelope(e) => e.code(),
            PartFailure::FormTooLarge => "BID_FORM_TOO_LARGE",
            PartFailure::FormInvalid => "BID_FORM_INVALID",
            PartFailure::FormMissing => "BID_FORM_MISSING",
        }
    }

    /// Who is at fault (see the module comment). A stored envelope that changed wins over
    /// anything its decryption said: the opening checks the digest before it judges the rest.
    pub fn fault(&self) -> Fault {
        match self {
            PartFailure::EnvelopeUnreadable
            | PartFailure::StoredEnvelopeChanged
            | PartFailure::PlaintextStorage => Fault::Platform,
            PartFailure::FormTooLarge | PartFailure::FormInvalid | PartFailure::FormMissing => {
                Fault::Bidder
            }
            PartFailure::Envelope(e) => envelope_fault(e),
        }
    }
}

/// The fault of a decryption error on bytes that match their receipt, opened with the
/// verified opening key. Every variant is listed, so a new one needs a decision here.
fn envelope_fault(e: &SealError) -> Fault {
    match e {
        // What the bidder sealed: the header, the key wrap (bound by HPKE `info` to a tender
        // and a bidder, so an envelope sealed for another bidder behind a correct header
        // fails here), the chunks, the length.
        SealError::NotAnEnvelope
        | SealError::UnsupportedVersion(_)
        | SealError::UnsupportedSuite { .. }
        | SealError::Malformed(_)
        | SealError::WrongTender { .. }
        | SealError::WrongBidder { .. }
        | SealError::Truncated { .. }
        | SealError::TrailingData { .. }
        | SealError::KeyUnwrap
        | SealError::ChunkAltered { .. }
        | SealError::ChunkOutOfOrder { .. }
        | SealError::LengthMismatch { .. }
        | SealError::InvalidId(_) => Fault::Bidder,
        // The platform's own keys (the opening key, custodian keys and shares) and machinery.
        SealError::InvalidPublicKey
        | SealError::InvalidThreshold { .. }
        | SealError::InvalidShares(_)
        | SealError::SharesDoNotMatch
        | SealError::WrongPassphrase
        | SealError::WeakPassphrase(_)
        | SealError::BadKeyMaterial(_)
        | SealError::ShareUnwrap
        | SealError::Rng
        | SealError::Io(_) => Fault::Platform,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(e: SealError) -> Fault {
        PartFailure::Envelope(&e).fault()
    }

    #[test]
    fn storage_failures_are_the_platforms() {
        for f in [
            PartFailure::EnvelopeUnreadable,
            PartFailure::StoredEnvelopeChanged,
            PartFailure::PlaintextStorage,
        ] {
            assert_eq!(f.fault(), Fault::Platform, "{f:?}");
            assert!(f.code().starts_with("PLATFORM_"), "{f:?}");
        }
    }

    #[test]
    fn a_bid_form_that_does_not_serve_is_the_bidders() {
        for (f, code) in [
            (PartFailure::FormTooLarge, "BID_FORM_TOO_LARGE"),
            (PartFailure::FormInvalid, "BID_FORM_INVALID"),
            (PartFailure::FormMissing, "BID_FORM_MISSING"),
        ] {
            assert_eq!(f.fault(), Fault::Bidder, "{f:?}");
            assert_eq!(f.code(), code);
        }
    }

    /// The defect of issue 11 item 2: a key wrap bound to another bidder (or any other
    /// unwrap failure) under the verified key was recorded as the platform's fault.
    #[test]
    fn a_key_unwrap_failure_is_the_bidders() {
        assert_eq!(envelope(SealError::KeyUnwrap), Fault::Bidder);
        assert_eq!(
            PartFailure::Envelope(&SealError::KeyUnwrap).code(),
            "SEAL_KEY_UNWRAP"
        );
    }

    #[test]
    fn every_flaw_in_the_sealed_bytes_is_the_bidders() {
        for e in [
            SealError::NotAnEnvelope,
            SealError::UnsupportedVersion(2),
            SealError::UnsupportedSuite {
                kem: 0x20,
                kdf: 1,
                aead: 1,
            },
            SealError::Malformed("chunk size"),
            SealError::WrongTender {
                expected: "t".into(),
                found: "u".into(),
            },
            SealError::WrongBidder {
                expected: "a".into(),
                found: "b".into(),
            },
            SealError::Truncated {
                expected: 10,
                actual: 9,
            },
            SealError::TrailingData { expected: 10 },
            SealError::KeyUnwrap,
            SealError::ChunkAltered { index: 3 },
            SealError::ChunkOutOfOrder {
                position: 1,
                belongs_at: 2,
            },
            SealError::LengthMismatch {
                declared: 1,
                actual: 2,
            },
            SealError::InvalidId("label"),
        ] {
            assert_eq!(envelope(e), Fault::Bidder);
        }
    }

    #[test]
    fn the_platforms_keys_and_machinery_are_the_platforms() {
        for e in [
            SealError::InvalidPublicKey,
            SealError::InvalidThreshold { k: 1, n: 3 },
            SealError::InvalidShares("too few"),
            SealError::SharesDoNotMatch,
            SealError::WrongPassphrase,
            SealError::WeakPassphrase(12),
            SealError::BadKeyMaterial("scalar"),
            SealError::ShareUnwrap,
            SealError::Rng,
            SealError::Io(std::io::Error::other("disk")),
        ] {
            assert_eq!(envelope(e), Fault::Platform);
        }
    }

    #[test]
    fn faults_have_their_record_names() {
        assert_eq!(Fault::Bidder.as_str(), "bidder");
        assert_eq!(Fault::Platform.as_str(), "platform");
    }
}
