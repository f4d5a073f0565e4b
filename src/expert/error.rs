//! What can go wrong with the expert pool, a draw and a check-in: one enum with a stable
//! code per variant; the HTTP layer maps its [`Kind`] to a status (`http::error`).

use serde_json::json;

use super::draw::DrawError;
use crate::error::{Coded, Common, Kind};
use crate::identity::passkey::PasskeyError;

/// Expert pool, draw and check-in failures, each with a stable code ([`Coded::code`]).
#[derive(Debug, thiserror::Error)]
pub enum ExpertError {
    /// What every feature shares: forbidden, not found, text, corrupt data, storage.
    #[error(transparent)]
    Common(#[from] Common),
    /// A field is invalid.
    #[error("{message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// A time that is not RFC 3339 or out of range (same code and message as the tender's).
    #[error(
        "{field} must be an RFC 3339 time such as 2025-03-01T09:00:00+08:00 (got {value:?}) / {field} 须为 RFC 3339 时间，例如 2025-03-01T09:00:00+08:00"
    )]
    BadTime {
        /// Field name.
        field: &'static str,
        /// What was sent (truncated).
        value: String,
    },
    /// A specialty that is not in the tree.
    #[error("unknown specialty {0:?} (use a code such as A0101, an alias or its name) / 未知专业")]
    UnknownSpecialty(String),
    /// An organisation id or credit code that does not exist.
    #[error("unknown organisation {0:?} / 单位不存在")]
    UnknownOrg(String),
    /// The linked login is not an expert user.
    #[error("the linked user must exist and have the role expert / 关联账号须为专家角色用户")]
    BadExpertUser,
    /// The login is linked to another expert already.
    #[error("this user is linked to another expert already / 该账号已关联其他专家")]
    UserAlreadyLinked,
    /// The CSV header is unusable; nothing was imported.
    #[error("CSV header: {0}")]
    BadCsvHeader(String),
    /// The CSV is too large.
    #[error("the CSV is larger than 8 MiB / CSV 文件超过 8 MiB")]
    CsvTooLarge,
    /// A reason is required.
    #[error("a reason (1–2000 characters) is required / 须填写原因（1–2000字）")]
    ReasonRequired,
    /// The expert's status does not allow this change.
    #[error("an expert who is {status} cannot become {target} / 专家当前状态不允许此操作")]
    WrongStatus {
        /// Current status.
        status: &'static str,
        /// Wanted status.
        target: &'static str,
    },
    /// The tender is not in a state where experts are drawn.
    #[error("experts cannot be drawn for a tender in state {0} / 当前项目状态不能抽取专家")]
    TenderState(&'static str),
    /// The supervisor is not an active regulator-role user.
    #[error(
        "supervisor_user_id must be an active user with role regulator / 监督人须为已启用的监管角色用户"
    )]
    BadSupervisor,
    /// A live draw exists for the tender.
    #[error(
        "this tender already has a draw request; a second one is refused / 该项目已有抽取申请，不能重复抽取"
    )]
    DrawExists,
    /// The draw was performed already.
    #[error(
        "this draw has been performed already; it cannot be drawn again / 该次抽取已完成，不能重复抽取"
    )]
    DrawAlreadyPerformed,
    /// The draw failed earlier.
    #[error("this draw failed; make a new request / 该次抽取已失败，请重新申请")]
    DrawFailed,
    /// The draw core refused.
    #[error(transparent)]
    Draw(#[from] DrawError),
    /// The draw is not revealed yet.
    #[error("the draw is revealed only after the award / 抽取秘密在中标结果公布后公开")]
    NotRevealed,
    /// The tender has no award yet.
    #[error("the tender has not been awarded yet / 项目尚未确定中标结果")]
    NotAwarded,
    /// The assignment was answered or expired already.
    #[error("this assignment is no longer waiting for an answer / 该抽取通知已答复或已过期")]
    AssignmentState,
    /// Too late to answer.
    #[error("the time to answer has passed / 已超过答复期限")]
    ResponseWindowClosed,
    /// Check-in by an expert who was not drawn as a member.
    #[error(
        "you are not a drawn member of this tender's committee / 您不是本项目抽取的评标委员会成员"
    )]
    NotDrawn,
    /// Check-in by a member who has not confirmed (or declined).
    #[error("{0}")]
    NotConfirmed(&'static str),
    /// Before the check-in window.
    #[error("check-in opens at {0} (China time) / 签到将于北京时间{0}开始")]
    CheckinNotOpen(String),
    /// After the check-in window.
    #[error("check-in closed at {0} (China time) / 签到已于北京时间{0}结束")]
    CheckinClosed(String),
    /// Checked in already.
    #[error("already checked in / 已签到")]
    AlreadyCheckedIn,
    /// Passkey failure (user verification, counter regression, ceremony …).
    #[error(transparent)]
    Passkey(#[from] PasskeyError),
}

crate::common_errors!(ExpertError);

impl ExpertError {
    /// The role or organisation may not do this (`message` says why).
    pub fn forbidden(message: &'static str) -> Self {
        Common::Forbidden(message).into()
    }

    /// No such `what` (or none the caller may see).
    pub fn not_found(what: &'static str) -> Self {
        Common::NotFound(what).into()
    }

    /// A stored value no code writes.
    pub fn corrupt(why: impl Into<String>) -> Self {
        Common::Corrupt(why.into()).into()
    }

    /// The stable code; kept as an inherent method for callers that do not import [`Coded`].
    pub fn code(&self) -> &'static str {
        Coded::code(self)
    }
}

/// A field that breaks a rule of the pool or of a draw request.
pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> ExpertError {
    ExpertError::Invalid {
        field,
        message: message.into(),
    }
}

impl From<crate::lifecycle::tender::FactsError> for ExpertError {
    fn from(e: crate::lifecycle::tender::FactsError) -> Self {
        use crate::lifecycle::tender::FactsError as F;
        match e {
            F::NotFound => ExpertError::not_found("tender"),
            F::Corrupt(s) => ExpertError::corrupt(format!("tender state {s:?}")),
            F::Store(s) => s.into(),
        }
    }
}

impl Coded for ExpertError {
    fn kind(&self) -> Kind {
        use ExpertError as E;
        match self {
            E::Common(c) => c.kind(),
            E::Passkey(p) => p.kind(),
            E::NotDrawn | E::NotConfirmed(_) => Kind::Forbidden,
            E::CsvTooLarge => Kind::TooLarge,
            E::UserAlreadyLinked
            | E::WrongStatus { .. }
            | E::TenderState(_)
            | E::DrawExists
            | E::DrawAlreadyPerformed
            | E::DrawFailed
            | E::NotRevealed
            | E::NotAwarded
            | E::AssignmentState
            | E::ResponseWindowClosed
            | E::CheckinNotOpen(_)
            | E::CheckinClosed(_)
            | E::AlreadyCheckedIn => Kind::Conflict,
            // A pool with a duplicate or too many experts is the platform's fault.
            E::Draw(DrawError::DuplicateExpert { .. } | DrawError::PoolTooLarge) => Kind::Internal,
            E::Invalid { .. }
            | E::BadTime { .. }
            | E::UnknownSpecialty(_)
            | E::UnknownOrg(_)
            | E::BadExpertUser
            | E::BadCsvHeader(_)
            | E::ReasonRequired
            | E::BadSupervisor
            | E::Draw(_) => Kind::Invalid,
        }
    }

    fn code(&self) -> &'static str {
        use ExpertError as E;
        match self {
            E::Common(c) => c.code(),
            E::Passkey(p) => p.code(),
            E::Invalid { .. } => "INVALID_EXPERT_FIELD",
            E::BadTime { .. } => "INVALID_TIME",
            E::UnknownSpecialty(_) => "UNKNOWN_SPECIALTY",
            E::UnknownOrg(_) => "UNKNOWN_ORGANISATION",
            E::BadExpertUser => "BAD_EXPERT_USER",
            E::UserAlreadyLinked => "EXPERT_USER_TAKEN",
            E::BadCsvHeader(_) => "BAD_CSV_HEADER",
            E::CsvTooLarge => "CSV_TOO_LARGE",
            E::ReasonRequired => "REASON_REQUIRED",
            E::WrongStatus { .. } => "EXPERT_STATUS",
            E::TenderState(_) => "INVALID_STATE",
            E::BadSupervisor => "BAD_SUPERVISOR",
            E::DrawExists => "DRAW_EXISTS",
            E::DrawAlreadyPerformed => "DRAW_ALREADY_PERFORMED",
            E::DrawFailed => "DRAW_FAILED",
            E::Draw(d) => match d {
                DrawError::QuotaUnfillable { .. } => "QUOTA_UNFILLABLE",
                DrawError::RegionReasonMissing => "REGION_REASON_REQUIRED",
                DrawError::RegionEmpty => "REGION_EMPTY",
                DrawError::SupervisorInput => "BAD_SUPERVISOR_INPUT",
                DrawError::UnknownSpecialty { .. } => "UNKNOWN_SPECIALTY",
                DrawError::NoQuotas | DrawError::EmptyQuota { .. } => "INVALID_QUOTAS",
                DrawError::DuplicateExpert { .. } | DrawError::PoolTooLarge => "INVALID_POOL",
            },
            E::NotRevealed => "DRAW_NOT_REVEALED",
            E::NotAwarded => "TENDER_NOT_AWARDED",
            E::AssignmentState => "ASSIGNMENT_NOT_PENDING",
            E::ResponseWindowClosed => "CONFIRM_WINDOW_CLOSED",
            E::NotDrawn => "EXPERT_NOT_DRAWN",
            E::NotConfirmed(_) => "EXPERT_NOT_CONFIRMED",
            E::CheckinNotOpen(_) => "CHECKIN_NOT_OPEN",
            E::CheckinClosed(_) => "CHECKIN_CLOSED",
            E::AlreadyCheckedIn => "ALREADY_CHECKED_IN",
        }
    }

    fn details(&self) -> Option<serde_json::Value> {
        match self {
            ExpertError::Draw(DrawError::QuotaUnfillable {
                specialty,
                needed,
                eligible,
            }) => Some(json!({"specialty": specialty, "needed": needed, "eligible": eligible})),
            ExpertError::Passkey(p) => p.details(),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ExpertError::Passkey(p) => p.retry_after(),
            _ => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_kinds_stay_as_they_were() {
        let e = ExpertError::forbidden("no");
        assert_eq!((e.kind(), e.code()), (Kind::Forbidden, "FORBIDDEN"));
        let e = ExpertError::TenderState("draft");
        assert_eq!((e.kind(), e.code()), (Kind::Conflict, "INVALID_STATE"));
        let e = ExpertError::Draw(DrawError::QuotaUnfillable {
            specialty: "A0101".into(),
            needed: 3,
            eligible: 1,
        });
        assert_eq!((e.kind(), e.code()), (Kind::Invalid, "QUOTA_UNFILLABLE"));
        assert_eq!(e.details().unwrap()["needed"], 3);
        let e = ExpertError::Draw(DrawError::PoolTooLarge);
        assert_eq!(e.kind(), Kind::Internal);
        let e = ExpertError::CsvTooLarge;
        assert_eq!(e.kind(), Kind::TooLarge);
    }
}
