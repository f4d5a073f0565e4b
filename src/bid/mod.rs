//! Sealed bidding on the server side (issue 3, DESIGN.md "Sealed bids",
//! docs/sealed-bidding.md): custodian enrolment and the opening key issued at publication
//! ([`custodian`]), streaming upload of sealed parts, submission with a signed receipt,
//! replacement and withdrawal ([`service`], [`receipt`]), and the opening ceremony with its
//! record, confirmations and objections ([`opening`]).
//!
//! The platform never holds what opens a bid before the opening: the database stores the
//! tender's opening *public* key, each Shamir share of the opening seed sealed to one
//! custodian's key, and custodian keys locked under passphrases it never keeps; the blob
//! store holds ciphertext. After the deadline k custodians unlock their shares into server
//! memory, the key is rebuilt, every part is opened and checked against its receipt, and
//! the key is wiped.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod custodian;
mod error;
pub mod fault;
pub mod model;
pub mod opening;
pub mod pages;
pub mod receipt;
pub mod routes;
pub mod service;
pub mod unlock_limit;

#[cfg(test)]
mod doc_codes;
#[cfg(test)]
mod tests;

pub use error::BidError;

/// Checks a multi-line free-text field's length in characters (after trimming) and its
/// characters (`crate::text`).
pub(crate) fn check_text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<String, BidError> {
    let v = value.trim();
    let n = v.chars().count();
    if n < min || n > max {
        return Err(BidError::BadText { field, min, max });
    }
    crate::text::check(field, v, crate::text::Lines::Multi)?;
    Ok(v.to_string())
}
