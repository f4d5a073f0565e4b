//! The preliminary review as the members record it (初步评审): marks once each, never
//! changed, decided by [`super::decide_review`] when complete; too few valid bids and the
//! tender fails (流标).

use crate::evaluation::Env;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::Actor;
use crate::clock::to_millis;
use crate::evaluation::ranking::{BidFacts, Outcome};
use crate::evaluation::review::{self, Mark, ReviewError, ReviewOutcome, Verdict};
use crate::store::{Tx, is_unique_violation};
use crate::tender::service::Caller;
use crate::{q_all, q_exec};

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{
    Evaluation, MAX_ITEMS_PER_REQUEST, acting_member, canonical_sha256, corrupt, event, fail, load,
    move_to, opened_bids, rulebook, wrong,
};
use crate::lifecycle::evaluation::{Columns, EvaluationState, Move};

/// One preliminary review mark as sent.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarkInput {
    /// The bid.
    pub bid_id: String,
    /// The criterion id.
    pub criterion: String,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Why (required for a fail).
    #[serde(default)]
    pub reason: String,
}

/// `POST …/evaluation/review-marks`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MarksInput {
    /// The marks.
    pub marks: Vec<MarkInput>,
}

// ---- 3. preliminary review ------------------------------------------------------------------

pub(crate) async fn all_marks(tx: &mut Tx, tender_id: &str) -> Result<Vec<Mark>, EvaluationError> {
    let rows: Vec<(String, String, String, String, String)> = q_all!(
        tx,
        (String, String, String, String, String),
        "select member, bid_id, criterion, verdict, reason from evaluation_mark where tender_id = $1
         order by member, bid_id, criterion",
        tender_id.to_string()
    )?;
    rows.into_iter()
        .map(|(expert, bid, criterion, verdict, reason)| {
            let verdict: Verdict =
                serde_json::from_value(Value::String(verdict)).map_err(corrupt)?;
            Ok(Mark {
                expert,
                bid,
                criterion,
                verdict,
                reason,
            })
        })
        .collect()
}

/// The review decision, or `None` while marks are missing.
pub(crate) async fn review_outcome(
    tx: &mut Tx,
    ev: &Evaluation,
    bids: &[String],
) -> Result<Option<ReviewOutcome>, EvaluationError> {
    let marks = all_marks(tx, &ev.tender.tender_id).await?;
    match review::decide_review(&ev.criteria, &ev.member_ids(), bids, &marks, ev.rule) {
        Ok(o) => Ok(Some(o)),
        Err(ReviewError::MissingMarks(_)) => Ok(None),
        Err(e) => Err(EvaluationError::Review(e)),
    }
}

/// The review decision once the evaluation is past it (scoring or later).
pub(crate) async fn decided_review(
    tx: &mut Tx,
    ev: &Evaluation,
    bids: &[BidFacts],
) -> Result<ReviewOutcome, EvaluationError> {
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    review_outcome(tx, ev, &ids)
        .await?
        .ok_or_else(|| EvaluationError::corrupt("scoring before the review is decided"))
}

/// What [`record_marks`] answers. Fields in alphabetical order, as the answer has always been
/// serialised.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MarksRecorded {
    /// Whether the review is decided (these were the last marks).
    pub decided: bool,
    /// The bids that passed, once decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<Vec<String>>,
    /// Marks recorded by this request.
    pub recorded: usize,
}

/// Records a member's preliminary review marks (each once, never changed); when every mark
/// is in, decides the review: the remaining bids go on to scoring, or the tender fails with
/// too few valid bids (流标).
pub async fn record_marks(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &MarksInput,
) -> Result<MarksRecorded, EvaluationError> {
    let now = env.now;
    if input.marks.is_empty() || input.marks.len() > MAX_ITEMS_PER_REQUEST {
        return Err(EvaluationError::Invalid(
            "EVALUATION_BAD_MARKS",
            format!("send 1 to {MAX_ITEMS_PER_REQUEST} marks / 请提交评审意见"),
        ));
    }
    let mut tx = env.db.begin().await?;
    let ev = load(&mut tx, code).await?;
    let member = acting_member(&mut tx, &ev, caller).await?;
    if ev.state != EvaluationState::Review {
        return Err(wrong("mark the preliminary review", &ev));
    }
    let tid = ev.tender.tender_id.clone();
    let bids: Vec<String> = opened_bids(&mut tx, &tid)
        .await?
        .into_iter()
        .map(|b| b.bid)
        .collect();
    for m in &input.marks {
        crate::text::check("marks.reason", m.reason.trim(), crate::text::Lines::Multi)?;
        let mark = Mark {
            expert: member.clone(),
            bid: m.bid_id.clone(),
            criterion: m.criterion.clone(),
            verdict: m.verdict,
            reason: m.reason.trim().to_string(),
        };
        if !bids.contains(&mark.bid) {
            return Err(EvaluationError::Review(ReviewError::UnknownBid(mark.bid)));
        }
        if !ev.criteria.iter().any(|c| c.id == mark.criterion) {
            return Err(EvaluationError::Review(ReviewError::UnknownCriterion(
                mark.criterion,
            )));
        }
        review::check_mark(&mark).map_err(EvaluationError::Review)?;
        let verdict = serde_json::to_value(mark.verdict).map_err(corrupt)?;
        let digest = canonical_sha256(&json!({
            "tender_id": tid, "member": member, "bid_id": mark.bid, "criterion": mark.criterion,
            "verdict": verdict, "reason": mark.reason,
        }))?;
        q_exec!(
            tx,
            "insert into evaluation_mark (tender_id, member, bid_id, criterion, verdict, reason, sha256, marked_at)
             values ($1, $2, $3, $4, $5, $6, $7, $8)",
            tid.clone(),
            member.clone(),
            mark.bid.clone(),
            mark.criterion.clone(),
            verdict.as_str().unwrap_or("pass").to_string(),
            mark.reason.clone(),
            digest.clone(),
            to_millis(now)
        )
        .map_err(|e| {
            if is_unique_violation(&e) {
                EvaluationError::MarkExists {
                    bid: mark.bid.clone(),
                    criterion: mark.criterion.clone(),
                }
            } else {
                e.into()
            }
        })?;
        event(
            &mut tx,
            now,
            &caller.actor,
            "evaluation.review.mark",
            &tid,
            json!({"member": member, "bid_id": mark.bid, "criterion": mark.criterion,
                   "mark_sha256": digest}),
        )
        .await?;
    }
    let mut answer = MarksRecorded {
        decided: false,
        passed: None,
        recorded: input.marks.len(),
    };
    if let Some(outcome) = review_outcome(&mut tx, &ev, &bids).await? {
        let passed = outcome.passed();
        let book = rulebook(env.rulebooks, &ev.tender)?;
        let n = u32::try_from(passed.len()).unwrap_or(u32::MAX);
        let decision = json!({"outcome": outcome, "passed": passed});
        match book.check_valid_bids(n) {
            Ok(()) => {
                let system = Actor::system();
                let m = Move::new(Columns::None, &system, "evaluation.review.decide", decision);
                move_to(
                    &mut tx,
                    now,
                    &ev,
                    EvaluationState::Scoring,
                    m,
                    "decide the review",
                )
                .await?;
            }
            Err(violation) => {
                // The decision is recorded, then the failure by the tender's move.
                let decide = "evaluation.review.decide";
                event(&mut tx, now, &Actor::system(), decide, &tid, decision).await?;
                let outcome = Outcome::Failed {
                    valid_bids: n,
                    violation,
                };
                fail(&mut tx, now, &ev, &outcome).await?;
            }
        }
        answer.decided = true;
        answer.passed = Some(passed);
    }
    tx.commit().await?;
    Ok(answer)
}
