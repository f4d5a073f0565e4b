//! The auction feature's errors, mapped to HTTP in the one place (`http::error`).

use crate::error::{Coded, Common, Kind};
use crate::identity::caller::WrongRole;
use crate::lifecycle::MoveError;
use crate::lifecycle::auction::FactsError;

use super::rulebook::PeriodViolation;

/// Why an auction request was refused.
#[derive(Debug, thiserror::Error)]
pub enum AuctionError {
    /// Not found, forbidden, storage (the failures every feature shares).
    #[error(transparent)]
    Common(#[from] Common),
    /// The caller's role may not do this.
    #[error(transparent)]
    Role(#[from] WrongRole),
    /// A field is malformed (code, message).
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// A well-formed request breaks a rule (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The periods break the rulebook; every broken rule with its article.
    #[error("the periods break the rulebook: {} / 公告期或挂牌期不符合规定", .0.iter().map(|v| v.message.as_str()).collect::<Vec<_>>().join("; "))]
    Periods(Vec<PeriodViolation>),
    /// The trade or application is not in a state that allows this (code, message).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The sealing scheme refused (custodians not enrolled, a wrong passphrase, a key that
    /// does not rebuild): the reserve shares the tenders' scheme and its errors.
    #[error(transparent)]
    Seal(#[from] crate::bid::BidError),
    /// A passkey ceremony failed (the winner's signature).
    #[error(transparent)]
    Passkey(#[from] crate::identity::passkey::PasskeyError),
}

crate::common_errors!(AuctionError);

impl From<MoveError> for AuctionError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Store(s) => Common::Store(s).into(),
            MoveError::Moved => Common::Concurrent.into(),
            MoveError::NotAllowed { from, to } => AuctionError::Conflict(
                "AUCTION_WRONG_STATE",
                format!("a trade cannot go from {from} to {to} / 当前状态不允许此操作"),
            ),
        }
    }
}

impl From<FactsError> for AuctionError {
    fn from(e: FactsError) -> Self {
        match e {
            FactsError::NotFound => Common::NotFound("trade").into(),
            FactsError::Corrupt(s) => Common::Corrupt(s).into(),
            FactsError::Store(s) => Common::Store(s).into(),
        }
    }
}

impl Coded for AuctionError {
    fn kind(&self) -> Kind {
        match self {
            AuctionError::Common(c) => c.kind(),
            AuctionError::Role(r) => r.kind(),
            AuctionError::BadRequest(..) => Kind::BadRequest,
            AuctionError::Invalid(..) | AuctionError::Periods(_) => Kind::Invalid,
            AuctionError::Conflict(..) => Kind::Conflict,
            AuctionError::Seal(e) => e.kind(),
            AuctionError::Passkey(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            AuctionError::Common(c) => c.code(),
            AuctionError::Role(r) => r.code(),
            AuctionError::Periods(_) => "AUCTION_PERIOD_TOO_SHORT",
            AuctionError::Seal(e) => e.code(),
            AuctionError::Passkey(e) => e.code(),
            AuctionError::BadRequest(code, _)
            | AuctionError::Invalid(code, _)
            | AuctionError::Conflict(code, _) => code,
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            AuctionError::Periods(v) => serde_json::to_value(v).ok(),
            AuctionError::Seal(e) => e.details(),
            AuctionError::Passkey(e) => e.details(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            AuctionError::Common(c) => c.retry_after(),
            AuctionError::Seal(e) => e.retry_after(),
            AuctionError::Passkey(e) => e.retry_after(),
            _ => None,
        }
    }
}
