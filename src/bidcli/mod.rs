//! The bidder's side of sealed bidding on the command line: `sunbid bid submit` and
//! `sunbid receipt verify` (DESIGN.md "Sealed bids", steps 3 and 4).
//!
//! - [`form`]: the bid form (`bid.json`) checked locally, before anything is sealed or
//!   uploaded, so a bidder never learns at the opening that their price was a string.
//! - [`receipt`]: the platform's signed receipt and its offline verification (Ed25519 over
//!   the JCS canonical JSON of the receipt, checked against a pinned or published verifier
//!   key). Pure functions, no I/O.
//! - [`submit`]: the HTTP client: log in, fetch the tender's opening key, seal every part
//!   locally into a temporary file in constant memory, stream each upload, submit, and check
//!   the receipt against what was actually sent.
//!
//! Nothing here trusts the server more than it must: the envelope digests in the receipt are
//! compared with the SHA-256 computed while sealing, and the receipt signature is checked
//! before the receipt is written.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod form;
pub mod receipt;
pub mod submit;

pub use form::{BidForm, FormError, validate_form};
pub use receipt::{
    Receipt, ReceiptError, ReceiptPart, SignedReceipt, verify_receipt, verify_receipt_any,
};
pub use submit::{Credentials, SubmitOptions, SubmitOutcome, submit_bid, verify_receipt_file};

/// Everything `sunbid bid submit` and `sunbid receipt verify` can fail with. The message is
/// what the bidder reads; a server error is shown as the server's own message.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The bid form is not acceptable; nothing was uploaded.
    #[error(transparent)]
    Form(#[from] FormError),
    /// The server refused a request with a `{"code","message"}` body.
    #[error("{message} ({code}, HTTP {status})")]
    Server {
        /// HTTP status.
        status: u16,
        /// The server's stable error code.
        code: String,
        /// The server's message.
        message: String,
    },
    /// The server could not be reached or the transfer broke off.
    #[error("cannot reach the server: {0}")]
    Http(String),
    /// The server answered, but not what the protocol says.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
    /// Sealing a part failed.
    #[error("sealing {name}: {source}")]
    Seal {
        /// The part's file name.
        name: String,
        /// Why.
        source: crate::seal::SealError,
    },
    /// The receipt does not verify or does not match what was sent.
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// A local file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// Which file and what was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command-line argument that cannot be used.
    #[error("{0}")]
    Usage(String),
}

impl ClientError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ClientError {
        let what = what.into();
        move |source| ClientError::Io { what, source }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display stops at the outermost layer ("error sending request"); the
        // cause (connection refused, reset, …) is what a user can act on.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        ClientError::Http(text)
    }
}
