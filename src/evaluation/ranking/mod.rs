//! Ranking (排序) and the candidates (中标候选人).
//!
//! Two methods, as the tender says ([`EvaluationMethod`]):
//! - comprehensive scoring (综合评估法): total = aggregated subjective score + price score;
//!   the highest total ranks first. Ties: the lower bid price first, then the earlier
//!   submission, then the bid id (a last, arbitrary but deterministic key that only equal
//!   prices submitted in the same millisecond reach);
//! - lowest evaluated price (经评审的最低投标价法): evaluated price = bid price + the
//!   committee's quantified adjustments (in fen, either sign, each with a reason); the lowest
//!   evaluated price ranks first. Ties: the earlier submission, then the bid id.
//!
//! Only bids that passed the preliminary review are ranked. Fewer of them than the rulebook's
//! minimum (招标投标法 第28条 as configured, 3 by default) and the evaluation fails (流标):
//! [`Outcome::Failed`]. Otherwise all valid bids are ranked and at most
//! [`MAX_CANDIDATES`] (实施条例 第53条) become candidates.

pub mod service;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::evaluation::Hundredths;
use crate::evaluation::scoring::{self, ScoreSheet, ScoringError, ScoringPlan};
use crate::tender::model::EvaluationMethod;
use crate::tender::rulebook::{MAX_MONEY_FEN, RuleViolation, Rulebook};

/// At most three ranked candidates (招标投标法实施条例 第53条).
pub const MAX_CANDIDATES: usize = 3;
/// The article limiting the candidates.
pub const ARTICLE_CANDIDATES: &str = "招标投标法实施条例 第53条";

/// What ranking needs to know about a bid that passed the preliminary review.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BidFacts {
    /// The bid.
    pub bid: String,
    /// The bid price (投标报价) from the opened bid form, in fen.
    pub price_fen: i64,
    /// When the counted submission was made.
    pub submitted_at: DateTime<Utc>,
}

/// A quantified adjustment to a bid's price under the lowest-evaluated-price method
/// (e.g. a deviation priced in, a discount for an earlier completion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Adjustment {
    /// The bid.
    pub bid: String,
    /// Amount in fen, positive to add, negative to subtract.
    pub amount_fen: i64,
    /// Why, for the report.
    pub reason: String,
}

/// The figures behind a rank.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum RankDetail {
    /// 综合评估法.
    Comprehensive {
        /// Aggregated subjective score.
        subjective: Hundredths,
        /// Price score from the formula (0 when the plan scores no price).
        price_score: Hundredths,
        /// Their sum.
        total: Hundredths,
    },
    /// 经评审的最低投标价法.
    LowestPrice {
        /// Sum of the adjustments, in fen.
        adjustments_fen: i64,
        /// Bid price + adjustments, in fen.
        evaluated_price_fen: i64,
    },
}

/// One ranked bid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankedBid {
    /// 1-based rank; distinct for every bid (ties are broken as the module says).
    pub rank: u32,
    /// The bid.
    pub bid: String,
    /// Its price in fen.
    pub price_fen: i64,
    /// When it was submitted.
    pub submitted_at: DateTime<Utc>,
    /// The figures.
    pub detail: RankDetail,
}

/// A complete ranking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Ranking {
    /// The method used.
    pub method: EvaluationMethod,
    /// The price benchmark in fen, when a price formula was applied.
    pub benchmark_fen: Option<i64>,
    /// Every valid bid, best first.
    pub rows: Vec<RankedBid>,
    /// The first [`MAX_CANDIDATES`] bids, best first.
    pub candidates: Vec<String>,
}

/// The result of the evaluation, as answered and as stored with the evaluation
/// (`evaluation.ranking_json`), which is read back into this same type.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Too few valid bids: the tender fails (流标); the violation names the rule and article.
    Failed {
        /// Valid bids left after the preliminary review.
        valid_bids: u32,
        /// The rule broken.
        violation: RuleViolation,
    },
    /// The ranking.
    Ranked(Ranking),
}

/// Why a ranking cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RankingError {
    /// Scoring failed (sheets missing or invalid, price formula).
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    /// A bid listed twice.
    #[error("bid {0} is listed twice")]
    DuplicateBid(String),
    /// A price outside 0..=10^15 fen.
    #[error("bid {0} has a price outside 0..=10^15 fen")]
    BadPrice(String),
    /// An adjustment for a bid that is not ranked.
    #[error("adjustment for bid {0}, which is not a valid bid")]
    UnknownBid(String),
    /// An adjustment without a reason.
    #[error("adjustment for bid {0} has no reason")]
    AdjustmentWithoutReason(String),
    /// An evaluated price outside the money range.
    #[error("the evaluated price of bid {0} is out of range")]
    Overflow(String),
    /// Adjustments that take a bid's evaluated price below zero.
    #[error(
        "the adjustments take the evaluated price of bid {0} below zero / 调整后评标价不能为负"
    )]
    NegativeEvaluatedPrice(String),
}

impl RankingError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            RankingError::Scoring(e) => e.code(),
            RankingError::DuplicateBid(_) => "RANKING_DUPLICATE_BID",
            RankingError::BadPrice(_) => "RANKING_BAD_PRICE",
            RankingError::UnknownBid(_) => "RANKING_UNKNOWN_BID",
            RankingError::AdjustmentWithoutReason(_) => "RANKING_ADJUSTMENT_WITHOUT_REASON",
            RankingError::Overflow(_) => "RANKING_OVERFLOW",
            RankingError::NegativeEvaluatedPrice(_) => "RANKING_NEGATIVE_EVALUATED_PRICE",
        }
    }
}

fn check_bids(bids: &[BidFacts]) -> Result<(), RankingError> {
    let mut seen = BTreeSet::new();
    for b in bids {
        if !seen.insert(b.bid.as_str()) {
            return Err(RankingError::DuplicateBid(b.bid.clone()));
        }
        if !(0..=MAX_MONEY_FEN).contains(&b.price_fen) {
            return Err(RankingError::BadPrice(b.bid.clone()));
        }
    }
    Ok(())
}

/// `Some(Outcome::Failed)` when fewer valid bids remain than the rulebook requires.
fn too_few(rulebook: &Rulebook, bids: &[BidFacts]) -> Option<Outcome> {
    let n = u32::try_from(bids.len()).unwrap_or(u32::MAX);
    rulebook
        .check_valid_bids(n)
        .err()
        .map(|violation| Outcome::Failed {
            valid_bids: n,
            violation,
        })
}

fn finish(
    method: EvaluationMethod,
    benchmark_fen: Option<i64>,
    rows: Vec<(BidFacts, RankDetail)>,
) -> Outcome {
    let rows: Vec<RankedBid> = rows
        .into_iter()
        .zip(1u32..)
        .map(|((b, detail), rank)| RankedBid {
            rank,
            bid: b.bid,
            price_fen: b.price_fen,
            submitted_at: b.submitted_at,
            detail,
        })
        .collect();
    let candidates = rows
        .iter()
        .take(MAX_CANDIDATES)
        .map(|r| r.bid.clone())
        .collect();
    Outcome::Ranked(Ranking {
        method,
        benchmark_fen,
        rows,
        candidates,
    })
}

/// Comprehensive scoring (综合评估法) of the bids that passed the preliminary review.
/// `members` are the committee members whose sheets count (after any replacement).
pub fn rank_comprehensive(
    rulebook: &Rulebook,
    plan: &ScoringPlan,
    members: &[String],
    bids: &[BidFacts],
    sheets: &[ScoreSheet],
) -> Result<Outcome, RankingError> {
    check_bids(bids)?;
    if let Some(failed) = too_few(rulebook, bids) {
        return Ok(failed);
    }
    let ids: Vec<String> = bids.iter().map(|b| b.bid.clone()).collect();
    let aggregates = scoring::aggregate(plan, members, &ids, sheets)?;
    let (benchmark_fen, price_scores) = match &plan.price {
        Some(formula) => {
            let prices: Vec<(String, i64)> =
                bids.iter().map(|b| (b.bid.clone(), b.price_fen)).collect();
            let ps = scoring::price_scores(formula, &prices)?;
            (Some(ps.benchmark_fen), ps.scores)
        }
        None => (None, BTreeMap::new()),
    };
    let mut rows = Vec::with_capacity(bids.len());
    for b in bids {
        let subjective = aggregates.get(&b.bid).map_or(0, |a| a.score);
        let price_score = price_scores.get(&b.bid).copied().unwrap_or(0);
        let total = subjective
            .checked_add(price_score)
            .ok_or_else(|| RankingError::Overflow(b.bid.clone()))?;
        rows.push((
            b.clone(),
            RankDetail::Comprehensive {
                subjective,
                price_score,
                total,
            },
        ));
    }
    let total = |d: &RankDetail| match d {
        RankDetail::Comprehensive { total, .. } => *total,
        RankDetail::LowestPrice { .. } => 0,
    };
    rows.sort_by(|(a, da), (b, db)| {
        total(db)
            .cmp(&total(da))
            .then(a.price_fen.cmp(&b.price_fen))
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.bid.cmp(&b.bid))
    });
    Ok(finish(EvaluationMethod::Comprehensive, benchmark_fen, rows))
}

/// Lowest evaluated price (经评审的最低投标价法) of the bids that passed the preliminary
/// review, with the committee's quantified adjustments.
pub fn rank_lowest_price(
    rulebook: &Rulebook,
    bids: &[BidFacts],
    adjustments: &[Adjustment],
) -> Result<Outcome, RankingError> {
    check_bids(bids)?;
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for a in adjustments {
        if !bids.iter().any(|b| b.bid == a.bid) {
            return Err(RankingError::UnknownBid(a.bid.clone()));
        }
        if a.reason.trim().is_empty() {
            return Err(RankingError::AdjustmentWithoutReason(a.bid.clone()));
        }
        let s = sums.entry(a.bid.as_str()).or_insert(0);
        *s = s
            .checked_add(a.amount_fen)
            .filter(|s| s.unsigned_abs() <= MAX_MONEY_FEN.unsigned_abs())
            .ok_or_else(|| RankingError::Overflow(a.bid.clone()))?;
    }
    if let Some(failed) = too_few(rulebook, bids) {
        return Ok(failed);
    }
    let mut rows = Vec::with_capacity(bids.len());
    for b in bids {
        let adjustments_fen = sums.get(b.bid.as_str()).copied().unwrap_or(0);
        // Both terms are within ±10^15, so the sum cannot overflow an i64.
        let evaluated_price_fen = b.price_fen.saturating_add(adjustments_fen);
        if evaluated_price_fen < 0 {
            return Err(RankingError::NegativeEvaluatedPrice(b.bid.clone()));
        }
        rows.push((
            b.clone(),
            RankDetail::LowestPrice {
                adjustments_fen,
                evaluated_price_fen,
            },
        ));
    }
    let evaluated = |d: &RankDetail| match d {
        RankDetail::LowestPrice {
            evaluated_price_fen,
            ..
        } => *evaluated_price_fen,
        RankDetail::Comprehensive { .. } => 0,
    };
    rows.sort_by(|(a, da), (b, db)| {
        evaluated(da)
            .cmp(&evaluated(db))
            .then(a.submitted_at.cmp(&b.submitted_at))
            .then(a.bid.cmp(&b.bid))
    });
    Ok(finish(EvaluationMethod::LowestPrice, None, rows))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::evaluation::committee::tests::construction;
    use crate::evaluation::scoring::tests::{plan, sheet};
    use crate::evaluation::scoring::{Aggregation, Benchmark};
    use chrono::TimeDelta;
    use proptest::prelude::*;

    fn t0() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_740_000_000, 0).unwrap()
    }

    fn bid(id: &str, price_fen: i64, minute: i64) -> BidFacts {
        BidFacts {
            bid: id.into(),
            price_fen,
            submitted_at: t0() + TimeDelta::minutes(minute),
        }
    }

    fn members() -> Vec<String> {
        (1..=5).map(|i| format!("e{i}")).collect()
    }

    fn ranked(o: Outcome) -> Ranking {
        match o {
            Outcome::Ranked(r) => r,
            Outcome::Failed { violation, .. } => panic!("failed: {violation}"),
        }
    }

    /// Every member gives `bid` the same three scores.
    fn sheets_for(bid: &str, s: [Hundredths; 3]) -> Vec<ScoreSheet> {
        members().iter().map(|e| sheet(e, bid, s)).collect()
    }

    #[test]
    fn comprehensive_highest_total_wins_and_at_most_three_candidates() {
        let p = plan(Aggregation::TrimmedMean, Benchmark::Lowest);
        let bids = [
            bid("b1", 100_000_000, 0),
            bid("b2", 102_500_000, 1),
            bid("b3", 110_000_000, 2),
            bid("b4", 101_000_000, 3),
        ];
        let mut sheets = Vec::new();
        sheets.extend(sheets_for("b1", [3000, 1500, 500])); // 50 + 30 = 80
        sheets.extend(sheets_for("b2", [3600, 1800, 900])); // 63 + 27.5 = 90.5
        sheets.extend(sheets_for("b3", [4000, 2000, 1000])); // 70 + 20 = 90
        sheets.extend(sheets_for("b4", [2000, 1000, 500])); // 35 + 29 = 64
        let r =
            ranked(rank_comprehensive(&construction(), &p, &members(), &bids, &sheets).unwrap());
        assert_eq!(r.method, EvaluationMethod::Comprehensive);
        assert_eq!(r.benchmark_fen, Some(100_000_000));
        let order: Vec<_> = r.rows.iter().map(|x| (x.rank, x.bid.as_str())).collect();
        assert_eq!(order, [(1, "b2"), (2, "b3"), (3, "b1"), (4, "b4")]);
        assert_eq!(r.candidates, ["b2", "b3", "b1"]);
        assert_eq!(
            r.rows[0].detail,
            RankDetail::Comprehensive {
                subjective: 6300,
                price_score: 2750,
                total: 9050
            }
        );
    }

    #[test]
    fn comprehensive_ties_lower_price_then_earlier_submission() {
        // No price criterion, so equal subjective scores tie exactly.
        let mut p = plan(Aggregation::Mean, Benchmark::Lowest);
        p.price = None;
        let bids = [
            bid("b1", 100_000_000, 5),
            bid("b2", 99_000_000, 9),
            bid("b3", 99_000_000, 1),
            bid("b0", 99_000_000, 1),
        ];
        let mut sheets = Vec::new();
        for b in ["b1", "b2", "b3", "b0"] {
            sheets.extend(sheets_for(b, [3000, 1500, 500]));
        }
        let r =
            ranked(rank_comprehensive(&construction(), &p, &members(), &bids, &sheets).unwrap());
        let order: Vec<_> = r.rows.iter().map(|x| x.bid.as_str()).collect();
        // b0 and b3: same price, same time → bid id; then b2 (later); then b1 (dearer).
        assert_eq!(order, ["b0", "b3", "b2", "b1"]);
        assert_eq!(r.benchmark_fen, None);
    }

    #[test]
    fn too_few_valid_bids_fail() {
        let p = plan(Aggregation::Mean, Benchmark::Lowest);
        let bids = [bid("b1", 100, 0), bid("b2", 200, 1)];
        match rank_comprehensive(&construction(), &p, &members(), &bids, &[]).unwrap() {
            Outcome::Failed {
                valid_bids,
                violation,
            } => {
                assert_eq!(valid_bids, 2);
                assert_eq!(violation.rule, "TOO_FEW_VALID_BIDS");
                assert!(violation.article.contains("第28条"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            rank_lowest_price(&construction(), &bids, &[]).unwrap(),
            Outcome::Failed { valid_bids: 2, .. }
        ));
    }

    #[test]
    fn comprehensive_needs_every_sheet_and_refuses_bad_bids() {
        let p = plan(Aggregation::Mean, Benchmark::Lowest);
        let bids = [bid("b1", 100, 0), bid("b2", 200, 1), bid("b3", 300, 2)];
        let sheets = sheets_for("b1", [1, 1, 1]);
        let e = rank_comprehensive(&construction(), &p, &members(), &bids, &sheets).unwrap_err();
        assert_eq!(e.code(), "SCORES_MISSING");
        let dup = [bid("b1", 100, 0), bid("b1", 200, 1), bid("b3", 300, 2)];
        assert_eq!(
            rank_comprehensive(&construction(), &p, &members(), &dup, &[]).unwrap_err(),
            RankingError::DuplicateBid("b1".into())
        );
        let neg = [bid("b1", -100, 0)];
        assert_eq!(
            rank_lowest_price(&construction(), &neg, &[]).unwrap_err(),
            RankingError::BadPrice("b1".into())
        );
    }

    #[test]
    fn lowest_evaluated_price_with_adjustments() {
        let bids = [
            bid("b1", 100_000_000, 3),
            bid("b2", 98_000_000, 2),
            bid("b3", 99_000_000, 1),
            bid("b4", 97_000_000, 0),
        ];
        let adj = |b: &str, a: i64| Adjustment {
            bid: b.into(),
            amount_fen: a,
            reason: "工期偏差折价".into(),
        };
        let adjustments = [
            adj("b4", 2_000_000),
            adj("b4", 500_000),
            adj("b1", -2_000_000),
        ];
        let r = ranked(rank_lowest_price(&construction(), &bids, &adjustments).unwrap());
        let order: Vec<_> = r.rows.iter().map(|x| x.bid.as_str()).collect();
        // b2 98.0 (t2) and b1 98.0 (t3) tie: the earlier submission first; b4 99.5.
        assert_eq!(order, ["b2", "b1", "b3", "b4"]);
        assert_eq!(r.candidates, ["b2", "b1", "b3"]);
        assert_eq!(
            r.rows[3].detail,
            RankDetail::LowestPrice {
                adjustments_fen: 2_500_000,
                evaluated_price_fen: 99_500_000
            }
        );
        assert_eq!(
            rank_lowest_price(&construction(), &bids, &[adj("x", 1)]).unwrap_err(),
            RankingError::UnknownBid("x".into())
        );
        let mut blank = adj("b1", 1);
        blank.reason = " ".into();
        assert_eq!(
            rank_lowest_price(&construction(), &bids, &[blank])
                .unwrap_err()
                .code(),
            "RANKING_ADJUSTMENT_WITHOUT_REASON"
        );
        assert_eq!(
            rank_lowest_price(&construction(), &bids, &[adj("b1", i64::MAX), adj("b1", 1)])
                .unwrap_err(),
            RankingError::Overflow("b1".into())
        );
        assert_eq!(
            rank_lowest_price(&construction(), &bids, &[adj("b4", -97_000_001)]).unwrap_err(),
            RankingError::NegativeEvaluatedPrice("b4".into())
        );
        // Down to exactly zero is a price, if an odd one.
        assert!(rank_lowest_price(&construction(), &bids, &[adj("b4", -97_000_000)]).is_ok());
    }

    proptest! {
        /// Ranks are 1..=n, candidates are the first min(n, 3), and the order is sorted by
        /// evaluated price then submission — whatever order the bids come in.
        #[test]
        fn lowest_price_ranking_is_a_sorted_permutation(
            raw in proptest::collection::vec((100i64..1_000, 0i64..5, -100i64..100), 3..10),
            seed in any::<u64>(),
        ) {
            let bids: Vec<BidFacts> = raw.iter().enumerate().map(|(i, (p, m, _))| bid(&format!("b{i:02}"), *p, *m)).collect();
            let adjustments: Vec<Adjustment> = raw.iter().enumerate().map(|(i, (_, _, a))| Adjustment {
                bid: format!("b{i:02}"), amount_fen: *a, reason: "r".into() }).collect();
            let mut shuffled = bids.clone();
            let len = shuffled.len();
            shuffled.rotate_left(usize::try_from(seed % len as u64).unwrap_or(0));
            let a = ranked(rank_lowest_price(&construction(), &bids, &adjustments).unwrap());
            let b = ranked(rank_lowest_price(&construction(), &shuffled, &adjustments).unwrap());
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(a.candidates.len(), len.min(MAX_CANDIDATES));
            for (i, row) in a.rows.iter().enumerate() {
                prop_assert_eq!(row.rank as usize, i + 1);
            }
            for w in a.rows.windows(2) {
                let key = |r: &RankedBid| match r.detail {
                    RankDetail::LowestPrice { evaluated_price_fen, .. } => (evaluated_price_fen, r.submitted_at),
                    RankDetail::Comprehensive { .. } => (0, r.submitted_at),
                };
                prop_assert!(key(&w[0]) <= key(&w[1]));
            }
        }
    }
}
