//! One error vocabulary for every feature: the failures all features share ([`Common`]),
//! and the [`Coded`] trait each feature's own `thiserror` enum implements to say what kind
//! of failure it is and under which stable code. The HTTP layer maps a [`Kind`] to a status
//! in exactly one place (`http::error`); the domain never names a status.

use crate::store::StoreError;
use crate::store::blob::BlobError;
use crate::text::{self, ForbiddenChar};

/// What kind of failure an error is; decides the HTTP status (`http::error`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Nobody is logged in, or the session is no longer valid (401).
    Unauthenticated,
    /// The caller may not do this (403).
    Forbidden,
    /// No such thing, or nothing the caller may see (404).
    NotFound,
    /// The request is malformed at the protocol level (400).
    BadRequest,
    /// The request is well-formed but its content breaks a rule (422).
    Invalid,
    /// The thing is not in a state that allows this now (409).
    Conflict,
    /// The request body is over a limit (413).
    TooLarge,
    /// Too many attempts; come back later (429, with `Retry-After`).
    TooMany,
    /// A dependency is not available right now (503).
    Unavailable,
    /// A fault of the platform; logged, never described to the client (500).
    Internal,
}

/// A domain error the HTTP layer can answer with: its kind, a stable machine code, and the
/// message of its `Display` ("English / 中文").
pub trait Coded: std::error::Error {
    /// What kind of failure this is.
    fn kind(&self) -> Kind;
    /// The stable code clients branch on (`SCREAMING_SNAKE_CASE`).
    fn code(&self) -> &'static str;
    /// Structured details (for example every violated rule with its article).
    fn details(&self) -> Option<serde_json::Value> {
        None
    }
    /// Seconds to wait before retrying (sent as `Retry-After`).
    fn retry_after(&self) -> Option<u64> {
        None
    }
}

/// The failures every feature shares; a feature's enum wraps it as `Common(#[from] Common)`.
#[derive(Debug, thiserror::Error)]
pub enum Common {
    /// Nobody is logged in.
    #[error("please log in first / 请先登录")]
    LoginRequired,
    /// The role or organisation may not do this (the message says why).
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such thing (or nothing the caller may see: drafts are "not found" for the public).
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// Another request changed the same thing first; reload and retry.
    #[error("changed by another request; reload and retry / 已被其他操作修改，请刷新后重试")]
    Concurrent,
    /// A text holds a control or bidi-override character (`crate::text`).
    #[error(transparent)]
    Text(#[from] ForbiddenChar),
    /// A stored row holds a value no code writes.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// Database failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Blob store failure.
    #[error(transparent)]
    Blob(#[from] BlobError),
}

impl From<sqlx::Error> for Common {
    fn from(e: sqlx::Error) -> Self {
        Common::Store(e.into())
    }
}

impl Coded for Common {
    fn kind(&self) -> Kind {
        match self {
            Common::LoginRequired => Kind::Unauthenticated,
            Common::Forbidden(_) => Kind::Forbidden,
            Common::NotFound(_) => Kind::NotFound,
            Common::Concurrent => Kind::Conflict,
            Common::Text(_) => Kind::Invalid,
            Common::Blob(e) => e.kind(),
            Common::Store(e) => e.kind(),
            Common::Corrupt(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Common::LoginRequired => "LOGIN_REQUIRED",
            Common::Forbidden(_) => "FORBIDDEN",
            Common::NotFound(_) => "NOT_FOUND",
            Common::Concurrent => "CONCURRENT_CHANGE",
            Common::Text(_) => text::CODE,
            Common::Blob(e) => e.code(),
            Common::Store(e) => e.code(),
            Common::Corrupt(_) => "INTERNAL",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Common::Store(e) => e.retry_after(),
            _ => None,
        }
    }
}

impl Coded for StoreError {
    fn kind(&self) -> Kind {
        match self {
            StoreError::Unavailable(_) => Kind::Unavailable,
            _ => Kind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            StoreError::Unavailable(_) => "DATABASE_UNAVAILABLE",
            _ => "INTERNAL",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        matches!(self, StoreError::Unavailable(_)).then_some(5)
    }
}

impl Coded for BlobError {
    fn kind(&self) -> Kind {
        match self {
            // The object store is down or unreachable: nothing was stored, try again.
            BlobError::Remote(_) => Kind::Unavailable,
            _ => Kind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            BlobError::Remote(_) => "STORAGE_UNAVAILABLE",
            _ => "INTERNAL",
        }
    }
}

/// Gives a feature error the conversions every feature needs (`?` on database, blob and
/// text results), all through its `Common(#[from] Common)` variant.
#[macro_export]
macro_rules! common_errors {
    ($t:ty) => {
        impl From<$crate::store::StoreError> for $t {
            fn from(e: $crate::store::StoreError) -> Self {
                $crate::error::Common::from(e).into()
            }
        }
        impl From<sqlx::Error> for $t {
            fn from(e: sqlx::Error) -> Self {
                $crate::error::Common::from(e).into()
            }
        }
        impl From<$crate::store::blob::BlobError> for $t {
            fn from(e: $crate::store::blob::BlobError) -> Self {
                $crate::error::Common::from(e).into()
            }
        }
        impl From<$crate::text::ForbiddenChar> for $t {
            fn from(e: $crate::text::ForbiddenChar) -> Self {
                $crate::error::Common::from(e).into()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_faults_say_nothing_but_internal() {
        let e = Common::Corrupt("tender row 7".into());
        assert_eq!((e.kind(), e.code()), (Kind::Internal, "INTERNAL"));
        let e = Common::NotFound("tender");
        assert_eq!((e.kind(), e.code()), (Kind::NotFound, "NOT_FOUND"));
    }
}
