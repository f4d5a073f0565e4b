//! The evaluation as the caller may see it: counts until every sheet is in, the committee
//! by member number until the result is settled.

use crate::evaluation::Env;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::evaluation::committee::{self, Member, SignStatus};
use crate::evaluation::ranking::{Adjustment, Outcome};
use crate::evaluation::review::{BidDecision, ReviewCriterion, ReviewOutcome};
use crate::evaluation::scoring::ScoringPlan;
use crate::identity::Role;
use crate::lifecycle::evaluation::EvaluationState;
use crate::q_opt;
use crate::tender::model::EvaluationMethod;
use crate::tender::service::Caller;

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{
    all_sheets, corrupt, load, opened_bids, owns, review_outcome, signatures,
};
use crate::q_all;

/// The evaluation as `view` returns it; the JSON route serialises it as is. Optional parts
/// are left out of the JSON (not null) for viewers who may not see them.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationView {
    /// The tender's project code.
    pub tender_code: String,
    /// The evaluation's state.
    pub state: EvaluationState,
    /// The tender's evaluation method.
    pub method: String,
    /// Committee size.
    pub members: usize,
    /// The leader's election.
    pub election: ElectionView,
    /// The preliminary review.
    pub review: ReviewView,
    /// The detailed scoring.
    pub scoring: ScoringView,
    /// Every member's sheets, once all are in (insiders; null otherwise).
    pub sheets: Option<Vec<SheetView>>,
    /// The outcome (ranking or failure), as stored when the bids were ranked.
    pub ranking: Option<Outcome>,
    /// The committee (insiders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub committee: Option<Vec<Member>>,
    /// The committee is shown by member number only: its ids are pseudonyms.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub members_withheld: bool,
    /// The report's hash, once the detailed review is complete (may be null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_sha256: Option<Option<String>>,
    /// Signing progress, once the detailed review is complete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing: Option<SigningView>,
    /// The price comparison table from the report (insiders; may be null).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_table: Option<Option<Vec<Adjustment>>>,
    /// The stored report document (insiders), passed through as stored: it is the canonical
    /// JSON every member signs, so it is not re-shaped through a type of this build.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub report: Option<Value>,
}

/// The leader's election.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ElectionView {
    /// The election round.
    pub round: i64,
    /// Ballots cast in this round.
    pub ballots: i64,
    /// Whether a leader is elected.
    pub elected: bool,
    /// The leader (insiders; null until elected).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leader: Option<Option<String>>,
}

/// The preliminary review.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    /// The review criteria.
    pub criteria: Vec<ReviewCriterion>,
    /// The decision rule.
    pub rule: String,
    /// Marks recorded.
    pub marks: i64,
    /// Marks expected in all.
    pub marks_expected: usize,
    /// Whether the review is decided.
    pub decided: bool,
    /// The bids that passed, once decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<Vec<String>>,
    /// The decision per bid with reasons (insiders, once decided).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<ReviewOutcome>,
    /// Opened bids whose company has a penalty on record from a supervision case, flagged
    /// for the eligibility review (insiders only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub penalised_bids: Option<Vec<String>>,
}

/// The detailed scoring.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoringView {
    /// The scoring plan.
    pub plan: ScoringPlan,
    /// Members whose sheets are in.
    pub submitted: i64,
    /// Whether the caller's sheets are in.
    pub you_submitted: bool,
    /// Whether the detailed review is complete.
    pub all_in: bool,
}

/// One member's sheet for one bid.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SheetView {
    /// The member.
    pub member: String,
    /// The bid.
    pub bid_id: String,
    /// Criterion → score in hundredths.
    pub scores: BTreeMap<String, i64>,
    /// The sheet's hash.
    pub sha256: String,
}

/// Signing progress on the report.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SigningView {
    /// Members who signed, dissented or are deemed to agree.
    pub acted: usize,
    /// Whether no member is pending.
    pub complete: bool,
    /// Every member's status (insiders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<(String, SignStatus)>>,
}

impl EvaluationView {
    /// Replaces every member id by its member number, as `pseudonymise_members` does on JSON.
    fn withhold_members(&mut self, ids: &[String]) {
        let alias = |s: &mut String| {
            if let Some(i) = ids.iter().position(|m| m == s) {
                *s = committee::member_pseudonym(i + 1);
            }
        };
        for m in self.committee.iter_mut().flatten() {
            alias(&mut m.id);
        }
        if let Some(Some(l)) = &mut self.election.leader {
            alias(l);
        }
        for (_, d) in self
            .review
            .outcome
            .iter_mut()
            .flat_map(|o| o.decisions.iter_mut())
        {
            if let BidDecision::Rejected { failed } = d {
                for (m, _) in failed.iter_mut().flat_map(|f| f.reasons.iter_mut()) {
                    alias(m);
                }
            }
        }
        for s in self.sheets.iter_mut().flatten() {
            alias(&mut s.member);
        }
        for (m, _) in self
            .signing
            .iter_mut()
            .flat_map(|s| s.members.iter_mut().flatten())
        {
            alias(m);
        }
        // The outcome names bids, never members; the report names both.
        if let Some(doc) = self.report.as_mut() {
            committee::pseudonymise_members(doc, ids);
        }
        self.members_withheld = true;
    }
}

/// The evaluation as the caller may see it (owning agent, committee members, operators and
/// regulators). Until every member's sheets are in, only counts are shown: nobody sees
/// another's scores. Member ids are shown to members and regulators only.
pub async fn view(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
) -> Result<EvaluationView, EvaluationError> {
    let mut tx = env.db.read().await?;
    let ev = load(&mut tx, code).await?;
    let is_member = ev.member(&caller.user.user_id).is_some();
    let insider = is_member || matches!(caller.user.role, Role::Regulator | Role::Operator);
    if !insider && !owns(caller, &ev.tender) {
        return Err(EvaluationError::forbidden(
            "only the tender's agent, the committee and regulators may see the evaluation / 无权查看评标情况",
        ));
    }
    let tid = ev.tender.tender_id.clone();
    let (ballots,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_ballot where tender_id = $1 and round = $2",
        tid.clone(),
        ev.row.election_round
    )?;
    let (marks,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_mark where tender_id = $1",
        tid.clone()
    )?;
    let (submitted,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(distinct member) from evaluation_sheet where tender_id = $1",
        tid.clone()
    )?;
    let mine: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from evaluation_sheet where tender_id = $1 and member = $2",
        tid.clone(),
        caller.user.user_id.clone()
    )?;
    let bids = opened_bids(&mut tx, &tid).await?;
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    let review = review_outcome(&mut tx, &ev, &ids).await?;
    let penalised: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select b.bid_id from bid b where b.tender_id = $1 and b.state = 'opened'
           and exists (select 1 from supervision_penalty p
                       where p.subject_kind = 'company' and p.subject_id = b.bidder_org_id)
         order by b.bid_id",
        tid.clone()
    )?;
    // The detailed review is complete: every member's sheets, or the leader's price table.
    let all_in = match ev.method()? {
        EvaluationMethod::Comprehensive => {
            usize::try_from(submitted).unwrap_or(0) >= ev.members.len()
        }
        EvaluationMethod::LowestPrice => ev.row.report_sha256.is_some(),
    };
    let mut out = EvaluationView {
        tender_code: code.to_string(),
        state: ev.state,
        method: ev.tender.evaluation_method.clone(),
        members: ev.members.len(),
        election: ElectionView {
            round: ev.row.election_round,
            ballots,
            elected: ev.row.leader_user_id.is_some(),
            leader: insider.then(|| ev.row.leader_user_id.clone()),
        },
        review: ReviewView {
            criteria: ev.criteria.clone(),
            rule: ev.row.review_rule.clone(),
            marks,
            marks_expected: ev.criteria.len() * ev.members.len() * ids.len(),
            decided: review.is_some(),
            passed: review.as_ref().map(ReviewOutcome::passed),
            outcome: review.filter(|_| insider),
            penalised_bids: insider.then(|| penalised.into_iter().map(|(b,)| b).collect()),
        },
        scoring: ScoringView {
            plan: ev.plan.clone(),
            submitted,
            you_submitted: mine.is_some(),
            all_in,
        },
        sheets: None,
        ranking: None,
        committee: insider.then(|| ev.members.clone()),
        members_withheld: false,
        report_sha256: None,
        signing: None,
        price_table: None,
        report: None,
    };
    let stored_ranking = || -> Result<Option<Outcome>, EvaluationError> {
        ev.row
            .ranking_json
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(corrupt)
    };
    if all_in {
        if insider {
            let sheets = all_sheets(&mut tx, &tid).await?;
            out.sheets = Some(
                sheets
                    .into_iter()
                    .map(|(s, sha)| SheetView {
                        member: s.expert,
                        bid_id: s.bid,
                        scores: s.scores,
                        sha256: sha,
                    })
                    .collect(),
            );
        }
        out.ranking = stored_ranking()?;
        out.report_sha256 = Some(ev.row.report_sha256.clone());
        if let Some(book) = env.rulebooks.by_id(&ev.tender.rulebook_id) {
            let sigs = signatures(&mut tx, &tid).await?;
            let status = committee::signing_status(&ev.committee(book)?, &sigs, false)
                .map_err(EvaluationError::Signing)?;
            let acted = status
                .members
                .iter()
                .filter(|(_, s)| *s != committee::SignStatus::Pending)
                .count();
            out.signing = Some(SigningView {
                acted,
                complete: status.complete,
                members: insider.then_some(status.members),
            });
            if insider && let Some(r) = &ev.row.report_json {
                let report: Value = serde_json::from_str(r).map_err(corrupt)?;
                out.price_table = Some(
                    report
                        .get("adjustments")
                        .filter(|a| !a.is_null())
                        .map(|a| serde_json::from_value(a.clone()))
                        .transpose()
                        .map_err(corrupt)?,
                );
                out.report = Some(report);
            }
        }
    } else {
        // A failed review: the outcome names no member.
        out.ranking = stored_ranking()?;
    }
    // Operators (and the agent) follow the evaluation by member number until the result is
    // settled; the committee's identity is secret until then (招标投标法 第37条).
    let state = Some(ev.tender.state);
    if !committee::sees_members(caller.user.role, is_member, state) {
        out.withhold_members(&ev.member_ids());
    }
    Ok(out)
}
