//! Signals about the evaluation committee: a member whose scores stand apart from the
//! others' on a criterion (read from the report revealed with the award), emergency
//! check-ins without a passkey, and passkey signature counters that went backwards (a
//! cloned authenticator).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{AlertKind, Finding, Severity};
use crate::supervision::config::Evaluation;
use crate::supervision::event::Event;

/// member → criterion → bid → score (hundredths), read from a report's sheets.
type Sheets<'a> = BTreeMap<&'a str, BTreeMap<&'a str, BTreeMap<&'a str, i64>>>;

fn sheets(report: &Value) -> Sheets<'_> {
    let mut out: Sheets<'_> = BTreeMap::new();
    for s in report
        .get("sheets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(m), Some(b), Some(scores)) = (
            s.get("member").and_then(Value::as_str),
            s.get("bid_id").and_then(Value::as_str),
            s.get("scores").and_then(Value::as_object),
        ) else {
            continue;
        };
        for (c, v) in scores {
            if let Some(v) = v.as_i64() {
                out.entry(m)
                    .or_default()
                    .entry(c.as_str())
                    .or_default()
                    .insert(b, v);
            }
        }
    }
    out
}

/// The maximum of each criterion from the report's scoring plan.
fn maxima(report: &Value) -> BTreeMap<&str, i64> {
    report
        .pointer("/plan/criteria")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| Some((c.get("name")?.as_str()?, c.get("max")?.as_i64()?)))
        .collect()
}

/// Per member and criterion, the mean absolute distance (in percent of the criterion's
/// maximum) between the member's score of each bid and the other members' mean for it.
#[allow(clippy::cast_precision_loss)]
pub fn deviations(report: &Value) -> Vec<(String, String, f64)> {
    let sheets = sheets(report);
    let max = maxima(report);
    let mut out = Vec::new();
    for (member, criteria) in &sheets {
        for (criterion, bids) in criteria {
            let Some(top) = max.get(criterion).copied().filter(|m| *m > 0) else {
                continue;
            };
            let mut dist = Vec::new();
            for (bid, score) in bids {
                let others: Vec<i64> = sheets
                    .iter()
                    .filter(|(m, _)| *m != member)
                    .filter_map(|(_, c)| c.get(criterion)?.get(bid).copied())
                    .collect();
                if others.is_empty() {
                    continue;
                }
                let mean = others.iter().sum::<i64>() as f64 / others.len() as f64;
                dist.push((*score as f64 - mean).abs() / top as f64 * 100.0);
            }
            if !dist.is_empty() {
                let avg = dist.iter().sum::<f64>() / dist.len() as f64;
                out.push((
                    member.to_string(),
                    criterion.to_string(),
                    (avg * 100.0).round() / 100.0,
                ));
            }
        }
    }
    out
}

/// Members whose scores stand apart, from an `evaluation.report.reveal` event.
pub fn deviating_members(cfg: &Evaluation, ev: &Event) -> Vec<Finding> {
    let Some(report) = ev.payload.get("report") else {
        return Vec::new();
    };
    if sheets(report).len() < cfg.min_members {
        return Vec::new();
    }
    deviations(report)
        .into_iter()
        .filter(|(_, _, d)| *d > cfg.deviation_pct)
        .map(|(member, criterion, d)| {
            Finding::new(
                AlertKind::Evaluation,
                Severity::Medium,
                "evaluation.deviating_scores",
                &cfg.article,
                ev.tender.as_deref(),
                format!(
                    "a member's scores on \"{criterion}\" differ from the others' by {d}% of the maximum / 评委对“{criterion}”的评分偏离其他评委 {d}%"
                ),
                vec![ev.seq],
                json!({"member": member, "criterion": criterion, "deviation_pct": d}),
                &format!("{member}:{criterion}"),
            )
        })
        .collect()
}

/// An expert checked in without a passkey.
pub fn emergency_checkin(cfg: &Evaluation, ev: &Event) -> Finding {
    Finding::new(
        AlertKind::Evaluation,
        Severity::Low,
        "evaluation.emergency_checkin",
        &cfg.article,
        ev.tender.as_deref(),
        "an expert checked in by the emergency procedure / 专家以应急方式签到".into(),
        vec![ev.seq],
        json!({"expert_id": ev.payload.get("expert_id"), "reason": ev.payload.get("reason")}),
        &ev.seq.to_string(),
    )
}

/// A passkey's signature counter went backwards.
pub fn counter_regression(cfg: &Evaluation, ev: &Event) -> Finding {
    Finding::new(
        AlertKind::Evaluation,
        Severity::High,
        "evaluation.passkey_counter_regression",
        &cfg.article,
        ev.tender.as_deref(),
        "a passkey's signature counter went backwards (possible clone) / 通行密钥计数器回退（可能被复制）"
            .into(),
        vec![ev.seq],
        ev.payload.clone(),
        &ev.seq.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::rules::testkit::{ev, rules};

    fn report(scores: &[(&str, &str, i64)]) -> Value {
        let sheets: Vec<Value> = scores
            .iter()
            .map(|(m, b, s)| json!({"member": m, "bid_id": b, "scores": {"技术": s}}))
            .collect();
        json!({"plan": {"criteria": [{"name": "技术", "max": 1000}]}, "sheets": sheets})
    }

    #[test]
    fn a_member_far_from_the_others_is_flagged() {
        let cfg = rules().evaluation;
        let r = report(&[
            ("m1", "b1", 800),
            ("m2", "b1", 810),
            ("m3", "b1", 790),
            ("m4", "b1", 200),
            ("m1", "b2", 700),
            ("m2", "b2", 690),
            ("m3", "b2", 710),
            ("m4", "b2", 990),
        ]);
        let e = ev(5, 0, "evaluation.report.reveal", json!({"report": r}));
        let f = deviating_members(&cfg, &e);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].detail["member"], "m4");
        assert_eq!(f[0].evidence, vec![5]);
    }

    #[test]
    fn a_committee_that_agrees_is_not_flagged() {
        let cfg = rules().evaluation;
        let r = report(&[
            ("m1", "b1", 800),
            ("m2", "b1", 810),
            ("m3", "b1", 790),
            ("m4", "b1", 820),
        ]);
        let e = ev(5, 0, "evaluation.report.reveal", json!({"report": r}));
        assert!(deviating_members(&cfg, &e).is_empty());
    }

    #[test]
    fn emergency_checkins_are_noted() {
        let cfg = rules().evaluation;
        let e = ev(3, 0, "expert.checkin.emergency", json!({"expert_id": "x"}));
        assert_eq!(emergency_checkin(&cfg, &e).evidence, vec![3]);
    }
}
