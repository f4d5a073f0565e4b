//! The detailed scoring as the members submit it (详细评审): every sheet of a member at
//! once, never changed, nobody sees another's until all are in; the last submission ranks
//! the bids ([`crate::evaluation::ranking::service::rank_and_report`]).

use crate::evaluation::Env;
use crate::lifecycle::evaluation::EvaluationState;
use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::clock::to_millis;
use crate::evaluation::ranking::{BidFacts, Outcome};
use crate::evaluation::scoring::{self, ScoreSheet, ScoringError, ScoringPlan, SheetProblem};
use crate::store::{Tx, is_unique_violation};
use crate::tender::model::EvaluationMethod;
use crate::tender::service::Caller;
use crate::{q_all, q_exec, q_opt};

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{
    MAX_ITEMS_PER_REQUEST, RankInput, acting_member, canonical_sha256, corrupt, decided_review,
    event, load, opened_bids, rank_and_report, wrong,
};

/// One bid's scores as sent.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SheetInput {
    /// The bid.
    pub bid_id: String,
    /// Criterion name → score in hundredths of a point.
    pub scores: BTreeMap<String, i64>,
}

/// `POST …/evaluation/scores`: every remaining bid, submitted once.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScoresInput {
    /// One sheet per bid that passed the preliminary review.
    pub sheets: Vec<SheetInput>,
}

// ---- 4. detailed scoring --------------------------------------------------------------------

pub(crate) async fn all_sheets(
    tx: &mut Tx,
    tender_id: &str,
) -> Result<Vec<(ScoreSheet, String)>, EvaluationError> {
    let rows: Vec<(String, String, String, String)> = q_all!(
        tx,
        (String, String, String, String),
        "select member, bid_id, scores_json, sha256 from evaluation_sheet where tender_id = $1
         order by member, bid_id",
        tender_id.to_string()
    )?;
    rows.into_iter()
        .map(|(expert, bid, scores, sha)| {
            let scores: BTreeMap<String, i64> = serde_json::from_str(&scores).map_err(corrupt)?;
            Ok((
                ScoreSheet {
                    expert,
                    bid,
                    scores,
                },
                sha,
            ))
        })
        .collect()
}

/// What [`submit_scores`] answers; the ranking when these were the last sheets. Fields in
/// alphabetical order, as the answer has always been serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScoresSubmitted {
    /// Whether every member's sheets are in now.
    pub all_in: bool,
    /// Committee size.
    pub members: usize,
    /// The ranking (or the failure), once all are in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    /// The report's hash, when the report was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report_sha256: Option<String>,
    /// The hash of this member's submission (in the audit trail).
    pub sheets_sha256: String,
    /// Members whose sheets are in.
    pub submitted: i64,
}

/// Submits every score sheet of the calling member at once (never changed). Refused: a
/// non-member (403), a second submission (409), a score out of range, an unknown or price
/// criterion, a bid not being scored, a sheet or a score missing (422, all problems at
/// once). The submission's SHA-256 goes into the audit trail; when every member's sheets
/// are in, the bids are ranked by the tender's method.
pub async fn submit_scores(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &ScoresInput,
) -> Result<ScoresSubmitted, EvaluationError> {
    let now = env.now;
    if input.sheets.len() > MAX_ITEMS_PER_REQUEST {
        return Err(EvaluationError::Invalid(
            "EVALUATION_BAD_SHEETS",
            format!("at most {MAX_ITEMS_PER_REQUEST} sheets / 评分表过多"),
        ));
    }
    let mut tx = env.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    let tid = ev.tender.tender_id.clone();
    let mine: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select bid_id from evaluation_sheet where tender_id = $1 and member = $2",
        tid.clone(),
        member.clone()
    )?;
    if mine.is_some() {
        return Err(EvaluationError::AlreadySubmitted);
    }
    if ev.method()? == EvaluationMethod::LowestPrice {
        return Err(EvaluationError::WrongMethod(
            "this tender is evaluated by the lowest evaluated price: there are no score sheets, the leader records the committee's price comparison table / 本项目采用经评审的最低投标价法，不评分，由组长录入标价比较表",
        ));
    }
    if ev.state != EvaluationState::Scoring {
        return Err(wrong("submit scores", &ev));
    }
    let bids = opened_bids(&mut tx, &tid).await?;
    let outcome_of_review = decided_review(&mut tx, &ev, &bids).await?;
    let passed = outcome_of_review.passed();

    let sheets = checked_sheets(&ev.plan, &member, &passed, &input.sheets)?;
    let digest = canonical_sha256(&json!({
        "tender_id": tid, "member": member,
        "sheets": sheets.iter().map(|s| json!({"bid_id": s.bid, "scores": s.scores})).collect::<Vec<_>>(),
    }))?;
    for s in &sheets {
        q_exec!(
            tx,
            "insert into evaluation_sheet (tender_id, member, bid_id, scores_json, sha256, submitted_at)
             values ($1, $2, $3, $4, $5, $6)",
            tid.clone(),
            member.clone(),
            s.bid.clone(),
            serde_json::to_string(&s.scores).map_err(corrupt)?,
            digest.clone(),
            to_millis(now)
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                EvaluationError::AlreadySubmitted
            } else {
                e.into()
            }
        })?;
    }
    event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.scores.submit",
        &tid,
        json!({"member": member, "bids": passed, "sheets_sha256": digest}),
    )
    .await?;

    let (submitted,): (i64,) = crate::q_one!(
        tx,
        (i64,),
        "select count(distinct member) from evaluation_sheet where tender_id = $1",
        tid.clone()
    )?;
    let all_in = usize::try_from(submitted).unwrap_or(0) >= ev.members.len();
    let mut answer = ScoresSubmitted {
        all_in,
        members: ev.members.len(),
        outcome: None,
        report_sha256: None,
        sheets_sha256: digest,
        submitted,
    };
    if all_in {
        let facts: Vec<BidFacts> = bids
            .into_iter()
            .filter(|b| passed.contains(&b.bid))
            .collect();
        let (outcome, report_sha256) = rank_and_report(
            &mut tx,
            env,
            &ev,
            now,
            RankInput {
                code,
                review: &outcome_of_review,
                facts,
                adjustments: &[],
            },
        )
        .await?;
        answer.report_sha256 = report_sha256;
        answer.outcome = Some(outcome);
    }
    tx.commit().await?;
    Ok(answer)
}

/// The member's sheets as submitted, checked all at once: every sheet for a bid still in the
/// evaluation, once, each score in range, nothing missing (a submission is final). Every
/// problem is reported, not just the first.
fn checked_sheets(
    plan: &ScoringPlan,
    member: &str,
    passed: &[String],
    input: &[SheetInput],
) -> Result<Vec<ScoreSheet>, EvaluationError> {
    let mut problems = Vec::new();
    let mut seen = BTreeSet::new();
    let mut sheets = Vec::with_capacity(input.len());
    for s in input {
        if !passed.contains(&s.bid_id) {
            problems.push(SheetProblem::UnknownBid {
                bid: s.bid_id.clone(),
            });
            continue;
        }
        if !seen.insert(s.bid_id.as_str()) {
            problems.push(SheetProblem::Duplicate {
                expert: member.to_string(),
                bid: s.bid_id.clone(),
            });
            continue;
        }
        let sheet = ScoreSheet {
            expert: member.to_string(),
            bid: s.bid_id.clone(),
            scores: s.scores.clone(),
        };
        if let Err(ScoringError::Sheets(p)) = scoring::check_sheet(plan, &sheet) {
            problems.extend(p);
        }
        sheets.push(sheet);
    }
    // A submission is final, so it must be complete.
    for b in passed {
        let sheet = sheets.iter().find(|s| &s.bid == b);
        let missing: Vec<String> = plan
            .criteria
            .iter()
            .filter(|c| !sheet.is_some_and(|s| s.scores.contains_key(&c.name)))
            .map(|c| c.name.clone())
            .collect();
        if !missing.is_empty() {
            problems.push(SheetProblem::Missing {
                expert: member.to_string(),
                bid: b.clone(),
                criteria: missing,
            });
        }
    }
    if problems.is_empty() {
        Ok(sheets)
    } else {
        Err(EvaluationError::Scoring(ScoringError::Sheets(problems)))
    }
}
