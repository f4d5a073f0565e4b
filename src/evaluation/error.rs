//! Why an evaluation step is refused: one enum for every step, with stable codes.

use serde_json::{Value, json};

use crate::error::{Coded, Common, Kind};
use crate::evaluation::committee::{CommitteeError, ElectionError, SigningError};
use crate::evaluation::price_table::LineProblem;
use crate::evaluation::ranking::RankingError;
use crate::evaluation::review::ReviewError;
use crate::evaluation::scoring::{ScoringError, SheetProblem};
use crate::expert::DrawError;
use crate::expert::service::ExpertError;
use crate::identity::passkey::PasskeyError;

/// Why an evaluation step is refused; `code()` is stable.
#[derive(Debug, thiserror::Error)]
pub enum EvaluationError {
    /// Not found, forbidden, corrupt data, storage (the failures every feature shares).
    #[error(transparent)]
    Common(#[from] Common),
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
}

crate::common_errors!(EvaluationError);

impl From<ExpertError> for EvaluationError {
    fn from(e: ExpertError) -> Self {
        EvaluationError::Expert(e)
    }
}

impl EvaluationError {
    /// Shorthand for [`Common::NotFound`].
    pub fn not_found(what: &'static str) -> Self {
        Common::NotFound(what).into()
    }
    /// Shorthand for [`Common::Forbidden`].
    pub fn forbidden(why: &'static str) -> Self {
        Common::Forbidden(why).into()
    }
    /// Shorthand for [`Common::Corrupt`].
    pub fn corrupt(what: impl Into<String>) -> Self {
        Common::Corrupt(what.into()).into()
    }
}

impl Coded for EvaluationError {
    fn kind(&self) -> Kind {
        match self {
            EvaluationError::Common(c) => c.kind(),
            EvaluationError::NotAMember => Kind::Forbidden,
            EvaluationError::WrongState { .. }
            | EvaluationError::CommitteeNotReady
            | EvaluationError::AlreadyVoted(_)
            | EvaluationError::MarkExists { .. }
            | EvaluationError::AlreadySubmitted
            | EvaluationError::WrongMethod(_)
            | EvaluationError::AlreadySigned => Kind::Conflict,
            EvaluationError::Committee(_)
            | EvaluationError::Election(_)
            | EvaluationError::Review(_)
            | EvaluationError::Scoring(_)
            | EvaluationError::Ranking(_)
            | EvaluationError::PriceTable(_)
            | EvaluationError::Signing(_)
            | EvaluationError::Invalid(..) => Kind::Invalid,
            EvaluationError::Passkey(e) => e.kind(),
            EvaluationError::Expert(e) => e.kind(),
        }
    }

    fn code(&self) -> &'static str {
        match self {
            EvaluationError::Common(c) => c.code(),
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
        }
    }

    fn details(&self) -> Option<Value> {
        match self {
            EvaluationError::Committee(CommitteeError::Rules(v)) => {
                Some(json!({ "violations": v }))
            }
            EvaluationError::Scoring(ScoringError::Sheets(p)) => {
                Some(json!({ "problems": p.iter().map(sheet_problem_json).collect::<Vec<_>>() }))
            }
            EvaluationError::PriceTable(p) => Some(json!({ "problems": p.iter().map(|x| json!({
                "problem": x.kind(), "line": x.line(), "message": x.to_string(),
            })).collect::<Vec<_>>() })),
            EvaluationError::Expert(ExpertError::Draw(DrawError::QuotaUnfillable {
                specialty,
                needed,
                eligible,
            })) => Some(json!({"specialty": specialty, "needed": needed, "eligible": eligible})),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            EvaluationError::Passkey(PasskeyError::RateLimited(wait)) => Some(wait.0),
            _ => None,
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
