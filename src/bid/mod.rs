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

use axum::http::StatusCode;

use crate::http::ApiError;
use crate::seal::SealError;
use crate::store::StoreError;
use crate::store::blob::BlobError;

/// Sealed-bidding failures, each with a stable code (mapped once, in `From<BidError> for
/// ApiError`).
#[derive(Debug, thiserror::Error)]
pub enum BidError {
    /// Nobody is logged in.
    #[error("please log in first / 请先登录")]
    LoginRequired,
    /// The role or organisation may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// No such tender, part, bid, objection … (drafts are "not found").
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// The bidder's company (or user) is not approved.
    #[error("your company is not approved (yet) / 您的单位尚未通过审核")]
    CompanyNotActive,
    /// The tender does not accept bids in its state (cancelled, not yet published …).
    #[error("this tender does not accept bids in state {0} / 该项目当前状态（{0}）不接受投标")]
    NotAcceptingBids(String),
    /// The bid deadline has passed: nothing was recorded.
    #[error(
        "the bid deadline has passed; the submission was NOT recorded / 投标截止时间已过，本次提交未被接收"
    )]
    DeadlinePassed,
    /// The envelope is refused (not an envelope, wrong tender/bidder, truncated …).
    #[error("the file was NOT accepted: {0} / 文件未被接收：不是本项目、本单位的有效密封投标文件")]
    Envelope(SealError),
    /// The `label` query parameter.
    #[error("label must be \"form\" or \"attachment\" / 文件类型须为 form 或 attachment")]
    BadLabel,
    /// A part is larger than the configured cap.
    #[error(
        "the file was NOT accepted: it is larger than the limit of {limit} bytes ({} MiB) / 文件超过大小上限，未被接收", .limit / (1024 * 1024)
    )]
    PartTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// The upload stream broke.
    #[error(
        "the upload could not be read ({0}); the file was NOT accepted / 上传中断，文件未被接收"
    )]
    BadBody(String),
    /// The list of parts of a submission is wrong.
    #[error("{0}")]
    BadParts(String),
    /// The caller's company has no current bid.
    #[error("your company has no current bid in this tender / 贵单位在本项目没有有效投标")]
    NoBid,
    /// Another request changed the same rows first.
    #[error("changed by another request; reload and retry / 已被其他操作修改，请刷新后重试")]
    Conflict,
    /// The custodian has a key already.
    #[error("you have already enrolled a custodian key / 您已登记开标密钥")]
    AlreadyEnrolled,
    /// The custodian has no key.
    #[error("no custodian key enrolled for this user / 该用户尚未登记开标密钥")]
    NotEnrolled,
    /// A new passphrase that is too short or too easy to guess (see
    /// [`custodian::check_passphrase`]).
    #[error(
        "the passphrase is too weak: it needs at least {0} characters and must not be a common word, name, date or pattern (four unrelated words work well); better still, hold the key with a passkey / 口令强度不足：至少{0}个字符，且不能是常见词、姓名、日期或规律组合（可用四个互不相关的词）；建议改用通行密钥保管"
    )]
    WeakPassphrase(usize),
    /// A custodian key record sent at a passkey enrolment that is not well formed.
    #[error("the custodian key is not well formed: {0} / 开标密钥格式错误：{0}")]
    InvalidKeyRecord(String),
    /// The unlock does not match how the custodian's key is held.
    #[error("{0}")]
    WrongUnlockMethod(&'static str),
    /// The passkey used is not the one that holds the custodian's key.
    #[error(
        "this passkey is not the one that holds your custodian key; use the passkey you enrolled it with / 该通行密钥不是保管您开标密钥的那一个，请使用登记时的通行密钥"
    )]
    WrongPasskey,
    /// A passkey ceremony failed (the passkey module's code and status).
    #[error(transparent)]
    Passkey(#[from] crate::identity::passkey::PasskeyError),
    /// Publication needs every custodian's key.
    #[error(
        "every custodian must enrol a key before publication; not enrolled: {} / 以下开标密钥保管人尚未登记密钥：{}", .0.join(", "), .0.join("、")
    )]
    CustodiansNotEnrolled(Vec<String>),
    /// The opening comes only after the bid deadline (法 第34条).
    #[error(
        "the opening cannot start before the bid deadline / 投标截止时间前不能开标（招标投标法 第34条）"
    )]
    OpeningTooEarly,
    /// An opening exists already.
    #[error("this tender's opening has already started or taken place / 本项目已开标或开标已开始")]
    OpeningAlreadyStarted,
    /// The tender is in a state without an opening.
    #[error("cannot {action} in tender state {state} / 当前项目状态（{state}）下不能执行该操作")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The tender's state.
        state: String,
    },
    /// Unlock outside the unlocking phase.
    #[error("the opening is not waiting for key shares / 开标未处于解密阶段")]
    NotUnlocking,
    /// The caller holds no share of this tender.
    #[error("you are not a key custodian of this tender / 您不是本项目的开标密钥保管人")]
    NotACustodian,
    /// A second unlock by the same custodian.
    #[error("you have already unlocked your share / 您已解锁过您的密钥份额")]
    AlreadyUnlocked,
    /// Wrong custodian passphrase: counted and audited (see [`unlock_limit`]).
    #[error(
        "wrong passphrase; the attempt is recorded, and after 5 wrong passphrases in a row each further attempt must wait (1, 2, 4 … minutes) / 口令错误，已记录；连续5次错误后，每次再试须等待（1、2、4……分钟）"
    )]
    WrongPassphrase,
    /// The share a custodian's browser opened is not the one issued to them: counted and
    /// audited like a wrong passphrase.
    #[error(
        "this is not the key share issued to you for this tender; the attempt is recorded, and after 5 failures in a row each further attempt must wait (1, 2, 4 … minutes) / 该密钥份额不是本项目发给您的份额，已记录；连续5次失败后，每次再试须等待（1、2、4……分钟）"
    )]
    WrongShare,
    /// Too many wrong passphrases in a row: no attempt before the delay is over.
    #[error(
        "too many wrong passphrases for this opening; try again in {retry_after_secs} seconds / 口令错误次数过多，请{retry_after_secs}秒后再试"
    )]
    TooManyAttempts {
        /// Whole seconds until the next attempt is taken.
        retry_after_secs: u64,
    },
    /// Another unlock attempt of the same custodian is being checked.
    #[error(
        "another unlock attempt of yours is being checked; wait for its answer / 您的另一次解锁尝试正在校验，请等待结果"
    )]
    UnlockInProgress,
    /// The unlocked shares do not rebuild the published key.
    #[error(
        "the unlocked shares do not rebuild this tender's published opening key; the custodians must unlock again / 密钥份额无法恢复开标密钥，请保管人重新解锁"
    )]
    KeyMismatch,
    /// The opening record is not published (yet).
    #[error("the opening record has not been published / 开标记录尚未公布")]
    NotOpened,
    /// The bidder's company is not in the opening record.
    #[error("your company has no bid in this opening record / 贵单位不在本次开标记录中")]
    NotInRecord,
    /// A second confirmation.
    #[error("your company has already confirmed the opening record / 贵单位已确认开标记录")]
    AlreadyConfirmed,
    /// A text field is empty or too long.
    #[error("{field} must be {min}–{max} characters / {field} 长度须为{min}–{max}个字符")]
    BadText {
        /// Field name.
        field: &'static str,
        /// Minimum length in characters.
        min: usize,
        /// Maximum length in characters.
        max: usize,
    },
    /// The objection was answered already.
    #[error("this objection has already been answered / 该异议已答复")]
    AlreadyAnswered,
    /// A text holds a control or bidi-override character (`crate::text`).
    #[error(transparent)]
    Text(#[from] crate::text::ForbiddenChar),
    /// Key material or a platform-side cryptographic failure.
    #[error("cryptographic failure: {0}")]
    Crypto(SealError),
    /// A stored row holds a value no code writes.
    #[error("corrupt bid data: {0}")]
    Corrupt(String),
    /// Blob store failure.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BidError {
    fn from(e: sqlx::Error) -> Self {
        BidError::Store(e.into())
    }
}

impl BidError {
    /// The stable code of the error body.
    pub fn code(&self) -> &'static str {
        match self {
            BidError::LoginRequired => "LOGIN_REQUIRED",
            BidError::Forbidden(_) => "FORBIDDEN",
            BidError::NotFound(_) => "NOT_FOUND",
            BidError::CompanyNotActive => "COMPANY_NOT_ACTIVE",
            BidError::NotAcceptingBids(_) => "TENDER_NOT_ACCEPTING_BIDS",
            BidError::DeadlinePassed => "BID_DEADLINE_PASSED",
            BidError::Envelope(e) => e.code(),
            BidError::BadLabel => "BAD_PART_LABEL",
            BidError::PartTooLarge { .. } => "BID_PART_TOO_LARGE",
            BidError::BadBody(_) => "BAD_BODY",
            BidError::BadParts(_) => "BAD_BID_PARTS",
            BidError::NoBid => "NO_BID",
            BidError::Conflict => "CONCURRENT_CHANGE",
            BidError::AlreadyEnrolled => "CUSTODIAN_ALREADY_ENROLLED",
            BidError::NotEnrolled => "CUSTODIAN_NOT_ENROLLED",
            BidError::WeakPassphrase(_) => "WEAK_PASSPHRASE",
            BidError::CustodiansNotEnrolled(_) => "CUSTODIANS_NOT_ENROLLED",
            BidError::OpeningTooEarly => "OPENING_TOO_EARLY",
            BidError::OpeningAlreadyStarted => "OPENING_ALREADY_STARTED",
            BidError::WrongState { .. } => "INVALID_STATE",
            BidError::NotUnlocking => "OPENING_NOT_UNLOCKING",
            BidError::NotACustodian => "NOT_A_CUSTODIAN",
            BidError::AlreadyUnlocked => "ALREADY_UNLOCKED",
            BidError::WrongPassphrase => "WRONG_PASSPHRASE",
            BidError::WrongShare => "WRONG_SHARE",
            BidError::InvalidKeyRecord(_) => "INVALID_CUSTODIAN_KEY",
            BidError::WrongUnlockMethod(_) => "WRONG_UNLOCK_METHOD",
            BidError::WrongPasskey => "CUSTODIAN_PASSKEY_MISMATCH",
            BidError::Passkey(e) => e.code(),
            BidError::TooManyAttempts { .. } => "TOO_MANY_UNLOCK_ATTEMPTS",
            BidError::UnlockInProgress => "UNLOCK_IN_PROGRESS",
            BidError::KeyMismatch => "OPENING_KEY_MISMATCH",
            BidError::NotOpened => "OPENING_NOT_PUBLISHED",
            BidError::NotInRecord => "NOT_IN_OPENING_RECORD",
            BidError::AlreadyConfirmed => "ALREADY_CONFIRMED",
            BidError::BadText { .. } => "INVALID_TEXT",
            BidError::AlreadyAnswered => "ALREADY_ANSWERED",
            BidError::Text(_) => crate::text::CODE,
            BidError::Crypto(_) | BidError::Corrupt(_) | BidError::Blob(_) | BidError::Store(_) => {
                "INTERNAL"
            }
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        use StatusCode as S;
        match self {
            BidError::LoginRequired => S::UNAUTHORIZED,
            BidError::Forbidden(_)
            | BidError::CompanyNotActive
            | BidError::NotACustodian
            | BidError::WrongPasskey
            | BidError::NotInRecord => S::FORBIDDEN,
            BidError::NotFound(_) | BidError::NoBid | BidError::NotEnrolled => S::NOT_FOUND,
            BidError::NotAcceptingBids(_)
            | BidError::DeadlinePassed
            | BidError::Conflict
            | BidError::AlreadyEnrolled
            | BidError::OpeningTooEarly
            | BidError::OpeningAlreadyStarted
            | BidError::WrongState { .. }
            | BidError::NotUnlocking
            | BidError::AlreadyUnlocked
            | BidError::UnlockInProgress
            | BidError::WrongUnlockMethod(_)
            | BidError::KeyMismatch
            | BidError::NotOpened
            | BidError::AlreadyConfirmed
            | BidError::AlreadyAnswered => S::CONFLICT,
            BidError::Envelope(_)
            | BidError::BadLabel
            | BidError::BadParts(_)
            | BidError::WeakPassphrase(_)
            | BidError::CustodiansNotEnrolled(_)
            | BidError::WrongPassphrase
            | BidError::WrongShare
            | BidError::InvalidKeyRecord(_)
            | BidError::BadText { .. }
            | BidError::Text(_) => S::UNPROCESSABLE_ENTITY,
            BidError::TooManyAttempts { .. } => S::TOO_MANY_REQUESTS,
            BidError::PartTooLarge { .. } => S::PAYLOAD_TOO_LARGE,
            BidError::BadBody(_) => S::BAD_REQUEST,
            BidError::Passkey(e) => e.status(),
            BidError::Crypto(_) | BidError::Corrupt(_) | BidError::Blob(_) | BidError::Store(_) => {
                S::INTERNAL_SERVER_ERROR
            }
        }
    }
}

impl From<BidError> for ApiError {
    fn from(e: BidError) -> Self {
        if let BidError::Passkey(p) = e {
            return p.into();
        }
        let status = e.status();
        if status.is_server_error() {
            return ApiError::internal(&e);
        }
        let err = ApiError::new(status, e.code(), e.to_string());
        match &e {
            BidError::CustodiansNotEnrolled(who) => {
                err.with_details(serde_json::json!({ "not_enrolled": who }))
            }
            BidError::TooManyAttempts { retry_after_secs } => {
                err.with_retry_after(*retry_after_secs)
            }
            BidError::Envelope(seal) => err.with_details(serde_json::json!({
                "accepted": false,
                "reason": seal.to_string(),
            })),
            _ => err,
        }
    }
}

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
