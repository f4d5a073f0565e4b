//! Detailed scoring (详细评审): each member scores each bid that passed the preliminary
//! review against the tender's subjective criteria; the price criterion is computed by the
//! formula, never by a member; the members' totals are aggregated by the tender's rule.
//!
//! Units: scores are [`Hundredths`]; a criterion of weight `w` (percent, from
//! [`Criterion`]) is scored in `0..=w × 100`. Prices are fen.
//!
//! Price score (written down with an example in docs/evaluation.md):
//!
//! ```text
//! benchmark B  = lowest valid price                         (Benchmark::Lowest)
//!              = mean of valid prices × (1 − K%)            (Benchmark::AverageDown, K in bp)
//! deviation D  = |P − B| / B × 100                          (percent, exact)
//! score        = max − D × penalty                          (penalty_above when P > B,
//!                                                            penalty_below when P < B;
//!                                                            hundredths per 1%)
//! stored score = clamp(round_half_up(score), 0, max)
//! ```
//!
//! B is kept as an exact fraction `num / den` fen, so the whole formula is one integer
//! fraction and is rounded once; the benchmark shown in fen is rounded separately, for
//! display only. The deduction is linear (a deviation of 2.5% costs 2.5 × penalty), not
//! stepped per whole percent.
//!
//! Aggregation of a bid's subjective score: each member's total (the sum of their criterion
//! scores), then [`Aggregation::Mean`] of the totals, or [`Aggregation::TrimmedMean`]: with
//! at least 5 members, one highest and one lowest total are dropped first (ties broken by
//! member id, so the result is deterministic), then the mean. The mean is rounded once.

pub mod sheets;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::evaluation::{Hundredths, div_round_half_up};
use crate::tender::model::Criterion;
use crate::tender::rulebook::MAX_MONEY_FEN;

/// Highest maximum of one criterion: 100 points.
pub const MAX_CRITERION: Hundredths = 10_000;
/// Highest penalty accepted: 100 points per 1% of deviation.
pub const MAX_PENALTY: u32 = 10_000;
/// Members needed before [`Aggregation::TrimmedMean`] drops the extremes.
pub const TRIM_MIN_MEMBERS: usize = 5;

/// How a bid's subjective score is aggregated across members.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// The mean of the members' totals.
    #[default]
    Mean,
    /// The mean after dropping one highest and one lowest total, with ≥ 5 members; the plain
    /// mean with fewer.
    TrimmedMean,
}

/// The benchmark price (评标基准价).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Benchmark {
    /// The lowest valid price.
    Lowest,
    /// The mean of the valid prices, lowered by `down_bp` basis points (0 = the plain mean;
    /// 200 = 2% down). At most 9 999.
    AverageDown {
        /// The reduction in basis points.
        down_bp: u32,
    },
}

/// The price criterion's formula.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceFormula {
    /// The criterion's name in the tender, e.g. "投标报价".
    pub name: String,
    /// Full score, in hundredths (weight × 100).
    pub max: Hundredths,
    /// How the benchmark is found.
    pub benchmark: Benchmark,
    /// Deduction per 1% above the benchmark, in hundredths of a point.
    pub penalty_above: u32,
    /// Deduction per 1% below the benchmark, in hundredths of a point.
    pub penalty_below: u32,
}

/// The price formula's parameters before the price criterion's weight is known.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PriceParams {
    /// The name of the price criterion among the tender's criteria.
    pub criterion: String,
    /// How the benchmark is found.
    pub benchmark: Benchmark,
    /// Deduction per 1% above the benchmark, in hundredths of a point.
    pub penalty_above: u32,
    /// Deduction per 1% below the benchmark, in hundredths of a point.
    pub penalty_below: u32,
}

/// A subjective criterion scored by the members.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoredCriterion {
    /// Name, unique within the tender.
    pub name: String,
    /// Full score, in hundredths (weight × 100).
    pub max: Hundredths,
}

/// How a tender's bids are scored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ScoringPlan {
    /// The criteria the members score.
    pub criteria: Vec<ScoredCriterion>,
    /// The price criterion, computed by formula; `None` when price is not scored.
    pub price: Option<PriceFormula>,
    /// How members' totals are aggregated.
    pub aggregation: Aggregation,
}

/// One member's scores for one bid, keyed by criterion name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScoreSheet {
    /// The member.
    pub expert: String,
    /// The bid.
    pub bid: String,
    /// Criterion name → score in hundredths.
    pub scores: BTreeMap<String, Hundredths>,
}

/// One thing wrong with the submitted score sheets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum SheetProblem {
    /// The scorer is not on the committee.
    NotAMember {
        /// The scorer.
        expert: String,
    },
    /// The bid is not being scored (rejected in the review, or unknown).
    UnknownBid {
        /// The bid.
        bid: String,
    },
    /// Two sheets for the same member and bid (a sheet cannot change once submitted).
    Duplicate {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
    },
    /// A criterion the plan does not have.
    UnknownCriterion {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
        /// The criterion named.
        criterion: String,
    },
    /// A member scored the price criterion, which the formula computes.
    PriceScoredByMember {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
    },
    /// A score outside `0..=max`.
    OutOfRange {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
        /// The criterion.
        criterion: String,
        /// The score given.
        score: Hundredths,
        /// The criterion's full score.
        max: Hundredths,
    },
    /// Criteria not yet scored (all of them when the sheet is missing).
    Missing {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
        /// The criteria without a score, in plan order.
        criteria: Vec<String>,
    },
}

impl std::fmt::Display for SheetProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SheetProblem::NotAMember { expert } => {
                write!(f, "{expert} is not on the committee / 不是评标委员会成员")
            }
            SheetProblem::UnknownBid { bid } => {
                write!(f, "bid {bid} is not being scored / 该投标不在评分范围内")
            }
            SheetProblem::Duplicate { expert, bid } => {
                write!(
                    f,
                    "{expert} submitted two sheets for bid {bid} / 同一投标提交了两份评分表"
                )
            }
            SheetProblem::UnknownCriterion {
                expert,
                bid,
                criterion,
            } => write!(
                f,
                "{expert} scored bid {bid} on unknown criterion {criterion} / 评分项不存在"
            ),
            SheetProblem::PriceScoredByMember { expert, bid } => write!(
                f,
                "{expert} scored the price of bid {bid}; the price score is computed by the formula / 价格分由公式计算，评委不评"
            ),
            SheetProblem::OutOfRange {
                expert,
                bid,
                criterion,
                score,
                max,
            } => write!(
                f,
                "{expert} gave bid {bid} {score} on {criterion}; allowed 0..={max} (hundredths) / 分值超出该评分项范围"
            ),
            SheetProblem::Missing {
                expert,
                bid,
                criteria,
            } => write!(
                f,
                "{expert} has not scored bid {bid} on {} / 尚有评分项未评",
                criteria.join(", ")
            ),
        }
    }
}

/// Why scoring cannot proceed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScoringError {
    /// The plan is inconsistent (names, weights, penalties).
    #[error("invalid scoring plan: {0}")]
    Plan(String),
    /// Problems with the score sheets, all of them.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Sheets(Vec<SheetProblem>),
    /// No member to aggregate over.
    #[error("no committee members to aggregate scores over")]
    NoMembers,
    /// No valid price to build the benchmark from.
    #[error("no valid bid price to compute the benchmark from")]
    NoPrices,
    /// A price outside 0..=10^15 fen.
    #[error("bid {0} has a price outside 0..=10^15 fen")]
    BadPrice(String),
    /// The benchmark is 0 fen, so deviations are undefined.
    #[error("the benchmark price is 0; price scores cannot be computed")]
    ZeroBenchmark,
    /// An intermediate value overflowed (cannot happen within the documented bounds).
    #[error("arithmetic overflow while scoring")]
    Overflow,
}

impl ScoringError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ScoringError::Plan(_) => "SCORING_PLAN_INVALID",
            ScoringError::Sheets(p) => match p.first() {
                Some(SheetProblem::OutOfRange { .. }) => "SCORE_OUT_OF_RANGE",
                Some(SheetProblem::Missing { .. }) => "SCORES_MISSING",
                Some(SheetProblem::NotAMember { .. }) => "SCORER_NOT_A_MEMBER",
                Some(SheetProblem::Duplicate { .. }) => "SCORE_SHEET_DUPLICATE",
                Some(SheetProblem::PriceScoredByMember { .. }) => "PRICE_SCORED_BY_MEMBER",
                _ => "SCORE_SHEET_INVALID",
            },
            ScoringError::NoMembers => "SCORING_NO_MEMBERS",
            ScoringError::NoPrices => "SCORING_NO_PRICES",
            ScoringError::BadPrice(_) => "SCORING_BAD_PRICE",
            ScoringError::ZeroBenchmark => "SCORING_ZERO_BENCHMARK",
            ScoringError::Overflow => "SCORING_OVERFLOW",
        }
    }
}

impl ScoringPlan {
    /// Builds the plan from the tender's criteria (weights in percent): the criterion named
    /// in `price` is computed by the formula, the others are scored by the members.
    pub fn from_tender(
        criteria: &[Criterion],
        price: Option<PriceParams>,
        aggregation: Aggregation,
    ) -> Result<Self, ScoringError> {
        let max_of = |w: u32| Hundredths::from(w).saturating_mul(100);
        let mut plan = ScoringPlan {
            criteria: Vec::new(),
            price: None,
            aggregation,
        };
        for c in criteria {
            if price.as_ref().is_some_and(|p| p.criterion == c.name) {
                continue;
            }
            plan.criteria.push(ScoredCriterion {
                name: c.name.clone(),
                max: max_of(c.weight),
            });
        }
        if let Some(p) = price {
            let Some(c) = criteria.iter().find(|c| c.name == p.criterion) else {
                return Err(ScoringError::Plan(format!(
                    "the price criterion {:?} is not among the tender's criteria",
                    p.criterion
                )));
            };
            plan.price = Some(PriceFormula {
                name: p.criterion,
                max: max_of(c.weight),
                benchmark: p.benchmark,
                penalty_above: p.penalty_above,
                penalty_below: p.penalty_below,
            });
        }
        plan.validate()?;
        Ok(plan)
    }

    /// Checks names, maxima and penalties.
    pub fn validate(&self) -> Result<(), ScoringError> {
        let mut names = BTreeSet::new();
        let price = self.price.as_ref().map(|p| (p.name.as_str(), p.max));
        for (name, max) in self
            .criteria
            .iter()
            .map(|c| (c.name.as_str(), c.max))
            .chain(price)
        {
            if name.trim().is_empty() || !names.insert(name) {
                return Err(ScoringError::Plan(format!(
                    "criterion names must be unique and non-empty: {name:?}"
                )));
            }
            if !(1..=MAX_CRITERION).contains(&max) {
                return Err(ScoringError::Plan(format!(
                    "criterion {name:?} has full score {max}, outside 1..={MAX_CRITERION} hundredths"
                )));
            }
        }
        if let Some(p) = &self.price {
            if p.penalty_above > MAX_PENALTY || p.penalty_below > MAX_PENALTY {
                return Err(ScoringError::Plan(format!(
                    "price penalties must be at most {MAX_PENALTY} hundredths per 1%"
                )));
            }
            if let Benchmark::AverageDown { down_bp } = p.benchmark
                && down_bp >= 10_000
            {
                return Err(ScoringError::Plan(format!(
                    "the benchmark reduction {down_bp} bp must be below 10000 (100%)"
                )));
            }
        }
        Ok(())
    }

    fn criterion_max(&self, name: &str) -> Option<Hundredths> {
        self.criteria.iter().find(|c| c.name == name).map(|c| c.max)
    }
}

/// Checks one sheet as it is submitted: known criteria, no price score, every score in range.
/// Missing criteria are allowed here (a member may save partial work); [`aggregate`]
/// requires completeness.
pub fn check_sheet(plan: &ScoringPlan, sheet: &ScoreSheet) -> Result<(), ScoringError> {
    let problems = sheet_problems(plan, sheet);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ScoringError::Sheets(problems))
    }
}

fn sheet_problems(plan: &ScoringPlan, sheet: &ScoreSheet) -> Vec<SheetProblem> {
    let mut out = Vec::new();
    for (criterion, &score) in &sheet.scores {
        if plan.price.as_ref().is_some_and(|p| &p.name == criterion) {
            out.push(SheetProblem::PriceScoredByMember {
                expert: sheet.expert.clone(),
                bid: sheet.bid.clone(),
            });
            continue;
        }
        match plan.criterion_max(criterion) {
            None => out.push(SheetProblem::UnknownCriterion {
                expert: sheet.expert.clone(),
                bid: sheet.bid.clone(),
                criterion: criterion.clone(),
            }),
            Some(max) if !(0..=max).contains(&score) => out.push(SheetProblem::OutOfRange {
                expert: sheet.expert.clone(),
                bid: sheet.bid.clone(),
                criterion: criterion.clone(),
                score,
                max,
            }),
            Some(_) => {}
        }
    }
    out
}

/// A bid's aggregated subjective score.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Aggregate {
    /// Every member's total for the bid, in member order.
    pub totals: Vec<(String, Hundredths)>,
    /// Members whose totals were dropped by [`Aggregation::TrimmedMean`] (lowest, highest).
    pub dropped: Vec<String>,
    /// The aggregated score, rounded half-up once.
    pub score: Hundredths,
}

/// Checks every sheet and aggregates each bid's subjective score. Every member must have
/// scored every bid on every subjective criterion; all problems are reported at once.
pub fn aggregate(
    plan: &ScoringPlan,
    members: &[String],
    bids: &[String],
    sheets: &[ScoreSheet],
) -> Result<BTreeMap<String, Aggregate>, ScoringError> {
    plan.validate()?;
    if members.is_empty() {
        return Err(ScoringError::NoMembers);
    }
    let mut problems = Vec::new();
    let mut by_key: BTreeMap<(&str, &str), &ScoreSheet> = BTreeMap::new();
    for s in sheets {
        if !members.contains(&s.expert) {
            problems.push(SheetProblem::NotAMember {
                expert: s.expert.clone(),
            });
            continue;
        }
        if !bids.contains(&s.bid) {
            problems.push(SheetProblem::UnknownBid { bid: s.bid.clone() });
            continue;
        }
        problems.extend(sheet_problems(plan, s));
        if by_key
            .insert((s.bid.as_str(), s.expert.as_str()), s)
            .is_some()
        {
            problems.push(SheetProblem::Duplicate {
                expert: s.expert.clone(),
                bid: s.bid.clone(),
            });
        }
    }
    for e in members {
        for b in bids {
            let sheet = by_key.get(&(b.as_str(), e.as_str()));
            let missing: Vec<String> = plan
                .criteria
                .iter()
                .filter(|c| !sheet.is_some_and(|s| s.scores.contains_key(&c.name)))
                .map(|c| c.name.clone())
                .collect();
            if !missing.is_empty() {
                problems.push(SheetProblem::Missing {
                    expert: e.clone(),
                    bid: b.clone(),
                    criteria: missing,
                });
            }
        }
    }
    if !problems.is_empty() {
        return Err(ScoringError::Sheets(problems));
    }

    let mut out = BTreeMap::new();
    for b in bids {
        let totals: Vec<(String, Hundredths)> = members
            .iter()
            .map(|e| {
                let total = by_key.get(&(b.as_str(), e.as_str())).map_or(0, |s| {
                    plan.criteria
                        .iter()
                        .filter_map(|c| s.scores.get(&c.name))
                        .sum()
                });
                (e.clone(), total)
            })
            .collect();
        out.insert(b.clone(), aggregate_totals(plan.aggregation, totals)?);
    }
    Ok(out)
}

/// Aggregates members' totals for one bid.
pub fn aggregate_totals(
    rule: Aggregation,
    totals: Vec<(String, Hundredths)>,
) -> Result<Aggregate, ScoringError> {
    if totals.is_empty() {
        return Err(ScoringError::NoMembers);
    }
    let mut kept: Vec<&(String, Hundredths)> = totals.iter().collect();
    let mut dropped = Vec::new();
    if rule == Aggregation::TrimmedMean && kept.len() >= TRIM_MIN_MEMBERS {
        kept.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        let lowest = kept.remove(0);
        dropped.push(lowest.0.clone());
        if let Some(highest) = kept.pop() {
            dropped.push(highest.0.clone());
        }
    }
    let sum: i128 = kept.iter().map(|(_, t)| i128::from(*t)).sum();
    let n = i128::try_from(kept.len()).map_err(|_| ScoringError::Overflow)?;
    let mean = div_round_half_up(sum, n).ok_or(ScoringError::NoMembers)?;
    let score = Hundredths::try_from(mean).map_err(|_| ScoringError::Overflow)?;
    Ok(Aggregate {
        totals,
        dropped,
        score,
    })
}

/// The price scores of the valid bids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PriceScores {
    /// The benchmark in fen, rounded half-up (for display; the scores use it exactly).
    pub benchmark_fen: i64,
    /// Bid → price score in hundredths.
    pub scores: BTreeMap<String, Hundredths>,
}

/// Computes the price score of every valid bid (`prices`: bid → price in fen) by `formula`.
pub fn price_scores(
    formula: &PriceFormula,
    prices: &[(String, i64)],
) -> Result<PriceScores, ScoringError> {
    if prices.is_empty() {
        return Err(ScoringError::NoPrices);
    }
    for (bid, p) in prices {
        if !(0..=MAX_MONEY_FEN).contains(p) {
            return Err(ScoringError::BadPrice(bid.clone()));
        }
    }
    // The benchmark as the exact fraction num / den fen.
    let (num, den): (i128, i128) = match formula.benchmark {
        Benchmark::Lowest => (
            prices
                .iter()
                .map(|(_, p)| i128::from(*p))
                .min()
                .unwrap_or(0),
            1,
        ),
        Benchmark::AverageDown { down_bp } => {
            let sum: i128 = prices.iter().map(|(_, p)| i128::from(*p)).sum();
            let n = i128::try_from(prices.len()).map_err(|_| ScoringError::Overflow)?;
            let keep = 10_000 - i128::from(down_bp.min(10_000));
            (
                sum.checked_mul(keep).ok_or(ScoringError::Overflow)?,
                n.checked_mul(10_000).ok_or(ScoringError::Overflow)?,
            )
        }
    };
    if num <= 0 {
        return Err(ScoringError::ZeroBenchmark);
    }
    let benchmark_fen = div_round_half_up(num, den)
        .and_then(|b| i64::try_from(b).ok())
        .ok_or(ScoringError::Overflow)?;
    let max = i128::from(formula.max);
    let mut scores = BTreeMap::new();
    for (bid, p) in prices {
        // score = max − 100 × penalty × |P − B| / B  with B = num / den
        //       = (max × num − 100 × penalty × |P × den − num|) / num
        let diff = i128::from(*p)
            .checked_mul(den)
            .and_then(|x| x.checked_sub(num))
            .ok_or(ScoringError::Overflow)?;
        let penalty = if diff > 0 {
            formula.penalty_above
        } else {
            formula.penalty_below
        };
        let deduction = diff
            .checked_abs()
            .and_then(|d| d.checked_mul(100 * i128::from(penalty)))
            .ok_or(ScoringError::Overflow)?;
        let exact = max
            .checked_mul(num)
            .and_then(|m| m.checked_sub(deduction))
            .ok_or(ScoringError::Overflow)?;
        let rounded = div_round_half_up(exact, num).ok_or(ScoringError::Overflow)?;
        let score =
            Hundredths::try_from(rounded.clamp(0, max)).map_err(|_| ScoringError::Overflow)?;
        scores.insert(bid.clone(), score);
    }
    Ok(PriceScores {
        benchmark_fen,
        scores,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;

    pub(crate) fn plan(aggregation: Aggregation, benchmark: Benchmark) -> ScoringPlan {
        let criteria = [
            ("技术方案", 40),
            ("施工组织", 20),
            ("投标报价", 30),
            ("业绩信誉", 10),
        ]
        .map(|(n, w)| Criterion {
            name: n.into(),
            weight: w,
        });
        ScoringPlan::from_tender(
            &criteria,
            Some(PriceParams {
                criterion: "投标报价".into(),
                benchmark,
                penalty_above: 100,
                penalty_below: 50,
            }),
            aggregation,
        )
        .unwrap()
    }

    pub(crate) fn sheet(expert: &str, bid: &str, s: [Hundredths; 3]) -> ScoreSheet {
        ScoreSheet {
            expert: expert.into(),
            bid: bid.into(),
            scores: [("技术方案", s[0]), ("施工组织", s[1]), ("业绩信誉", s[2])]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn plan_from_tender_separates_price() {
        let p = plan(Aggregation::Mean, Benchmark::Lowest);
        assert_eq!(p.criteria.len(), 3);
        assert_eq!(p.criteria[0].max, 4000);
        let price = p.price.as_ref().unwrap();
        assert_eq!((price.name.as_str(), price.max), ("投标报价", 3000));
        let bad = ScoringPlan::from_tender(
            &[Criterion {
                name: "技术".into(),
                weight: 100,
            }],
            Some(PriceParams {
                criterion: "报价".into(),
                benchmark: Benchmark::Lowest,
                penalty_above: 100,
                penalty_below: 100,
            }),
            Aggregation::Mean,
        );
        assert_eq!(bad.unwrap_err().code(), "SCORING_PLAN_INVALID");
        let mut p2 = p.clone();
        p2.price = Some(PriceFormula {
            benchmark: Benchmark::AverageDown { down_bp: 10_000 },
            ..price.clone()
        });
        assert!(p2.validate().is_err());
        let mut p3 = p.clone();
        p3.criteria[1].name = "技术方案".into();
        assert!(p3.validate().is_err());
        let mut p4 = p;
        p4.criteria[1].max = 0;
        assert!(p4.validate().is_err());
    }

    #[test]
    fn out_of_range_and_price_scores_are_refused() {
        let p = plan(Aggregation::Mean, Benchmark::Lowest);
        assert!(check_sheet(&p, &sheet("e1", "b1", [4000, 0, 1000])).is_ok());
        let e = check_sheet(&p, &sheet("e1", "b1", [4001, -1, 500])).unwrap_err();
        assert_eq!(e.code(), "SCORE_OUT_OF_RANGE");
        match &e {
            ScoringError::Sheets(v) => assert_eq!(v.len(), 2, "{v:?}"),
            other => panic!("{other:?}"),
        }
        let mut s = sheet("e1", "b1", [1, 1, 1]);
        s.scores.insert("投标报价".into(), 3000);
        assert_eq!(
            check_sheet(&p, &s).unwrap_err().code(),
            "PRICE_SCORED_BY_MEMBER"
        );
        let mut s = sheet("e1", "b1", [1, 1, 1]);
        s.scores.insert("颜值".into(), 1);
        assert_eq!(
            check_sheet(&p, &s).unwrap_err().code(),
            "SCORE_SHEET_INVALID"
        );
    }

    #[test]
    fn aggregation_requires_every_sheet() {
        let p = plan(Aggregation::Mean, Benchmark::Lowest);
        let members = strings(&["e1", "e2", "e3"]);
        let bids = strings(&["b1", "b2"]);
        let mut sheets = vec![
            sheet("e1", "b1", [3000, 1500, 800]),
            sheet("e2", "b1", [3100, 1500, 800]),
            sheet("e3", "b1", [3200, 1500, 800]),
            sheet("e1", "b2", [2000, 1000, 500]),
            sheet("e2", "b2", [2000, 1000, 500]),
        ];
        sheets[4].scores.remove("业绩信誉");
        let e = aggregate(&p, &members, &bids, &sheets).unwrap_err();
        assert_eq!(
            e,
            ScoringError::Sheets(vec![
                SheetProblem::Missing {
                    expert: "e2".into(),
                    bid: "b2".into(),
                    criteria: vec!["业绩信誉".into()],
                },
                SheetProblem::Missing {
                    expert: "e3".into(),
                    bid: "b2".into(),
                    criteria: vec!["技术方案".into(), "施工组织".into(), "业绩信誉".into()],
                },
            ])
        );
        sheets[4] = sheet("e2", "b2", [2000, 1000, 500]);
        sheets.push(sheet("e3", "b2", [2001, 1000, 500]));
        let a = aggregate(&p, &members, &bids, &sheets).unwrap();
        assert_eq!(a["b1"].score, 5400);
        // (3500 + 3500 + 3501) / 3 = 3500.33… → 3500
        assert_eq!(a["b2"].score, 3500);
        let mut stranger = sheets.clone();
        stranger.push(sheet("x", "b1", [0, 0, 0]));
        stranger.push(sheet("e1", "b9", [0, 0, 0]));
        stranger.push(sheet("e1", "b1", [0, 0, 0]));
        match aggregate(&p, &members, &bids, &stranger).unwrap_err() {
            ScoringError::Sheets(v) => {
                assert!(v.contains(&SheetProblem::NotAMember { expert: "x".into() }));
                assert!(v.contains(&SheetProblem::UnknownBid { bid: "b9".into() }));
                assert!(v.contains(&SheetProblem::Duplicate {
                    expert: "e1".into(),
                    bid: "b1".into()
                }));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            aggregate(&p, &[], &bids, &[]).unwrap_err(),
            ScoringError::NoMembers
        );
    }

    #[test]
    fn trimmed_mean_drops_one_highest_and_one_lowest_from_five() {
        let t = |v: &[(&str, Hundredths)]| {
            v.iter()
                .map(|(e, s)| ((*e).to_owned(), *s))
                .collect::<Vec<_>>()
        };
        let five = t(&[
            ("e1", 9000),
            ("e2", 7000),
            ("e3", 7100),
            ("e4", 7200),
            ("e5", 1000),
        ]);
        let a = aggregate_totals(Aggregation::TrimmedMean, five.clone()).unwrap();
        assert_eq!(a.dropped, ["e5", "e1"]);
        assert_eq!(a.score, 7100);
        let plain = aggregate_totals(Aggregation::Mean, five).unwrap();
        assert_eq!(plain.score, 6260);
        assert!(plain.dropped.is_empty());
        // Four members: nothing dropped even under the trimmed rule.
        let four = t(&[("e1", 9000), ("e2", 7000), ("e3", 7100), ("e4", 7201)]);
        let a = aggregate_totals(Aggregation::TrimmedMean, four).unwrap();
        assert!(a.dropped.is_empty());
        // 30301 / 4 = 7575.25 → 7575
        assert_eq!(a.score, 7575);
        // Equal totals: the member id decides which is dropped.
        let same = t(&[
            ("e3", 5000),
            ("e1", 5000),
            ("e2", 5000),
            ("e5", 5000),
            ("e4", 5000),
        ]);
        assert_eq!(
            aggregate_totals(Aggregation::TrimmedMean, same)
                .unwrap()
                .dropped,
            ["e1", "e5"]
        );
        // Half-up: (1 + 2) / 2 = 1.5 → 2
        assert_eq!(
            aggregate_totals(Aggregation::Mean, t(&[("a", 1), ("b", 2)]))
                .unwrap()
                .score,
            2
        );
    }

    fn formula(benchmark: Benchmark) -> PriceFormula {
        PriceFormula {
            name: "投标报价".into(),
            max: 3000,
            benchmark,
            penalty_above: 100,
            penalty_below: 50,
        }
    }

    fn prices(v: &[(&str, i64)]) -> Vec<(String, i64)> {
        v.iter().map(|(b, p)| ((*b).to_owned(), *p)).collect()
    }

    #[test]
    fn lowest_price_benchmark_example() {
        // The example of docs/evaluation.md: B = 1 000 000.00 yuan; 2.5% above → 30 − 2.5.
        let ps = prices(&[
            ("b1", 100_000_000),
            ("b2", 102_500_000),
            ("b3", 140_000_000),
        ]);
        let s = price_scores(&formula(Benchmark::Lowest), &ps).unwrap();
        assert_eq!(s.benchmark_fen, 100_000_000);
        assert_eq!(s.scores["b1"], 3000);
        assert_eq!(s.scores["b2"], 2750);
        // 40% above costs 40 points: floored at 0.
        assert_eq!(s.scores["b3"], 0);
    }

    #[test]
    fn average_down_benchmark_example() {
        // Mean 1 040 000.00 yuan, 2% down → B = 1 019 200.00 yuan.
        let ps = prices(&[
            ("b1", 100_000_000),
            ("b2", 104_000_000),
            ("b3", 108_000_000),
        ]);
        let s = price_scores(&formula(Benchmark::AverageDown { down_bp: 200 }), &ps).unwrap();
        assert_eq!(s.benchmark_fen, 101_920_000);
        // b1: 1.88383…% below × 50 = 94.19 → 3000 − 94.19 = 2905.81 → 2906
        assert_eq!(s.scores["b1"], 2906);
        // b2: 2.04081…% above × 100 = 204.08 → 2795.92 → 2796
        assert_eq!(s.scores["b2"], 2796);
        // b3: 5.96546…% above → 2403.45… → 2403
        assert_eq!(s.scores["b3"], 2403);
        let plain = price_scores(&formula(Benchmark::AverageDown { down_bp: 0 }), &ps).unwrap();
        assert_eq!(plain.benchmark_fen, 104_000_000);
        assert_eq!(plain.scores["b2"], 3000);
    }

    #[test]
    fn price_errors() {
        let f = formula(Benchmark::Lowest);
        assert_eq!(price_scores(&f, &[]).unwrap_err(), ScoringError::NoPrices);
        assert_eq!(
            price_scores(&f, &prices(&[("b1", 0), ("b2", 5)])).unwrap_err(),
            ScoringError::ZeroBenchmark
        );
        assert_eq!(
            price_scores(&f, &prices(&[("b1", -1)])).unwrap_err(),
            ScoringError::BadPrice("b1".into())
        );
    }

    proptest! {
        #[test]
        fn price_scores_are_bounded_and_monotone(
            raw in proptest::collection::vec(1i64..=MAX_MONEY_FEN, 1..12),
            down in 0u32..10_000,
            above in 0u32..=MAX_PENALTY,
            below in 0u32..=MAX_PENALTY,
            lowest in any::<bool>(),
        ) {
            let ps: Vec<(String, i64)> = raw.iter().enumerate().map(|(i, p)| (format!("b{i:02}"), *p)).collect();
            let benchmark = if lowest { Benchmark::Lowest } else { Benchmark::AverageDown { down_bp: down } };
            let f = PriceFormula { name: "p".into(), max: 3000, benchmark, penalty_above: above, penalty_below: below };
            match price_scores(&f, &ps) {
                Ok(s) => {
                    for (bid, p) in &ps {
                        let sc = s.scores[bid];
                        prop_assert!((0..=3000).contains(&sc));
                        // Above the benchmark, a higher price never scores more (a price
                        // above the rounded benchmark is above the exact one too).
                        for (b2, p2) in &ps {
                            if *p > s.benchmark_fen && p2 > p {
                                prop_assert!(s.scores[b2] <= sc, "{bid} {p} {sc} vs {b2} {p2}");
                            }
                        }
                    }
                    if lowest {
                        let min = raw.iter().min().copied().unwrap_or(0);
                        prop_assert_eq!(s.benchmark_fen, min);
                        for (bid, p) in &ps {
                            if *p == min { prop_assert_eq!(s.scores[bid], 3000); }
                        }
                    }
                }
                Err(e) => prop_assert_eq!(e, ScoringError::ZeroBenchmark),
            }
        }

        #[test]
        fn aggregate_is_between_min_and_max(
            totals in proptest::collection::vec(0i64..=10_000, 1..12),
            trimmed in any::<bool>(),
        ) {
            let rule = if trimmed { Aggregation::TrimmedMean } else { Aggregation::Mean };
            let named: Vec<(String, Hundredths)> = totals.iter().enumerate().map(|(i, t)| (format!("e{i:02}"), *t)).collect();
            let a = aggregate_totals(rule, named).unwrap();
            let lo = totals.iter().min().copied().unwrap_or(0);
            let hi = totals.iter().max().copied().unwrap_or(0);
            prop_assert!(lo <= a.score && a.score <= hi);
            prop_assert_eq!(a.dropped.len(), if trimmed && totals.len() >= 5 { 2 } else { 0 });
        }
    }
}
