//! The supervision feature's errors.

use crate::error::{Coded, Common, Kind};
use crate::lifecycle::MoveError;
use crate::lifecycle::tender::FactsError;

use super::config::ConfigError;

/// What can go wrong in supervision.
#[derive(Debug, thiserror::Error)]
pub enum SupervisionError {
    /// Not found, forbidden, storage (the failures every feature shares).
    #[error(transparent)]
    Common(#[from] Common),
    /// A query parameter or body field is malformed (code, message).
    #[error("{1}")]
    BadRequest(&'static str, String),
    /// A field breaks a rule (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The alert, case or tender is not in a state that allows this (code, message).
    #[error("{1}")]
    Conflict(&'static str, String),
    /// The rules or calendar file is broken.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

crate::common_errors!(SupervisionError);

impl From<MoveError> for SupervisionError {
    fn from(e: MoveError) -> Self {
        match e {
            MoveError::Store(s) => Common::Store(s).into(),
            MoveError::Moved => Common::Concurrent.into(),
            MoveError::NotAllowed { from, to } => SupervisionError::Conflict(
                "TENDER_WRONG_STATE",
                format!("a tender cannot go from {from} to {to} / 当前状态不允许此操作"),
            ),
        }
    }
}

impl From<FactsError> for SupervisionError {
    fn from(e: FactsError) -> Self {
        match e {
            FactsError::NotFound => Common::NotFound("tender").into(),
            FactsError::Corrupt(s) => Common::Corrupt(s).into(),
            FactsError::Store(s) => Common::Store(s).into(),
        }
    }
}

impl Coded for SupervisionError {
    fn kind(&self) -> Kind {
        match self {
            SupervisionError::Common(c) => c.kind(),
            SupervisionError::BadRequest(..) => Kind::BadRequest,
            SupervisionError::Invalid(..) => Kind::Invalid,
            SupervisionError::Conflict(..) => Kind::Conflict,
            SupervisionError::Config(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            SupervisionError::Common(c) => c.code(),
            SupervisionError::BadRequest(code, _)
            | SupervisionError::Invalid(code, _)
            | SupervisionError::Conflict(code, _) => code,
            SupervisionError::Config(_) => "INTERNAL",
        }
    }
}
