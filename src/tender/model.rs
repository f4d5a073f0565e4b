//! The tender aggregate as the API and the pages see it: states, request bodies, views of
//! documents, amendments, questions and notices, and the rows they are read from.
//!
//! Times are `DateTime<Utc>` here (RFC 3339 in JSON) and integer milliseconds in the
//! database; money is integer fen. Nothing in this module does I/O.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::rulebook::TenderTerms;
use crate::clock::from_millis;

pub use crate::lifecycle::tender::TenderState;

/// How bids are evaluated.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EvaluationMethod {
    /// 综合评估法: weighted criteria.
    Comprehensive,
    /// 经评审的最低投标价法.
    LowestPrice,
}

impl EvaluationMethod {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EvaluationMethod::Comprehensive => "comprehensive",
            EvaluationMethod::LowestPrice => "lowest_price",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "comprehensive" => Some(EvaluationMethod::Comprehensive),
            "lowest_price" => Some(EvaluationMethod::LowestPrice),
            _ => None,
        }
    }
}

/// One scoring criterion with its weight in percent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// Name, e.g. "技术方案".
    pub name: String,
    /// Weight in percent; the weights of a tender sum to 100 (checked at publication).
    pub weight: u32,
}

/// How many experts of one specialty the committee needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpertQuota {
    /// Specialty code or name.
    pub specialty: String,
    /// Number of experts.
    pub count: u32,
}

/// The body of "create a draft" and "replace a draft" (`POST /api/v1/tenders`,
/// `PUT /api/v1/tenders/{code}`). Times are RFC 3339 strings, parsed by the service so a
/// bad one is refused with the field's name.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenderInput {
    /// Project code, unique, `[A-Za-z0-9-]{3,40}`.
    pub code: String,
    /// Title.
    pub title: String,
    /// Announcement text.
    #[serde(default)]
    pub description: String,
    /// Category, e.g. "construction"; with `procedure` it picks the rulebook.
    pub category: String,
    /// Procedure, e.g. "open".
    pub procedure: String,
    /// The tenderee (招标人) organisation.
    pub tenderee_org_id: String,
    /// Estimated price in fen.
    pub estimated_price_fen: i64,
    /// Ceiling price (最高投标限价) in fen.
    #[serde(default)]
    pub ceiling_price_fen: Option<i64>,
    /// Bid security in fen (0 = none).
    #[serde(default)]
    pub bid_security_fen: i64,
    /// When the documents become available (RFC 3339).
    pub documents_available_at: String,
    /// End of the document availability period (RFC 3339); absent = until the deadline.
    #[serde(default)]
    pub documents_available_until: Option<String>,
    /// Question cut-off (RFC 3339).
    pub clarification_cutoff_at: String,
    /// Bid deadline = opening time (RFC 3339).
    pub bid_deadline_at: String,
    /// Opening place (room or "online").
    pub opening_place: String,
    /// Evaluation method.
    pub evaluation_method: EvaluationMethod,
    /// Scoring criteria.
    #[serde(default)]
    pub criteria: Vec<Criterion>,
    /// Expert specialty quotas.
    #[serde(default)]
    pub expert_quotas: Vec<ExpertQuota>,
    /// Opening-key custodians (users with role custodian).
    #[serde(default)]
    pub custodians: Vec<String>,
}

/// Body of `POST …/amendments`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmendmentInput {
    /// One-line summary.
    pub summary: String,
    /// The full text of the clarification or change.
    pub body: String,
}

/// Body of `POST …/questions`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionInput {
    /// The question.
    pub body: String,
}

/// Body of `POST …/questions/{id}/answer`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerInput {
    /// The answer (published to everyone).
    pub answer: String,
}

/// Body of `POST …/cancel`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelInput {
    /// Why the tender is terminated (mandatory, public).
    #[serde(default)]
    pub reason: String,
}

/// A tender as the API and pages show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Tender {
    /// Identifier.
    pub tender_id: String,
    /// Project code (used in URLs).
    pub code: String,
    /// Title.
    pub title: String,
    /// Announcement text.
    pub description: String,
    /// Category.
    pub category: String,
    /// Procedure.
    pub procedure: String,
    /// The rulebook applied.
    pub rulebook_id: String,
    /// Tenderee organisation.
    pub tenderee_org_id: String,
    /// Tenderee name.
    pub tenderee_name: String,
    /// Agent organisation (owner of the tender on the platform).
    pub agent_org_id: Option<String>,
    /// Agent name.
    pub agent_name: Option<String>,
    /// Lifecycle state.
    pub state: TenderState,
    /// Currency of every amount (CNY).
    pub currency: String,
    /// Estimated price in fen.
    pub estimated_price_fen: i64,
    /// Ceiling price in fen.
    pub ceiling_price_fen: Option<i64>,
    /// Bid security in fen.
    pub bid_security_fen: i64,
    /// Documents available from.
    pub documents_available_at: DateTime<Utc>,
    /// Documents available until (None = until the deadline).
    pub documents_available_until: Option<DateTime<Utc>>,
    /// Question cut-off.
    pub clarification_cutoff_at: DateTime<Utc>,
    /// Bid deadline = opening time.
    pub bid_deadline_at: DateTime<Utc>,
    /// Opening place.
    pub opening_place: String,
    /// Evaluation method.
    pub evaluation_method: EvaluationMethod,
    /// Scoring criteria.
    pub criteria: Vec<Criterion>,
    /// Expert quotas.
    pub expert_quotas: Vec<ExpertQuota>,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When it was cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// The failed tender this one re-tenders (重新招标), by code.
    pub retender_of: Option<String>,
    /// The published tender that re-tenders this failed one, by code.
    pub retendered_by: Option<String>,
}

impl Tender {
    /// Whether the public may see the tender: once published, in every later state. A draft
    /// cancelled before publication stays private.
    pub fn is_public(&self) -> bool {
        self.published_at.is_some()
    }

    /// The terms the rulebook checks.
    pub fn terms(&self, custodian_count: u32) -> TenderTerms {
        TenderTerms {
            documents_available_at: self.documents_available_at,
            documents_available_until: self.documents_available_until,
            clarification_cutoff_at: self.clarification_cutoff_at,
            bid_deadline_at: self.bid_deadline_at,
            estimated_price_fen: self.estimated_price_fen,
            ceiling_price_fen: self.ceiling_price_fen,
            bid_security_fen: self.bid_security_fen,
            custodian_count,
            criteria_weights: self.criteria.iter().map(|c| c.weight).collect(),
        }
    }
}

/// A line of the public list.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenderSummary {
    /// Identifier.
    pub tender_id: String,
    /// Project code.
    pub code: String,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Procedure.
    pub procedure: String,
    /// Tenderee name.
    pub tenderee_name: String,
    /// State.
    pub state: TenderState,
    /// Estimated price in fen.
    pub estimated_price_fen: i64,
    /// Bid deadline.
    pub bid_deadline_at: DateTime<Utc>,
    /// Published.
    pub published_at: Option<DateTime<Utc>>,
}

/// A tender document's metadata (the bytes are in the blob store under `sha256`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenderDocument {
    /// Identifier.
    pub document_id: String,
    /// Tender.
    pub tender_id: String,
    /// The amendment it came with, if any.
    pub amendment_id: Option<String>,
    /// Sanitised file name.
    pub filename: String,
    /// Content type as uploaded.
    pub content_type: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// SHA-256 hex of the bytes.
    pub sha256: String,
    /// Uploaded.
    pub uploaded_at: DateTime<Utc>,
}

/// An amendment (澄清/修改) as published.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Amendment {
    /// Identifier.
    pub amendment_id: String,
    /// Summary.
    pub summary: String,
    /// Full text.
    pub body: String,
    /// Deadline before the amendment.
    pub old_deadline: DateTime<Utc>,
    /// Deadline after it (equal when it did not move).
    pub new_deadline: DateTime<Utc>,
    /// Published.
    pub created_at: DateTime<Utc>,
}

/// A question as shown to someone: never with the asker, except to regulators.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct QuestionView {
    /// Identifier.
    pub question_id: String,
    /// The question.
    pub body: String,
    /// Asked.
    pub asked_at: DateTime<Utc>,
    /// The answer, once given.
    pub answer: Option<String>,
    /// Answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether the viewer asked it (so a bidder can find their own questions).
    pub mine: bool,
    /// The asker's user id: filled for regulators and operators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asked_by: Option<String>,
}

/// Everything public about one tender.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TenderDetail {
    /// The tender.
    #[serde(flatten)]
    pub tender: Tender,
    /// Documents, oldest first.
    pub documents: Vec<TenderDocument>,
    /// Amendments, oldest first.
    pub amendments: Vec<Amendment>,
    /// Answered questions (no asker), oldest first.
    pub questions: Vec<QuestionView>,
    /// Number of opening-key custodians appointed.
    pub custodian_count: u32,
}

/// A message for one user (an amendment of a tender whose documents they downloaded …).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Notice {
    /// Identifier.
    pub notice_id: String,
    /// Tender it concerns.
    pub tender_id: Option<String>,
    /// Tender code, for links.
    pub tender_code: Option<String>,
    /// amendment | answer | cancel.
    pub kind: String,
    /// Text (bilingual).
    pub body: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Read.
    pub read_at: Option<DateTime<Utc>>,
}

// ---- rows -------------------------------------------------------------------------------

/// The columns selected for a [`Tender`] (see `TENDER_COLUMNS` in the service).
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TenderRow {
    pub tender_id: String,
    pub code: String,
    pub title: String,
    pub description: String,
    pub category: String,
    pub procedure: String,
    pub rulebook_id: String,
    pub tenderee_org_id: String,
    pub tenderee_name: String,
    pub agent_org_id: Option<String>,
    pub agent_name: Option<String>,
    pub state: String,
    pub currency: String,
    pub estimated_price_fen: i64,
    pub ceiling_price_fen: Option<i64>,
    pub bid_security_fen: i64,
    pub documents_available_at: i64,
    pub documents_available_until: Option<i64>,
    pub clarification_cutoff_at: i64,
    pub bid_deadline_at: i64,
    pub opening_place: String,
    pub evaluation_method: String,
    pub criteria_json: String,
    pub expert_quotas_json: String,
    pub published_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub retender_of: Option<String>,
    pub retendered_by: Option<String>,
}

impl TenderRow {
    /// Converts, failing (as a storage error) only if the row holds values no code writes.
    pub(crate) fn into_tender(self) -> Result<Tender, String> {
        let state = TenderState::parse(&self.state)
            .ok_or_else(|| format!("tender {} has unknown state {}", self.code, self.state))?;
        let evaluation_method = EvaluationMethod::parse(&self.evaluation_method)
            .ok_or_else(|| format!("tender {} has unknown evaluation method", self.code))?;
        let criteria = serde_json::from_str(&self.criteria_json)
            .map_err(|e| format!("tender {} criteria: {e}", self.code))?;
        let expert_quotas = serde_json::from_str(&self.expert_quotas_json)
            .map_err(|e| format!("tender {} quotas: {e}", self.code))?;
        Ok(Tender {
            tender_id: self.tender_id,
            code: self.code,
            title: self.title,
            description: self.description,
            category: self.category,
            procedure: self.procedure,
            rulebook_id: self.rulebook_id,
            tenderee_org_id: self.tenderee_org_id,
            tenderee_name: self.tenderee_name,
            agent_org_id: self.agent_org_id,
            agent_name: self.agent_name,
            state,
            currency: self.currency,
            estimated_price_fen: self.estimated_price_fen,
            ceiling_price_fen: self.ceiling_price_fen,
            bid_security_fen: self.bid_security_fen,
            documents_available_at: from_millis(self.documents_available_at),
            documents_available_until: self.documents_available_until.map(from_millis),
            clarification_cutoff_at: from_millis(self.clarification_cutoff_at),
            bid_deadline_at: from_millis(self.bid_deadline_at),
            opening_place: self.opening_place,
            evaluation_method,
            criteria,
            expert_quotas,
            published_at: self.published_at.map(from_millis),
            cancelled_at: self.cancelled_at.map(from_millis),
            cancel_reason: self.cancel_reason,
            created_at: from_millis(self.created_at),
            updated_at: from_millis(self.updated_at),
            retender_of: self.retender_of,
            retendered_by: self.retendered_by,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct SummaryRow {
    pub tender_id: String,
    pub code: String,
    pub title: String,
    pub category: String,
    pub procedure: String,
    pub tenderee_name: String,
    pub state: String,
    pub estimated_price_fen: i64,
    pub bid_deadline_at: i64,
    pub published_at: Option<i64>,
}

impl SummaryRow {
    pub(crate) fn into_summary(self) -> Result<TenderSummary, String> {
        Ok(TenderSummary {
            state: TenderState::parse(&self.state)
                .ok_or_else(|| format!("tender {} has unknown state", self.code))?,
            tender_id: self.tender_id,
            code: self.code,
            title: self.title,
            category: self.category,
            procedure: self.procedure,
            tenderee_name: self.tenderee_name,
            estimated_price_fen: self.estimated_price_fen,
            bid_deadline_at: from_millis(self.bid_deadline_at),
            published_at: self.published_at.map(from_millis),
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct DocumentRow {
    pub document_id: String,
    pub tender_id: String,
    pub amendment_id: Option<String>,
    pub filename: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    pub uploaded_at: i64,
}

impl From<DocumentRow> for TenderDocument {
    fn from(r: DocumentRow) -> Self {
        TenderDocument {
            document_id: r.document_id,
            tender_id: r.tender_id,
            amendment_id: r.amendment_id,
            filename: r.filename,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            sha256: r.sha256,
            uploaded_at: from_millis(r.uploaded_at),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct AmendmentRow {
    pub amendment_id: String,
    pub summary: String,
    pub body: String,
    pub old_deadline: i64,
    pub new_deadline: i64,
    pub created_at: i64,
}

impl From<AmendmentRow> for Amendment {
    fn from(r: AmendmentRow) -> Self {
        Amendment {
            amendment_id: r.amendment_id,
            summary: r.summary,
            body: r.body,
            old_deadline: from_millis(r.old_deadline),
            new_deadline: from_millis(r.new_deadline),
            created_at: from_millis(r.created_at),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct QuestionRow {
    pub question_id: String,
    pub asked_by: String,
    pub body: String,
    pub asked_at: i64,
    pub answer: Option<String>,
    pub answered_at: Option<i64>,
}

impl QuestionRow {
    /// The view for `viewer`; the asker only when `reveal_asker` (regulators, operators).
    pub(crate) fn view(self, viewer: Option<&str>, reveal_asker: bool) -> QuestionView {
        QuestionView {
            mine: viewer == Some(self.asked_by.as_str()),
            asked_by: reveal_asker.then_some(self.asked_by),
            question_id: self.question_id,
            body: self.body,
            asked_at: from_millis(self.asked_at),
            answer: self.answer,
            answered_at: self.answered_at.map(from_millis),
        }
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct NoticeRow {
    pub notice_id: String,
    pub tender_id: Option<String>,
    pub tender_code: Option<String>,
    pub kind: String,
    pub body: String,
    pub created_at: i64,
    pub read_at: Option<i64>,
}

impl From<NoticeRow> for Notice {
    fn from(r: NoticeRow) -> Self {
        Notice {
            notice_id: r.notice_id,
            tender_id: r.tender_id,
            tender_code: r.tender_code,
            kind: r.kind,
            body: r.body,
            created_at: from_millis(r.created_at),
            read_at: r.read_at.map(from_millis),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_cancellable_matches_list() {
        for s in [
            TenderState::Draft,
            TenderState::Published,
            TenderState::Closed,
            TenderState::Opened,
            TenderState::Evaluating,
            TenderState::Publicity,
            TenderState::Awarded,
            TenderState::Contracted,
            TenderState::Cancelled,
            TenderState::Failed,
        ] {
            assert_eq!(TenderState::parse(s.as_str()), Some(s));
            assert_eq!(
                s.cancellable(),
                TenderState::CANCELLABLE.contains(&s.as_str()),
                "{s:?}"
            );
        }
        assert!(!TenderState::Awarded.cancellable());
        assert!(!TenderState::Cancelled.cancellable());
        assert_eq!(TenderState::parse("bogus"), None);
    }

    #[test]
    fn question_view_hides_the_asker() {
        let row = || QuestionRow {
            question_id: "q".into(),
            asked_by: "u1".into(),
            body: "?".into(),
            asked_at: 0,
            answer: None,
            answered_at: None,
        };
        let public = row().view(None, false);
        assert!(public.asked_by.is_none() && !public.mine);
        let json = serde_json::to_value(&public).unwrap_or_default();
        assert!(json.get("asked_by").is_none(), "{json}");
        assert!(row().view(Some("u1"), false).mine);
        assert_eq!(row().view(None, true).asked_by.as_deref(), Some("u1"));
    }

    #[test]
    fn input_refuses_unknown_fields() {
        let err = serde_json::from_str::<CancelInput>(r#"{"reason":"x","colour":"red"}"#)
            .expect_err("unknown field");
        assert!(err.to_string().contains("colour"), "{err}");
    }
}
