//! Sealed-bidding failures: the shared ones through [`Common`], the bid's own with their
//! stable codes; the HTTP layer maps them through [`Coded`].

use crate::error::{Coded, Common, Kind};
use crate::identity::passkey::PasskeyError;
use crate::seal::SealError;
use crate::tender::model::TenderState;

/// Sealed-bidding failures, each with a stable code ([`Coded`]).
#[derive(Debug, thiserror::Error)]
pub enum BidError {
    /// The failures every feature shares (login, forbidden, not found, concurrent change,
    /// text, corrupt data, storage).
    #[error(transparent)]
    Common(#[from] Common),
    /// The bidder's company (or user) is not approved.
    #[error("your company is not approved (yet) / 您的单位尚未通过审核")]
    CompanyNotActive,
    /// Invited tendering: the company was not invited.
    #[error(
        "this is an invited tender (邀请招标) and your company was not invited / 本项目为邀请招标，贵单位未受邀请，不能投标"
    )]
    NotInvited,
    /// The tender does not accept bids in its state (cancelled, not yet published …).
    #[error("this tender does not accept bids in state {} / 该项目当前状态（{}）不接受投标", .0.as_str(), .0.as_str())]
    NotAcceptingBids(TenderState),
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
    #[error("cannot {action} in tender state {} / 当前项目状态（{}）下不能执行该操作", .state.refusal_name(), .state.refusal_label_zh())]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The tender's state.
        state: TenderState,
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
    /// The held shares no longer open (the platform key changed during the opening).
    #[error(
        "the unlocked shares could not be read back; every custodian must unlock again / 已解锁的密钥份额无法读取，请各保管人重新解锁"
    )]
    SharesLost,
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
    /// Key material or a platform-side cryptographic failure.
    #[error("cryptographic failure: {0}")]
    Crypto(SealError),
}

crate::common_errors!(BidError);

impl From<crate::lifecycle::MoveError> for BidError {
    fn from(e: crate::lifecycle::MoveError) -> Self {
        use crate::lifecycle::MoveError;
        match e {
            MoveError::Moved => Common::Concurrent.into(),
            MoveError::NotAllowed { from, to } => {
                Common::Corrupt(format!("tender move {from} → {to}")).into()
            }
            MoveError::Store(s) => s.into(),
        }
    }
}

impl From<crate::lifecycle::tender::FactsError> for BidError {
    fn from(e: crate::lifecycle::tender::FactsError) -> Self {
        use crate::lifecycle::tender::FactsError;
        match e {
            FactsError::NotFound => Common::NotFound("tender").into(),
            FactsError::Corrupt(s) => Common::Corrupt(format!("tender state {s:?}")).into(),
            FactsError::Store(s) => s.into(),
        }
    }
}

/// The kind of a passkey failure wrapped in a bid failure: the same status the passkey
/// routes answer with.
fn passkey_kind(e: &PasskeyError) -> Kind {
    match e.status().as_u16() {
        401 => Kind::Unauthenticated,
        403 => Kind::Forbidden,
        404 => Kind::NotFound,
        409 => Kind::Conflict,
        422 => Kind::Invalid,
        429 => Kind::TooMany,
        _ => Kind::Internal,
    }
}

impl Coded for BidError {
    fn kind(&self) -> Kind {
        match self {
            BidError::Common(c) => c.kind(),
            BidError::CompanyNotActive
            | BidError::NotInvited
            | BidError::NotACustodian
            | BidError::WrongPasskey
            | BidError::NotInRecord => Kind::Forbidden,
            BidError::NoBid | BidError::NotEnrolled => Kind::NotFound,
            BidError::NotAcceptingBids(_)
            | BidError::DeadlinePassed
            | BidError::AlreadyEnrolled
            | BidError::OpeningTooEarly
            | BidError::OpeningAlreadyStarted
            | BidError::WrongState { .. }
            | BidError::NotUnlocking
            | BidError::AlreadyUnlocked
            | BidError::UnlockInProgress
            | BidError::WrongUnlockMethod(_)
            | BidError::KeyMismatch
            | BidError::SharesLost
            | BidError::NotOpened
            | BidError::AlreadyConfirmed
            | BidError::AlreadyAnswered => Kind::Conflict,
            BidError::Envelope(_)
            | BidError::BadLabel
            | BidError::BadParts(_)
            | BidError::WeakPassphrase(_)
            | BidError::CustodiansNotEnrolled(_)
            | BidError::WrongPassphrase
            | BidError::WrongShare
            | BidError::InvalidKeyRecord(_)
            | BidError::BadText { .. } => Kind::Invalid,
            BidError::TooManyAttempts { .. } => Kind::TooMany,
            BidError::PartTooLarge { .. } => Kind::TooLarge,
            BidError::BadBody(_) => Kind::BadRequest,
            BidError::Passkey(e) => passkey_kind(e),
            BidError::Crypto(_) => Kind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            BidError::Common(c) => c.code(),
            BidError::CompanyNotActive => "COMPANY_NOT_ACTIVE",
            BidError::NotInvited => "NOT_INVITED",
            BidError::NotAcceptingBids(_) => "TENDER_NOT_ACCEPTING_BIDS",
            BidError::DeadlinePassed => "BID_DEADLINE_PASSED",
            BidError::Envelope(e) => e.code(),
            BidError::BadLabel => "BAD_PART_LABEL",
            BidError::PartTooLarge { .. } => "BID_PART_TOO_LARGE",
            BidError::BadBody(_) => "BAD_BODY",
            BidError::BadParts(_) => "BAD_BID_PARTS",
            BidError::NoBid => "NO_BID",
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
            BidError::SharesLost => "OPENING_SHARES_LOST",
            BidError::NotOpened => "OPENING_NOT_PUBLISHED",
            BidError::NotInRecord => "NOT_IN_OPENING_RECORD",
            BidError::AlreadyConfirmed => "ALREADY_CONFIRMED",
            BidError::BadText { .. } => "INVALID_TEXT",
            BidError::AlreadyAnswered => "ALREADY_ANSWERED",
            BidError::Crypto(_) => "INTERNAL",
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            BidError::CustodiansNotEnrolled(who) => {
                Some(serde_json::json!({ "not_enrolled": who }))
            }
            BidError::Envelope(seal) => Some(serde_json::json!({
                "accepted": false,
                "reason": seal.to_string(),
            })),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            BidError::TooManyAttempts { retry_after_secs } => Some(*retry_after_secs),
            BidError::Passkey(PasskeyError::RateLimited(wait)) => Some(wait.0),
            _ => None,
        }
    }
}
