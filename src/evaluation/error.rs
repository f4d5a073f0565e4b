//! Why an evaluation step is refused: one enum for every step, with stable codes.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::evaluation::committee::{CommitteeError, ElectionError, SigningError};
use crate::evaluation::price_table::LineProblem;
use crate::evaluation::ranking::RankingError;
use crate::evaluation::review::ReviewError;
use crate::evaluation::scoring::{ScoringError, SheetProblem};
use crate::expert::service::ExpertError;
use crate::http::ApiError;
use crate::identity::passkey::PasskeyError;
use crate::store::StoreError;

/// Why an evaluation step is refused. Mapped to HTTP once, in `From<EvaluationError> for
/// ApiError`; `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// The tender (or its evaluation) does not exist.
    #[error("{0} not found / 未找到")]
    NotFound(&'static str),
    /// The caller's role or organisation may not do this.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The caller is not a (checked-in) member of the committee.
    #[error(
        "you are not a checked-in member of this tender's evaluation committee / 您不是本项目已签到的评标委员会成员"
    )]
    NotAMember,
    /// The tender or the evaluation is not in the state the step needs.
    #[error("cannot {action} while the {what} is {state} / 当前状态不允许此操作")]
    WrongState {
        /// What was attempted.
        action: &'static str,
        /// Tender or evaluation.
        what: &'static str,
        /// The current state.
        state: String,
    },
    /// Not every confirmed expert has checked in (平台规则).
    #[error(
        "the committee is not complete: every confirmed expert must have checked in (平台规则) / 评标委员会成员尚未全部签到"
    )]
    CommitteeNotReady,
    /// The committee breaks a rule (招标投标法 第37条).
    #[error(transparent)]
    Committee(CommitteeError),
    /// A ballot the election refuses.
    #[error(transparent)]
    Election(ElectionError),
    /// The member already voted in this round.
    #[error("you already voted in round {0} / 本轮您已投票")]
    AlreadyVoted(i64),
    /// A mark the review rules refuse.
    #[error(transparent)]
    Review(ReviewError),
    /// A mark already recorded; marks are never changed.
    #[error(
        "bid {bid} is already marked on {criterion}; a mark is never changed / 该项已评审，不可修改"
    )]
    MarkExists {
        /// The bid.
        bid: String,
        /// The criterion.
        criterion: String,
    },
    /// Score sheets the scoring rules refuse.
    #[error(transparent)]
    Scoring(ScoringError),
    /// The member's sheets are already in; they are never changed.
    #[error(
        "your score sheets were already submitted; they are never changed / 评分已提交，不可修改"
    )]
    AlreadySubmitted,
    /// The ranking cannot be computed.
    #[error(transparent)]
    Ranking(RankingError),
    /// The step belongs to the other evaluation method.
    #[error("{0}")]
    WrongMethod(&'static str),
    /// A price comparison table with bad lines (every problem).
    #[error("the price comparison table has {} problem(s) / 标价比较表有误: {}", .0.len(), .0.first().map(ToString::to_string).unwrap_or_default())]
    PriceTable(Vec<LineProblem>),
    /// The member already signed or dissented; the act is never changed.
    #[error("you already signed or dissented from the report / 您已签署或提出异议，不可更改")]
    AlreadySigned,
    /// A report act the signing rules refuse (a dissent without a reason).
    #[error(transparent)]
    Signing(SigningError),
    /// The passkey assertion failed.
    #[error(transparent)]
    Passkey(PasskeyError),
    /// A request field is invalid (code, message).
    #[error("{1}")]
    Invalid(&'static str, String),
    /// The check-in records could not be read.
    #[error(transparent)]
    Expert(ExpertError),
    /// Stored data no code writes.
    #[error("stored evaluation data is inconsistent: {0}")]
    Corrupt(String),
    /// Storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<crate::text::ForbiddenChar> for EvaluationError {
    fn from(e: crate::text::ForbiddenChar) -> Self {
        EvaluationError::Invalid(crate::text::CODE, e.to_string())
    }
}

impl From<sqlx::Error> for EvaluationError {
    fn from(e: sqlx::Error) -> Self {
        EvaluationError::Store(StoreError::Sql(e))
    }
}

impl From<ExpertError> for EvaluationError {
    fn from(e: ExpertError) -> Self {
        EvaluationError::Expert(e)
    }
}

impl EvaluationError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            EvaluationError::NotFound(_) => "NOT_FOUND",
            EvaluationError::Forbidden(_) => "FORBIDDEN",
            EvaluationError::NotAMember => "EVALUATION_NOT_A_MEMBER",
            EvaluationError::WrongState { .. } => "EVALUATION_WRONG_STATE",
            EvaluationError::CommitteeNotReady => "COMMITTEE_NOT_READY",
            EvaluationError::Committee(e) => e.code(),
            EvaluationError::Election(e) => e.code(),
            EvaluationError::AlreadyVoted(_) => "ELECTION_ALREADY_VOTED",
            EvaluationError::Review(e) => e.code(),
            EvaluationError::MarkExists { .. } => "REVIEW_MARK_EXISTS",
            EvaluationError::Scoring(e) => e.code(),
            EvaluationError::AlreadySubmitted => "SCORES_ALREADY_SUBMITTED",
            EvaluationError::Ranking(e) => e.code(),
            EvaluationError::WrongMethod(_) => "EVALUATION_WRONG_METHOD",
            EvaluationError::PriceTable(_) => "PRICE_TABLE_INVALID",
            EvaluationError::AlreadySigned => "REPORT_ALREADY_SIGNED",
            EvaluationError::Signing(e) => e.code(),
            EvaluationError::Passkey(e) => e.code(),
            EvaluationError::Invalid(code, _) => code,
            EvaluationError::Expert(e) => e.code(),
            EvaluationError::Corrupt(_) => "INTERNAL",
            EvaluationError::Store(_) => "INTERNAL",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            EvaluationError::NotFound(_) => StatusCode::NOT_FOUND,
            EvaluationError::Forbidden(_) | EvaluationError::NotAMember => StatusCode::FORBIDDEN,
            EvaluationError::WrongState { .. }
            | EvaluationError::CommitteeNotReady
            | EvaluationError::AlreadyVoted(_)
            | EvaluationError::MarkExists { .. }
            | EvaluationError::AlreadySubmitted
            | EvaluationError::WrongMethod(_)
            | EvaluationError::AlreadySigned => StatusCode::CONFLICT,
            EvaluationError::Committee(_)
            | EvaluationError::Election(_)
            | EvaluationError::Review(_)
            | EvaluationError::Scoring(_)
            | EvaluationError::Ranking(_)
            | EvaluationError::PriceTable(_)
            | EvaluationError::Signing(_)
            | EvaluationError::Invalid(..) => StatusCode::UNPROCESSABLE_ENTITY,
            EvaluationError::Passkey(_) => StatusCode::BAD_REQUEST,
            EvaluationError::Expert(_)
            | EvaluationError::Corrupt(_)
            | EvaluationError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<EvaluationError> for ApiError {
    fn from(e: EvaluationError) -> Self {
        match e {
            EvaluationError::Expert(e) => ApiError::from(e),
            EvaluationError::Passkey(e) => ApiError::from(e),
            EvaluationError::Corrupt(_) | EvaluationError::Store(_) => ApiError::internal(&e),
            EvaluationError::Committee(CommitteeError::Rules(ref v)) => {
                let details = json!({ "violations": v });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            EvaluationError::Scoring(ScoringError::Sheets(ref p)) => {
                let details =
                    json!({ "problems": p.iter().map(sheet_problem_json).collect::<Vec<_>>() });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            EvaluationError::PriceTable(ref p) => {
                let details = json!({ "problems": p.iter().map(|x| json!({
                    "problem": x.kind(), "line": x.line(), "message": x.to_string(),
                })).collect::<Vec<_>>() });
                ApiError::new(e.status(), e.code(), e.to_string()).with_details(details)
            }
            other => ApiError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

fn sheet_problem_json(p: &SheetProblem) -> Value {
    match p {
        SheetProblem::OutOfRange {
            bid,
            criterion,
            score,
            max,
            ..
        } => json!({"problem": "out_of_range", "bid_id": bid, "criterion": criterion,
                    "score": score, "max": max, "message": p.to_string()}),
        SheetProblem::UnknownCriterion { bid, criterion, .. } => {
            json!({"problem": "unknown_criterion", "bid_id": bid, "criterion": criterion, "message": p.to_string()})
        }
        SheetProblem::Missing { bid, criteria, .. } => {
            json!({"problem": "missing", "bid_id": bid, "criteria": criteria, "message": p.to_string()})
        }
        other => json!({"problem": "invalid", "message": other.to_string()}),
    }
}
