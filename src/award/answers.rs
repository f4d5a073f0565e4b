//! What each result step answers; the JSON routes serialise these as they are. Fields are in
//! alphabetical order, the order the answers had when they were built as JSON objects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::committee::SignStatus;

/// One published candidate (中标候选人): what the public sees.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Candidate {
    /// 1-based rank.
    pub rank: i64,
    /// The bid.
    pub bid_id: String,
    /// The bidder's organisation.
    pub bidder_org_id: String,
    /// The bidder's name.
    pub bidder: String,
    /// The bid price in fen.
    pub price_fen: i64,
    /// Comprehensive scoring: the total in hundredths of a point.
    pub total: Option<i64>,
    /// Lowest evaluated price: the evaluated price in fen.
    pub evaluated_price_fen: Option<i64>,
}

/// One member's act on the report when it was delivered.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct MemberAct {
    /// The member.
    pub member: String,
    /// Signed, dissented (with the reason) or deemed to agree.
    #[serde(flatten)]
    pub status: SignStatus,
}

/// The report was delivered to the tenderee; signing is closed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReportDelivered {
    /// When it was delivered.
    pub report_at: DateTime<Utc>,
    /// The hash of the report delivered.
    pub report_sha256: Option<String>,
    /// Every member's act on it.
    pub signatures: Vec<MemberAct>,
}

/// The candidates were published (中标候选人公示).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Published {
    /// The candidates, best first.
    pub candidates: Vec<Candidate>,
    /// When the publicity ends.
    pub ends_at: DateTime<Utc>,
    /// When it started (now).
    pub starts_at: DateTime<Utc>,
}

/// An objection to the result was raised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectionRaised {
    /// The agent answers by this instant.
    pub answer_due: DateTime<Utc>,
    /// The objection.
    pub objection_id: String,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
}

/// An objection to the result was answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectionAnswered {
    /// When it was answered.
    pub answered_at: DateTime<Utc>,
    /// Whether the answer came after the rulebook's days.
    pub late: bool,
    /// The objection.
    pub objection_id: String,
}

/// The award notice (中标通知书) was issued.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Awarded {
    /// When.
    pub awarded_at: DateTime<Utc>,
    /// The winning bid.
    pub bid_id: String,
    /// The winning candidate's rank.
    pub candidate_rank: i64,
    /// The contract is due by this instant (招标投标法 第46条).
    pub contract_due: DateTime<Utc>,
    /// How many expert draws were revealed with the award.
    pub draws_revealed: usize,
    /// The winning price in fen.
    pub price_fen: i64,
    /// The winner's name.
    pub winner: String,
}

/// The signed contract was recorded (合同备案).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ContractRecorded {
    /// The contract amount in fen.
    pub amount_fen: i64,
    /// When it was signed.
    pub signed_at: DateTime<Utc>,
}
