//! Tender failures: the shared ones through [`Common`], the tender's own with their stable
//! codes; the HTTP layer maps them through [`Coded`].

use serde_json::{Value, json};

use super::model::TenderState;
use super::rulebook::RuleViolation;
use crate::error::{Coded, Common, Kind};

/// Tender failures, each with a stable code ([`Coded`]).
#[derive(Debug, thiserror::Error)]
pub enum TenderError {
    /// The failures every feature shares (login, forbidden, not found, concurrent change,
    /// text, storage).
    #[error(transparent)]
    Common(#[from] Common),
    /// Malformed project code.
    #[error(
        "the project code must be 3–40 letters, digits or '-' / 项目编号须为3–40位字母、数字或连字符"
    )]
    BadCode,
    /// Project code already used.
    #[error("project code {0} is already used / 项目编号 {0} 已被使用")]
    CodeTaken(String),
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
    /// A time is not RFC 3339 or out of range.
    #[error(
        "{field} must be an RFC 3339 time such as 2025-03-01T09:00:00+08:00 (got {value:?}) / {field} 须为 RFC 3339 时间，例如 2025-03-01T09:00:00+08:00"
    )]
    BadTime {
        /// Field name.
        field: &'static str,
        /// What was sent (truncated).
        value: String,
    },
    /// Negative or absurd money.
    #[error(
        "{field} must be between 0 and 10^15 fen (10 trillion yuan), got {value} / {field} 须在0至10^15分之间，当前为{value}"
    )]
    BadMoney {
        /// Field name.
        field: &'static str,
        /// The value sent.
        value: i64,
    },
    /// No rulebook for the category and procedure.
    #[error(
        "no rulebook for category {category:?} and procedure {procedure:?} / 没有适用于该类别和招标方式的规则"
    )]
    UnknownRulebook {
        /// Category sent.
        category: String,
        /// Procedure sent.
        procedure: String,
    },
    /// Tenderee missing or not a tenderee.
    #[error(
        "tenderee_org_id must name an active organisation of kind tenderee / 招标人须为已启用的招标人单位"
    )]
    BadTenderee,
    /// The agent user has no organisation.
    #[error("your account belongs to no organisation / 您的账号未关联单位")]
    NoOrganisation,
    /// A custodian id is not an active custodian user.
    #[error("{0} is not an active user with role custodian / {0} 不是已启用的开标密钥保管人")]
    BadCustodian(String),
    /// Criteria malformed.
    #[error("{0}")]
    BadCriteria(&'static str),
    /// Expert quotas malformed.
    #[error("{0}")]
    BadQuotas(&'static str),
    /// The rulebook refuses (every violation, each with its article).
    #[error("{}", violations_text(.0))]
    Rulebook(Vec<RuleViolation>),
    /// The transition is not allowed from the current state.
    #[error("cannot {action} a tender in state {} / 当前状态（{}）下不能{action_zh}", .state.refusal_name(), .state.refusal_label_zh())]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// The same in Chinese.
        action_zh: &'static str,
        /// The current state.
        state: TenderState,
    },
    /// The bid deadline has passed.
    #[error("the bid deadline has passed / 投标截止时间已过")]
    DeadlinePassed,
    /// Questions are closed.
    #[error(
        "the clarification cut-off ({0}, China time) has passed / 澄清提问截止时间（北京时间{0}）已过"
    )]
    ClarificationClosed(String),
    /// The documents cannot be obtained now.
    #[error("{0}")]
    NotDownloadable(&'static str),
    /// Cancel without a reason.
    #[error("a reason (1–2000 characters) is required to cancel / 终止招标须填写原因（1–2000字）")]
    ReasonRequired,
    /// Document over the limit.
    #[error(
        "the document is larger than the limit of {limit} bytes ({} MiB) / 文件超过大小上限 {limit} 字节", .limit / (1024 * 1024)
    )]
    DocumentTooLarge {
        /// The configured limit in bytes.
        limit: u64,
    },
    /// Empty upload.
    #[error("the document is empty / 文件为空")]
    EmptyDocument,
    /// Upload to a published tender without an amendment.
    #[error(
        "a published tender's documents change only through an amendment: create one, then upload with ?amendment_id= / 已发布项目的文件只能通过澄清修改变更"
    )]
    AmendmentRequired,
    /// The question was answered already.
    #[error("this question has already been answered / 该问题已答复")]
    AlreadyAnswered,
    /// The bidder's company is not approved.
    #[error("your company is not approved (yet) / 您的单位尚未通过审核")]
    CompanyNotActive,
    /// An uploaded rulebook file is refused: which file, which key, why.
    #[error("{} / 规则文件被拒绝：{}，{}：{}", .0, .0.file(), .0.key().unwrap_or_default(), .0.reason())]
    RulebookFile(super::rulebook::RulebookError),
    /// Re-tendering a tender that did not fail.
    #[error("only a failed tender (流标) can be re-tendered; this one is {} / 仅已流标的项目可重新招标，当前状态：{}", .0.refusal_name(), .0.refusal_label_zh())]
    NotFailed(TenderState),
    /// Invited tendering: the caller's company is not invited.
    #[error(
        "this is an invited tender (邀请招标) and your company was not invited / 本项目为邀请招标，贵单位未受邀请"
    )]
    NotInvited,
    /// Invitations on a tender that is not invited tendering.
    #[error(
        "only an invited tender (procedure \"invited\") has invitations / 仅邀请招标项目可发出投标邀请"
    )]
    NotInvitedTendering,
    /// An invitee is not an active bidder company.
    #[error("{0} is not an active bidder company / {0} 不是已审核通过的投标单位")]
    BadInvitee(String),
    /// Fewer invitees than the law's minimum.
    #[error(
        "invited tendering needs at least {min} invitees ({article}); {got} given / 邀请招标须邀请至少{min}家（{article}），当前{got}家"
    )]
    TooFewInvitees {
        /// The rulebook's minimum.
        min: u32,
        /// How many were given.
        got: usize,
        /// The article.
        article: String,
    },
    /// The failed tender was re-tendered already.
    #[error("this failed tender has already been re-tendered / 该项目已重新招标")]
    AlreadyRetendered,
    /// A re-tender must keep the category.
    #[error("a re-tender keeps the failed tender's category {0:?} / 重新招标须沿用原项目类别")]
    RetenderCategory(String),
    /// The procedure may not change (works), or not without the approval's reference
    /// (government procurement).
    #[error("{0}")]
    ProcedureChange(String),
    /// Sealed bidding refused (e.g. custodians without keys at publication).
    #[error(transparent)]
    Bid(#[from] crate::bid::BidError),
}

fn violations_text(v: &[RuleViolation]) -> String {
    let zh: Vec<&str> = v.iter().map(|x| x.message_zh.as_str()).collect();
    let en: Vec<&str> = v.iter().map(|x| x.message_en.as_str()).collect();
    format!("{} / {}", zh.join("；"), en.join("; "))
}

crate::common_errors!(TenderError);

impl From<crate::lifecycle::MoveError> for TenderError {
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

impl From<crate::lifecycle::tender::FactsError> for TenderError {
    fn from(e: crate::lifecycle::tender::FactsError) -> Self {
        use crate::lifecycle::tender::FactsError;
        match e {
            FactsError::NotFound => Common::NotFound("tender").into(),
            FactsError::Corrupt(s) => Common::Corrupt(format!("tender state {s:?}")).into(),
            FactsError::Store(s) => s.into(),
        }
    }
}

impl Coded for TenderError {
    fn kind(&self) -> Kind {
        match self {
            TenderError::Common(c) => c.kind(),
            TenderError::Bid(b) => b.kind(),
            TenderError::BadCode
            | TenderError::BadText { .. }
            | TenderError::BadTime { .. }
            | TenderError::BadMoney { .. }
            | TenderError::UnknownRulebook { .. }
            | TenderError::BadTenderee
            | TenderError::BadCustodian(_)
            | TenderError::BadCriteria(_)
            | TenderError::BadQuotas(_)
            | TenderError::Rulebook(_)
            | TenderError::RulebookFile(_)
            | TenderError::RetenderCategory(_)
            | TenderError::ProcedureChange(_)
            | TenderError::ReasonRequired
            | TenderError::EmptyDocument => Kind::Invalid,
            TenderError::NoOrganisation
            | TenderError::CompanyNotActive
            | TenderError::NotInvited => Kind::Forbidden,
            TenderError::BadInvitee(_) | TenderError::TooFewInvitees { .. } => Kind::Invalid,
            TenderError::CodeTaken(_)
            | TenderError::WrongState { .. }
            | TenderError::DeadlinePassed
            | TenderError::ClarificationClosed(_)
            | TenderError::NotDownloadable(_)
            | TenderError::AmendmentRequired
            | TenderError::AlreadyAnswered
            | TenderError::NotFailed(_)
            | TenderError::NotInvitedTendering
            | TenderError::AlreadyRetendered => Kind::Conflict,
            TenderError::DocumentTooLarge { .. } => Kind::TooLarge,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            TenderError::Common(c) => c.code(),
            TenderError::Bid(b) => b.code(),
            TenderError::BadCode => "BAD_TENDER_CODE",
            TenderError::CodeTaken(_) => "TENDER_CODE_TAKEN",
            TenderError::BadText { .. } => "INVALID_TEXT",
            TenderError::BadTime { .. } => "INVALID_TIME",
            TenderError::BadMoney { .. } => "INVALID_MONEY",
            TenderError::UnknownRulebook { .. } => "UNKNOWN_RULEBOOK",
            TenderError::BadTenderee => "BAD_TENDEREE",
            TenderError::NoOrganisation => "NO_ORGANISATION",
            TenderError::BadCustodian(_) => "BAD_CUSTODIAN",
            TenderError::BadCriteria(_) => "INVALID_CRITERIA",
            TenderError::BadQuotas(_) => "INVALID_EXPERT_QUOTAS",
            // One broken rule answers with its own code; several with the umbrella code.
            TenderError::Rulebook(v) => match v.as_slice() {
                [one] => one.static_code().unwrap_or("RULEBOOK_VIOLATION"),
                _ => "RULEBOOK_VIOLATION",
            },
            TenderError::RulebookFile(e) => e.code(),
            TenderError::NotFailed(_) => "TENDER_NOT_FAILED",
            TenderError::NotInvited => "NOT_INVITED",
            TenderError::NotInvitedTendering => "NOT_INVITED_TENDERING",
            TenderError::BadInvitee(_) => "BAD_INVITEE",
            TenderError::TooFewInvitees { .. } => "TOO_FEW_INVITEES",
            TenderError::AlreadyRetendered => "ALREADY_RETENDERED",
            TenderError::RetenderCategory(_) => "RETENDER_CATEGORY_CHANGED",
            TenderError::ProcedureChange(_) => "PROCEDURE_CHANGE_NOT_ALLOWED",
            TenderError::WrongState { .. } => "INVALID_STATE",
            TenderError::DeadlinePassed => "DEADLINE_PASSED",
            TenderError::ClarificationClosed(_) => "CLARIFICATION_CLOSED",
            TenderError::NotDownloadable(_) => "DOCUMENTS_NOT_AVAILABLE",
            TenderError::ReasonRequired => "REASON_REQUIRED",
            TenderError::DocumentTooLarge { .. } => "DOCUMENT_TOO_LARGE",
            TenderError::EmptyDocument => "EMPTY_DOCUMENT",
            TenderError::AmendmentRequired => "AMENDMENT_REQUIRED",
            TenderError::AlreadyAnswered => "ALREADY_ANSWERED",
            TenderError::CompanyNotActive => "COMPANY_NOT_ACTIVE",
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            TenderError::Bid(b) => b.details(),
            // Every broken rule with its article, however many there are.
            TenderError::Rulebook(v) => Some(Value::Array(
                v.iter()
                    .map(|x| {
                        json!({"code": x.rule, "article": x.article,
                               "message_zh": x.message_zh, "message_en": x.message_en})
                    })
                    .collect(),
            )),
            TenderError::RulebookFile(e) => Some(json!({
                "file": e.file(), "key": e.key(), "reason": e.reason(),
            })),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            TenderError::Bid(b) => b.retry_after(),
            _ => None,
        }
    }
}
