//! The price comparison table (标价比较表) of the lowest-evaluated-price method
//! (经评审的最低投标价法, 评标委员会和评标方法暂行规定 第30–33条).
//!
//! Under this method the members do not score. After the preliminary review the committee
//! applies the tender's price-adjustment method to each valid bid — a commercial deviation
//! priced in, a discount for an earlier completion — and writes one table: each bid's price,
//! every adjustment with its reason, and the evaluated price (第33条). The table is the
//! committee's, not one member's, so the leader (组长) records it once, for the committee;
//! every member then signs the report that contains it, or dissents in writing — the same
//! check the score sheets get under comprehensive scoring.
//!
//! Recording the table ranks the bids in the same transaction (lowest evaluated price first,
//! [`super::ranking::rank_lowest_price`]) and writes the report. The table is never changed; a
//! member replacement that redoes the review voids it with the report
//! (`evaluation_void`, kind `price_table`).

use crate::evaluation::Env;
use crate::lifecycle::evaluation::EvaluationState;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::ranking::{Adjustment, BidFacts, Outcome};
use super::service::{self, EvaluationError, RankInput};
use crate::tender::model::EvaluationMethod;
use crate::tender::rulebook::MAX_MONEY_FEN;
use crate::tender::service::Caller;

/// Longest reason for one adjustment, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Most adjustments in one table: far above any real tender, bounds the request.
pub const MAX_ADJUSTMENTS: usize = 1_000;

/// One adjustment as sent.
#[derive(Clone, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdjustmentInput {
    /// The bid (one that passed the preliminary review).
    pub bid_id: String,
    /// In fen: positive adds to the bid price, negative subtracts; never zero.
    pub amount_fen: i64,
    /// Why, as the report will show it (the deviation and the tender's clause).
    pub reason: String,
}

/// `POST /api/v1/tenders/{code}/evaluation/price-table`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTableInput {
    /// Every adjustment; an empty table ranks by the bid prices alone.
    pub adjustments: Vec<AdjustmentInput>,
}

/// What is wrong with a table, line by line (lines count from 1).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineProblem {
    /// A bid that did not pass the preliminary review, or no bid of this tender.
    #[error(
        "line {line}: bid {bid} is not a valid bid of this evaluation / 第{line}行：该投标不是本次评审的有效投标"
    )]
    UnknownBid {
        /// The line.
        line: usize,
        /// The bid named.
        bid: String,
    },
    /// An adjustment of zero.
    #[error(
        "line {line}: an adjustment of zero changes nothing; leave the line out / 第{line}行：调整金额不能为零"
    )]
    Zero {
        /// The line.
        line: usize,
    },
    /// An amount beyond the money range.
    #[error("line {line}: the amount is beyond ±10^15 fen / 第{line}行：调整金额超出范围")]
    OutOfRange {
        /// The line.
        line: usize,
    },
    /// No reason, or only blanks.
    #[error("line {line}: every adjustment needs its reason / 第{line}行：每项调整须写明理由")]
    NoReason {
        /// The line.
        line: usize,
    },
    /// A reason longer than [`MAX_REASON_CHARS`].
    #[error(
        "line {line}: the reason is longer than {MAX_REASON_CHARS} characters / 第{line}行：理由过长"
    )]
    ReasonTooLong {
        /// The line.
        line: usize,
    },
    /// A reason holding a control or bidi-override character (`crate::text`).
    #[error(
        "line {line}: the reason must not contain control or bidi-override characters (found U+{:04X}) / 第{line}行：理由不得包含控制字符或双向覆盖字符", *.found as u32
    )]
    ReasonCharacter {
        /// The line.
        line: usize,
        /// The first character refused.
        found: char,
    },
    /// The adjustments of a bid take its evaluated price below zero.
    #[error(
        "the adjustments of bid {bid} take its evaluated price below zero / 该投标调整后的评标价为负"
    )]
    Negative {
        /// The bid.
        bid: String,
    },
}

impl LineProblem {
    /// Stable name of the problem for the API's details.
    pub fn kind(&self) -> &'static str {
        match self {
            LineProblem::UnknownBid { .. } => "unknown_bid",
            LineProblem::Zero { .. } => "zero",
            LineProblem::OutOfRange { .. } => "out_of_range",
            LineProblem::NoReason { .. } => "no_reason",
            LineProblem::ReasonTooLong { .. } => "reason_too_long",
            LineProblem::ReasonCharacter { .. } => "reason_control_character",
            LineProblem::Negative { .. } => "negative_evaluated_price",
        }
    }

    /// The line, when the problem is one line's.
    pub fn line(&self) -> Option<usize> {
        match self {
            LineProblem::UnknownBid { line, .. }
            | LineProblem::Zero { line }
            | LineProblem::OutOfRange { line }
            | LineProblem::NoReason { line }
            | LineProblem::ReasonTooLong { line }
            | LineProblem::ReasonCharacter { line, .. } => Some(*line),
            LineProblem::Negative { .. } => None,
        }
    }
}

/// Checks a table against the valid bids: every problem at once, or the adjustments with
/// their reasons trimmed.
pub fn check_table(
    valid: &[BidFacts],
    input: &PriceTableInput,
) -> Result<Vec<Adjustment>, Vec<LineProblem>> {
    let mut problems = Vec::new();
    let mut out = Vec::with_capacity(input.adjustments.len());
    let mut sums: BTreeMap<&str, i64> = BTreeMap::new();
    for (i, a) in input.adjustments.iter().enumerate() {
        let line = i + 1;
        let known = valid.iter().any(|b| b.bid == a.bid_id);
        if !known {
            problems.push(LineProblem::UnknownBid {
                line,
                bid: a.bid_id.chars().take(64).collect(),
            });
        }
        if a.amount_fen == 0 {
            problems.push(LineProblem::Zero { line });
        } else if a.amount_fen.unsigned_abs() > MAX_MONEY_FEN.unsigned_abs() {
            problems.push(LineProblem::OutOfRange { line });
        } else if known {
            // Each term is within ±10^15 and there are at most MAX_ADJUSTMENTS of them.
            let s = sums.entry(a.bid_id.as_str()).or_insert(0);
            *s = s.saturating_add(a.amount_fen);
        }
        let reason = a.reason.trim();
        if reason.is_empty() {
            problems.push(LineProblem::NoReason { line });
        } else if reason.chars().count() > MAX_REASON_CHARS {
            problems.push(LineProblem::ReasonTooLong { line });
        } else if let Some(found) = crate::text::forbidden_char(reason, crate::text::Lines::Multi) {
            problems.push(LineProblem::ReasonCharacter { line, found });
        }
        out.push(Adjustment {
            bid: a.bid_id.clone(),
            amount_fen: a.amount_fen,
            reason: reason.to_string(),
        });
    }
    for b in valid {
        if let Some(sum) = sums.get(b.bid.as_str())
            && b.price_fen.saturating_add(*sum) < 0
        {
            problems.push(LineProblem::Negative { bid: b.bid.clone() });
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn wrong_method() -> EvaluationError {
    EvaluationError::WrongMethod(
        "this tender is evaluated by comprehensive scoring: the members submit score sheets / 本项目采用综合评估法，由评委提交评分表",
    )
}

/// What [`record`] answers; the JSON route serialises it as is.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct PriceTableRecorded {
    /// The hash of the recorded table.
    pub price_table_sha256: String,
    /// Number of adjustments recorded.
    pub adjustments: usize,
    /// The report's hash, when the report was written.
    pub report_sha256: Option<String>,
    /// The ranking (or the failure) the table led to.
    pub outcome: Outcome,
}

/// Records the committee's price comparison table (the leader, once, while the committee is
/// at the detailed review of a lowest-evaluated-price tender), then ranks the bids and writes
/// the report in the same transaction. Refused: not a checked-in member (403), not the
/// leader (403), a comprehensive-scoring tender or a step already past (409), any bad line
/// (422, every problem at once).
pub async fn record(
    env: Env<'_>,
    caller: &Caller,
    code: &str,
    input: &PriceTableInput,
) -> Result<PriceTableRecorded, EvaluationError> {
    let now = env.now;
    if input.adjustments.len() > MAX_ADJUSTMENTS {
        return Err(EvaluationError::Invalid(
            "PRICE_TABLE_TOO_LONG",
            format!("at most {MAX_ADJUSTMENTS} adjustments / 调整项过多"),
        ));
    }
    let mut tx = env.db.begin().await?;
    let ev = service::load(&mut tx, code).await?;
    let member = service::acting_member(&mut tx, &ev, caller).await?;
    if ev.method()? != EvaluationMethod::LowestPrice {
        return Err(wrong_method());
    }
    if ev.state != EvaluationState::Scoring {
        return Err(service::wrong("record the price comparison table", &ev));
    }
    if ev.row.leader_user_id.as_deref() != Some(member.as_str()) {
        return Err(EvaluationError::forbidden(
            "only the committee leader records the price comparison table, for the committee / 标价比较表由评标委员会组长代表评标委员会录入",
        ));
    }
    let tid = ev.tender.tender_id.clone();
    let bids = service::opened_bids(&mut tx, &tid).await?;
    let review = service::decided_review(&mut tx, &ev, &bids).await?;
    let passed = review.passed();
    let valid: Vec<BidFacts> = bids
        .into_iter()
        .filter(|b| passed.contains(&b.bid))
        .collect();
    let adjustments = check_table(&valid, input).map_err(EvaluationError::PriceTable)?;
    let table = json!({"tender_id": tid, "adjustments": adjustments});
    let table_sha256 = service::canonical_sha256(&table)?;
    service::event(
        &mut tx,
        now,
        &caller.actor,
        "evaluation.price_table.record",
        &tid,
        json!({"member": member, "adjustments": adjustments, "sha256": table_sha256}),
    )
    .await?;
    let (outcome, report_sha256) = service::rank_and_report(
        &mut tx,
        env,
        &ev,
        now,
        RankInput {
            code,
            review: &review,
            facts: valid,
            adjustments: &adjustments,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(PriceTableRecorded {
        price_table_sha256: table_sha256,
        adjustments: adjustments.len(),
        report_sha256,
        outcome,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
pub(crate) mod tests {
    use super::*;
    use crate::evaluation::ranking::{Outcome, rank_lowest_price};
    use chrono::{DateTime, Utc};

    fn bid(id: &str, price_fen: i64) -> BidFacts {
        BidFacts {
            bid: id.into(),
            price_fen,
            submitted_at: DateTime::<Utc>::from_timestamp(1_740_000_000, 0).unwrap(),
        }
    }

    fn line(bid: &str, amount_fen: i64, reason: &str) -> AdjustmentInput {
        AdjustmentInput {
            bid_id: bid.into(),
            amount_fen,
            reason: reason.into(),
        }
    }

    #[test]
    fn a_good_table_is_kept_with_reasons_trimmed() {
        let valid = [bid("b1", 1_000_000), bid("b2", 900_000)];
        let t = PriceTableInput {
            adjustments: vec![
                line("b2", 150_000, "  工期偏差折价 delay priced in "),
                line("b1", -20_000, "提前竣工 earlier completion"),
                line("b2", 5_000, "付款条件偏差"),
            ],
        };
        let a = check_table(&valid, &t).unwrap();
        assert_eq!(a.len(), 3);
        assert_eq!(a[0].reason, "工期偏差折价 delay priced in");
        assert_eq!(a[0].bid, "b2");
        assert!(
            check_table(
                &valid,
                &PriceTableInput {
                    adjustments: vec![]
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn every_bad_line_is_reported_at_once() {
        let valid = [bid("b1", 1_000_000), bid("b2", 900_000)];
        let t = PriceTableInput {
            adjustments: vec![
                line("rejected-bid", 10, "x"),
                line("b1", 0, "nothing"),
                line("b1", MAX_MONEY_FEN + 1, "too much"),
                line("b2", 10, "   "),
                line("b2", 10, &"长".repeat(MAX_REASON_CHARS + 1)),
                line("b1", -1_000_001, "more than the price"),
                line("b2", 10, "偏差\u{1B}[31m折价"),
            ],
        };
        let p = check_table(&valid, &t).unwrap_err();
        let kinds: Vec<_> = p.iter().map(|x| (x.kind(), x.line())).collect();
        assert_eq!(
            kinds,
            [
                ("unknown_bid", Some(1)),
                ("zero", Some(2)),
                ("out_of_range", Some(3)),
                ("no_reason", Some(4)),
                ("reason_too_long", Some(5)),
                ("reason_control_character", Some(7)),
                ("negative_evaluated_price", None),
            ]
        );
        assert!(p[0].to_string().contains("第1行"));
        assert!(p[5].to_string().contains("U+001B"), "{}", p[5]);
        // Exactly down to zero is allowed; the sum decides, not each line.
        let ok = PriceTableInput {
            adjustments: vec![line("b1", -1_500_000, "a"), line("b1", 500_000, "b")],
        };
        assert!(check_table(&valid, &ok).is_ok());
    }

    #[test]
    fn a_checked_table_ranks_by_evaluated_price() {
        let valid = [bid("b1", 1_000_000), bid("b2", 900_000), bid("b3", 950_000)];
        let t = PriceTableInput {
            adjustments: vec![line("b2", 200_000, "偏差折价")],
        };
        let a = check_table(&valid, &t).unwrap();
        let book = crate::evaluation::committee::tests::construction();
        let Outcome::Ranked(r) = rank_lowest_price(&book, &valid, &a).unwrap() else {
            panic!("ranked expected");
        };
        assert_eq!(r.candidates, ["b3", "b1", "b2"]);
    }

    use crate::evaluation::report::doc as report_doc;
    use crate::evaluation::routes::env;
    use crate::evaluation::service::tests::{api, events, opened, sheets, to_scoring, view_json};
    use crate::evaluation::service::{self as svc, ScoresInput};
    use crate::tender::testkit::Kit;

    /// A lowest-evaluated-price tender through the review: three valid bids, five members,
    /// the first expert elected leader.
    async fn lowest_price_at_scoring(kit: &Kit) -> crate::evaluation::service::tests::Fixture {
        let fx = opened(kit, &[100_000_000, 98_000_000, 99_000_000], 5, 5).await;
        set_lowest_price(kit, &fx.tender_id).await;
        to_scoring(kit, &fx).await;
        fx
    }

    /// Makes a fixture's tender one evaluated by the lowest evaluated price.
    pub(crate) async fn set_lowest_price(kit: &Kit, tender_id: &str) {
        let mut tx = kit.db().begin().await.unwrap();
        crate::q_exec!(
            tx,
            "update tender set evaluation_method = 'lowest_price' where tender_id = $1",
            tender_id.to_string()
        )
        .unwrap();
        tx.commit().await.unwrap();
    }

    async fn state_of(kit: &Kit, code: &str) -> String {
        let v = view_json(env(&kit.state), &kit.agent, code).await.unwrap();
        v["state"].as_str().unwrap().to_string()
    }

    pub(crate) async fn scenario_price_table(kit: &Kit) {
        let fx = lowest_price_at_scoring(kit).await;
        let s = &kit.state;
        let leader = &fx.experts[0];
        let table = PriceTableInput {
            adjustments: vec![
                line(&fx.bids[1], 2_500_000, "工期偏差折价 delay priced in"),
                line(&fx.bids[0], -1_000_000, "提前竣工 earlier completion"),
            ],
        };

        // Refusals, each leaving the evaluation where it was.
        let not_leader = record(env(s), &fx.experts[1], &fx.code, &table).await;
        assert_eq!(api(not_leader.unwrap_err()), (403, "FORBIDDEN"));
        let outsider = record(env(s), &kit.bidder, &fx.code, &table).await;
        assert_eq!(api(outsider.unwrap_err()), (403, "EVALUATION_NOT_A_MEMBER"));
        let scores = svc::submit_scores(
            env(s),
            leader,
            &fx.code,
            &sheets(&fx, &[2_000, 2_000, 2_000]),
        )
        .await;
        assert_eq!(api(scores.unwrap_err()), (409, "EVALUATION_WRONG_METHOD"));
        let empty_sheets = ScoresInput { sheets: vec![] };
        let scores = svc::submit_scores(env(s), &fx.experts[2], &fx.code, &empty_sheets).await;
        assert_eq!(api(scores.unwrap_err()), (409, "EVALUATION_WRONG_METHOD"));
        let bad = PriceTableInput {
            adjustments: vec![
                line(&fx.bids[1], 0, "零"),
                line("not-a-bid", 10, "x"),
                line(&fx.bids[2], -99_000_001, "低于零"),
            ],
        };
        let e = record(env(s), leader, &fx.code, &bad).await.unwrap_err();
        let problems = match &e {
            EvaluationError::PriceTable(p) => p.iter().map(LineProblem::kind).collect::<Vec<_>>(),
            other => panic!("price table problems expected, got {other:?}"),
        };
        assert_eq!(
            problems,
            ["zero", "unknown_bid", "negative_evaluated_price"]
        );
        assert_eq!(api(e), (422, "PRICE_TABLE_INVALID"));
        assert_eq!(state_of(kit, &fx.code).await, "scoring");
        assert!(
            events(kit.db(), &fx.tender_id, "evaluation.price_table.record")
                .await
                .is_empty()
        );

        // The leader's table ranks at once: b1 98.0 + 2.5 = 100.5, b0 100.0 - 1.0 = 99.0,
        // b2 99.0 (submitted after b0): b0, b2, b1.
        let done =
            serde_json::to_value(record(env(s), leader, &fx.code, &table).await.unwrap()).unwrap();
        assert_eq!(done["adjustments"], 2);
        assert_eq!(
            done["outcome"]["candidates"],
            json!([fx.bids[0], fx.bids[2], fx.bids[1]])
        );
        let sha = done["report_sha256"].as_str().unwrap().to_string();
        assert_eq!(state_of(kit, &fx.code).await, "ranked");
        let again = record(env(s), leader, &fx.code, &table).await;
        assert_eq!(api(again.unwrap_err()), (409, "EVALUATION_WRONG_STATE"));

        // One audit event for the table (with its digest), then the ranking.
        let ev = events(kit.db(), &fx.tender_id, "evaluation.price_table.record").await;
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0]["payload"]["sha256"], done["price_table_sha256"]);
        assert_eq!(
            ev[0]["payload"]["adjustments"][0]["reason"],
            "工期偏差折价 delay priced in"
        );
        let ranking = events(kit.db(), &fx.tender_id, "evaluation.ranking").await;
        assert_eq!(ranking[0]["payload"]["report_sha256"], json!(sha));

        // The members see the table; the report they sign carries it, and the document shows it.
        let v = view_json(env(s), &fx.experts[3], &fx.code).await.unwrap();
        assert_eq!(v["price_table"][1]["amount_fen"], -1_000_000);
        assert_eq!(
            v["ranking"]["rows"][2]["detail"]["evaluated_price_fen"],
            100_500_000
        );
        assert_eq!(v["report"]["adjustments"], v["price_table"]);
        let doc = report_doc::document(env(s), &fx.experts[3], &fx.code)
            .await
            .unwrap();
        let text = report_doc::tests::all_text(&doc);
        assert!(text.contains("标价比较表"), "{text}");
        assert!(text.contains("工期偏差折价 delay priced in"));
        assert!(text.contains("25,000.00"));
        assert!(text.contains("1,005,000.00"));
    }

    pub(crate) async fn scenario_comprehensive_has_no_price_table(kit: &Kit) {
        let fx = opened(kit, &[100_000_000, 98_000_000, 99_000_000], 5, 5).await;
        to_scoring(kit, &fx).await;
        let r = record(
            env(&kit.state),
            &fx.experts[0],
            &fx.code,
            &PriceTableInput {
                adjustments: vec![],
            },
        )
        .await;
        assert_eq!(api(r.unwrap_err()), (409, "EVALUATION_WRONG_METHOD"));
    }

    #[tokio::test]
    async fn price_table_sqlite() {
        let kit = Kit::sqlite().await;
        scenario_price_table(&kit).await;
        scenario_comprehensive_has_no_price_table(&kit).await;
    }

    #[tokio::test]
    async fn price_table_postgres() {
        let Some(kit) = Kit::postgres().await else {
            return;
        };
        scenario_price_table(&kit).await;
        scenario_comprehensive_has_no_price_table(&kit).await;
    }
}
