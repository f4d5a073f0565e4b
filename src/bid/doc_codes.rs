//! docs/seal-format.md lists every error code the sealed-bidding routes answer and every code
//! the opening record can carry, for implementers who do not read the code. This test keeps
//! the list whole: a new `BidError` variant does not compile until it is placed in
//! [`variant`], and then fails until an example of it is in [`every_error`] and its code is
//! in the document.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;

use super::BidError;
use super::fault::PartFailure;
use crate::error::{Coded, Common};
use crate::http::error::status_of;
use crate::lifecycle::tender::TenderState;
use crate::seal::SealError;
use crate::store::StoreError;

const DOC: &str = include_str!("../../docs/seal-format.md");

/// The position of each variant (exhaustive: a new variant must be added here).
fn variant(e: &BidError) -> usize {
    match e {
        BidError::Common(Common::LoginRequired) => 0,
        BidError::Common(Common::Forbidden(_)) => 1,
        BidError::Common(Common::NotFound(_)) => 2,
        BidError::CompanyNotActive => 3,
        BidError::NotAcceptingBids(_) => 4,
        BidError::DeadlinePassed => 5,
        BidError::Envelope(_) => 6,
        BidError::BadLabel => 7,
        BidError::PartTooLarge { .. } => 8,
        BidError::BadBody(_) => 9,
        BidError::BadParts(_) => 10,
        BidError::NoBid => 11,
        BidError::Common(Common::Concurrent) => 12,
        BidError::AlreadyEnrolled => 13,
        BidError::NotEnrolled => 14,
        BidError::WeakPassphrase(_) => 15,
        BidError::CustodiansNotEnrolled(_) => 16,
        BidError::OpeningTooEarly => 17,
        BidError::OpeningAlreadyStarted => 18,
        BidError::WrongState { .. } => 19,
        BidError::NotUnlocking => 20,
        BidError::NotACustodian => 21,
        BidError::AlreadyUnlocked => 22,
        BidError::WrongPassphrase => 23,
        BidError::KeyMismatch => 24,
        BidError::NotOpened => 25,
        BidError::NotInRecord => 26,
        BidError::AlreadyConfirmed => 27,
        BidError::BadText { .. } => 28,
        BidError::AlreadyAnswered => 29,
        BidError::Crypto(_) => 30,
        BidError::Common(Common::Corrupt(_)) => 31,
        BidError::Common(Common::Blob(_)) => 32,
        BidError::Common(Common::Store(_)) => 33,
        BidError::TooManyAttempts { .. } => 34,
        BidError::UnlockInProgress => 35,
        BidError::Common(Common::Text(_)) => 36,
        BidError::WrongShare => 37,
        BidError::InvalidKeyRecord(_) => 38,
        BidError::WrongUnlockMethod(_) => 39,
        BidError::WrongPasskey => 40,
        BidError::Passkey(_) => 41,
        BidError::SharesLost => 42,
        BidError::NotInvited => 43,
    }
}

const VARIANTS: usize = 44;

/// One example of every variant, and every envelope refusal the upload can give.
fn every_error() -> Vec<BidError> {
    let upload_refusals = [
        SealError::NotAnEnvelope,
        SealError::UnsupportedVersion(2),
        SealError::UnsupportedSuite {
            kem: 0,
            kdf: 0,
            aead: 0,
        },
        SealError::Malformed("x"),
        SealError::WrongTender {
            expected: "a".into(),
            found: "b".into(),
        },
        SealError::WrongBidder {
            expected: "a".into(),
            found: "b".into(),
        },
        SealError::Truncated {
            expected: 2,
            actual: 1,
        },
        SealError::TrailingData { expected: 1 },
    ];
    let mut all = vec![
        Common::LoginRequired.into(),
        Common::Forbidden("x").into(),
        Common::NotFound("tender").into(),
        BidError::CompanyNotActive,
        BidError::NotInvited,
        BidError::NotAcceptingBids(TenderState::Cancelled),
        BidError::DeadlinePassed,
        BidError::BadLabel,
        BidError::PartTooLarge { limit: 1 },
        BidError::BadBody("x".into()),
        BidError::BadParts("x".into()),
        BidError::NoBid,
        Common::Concurrent.into(),
        BidError::AlreadyEnrolled,
        BidError::NotEnrolled,
        BidError::WeakPassphrase(10),
        BidError::CustodiansNotEnrolled(vec![]),
        BidError::OpeningTooEarly,
        BidError::OpeningAlreadyStarted,
        BidError::WrongState {
            action: "x",
            state: TenderState::Cancelled,
        },
        BidError::NotUnlocking,
        BidError::NotACustodian,
        BidError::AlreadyUnlocked,
        BidError::WrongPassphrase,
        BidError::WrongShare,
        BidError::InvalidKeyRecord("x".into()),
        BidError::WrongUnlockMethod("x"),
        BidError::WrongPasskey,
        BidError::TooManyAttempts {
            retry_after_secs: 60,
        },
        BidError::UnlockInProgress,
        BidError::KeyMismatch,
        BidError::SharesLost,
        BidError::NotOpened,
        BidError::NotInRecord,
        BidError::AlreadyConfirmed,
        BidError::BadText {
            field: "body",
            min: 1,
            max: 2000,
        },
        BidError::AlreadyAnswered,
        Common::Text(crate::text::ForbiddenChar {
            field: "body".into(),
            found: '\0',
        })
        .into(),
        BidError::Crypto(SealError::Rng),
        Common::Corrupt("x".into()).into(),
        Common::Blob(crate::store::blob::BlobError::BadId).into(),
        Common::Blob(crate::store::blob::BlobError::Remote(
            object_store::Error::NotImplemented {
                operation: "x".into(),
                implementer: "y".into(),
            },
        ))
        .into(),
        Common::Store(StoreError::UnsupportedUrl).into(),
    ];
    all.extend(upload_refusals.into_iter().map(BidError::Envelope));
    // What the passkey enrolment and unlock can answer from the passkey module.
    {
        use crate::identity::passkey::PasskeyError as P;
        all.extend(
            [
                P::NoPasskey,
                P::CeremonyUnknown,
                P::CeremonyExpired,
                P::WrongUser,
                P::UserNotVerified,
                P::Malformed("x".into()),
                P::Rejected("x".into()),
                P::CounterRegression,
                P::ChallengeMismatch,
                P::NeedsHostname("x".into()),
                P::Misconfigured("x".into()),
            ]
            .into_iter()
            .map(BidError::Passkey),
        );
    }
    all
}

fn documented(code: &str) -> bool {
    DOC.contains(&format!("`{code}`"))
}

#[test]
fn every_code_the_routes_answer_is_documented_with_its_status() {
    let errors = every_error();
    let seen: BTreeSet<usize> = errors.iter().map(variant).collect();
    assert_eq!(
        seen,
        (0..VARIANTS).collect(),
        "every BidError variant needs an example in every_error()"
    );
    for e in &errors {
        let code = e.code();
        assert!(
            documented(code),
            "docs/seal-format.md does not list `{code}`"
        );
        // The status is in the same table row as the code.
        let status = status_of(e.kind()).as_u16().to_string();
        let row = DOC
            .lines()
            .find(|l| l.starts_with(&format!("| {status} |")) && l.contains(&format!("`{code}`")));
        assert!(
            row.is_some(),
            "docs/seal-format.md lists `{code}` but not with status {status}"
        );
    }
}

#[test]
fn every_code_of_the_opening_record_is_documented() {
    let io = SealError::Io(std::io::Error::other("x"));
    let opening_only = [
        SealError::KeyUnwrap,
        SealError::ChunkAltered { index: 0 },
        SealError::ChunkOutOfOrder {
            position: 0,
            belongs_at: 1,
        },
        io,
    ];
    let mut codes: Vec<&str> = opening_only
        .iter()
        .map(|e| PartFailure::Envelope(e).code())
        .collect();
    codes.extend(
        [
            PartFailure::EnvelopeUnreadable,
            PartFailure::StoredEnvelopeChanged,
            PartFailure::PlaintextStorage,
            PartFailure::FormTooLarge,
            PartFailure::FormInvalid,
            PartFailure::FormMissing,
        ]
        .iter()
        .map(PartFailure::code),
    );
    codes.push("BASE_PRICE_INVALID");
    for code in codes {
        assert!(
            documented(code),
            "docs/seal-format.md does not list `{code}`"
        );
    }
}
