//! Identity vocabulary: organisation kinds, roles, and the rows behind them.

use serde::{Deserialize, Serialize};

/// What an organisation is in a trade.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrgKind {
    /// 公共资源交易中心, runs the platform.
    TradingCentre,
    /// 招标人.
    Tenderee,
    /// 招标代理机构.
    Agent,
    /// A bidder company.
    Bidder,
    /// An expert's employer.
    ExpertEmployer,
    /// 行政监督部门.
    Regulator,
}

impl OrgKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OrgKind::TradingCentre => "trading_centre",
            OrgKind::Tenderee => "tenderee",
            OrgKind::Agent => "agent",
            OrgKind::Bidder => "bidder",
            OrgKind::ExpertEmployer => "expert_employer",
            OrgKind::Regulator => "regulator",
        }
    }

    /// Companies must carry a 统一社会信用代码.
    pub fn needs_uscc(self) -> bool {
        matches!(
            self,
            OrgKind::Tenderee | OrgKind::Agent | OrgKind::Bidder | OrgKind::ExpertEmployer
        )
    }
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Runs the platform: organisations, users.
    Operator,
    /// Drafts and runs tenders.
    Agent,
    /// Holds a share of a tender's opening key.
    Custodian,
    /// Downloads documents, asks questions, bids.
    Bidder,
    /// Evaluation expert.
    Expert,
    /// Read-only supervision.
    Regulator,
}

impl Role {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Agent => "agent",
            Role::Custodian => "custodian",
            Role::Bidder => "bidder",
            Role::Expert => "expert",
            Role::Regulator => "regulator",
        }
    }

    /// Parses a stored or submitted name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "operator" => Role::Operator,
            "agent" => Role::Agent,
            "custodian" => Role::Custodian,
            "bidder" => Role::Bidder,
            "expert" => Role::Expert,
            "regulator" => Role::Regulator,
            _ => return None,
        })
    }
}

/// A user as the API shows it (never with the password hash).
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct UserView {
    /// Identifier.
    pub user_id: String,
    /// Login name.
    pub username: String,
    /// Name shown in pages.
    pub display_name: String,
    /// Role name.
    pub role: String,
    /// Organisation, if any.
    pub org_id: Option<String>,
    /// pending | active | disabled.
    pub status: String,
}

/// An organisation as the API shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct OrgView {
    /// Identifier.
    pub org_id: String,
    /// Kind name.
    pub kind: String,
    /// Registered name.
    pub name: String,
    /// 统一社会信用代码.
    pub uscc: Option<String>,
    /// pending | active | rejected.
    pub status: String,
    /// A supervision case recorded a penalty against this company, or against one with the
    /// same USCC (flagged when the operator reviews a registration).
    #[sqlx(default)]
    pub penalised: bool,
}
