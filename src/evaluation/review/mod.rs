//! Preliminary review (初步评审): formal (形式评审), qualification (资格评审) and
//! responsiveness (响应性评审) criteria, marked pass/fail by every member for every bid.
//!
//! A fail needs a written reason. The decision per bid and criterion follows a
//! [`ReviewRule`]:
//! - [`ReviewRule::Majority`] (default; 少数服从多数): the bid fails the criterion when more
//!   than half of the members mark it fail. A tie (possible only with an even number of
//!   marks) does not reject: a bid is put out only by a majority finding against it.
//! - [`ReviewRule::Unanimity`]: the bid passes the criterion only when every member marks it
//!   pass (one fail rejects).
//!
//! A bid failing any criterion is out (否决投标), with every fail reason on the failed
//! criteria collected for the report. Until every member has marked every bid on every
//! criterion there is no decision: [`decide_review`] lists who has not marked what.
//!
//! The rulebook has no field for the rule yet; the caller passes it (see docs/evaluation.md).

pub mod marks;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Longest reason accepted, in characters.
pub const MAX_REASON_CHARS: usize = 2000;

/// The kind of a preliminary-review criterion.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CriterionKind {
    /// 形式评审: names, signatures and seals, format.
    Formal,
    /// 资格评审: licences, qualifications, performance record.
    Qualification,
    /// 响应性评审: price within the ceiling, duration, quality, security.
    Responsiveness,
}

/// One preliminary-review criterion of the tender.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewCriterion {
    /// Identifier, unique within the tender, e.g. "投标函签字盖章".
    pub id: String,
    /// Its kind.
    pub kind: CriterionKind,
}

/// How the members' marks decide.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewRule {
    /// Fails when more than half of the marks are fail.
    #[default]
    Majority,
    /// Passes only when every mark is pass.
    Unanimity,
}

/// Pass or fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Meets the criterion.
    Pass,
    /// Does not meet it; the mark needs a reason.
    Fail,
}

/// One member's mark on one bid for one criterion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mark {
    /// The member marking (expert or tenderee representative).
    pub expert: String,
    /// The bid.
    pub bid: String,
    /// The criterion id.
    pub criterion: String,
    /// Pass or fail.
    pub verdict: Verdict,
    /// Why; required (non-blank) for a fail, optional for a pass.
    pub reason: String,
}

/// A missing set of marks: `expert` has not marked `bid` on `criteria`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MissingMarks {
    /// The member.
    pub expert: String,
    /// The bid.
    pub bid: String,
    /// The criteria not marked, in the tender's order.
    pub criteria: Vec<String>,
}

/// Why the review cannot be decided.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReviewError {
    /// Members who have not marked everything.
    #[error("marks missing: {}", describe_missing(.0))]
    MissingMarks(Vec<MissingMarks>),
    /// A fail without a reason.
    #[error("{expert} marks bid {bid} as failing {criterion} without a reason")]
    FailWithoutReason {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
        /// The criterion.
        criterion: String,
    },
    /// A reason longer than [`MAX_REASON_CHARS`].
    #[error("{expert}'s reason on bid {bid} is longer than {MAX_REASON_CHARS} characters")]
    ReasonTooLong {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
    },
    /// A mark from someone not on the committee.
    #[error("{0} is not a committee member and cannot mark")]
    NotAMember(String),
    /// A mark for a bid not under review.
    #[error("bid {0} is not under review")]
    UnknownBid(String),
    /// A mark for a criterion the tender does not have.
    #[error("the tender has no review criterion {0}")]
    UnknownCriterion(String),
    /// Two marks by the same member for the same bid and criterion (a mark cannot change).
    #[error("{expert} marked bid {bid} on {criterion} twice")]
    DuplicateMark {
        /// The member.
        expert: String,
        /// The bid.
        bid: String,
        /// The criterion.
        criterion: String,
    },
    /// The criteria list has a duplicate or empty id.
    #[error("review criterion ids must be unique and non-empty: {0:?}")]
    BadCriterion(String),
}

fn describe_missing(m: &[MissingMarks]) -> String {
    m.iter()
        .map(|m| format!("{} on bid {}: {}", m.expert, m.bid, m.criteria.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ReviewError {
    /// Stable code for the API.
    pub fn code(&self) -> &'static str {
        match self {
            ReviewError::MissingMarks(_) => "REVIEW_MARKS_MISSING",
            ReviewError::FailWithoutReason { .. } => "REVIEW_FAIL_WITHOUT_REASON",
            ReviewError::ReasonTooLong { .. } => "REVIEW_REASON_TOO_LONG",
            ReviewError::NotAMember(_) => "REVIEW_NOT_A_MEMBER",
            ReviewError::UnknownBid(_) => "REVIEW_UNKNOWN_BID",
            ReviewError::UnknownCriterion(_) => "REVIEW_UNKNOWN_CRITERION",
            ReviewError::DuplicateMark { .. } => "REVIEW_DUPLICATE_MARK",
            ReviewError::BadCriterion(_) => "REVIEW_BAD_CRITERION",
        }
    }
}

/// Checks a single mark as it is submitted (before all marks are in): reason rules only.
pub fn check_mark(mark: &Mark) -> Result<(), ReviewError> {
    if mark.verdict == Verdict::Fail && mark.reason.trim().is_empty() {
        return Err(ReviewError::FailWithoutReason {
            expert: mark.expert.clone(),
            bid: mark.bid.clone(),
            criterion: mark.criterion.clone(),
        });
    }
    if mark.reason.chars().count() > MAX_REASON_CHARS {
        return Err(ReviewError::ReasonTooLong {
            expert: mark.expert.clone(),
            bid: mark.bid.clone(),
        });
    }
    Ok(())
}

/// A criterion a bid failed, with every fail reason given on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FailedCriterion {
    /// The criterion id.
    pub criterion: String,
    /// Its kind.
    pub kind: CriterionKind,
    /// Fail marks: (member, reason), in member order.
    pub reasons: Vec<(String, String)>,
    /// Number of fail marks and of marks in all.
    pub fails: usize,
    /// Number of marks in all.
    pub marks: usize,
}

/// The decision on one bid.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum BidDecision {
    /// Passed every criterion; goes on to detailed scoring.
    Passed,
    /// Failed at least one criterion; out (否决投标).
    Rejected {
        /// The failed criteria, in the tender's order, with reasons.
        failed: Vec<FailedCriterion>,
    },
}

/// The preliminary review's result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ReviewOutcome {
    /// Every bid with its decision, in the order given.
    pub decisions: Vec<(String, BidDecision)>,
}

impl ReviewOutcome {
    /// The bids that passed, in the order given.
    pub fn passed(&self) -> Vec<String> {
        self.decisions
            .iter()
            .filter(|(_, d)| *d == BidDecision::Passed)
            .map(|(b, _)| b.clone())
            .collect()
    }
}

/// Decides the preliminary review once every member (`members`) has marked every bid
/// (`bids`) on every criterion.
pub fn decide_review(
    criteria: &[ReviewCriterion],
    members: &[String],
    bids: &[String],
    marks: &[Mark],
    rule: ReviewRule,
) -> Result<ReviewOutcome, ReviewError> {
    let mut ids = BTreeSet::new();
    for c in criteria {
        if c.id.trim().is_empty() || !ids.insert(c.id.as_str()) {
            return Err(ReviewError::BadCriterion(c.id.clone()));
        }
    }
    // (bid, criterion, member) → mark
    let mut by_key: BTreeMap<(&str, &str, &str), &Mark> = BTreeMap::new();
    for m in marks {
        if !members.contains(&m.expert) {
            return Err(ReviewError::NotAMember(m.expert.clone()));
        }
        if !bids.contains(&m.bid) {
            return Err(ReviewError::UnknownBid(m.bid.clone()));
        }
        if !ids.contains(m.criterion.as_str()) {
            return Err(ReviewError::UnknownCriterion(m.criterion.clone()));
        }
        check_mark(m)?;
        let key = (m.bid.as_str(), m.criterion.as_str(), m.expert.as_str());
        if by_key.insert(key, m).is_some() {
            return Err(ReviewError::DuplicateMark {
                expert: m.expert.clone(),
                bid: m.bid.clone(),
                criterion: m.criterion.clone(),
            });
        }
    }
    let mut missing = Vec::new();
    for e in members {
        for b in bids {
            let not_marked: Vec<String> = criteria
                .iter()
                .filter(|c| !by_key.contains_key(&(b.as_str(), c.id.as_str(), e.as_str())))
                .map(|c| c.id.clone())
                .collect();
            if !not_marked.is_empty() {
                missing.push(MissingMarks {
                    expert: e.clone(),
                    bid: b.clone(),
                    criteria: not_marked,
                });
            }
        }
    }
    if !missing.is_empty() {
        return Err(ReviewError::MissingMarks(missing));
    }

    let mut decisions = Vec::with_capacity(bids.len());
    for b in bids {
        let mut failed = Vec::new();
        for c in criteria {
            let fails: Vec<(String, String)> = members
                .iter()
                .filter_map(|e| by_key.get(&(b.as_str(), c.id.as_str(), e.as_str())))
                .filter(|m| m.verdict == Verdict::Fail)
                .map(|m| (m.expert.clone(), m.reason.clone()))
                .collect();
            let n = members.len();
            let rejects = match rule {
                ReviewRule::Majority => fails.len().saturating_mul(2) > n,
                ReviewRule::Unanimity => !fails.is_empty(),
            };
            if rejects {
                failed.push(FailedCriterion {
                    criterion: c.id.clone(),
                    kind: c.kind,
                    fails: fails.len(),
                    marks: n,
                    reasons: fails,
                });
            }
        }
        let decision = if failed.is_empty() {
            BidDecision::Passed
        } else {
            BidDecision::Rejected { failed }
        };
        decisions.push((b.clone(), decision));
    }
    Ok(ReviewOutcome { decisions })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn criteria() -> Vec<ReviewCriterion> {
        vec![
            ReviewCriterion {
                id: "签字盖章".into(),
                kind: CriterionKind::Formal,
            },
            ReviewCriterion {
                id: "资质证书".into(),
                kind: CriterionKind::Qualification,
            },
            ReviewCriterion {
                id: "工期".into(),
                kind: CriterionKind::Responsiveness,
            },
        ]
    }

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (1..=n).map(|i| format!("{prefix}{i}")).collect()
    }

    /// Every member passes every bid on every criterion, except the listed fails.
    fn marks(members: &[String], bids: &[String], fails: &[(&str, &str, &str)]) -> Vec<Mark> {
        let mut out = Vec::new();
        for e in members {
            for b in bids {
                for c in criteria() {
                    let fail = fails
                        .iter()
                        .any(|(fe, fb, fc)| fe == e && fb == b && *fc == c.id);
                    out.push(Mark {
                        expert: e.clone(),
                        bid: b.clone(),
                        criterion: c.id.clone(),
                        verdict: if fail { Verdict::Fail } else { Verdict::Pass },
                        reason: if fail {
                            format!("{e}: 不满足")
                        } else {
                            String::new()
                        },
                    });
                }
            }
        }
        out
    }

    #[test]
    fn majority_rejects_with_all_reasons() {
        let (m, b) = (ids("e", 5), ids("b", 3));
        let fails = [
            ("e1", "b2", "资质证书"),
            ("e2", "b2", "资质证书"),
            ("e3", "b2", "资质证书"),
            ("e4", "b3", "工期"), // 1 of 5: b3 stays in
        ];
        let out = decide_review(
            &criteria(),
            &m,
            &b,
            &marks(&m, &b, &fails),
            ReviewRule::default(),
        )
        .unwrap();
        assert_eq!(out.passed(), ["b1", "b3"]);
        match &out.decisions[1].1 {
            BidDecision::Rejected { failed } => {
                assert_eq!(failed.len(), 1);
                assert_eq!(failed[0].criterion, "资质证书");
                assert_eq!(failed[0].kind, CriterionKind::Qualification);
                assert_eq!(failed[0].fails, 3);
                let who: Vec<_> = failed[0].reasons.iter().map(|(e, _)| e.as_str()).collect();
                assert_eq!(who, ["e1", "e2", "e3"]);
                assert!(failed[0].reasons.iter().all(|(_, r)| !r.is_empty()));
            }
            other => panic!("expected rejection, got {other:?}"),
        }
    }

    #[test]
    fn two_of_five_is_not_a_majority_but_unanimity_rejects() {
        let (m, b) = (ids("e", 5), ids("b", 1));
        let fails = [("e1", "b1", "工期"), ("e2", "b1", "工期")];
        let all = marks(&m, &b, &fails);
        let maj = decide_review(&criteria(), &m, &b, &all, ReviewRule::Majority).unwrap();
        assert_eq!(maj.passed(), ["b1"]);
        let una = decide_review(&criteria(), &m, &b, &all, ReviewRule::Unanimity).unwrap();
        assert!(una.passed().is_empty());
    }

    #[test]
    fn an_even_split_does_not_reject_under_majority() {
        let (m, b) = (ids("e", 4), ids("b", 1));
        let fails = [("e1", "b1", "工期"), ("e2", "b1", "工期")];
        let out = decide_review(
            &criteria(),
            &m,
            &b,
            &marks(&m, &b, &fails),
            ReviewRule::Majority,
        )
        .unwrap();
        assert_eq!(out.passed(), ["b1"]);
    }

    #[test]
    fn missing_marks_are_listed() {
        let (m, b) = (ids("e", 3), ids("b", 2));
        let mut all = marks(&m, &b, &[]);
        all.retain(|x| !(x.expert == "e2" && x.bid == "b2" && x.criterion != "签字盖章"));
        all.retain(|x| !(x.expert == "e3" && x.bid == "b1"));
        let err = decide_review(&criteria(), &m, &b, &all, ReviewRule::Majority).unwrap_err();
        assert_eq!(
            err,
            ReviewError::MissingMarks(vec![
                MissingMarks {
                    expert: "e2".into(),
                    bid: "b2".into(),
                    criteria: vec!["资质证书".into(), "工期".into()],
                },
                MissingMarks {
                    expert: "e3".into(),
                    bid: "b1".into(),
                    criteria: vec!["签字盖章".into(), "资质证书".into(), "工期".into()],
                },
            ])
        );
        assert!(
            err.to_string().contains("e2 on bid b2: 资质证书, 工期"),
            "{err}"
        );
    }

    #[test]
    fn bad_marks_are_refused() {
        let (m, b) = (ids("e", 3), ids("b", 1));
        let base = marks(&m, &b, &[]);
        let run = |f: &dyn Fn(&mut Vec<Mark>)| {
            let mut v = base.clone();
            f(&mut v);
            decide_review(&criteria(), &m, &b, &v, ReviewRule::Majority)
                .unwrap_err()
                .code()
        };
        assert_eq!(
            run(&|v| {
                v[0].verdict = Verdict::Fail;
                v[0].reason = " ".into();
            }),
            "REVIEW_FAIL_WITHOUT_REASON"
        );
        assert_eq!(
            run(&|v| v[0].reason = "x".repeat(MAX_REASON_CHARS + 1)),
            "REVIEW_REASON_TOO_LONG"
        );
        assert_eq!(run(&|v| v[0].expert = "x".into()), "REVIEW_NOT_A_MEMBER");
        assert_eq!(run(&|v| v[0].bid = "x".into()), "REVIEW_UNKNOWN_BID");
        assert_eq!(
            run(&|v| v[0].criterion = "x".into()),
            "REVIEW_UNKNOWN_CRITERION"
        );
        assert_eq!(run(&|v| v.push(v[0].clone())), "REVIEW_DUPLICATE_MARK");
        let mut dup = criteria();
        dup.push(dup[0].clone());
        assert_eq!(
            decide_review(&dup, &m, &b, &base, ReviewRule::Majority)
                .unwrap_err()
                .code(),
            "REVIEW_BAD_CRITERION"
        );
    }

    proptest! {
        /// With an odd committee, majority rejects exactly when fails outnumber passes, and
        /// unanimity rejects whenever majority does.
        #[test]
        fn majority_matches_counting(fail_mask in proptest::collection::vec(any::<bool>(), 5)) {
            let (m, b) = (ids("e", 5), ids("b", 1));
            let fails: Vec<(String, String, String)> = m
                .iter()
                .zip(&fail_mask)
                .filter(|(_, f)| **f)
                .map(|(e, _)| (e.clone(), "b1".to_owned(), "工期".to_owned()))
                .collect();
            let refs: Vec<(&str, &str, &str)> =
                fails.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
            let all = marks(&m, &b, &refs);
            let n_fail = fails.len();
            let maj = decide_review(&criteria(), &m, &b, &all, ReviewRule::Majority).unwrap();
            let una = decide_review(&criteria(), &m, &b, &all, ReviewRule::Unanimity).unwrap();
            prop_assert_eq!(maj.passed().is_empty(), n_fail >= 3);
            prop_assert_eq!(una.passed().is_empty(), n_fail >= 1);
        }
    }
}
