//! What a caller may see of the result: the publicity, objections, award and contract.

use crate::award::publicity::{self};
use crate::clock::from_millis;
use crate::evaluation::Env;
use crate::identity::Role;
use crate::q_opt;
use crate::tender::service::Caller;
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::award::service::{
    Candidate, EvalRow, ResultError, corrupt, objections, owns, publicity_of, rulebook, tender,
};

/// What a caller may see of the result. Public: the publicity, each objection's times, the
/// award and the contract. The texts of objections and answers: the owning agent, operators
/// and regulators see all; a bidder sees its own.
pub async fn view(
    env: Env<'_>,
    caller: Option<&Caller>,
    code: &str,
) -> Result<ResultView, ResultError> {
    let now = env.now;
    let mut tx = env.db.read().await?;
    let t = tender(&mut tx, code).await?;
    // A draft is nobody's business but its agent's, as everywhere else on the portal.
    if t.state == crate::lifecycle::tender::TenderState::Draft
        && !caller.is_some_and(|c| owns(c, &t))
    {
        return Err(ResultError::not_found("tender"));
    }
    let insider = caller
        .is_some_and(|c| owns(c, &t) || matches!(c.user.role, Role::Regulator | Role::Operator));
    let own_org = caller
        .filter(|c| c.user.role == Role::Bidder)
        .and_then(|c| c.user.org_id.clone());
    let ev: Option<EvalRow> = q_opt!(
        tx,
        EvalRow,
        "select state, ranking_json, report_json, report_sha256, ranked_at, report_at
         from evaluation where tender_id = $1",
        t.tender_id.clone()
    )?;
    let book = rulebook(env.rulebooks, &t)?;
    let publicity = match publicity_of(&mut tx, &t.tender_id).await? {
        Some(p) => Some(PublicityView {
            starts_at: from_millis(p.starts_at),
            ends_at: from_millis(p.ends_at),
            open: now >= from_millis(p.starts_at) && now <= from_millis(p.ends_at),
            candidates: serde_json::from_str(&p.candidates_json).map_err(corrupt)?,
        }),
        None => None,
    };
    let objections = objections(&mut tx, &t.tender_id)
        .await?
        .into_iter()
        .map(|o| {
            let show = insider || own_org.as_deref() == Some(o.org_id.as_str());
            ObjectionView {
                answer_due: publicity::objection_answer_due(book, from_millis(o.raised_at)),
                objection_id: o.objection_id,
                bidder: o.org_name,
                raised_at: from_millis(o.raised_at),
                answered_at: o.answered_at.map(from_millis),
                late: o.answered_late != 0,
                text: show.then_some(o.body),
                answer: if show { o.answer } else { None },
            }
        })
        .collect();
    /// bid, winner, price, rank, reason, awarded at, contract due.
    type AwardRow = (String, String, i64, i64, Option<String>, i64, i64);
    let award: Option<AwardRow> = q_opt!(
        tx,
        AwardRow,
        "select a.bid_id, o.name, a.price_fen, a.candidate_rank, a.reason, a.awarded_at, a.contract_due_at
         from award a join organisation o on o.org_id = a.winner_org_id where a.tender_id = $1",
        t.tender_id.clone()
    )?;
    let contract: Option<(i64, i64, Option<String>)> = q_opt!(
        tx,
        (i64, i64, Option<String>),
        "select signed_at, amount_fen, document_sha256 from contract_record where tender_id = $1",
        t.tender_id.clone()
    )?;
    let report_at = ev.as_ref().and_then(|e| e.report_at).map(from_millis);
    let publicity_window = match report_at {
        Some(r) if publicity.is_none() => {
            let latest = publicity::publicity_latest_start(book, r).ok();
            let min_end = publicity::publicity_earliest_end(book, now).ok();
            latest.zip(min_end)
        }
        _ => None,
    };
    Ok(ResultView {
        code: t.code,
        name: t.title,
        state: t.state.as_str().to_string(),
        agent_org_id: t.agent_org_id,
        evaluation_state: ev.as_ref().map(|e| e.state.clone()),
        report_sha256: ev.as_ref().and_then(|e| e.report_sha256.clone()),
        report_at,
        has_publicity_rule: book.rules.candidate_publicity_min_days.is_some(),
        publicity_latest_start: publicity_window.map(|(l, _)| l),
        publicity_earliest_end: publicity_window.map(|(_, e)| e),
        publicity,
        objections,
        award: award.map(
            |(bid_id, winner, price_fen, rank, reason, at, due)| AwardView {
                bid_id,
                winner,
                price_fen,
                candidate_rank: rank,
                reason,
                awarded_at: from_millis(at),
                contract_due: from_millis(due),
            },
        ),
        contract: contract.map(|(signed, amount, digest)| ContractView {
            signed_at: from_millis(signed),
            amount_fen: amount,
            document_sha256: digest,
        }),
    })
}

/// The result as a caller sees it (`GET /api/v1/tenders/{code}/result`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ResultView {
    /// Tender code.
    pub code: String,
    /// Tender name.
    pub name: String,
    /// Tender state.
    pub state: String,
    /// The owning agent organisation (pages decide whom to show the agent's forms).
    #[serde(skip)]
    pub agent_org_id: Option<String>,
    /// Evaluation state, once started.
    pub evaluation_state: Option<String>,
    /// The signed report's SHA-256.
    pub report_sha256: Option<String>,
    /// When the report was delivered.
    pub report_at: Option<DateTime<Utc>>,
    /// Whether the rulebook requires a candidate publicity.
    pub has_publicity_rule: bool,
    /// Before the publicity: its latest allowed start.
    pub publicity_latest_start: Option<DateTime<Utc>>,
    /// Before the publicity: its earliest allowed end if it started now.
    pub publicity_earliest_end: Option<DateTime<Utc>>,
    /// The publicity, once published.
    pub publicity: Option<PublicityView>,
    /// Objections to the result.
    pub objections: Vec<ObjectionView>,
    /// The award, once made.
    pub award: Option<AwardView>,
    /// The contract record.
    pub contract: Option<ContractView>,
}

/// The candidate publicity.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PublicityView {
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
    /// Whether objections may be raised now.
    pub open: bool,
    /// The candidates, best first.
    pub candidates: Vec<Candidate>,
}

/// One objection.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
// The opening has its own ObjectionView; one name would replace the other in the document.
#[schema(as = PublicityObjectionView)]
pub struct ObjectionView {
    /// Identifier.
    pub objection_id: String,
    /// The objecting bidder.
    pub bidder: String,
    /// When raised.
    pub raised_at: DateTime<Utc>,
    /// When the answer is due.
    pub answer_due: DateTime<Utc>,
    /// When answered.
    pub answered_at: Option<DateTime<Utc>>,
    /// Whether the answer came late.
    pub late: bool,
    /// The text, for those who may read it.
    pub text: Option<String>,
    /// The answer, for those who may read it.
    pub answer: Option<String>,
}

/// The award.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AwardView {
    /// Winning bid.
    pub bid_id: String,
    /// Winner's name.
    pub winner: String,
    /// Price in fen.
    pub price_fen: i64,
    /// The winner's candidate rank.
    pub candidate_rank: i64,
    /// Why, if not the first.
    pub reason: Option<String>,
    /// When the notice was issued.
    pub awarded_at: DateTime<Utc>,
    /// The contract is due by then.
    pub contract_due: DateTime<Utc>,
}

/// The contract record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ContractView {
    /// When signed.
    pub signed_at: DateTime<Utc>,
    /// Amount in fen.
    pub amount_fen: i64,
    /// Document digest.
    pub document_sha256: Option<String>,
}
