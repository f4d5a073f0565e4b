//! A report JSON built with the same types and shape the scoring step writes, for the
//! document, PDF and route tests.

use serde_json::json;

use super::*;
use crate::evaluation::ranking::{Outcome, RankDetail, RankedBid, Ranking};
use crate::evaluation::review::{BidDecision, FailedCriterion, ReviewOutcome};
use crate::evaluation::scoring::{PriceFormula, ScoredCriterion};
use crate::tender::model::EvaluationMethod;

/// A sample report over these members and bids with `criteria` scored criteria: the
/// last bid (of two or more) fails the preliminary review; the others are scored.
pub(crate) struct Sample {
    pub json: String,
    pub sha256: String,
    pub members: Vec<String>,
    pub bids: Vec<String>,
    pub criteria: Vec<String>,
}

/// A distinct, plausible score in hundredths.
pub(crate) fn score(m: usize, b: usize, c: usize) -> i64 {
    i64::try_from(500 + (m * 37 + b * 101 + c * 13) % 499).unwrap()
}

pub(crate) fn sample(members: &[String], bids: &[String], criteria: usize) -> Sample {
    let criteria: Vec<String> = (0..criteria)
        .map(|c| format!("技术评分项{}", c + 1))
        .collect();
    let rejected = (bids.len() >= 2).then(|| bids.last().cloned().unwrap());
    let scored: Vec<&String> = bids
        .iter()
        .filter(|b| Some(*b) != rejected.as_ref())
        .collect();
    let member_list: Vec<Member> = members
        .iter()
        .enumerate()
        .map(|(i, id)| Member {
            id: id.clone(),
            role: if i + 1 == members.len() && members.len() > 3 {
                MemberRole::TendereeRepresentative
            } else {
                MemberRole::Expert
            },
        })
        .collect();
    let review = ReviewOutcome {
        decisions: bids
            .iter()
            .map(|b| {
                if Some(b) == rejected.as_ref() {
                    (
                        b.clone(),
                        BidDecision::Rejected {
                            failed: vec![FailedCriterion {
                                criterion: "投标函签字盖章".into(),
                                kind: CriterionKind::Formal,
                                reasons: members
                                    .iter()
                                    .map(|m| (m.clone(), "投标函未加盖公章".to_string()))
                                    .collect(),
                                fails: members.len(),
                                marks: members.len(),
                            }],
                        },
                    )
                } else {
                    (b.clone(), BidDecision::Passed)
                }
            })
            .collect(),
    };
    let plan = ScoringPlan {
        criteria: criteria
            .iter()
            .map(|c| ScoredCriterion {
                name: c.clone(),
                max: 1000,
            })
            .collect(),
        price: Some(PriceFormula {
            name: "价格".into(),
            max: 4000,
            benchmark: Benchmark::Lowest,
            penalty_above: 100,
            penalty_below: 50,
        }),
        aggregation: Aggregation::TrimmedMean,
    };
    let mut sheets = Vec::new();
    for (mi, m) in members.iter().enumerate() {
        let sha = sha256_hex(format!("sheets of {m}").as_bytes());
        for (bi, b) in scored.iter().enumerate() {
            let scores: BTreeMap<String, i64> = criteria
                .iter()
                .enumerate()
                .map(|(ci, c)| (c.clone(), score(mi, bi, ci)))
                .collect();
            sheets.push(json!({"member": m, "bid_id": b, "scores": scores, "sha256": sha}));
        }
    }
    let now = crate::clock::from_millis(1_700_000_000_000);
    let rows: Vec<RankedBid> = scored
        .iter()
        .enumerate()
        .map(|(i, b)| RankedBid {
            rank: u32::try_from(i + 1).unwrap(),
            bid: (*b).clone(),
            price_fen: 10_000_000_000 + i64::try_from(i).unwrap() * 12_345_678,
            submitted_at: now,
            detail: RankDetail::Comprehensive {
                subjective: 5_000 - i64::try_from(i).unwrap() * 17,
                price_score: 4_000 - i64::try_from(i).unwrap() * 23,
                total: 9_000 - i64::try_from(i).unwrap() * 40,
            },
        })
        .collect();
    let outcome = Outcome::Ranked(Ranking {
        method: EvaluationMethod::Comprehensive,
        benchmark_fen: Some(10_000_000_000),
        candidates: rows.iter().take(3).map(|r| r.bid.clone()).collect(),
        rows,
    });
    let report = json!({
        "v": 1, "tender_id": "T1", "tender_code": "E-REPORT-1", "method": "comprehensive",
        "ranked_at": crate::audit::entry_time(now), "members": member_list,
        "leader": members.first(), "review_criteria": [
            {"id": "投标函签字盖章", "kind": "formal"},
            {"id": "施工总承包资质", "kind": "qualification"}],
        "review_rule": "majority", "review": review, "plan": plan,
        "sheets": sheets, "outcome": outcome,
    });
    let text = serde_json_canonicalizer::to_string(&report).unwrap();
    Sample {
        sha256: sha256_hex(text.as_bytes()),
        json: text,
        members: members.to_vec(),
        bids: bids.to_vec(),
        criteria,
    }
}

/// Ids `prefix-1` … `prefix-n`.
pub(crate) fn ids(prefix: &str, n: usize) -> Vec<String> {
    (1..=n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Names for the sample's members and bids.
pub(crate) fn extras(s: &Sample) -> Extras {
    Extras {
        tender_name: "滨江新区污水处理厂扩建工程施工招标".into(),
        member_names: s
            .members
            .iter()
            .enumerate()
            .map(|(i, m)| (m.clone(), format!("评委{}", i + 1)))
            .collect(),
        bidders: s
            .bids
            .iter()
            .enumerate()
            .map(|(i, b)| (b.clone(), format!("投标人公司{}", i + 1)))
            .collect(),
        signatures: Vec::new(),
        signing_closed: false,
        generated_at: crate::clock::from_millis(1_700_000_360_000),
        members_withheld: None,
    }
}
