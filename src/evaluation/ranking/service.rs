//! Ranking once the detailed review is complete, in the transaction of the step that
//! completed it: the outcome, the report every member signs, or the failure.

use crate::evaluation::Env;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::audit::{self, Actor};
use crate::evaluation::ranking::{self, BidFacts, Outcome};
use crate::evaluation::review::ReviewOutcome;
use crate::evaluation::scoring::ScoreSheet;
use crate::store::Tx;
use crate::store::blob::sha256_hex;
use crate::tender::model::EvaluationMethod;

use crate::evaluation::error::EvaluationError;
use crate::evaluation::service::{Evaluation, all_sheets, corrupt, fail, move_to, rulebook};
use crate::lifecycle::evaluation::{Columns, EvaluationState, Move};

/// What [`rank_and_report`] ranks.
pub(crate) struct RankInput<'a> {
    /// The tender's code (named in the report).
    pub(crate) code: &'a str,
    /// The decided preliminary review.
    pub(crate) review: &'a ReviewOutcome,
    /// The bids that passed it.
    pub(crate) facts: Vec<BidFacts>,
    /// The committee's price adjustments (lowest evaluated price only).
    pub(crate) adjustments: &'a [ranking::Adjustment],
}

/// Ranks the valid bids by the tender's method once the detailed review is complete (every
/// member's sheets, or the leader's price comparison table), in the transaction of the step
/// that completed it, and stores the outcome: the ranking and the report every member signs,
/// or the failure. Returns the outcome and the report's SHA-256.
pub(crate) async fn rank_and_report(
    tx: &mut Tx,
    env: Env<'_>,
    ev: &Evaluation,
    now: DateTime<Utc>,
    input: RankInput<'_>,
) -> Result<(Outcome, Option<String>), EvaluationError> {
    let tid = ev.tender.tender_id.clone();
    let method = ev.method()?;
    let stored = all_sheets(tx, &tid).await?;
    let sheets: Vec<ScoreSheet> = stored.iter().map(|(s, _)| s.clone()).collect();
    let book = rulebook(env.rulebooks, &ev.tender)?;
    let outcome = match method {
        EvaluationMethod::Comprehensive => {
            ranking::rank_comprehensive(book, &ev.plan, &ev.member_ids(), &input.facts, &sheets)
        }
        EvaluationMethod::LowestPrice => {
            ranking::rank_lowest_price(book, &input.facts, input.adjustments)
        }
    }
    .map_err(EvaluationError::Ranking)?;
    if let Outcome::Failed { .. } = outcome {
        fail(tx, now, ev, &outcome).await?;
        return Ok((outcome, None));
    }
    let mut report = json!({
        "v": 1, "tender_id": tid, "tender_code": input.code, "method": ev.tender.evaluation_method,
        "ranked_at": audit::entry_time(now), "members": ev.members,
        "leader": ev.row.leader_user_id, "review_criteria": ev.criteria,
        "review_rule": ev.row.review_rule, "review": input.review,
        "plan": ev.plan,
        "sheets": stored.iter().map(|(s, sha)| json!({"member": s.expert, "bid_id": s.bid,
            "scores": s.scores, "sha256": sha})).collect::<Vec<_>>(),
        "outcome": outcome,
        // The digest is published with the candidates (公示) before the names may be known;
        // without a salt, anyone holding the rest of the report could test guesses of the
        // committee against it.
        "salt": crate::ids::new_salt(),
    });
    // The price comparison table (标价比较表) is part of what the members sign.
    if method == EvaluationMethod::LowestPrice {
        report["adjustments"] = serde_json::to_value(input.adjustments).map_err(corrupt)?;
    }
    let report_json = serde_json_canonicalizer::to_string(&report).map_err(corrupt)?;
    let report_sha256 = sha256_hex(report_json.as_bytes());
    let ranking_json = serde_json::to_string(&outcome).map_err(corrupt)?;
    let payload = json!({"outcome": outcome, "report_sha256": report_sha256,
           "sheets": stored.iter().map(|(s, sha)| json!({"member": s.expert, "bid_id": s.bid, "sha256": sha})).collect::<Vec<_>>()});
    let columns = Columns::Outcome {
        ranking_json,
        report: Some((report_json, report_sha256.clone())),
    };
    let system = Actor::system();
    let m = Move::new(columns, &system, "evaluation.ranking", payload);
    move_to(tx, now, ev, EvaluationState::Ranked, m, "rank the bids").await?;
    Ok((outcome, Some(report_sha256)))
}
