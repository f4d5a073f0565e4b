//! Rules across tenders: bid rotation among a group of companies, a company that always
//! loses to the same winner (实施条例 第39–40条), tenders split just under a threshold by
//! one tenderee (招标投标法 第4条), experts drawn unusually often (实施条例 第46条), and
//! a tenderee cancelling or failing tenders repeatedly.
//!
//! Each rule runs when its trigger event is consumed, over the earlier events of
//! [`ACTIONS`] from every tender (within `lookback_days`), so the engine and a replay of the
//! log find the same thing at the same point. A finding belongs to the trigger's tender and
//! is withheld with it until that tender's award, like every alert.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Duration;
use serde_json::{Value, json};

use super::{AlertKind, Finding, Severity};
use crate::supervision::config::Across;
use crate::supervision::event::Event;

/// The actions these rules read: publication (tenderee, category, estimate), the opening
/// record (who bid), the award (who won), cancellations and failures, and the revealed
/// expert draws.
pub const ACTIONS: &[&str] = &[
    "tender.publish",
    "opening.record",
    "result.award",
    "tender.cancel",
    "tender.fail",
    "expert.draw.reveal",
];

/// Whether `action` triggers one of these rules.
pub fn triggers(action: &str) -> bool {
    matches!(
        action,
        "tender.publish" | "result.award" | "tender.cancel" | "tender.fail" | "expert.draw.reveal"
    )
}

/// The findings `ev` gives with the earlier events of [`ACTIONS`] (`prior`, in order).
pub fn on_event(cfg: &Across, ev: &Event, prior: &[Event]) -> Vec<Finding> {
    if !cfg.enabled || !triggers(&ev.action) {
        return Vec::new();
    }
    let since = ev.time - Duration::days(cfg.lookback_days);
    let prior: Vec<&Event> = prior
        .iter()
        .filter(|e| e.time >= since && e.seq < ev.seq)
        .collect();
    match ev.action.as_str() {
        "result.award" => {
            let mut out = rotation(cfg, ev, &prior);
            out.extend(always_loses(cfg, ev, &prior));
            out
        }
        "tender.publish" => split(cfg, ev, &prior).into_iter().collect(),
        "tender.cancel" | "tender.fail" => cancellations(cfg, ev, &prior).into_iter().collect(),
        "expert.draw.reveal" => drawn_often(cfg, ev, &prior),
        _ => Vec::new(),
    }
}

/// One awarded tender as the rules see it: who bid, who won, and the two events.
struct Awarded {
    bidders: BTreeSet<String>,
    winner: String,
    record_seq: u64,
    award_seq: u64,
}

/// The bidders named by a tender's opening record.
fn bidders(record: &Event) -> BTreeSet<String> {
    record
        .payload
        .pointer("/record/bids")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|b| b.get("bidder_id").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

/// Every awarded tender among `events` (the trigger included last), in award order.
fn awarded<'e>(events: impl Iterator<Item = &'e Event>) -> Vec<Awarded> {
    let mut records: BTreeMap<&str, &Event> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        let Some(t) = e.tender.as_deref() else {
            continue;
        };
        match e.action.as_str() {
            "opening.record" => {
                records.insert(t, e);
            }
            "result.award" => {
                let (Some(winner), Some(record)) = (e.str("winner_org_id"), records.get(t)) else {
                    continue;
                };
                out.push(Awarded {
                    bidders: bidders(record),
                    winner: winner.to_string(),
                    record_seq: record.seq,
                    award_seq: e.seq,
                });
            }
            _ => {}
        }
    }
    out
}

fn seqs(tenders: &[&Awarded]) -> Vec<u64> {
    tenders
        .iter()
        .flat_map(|a| [a.record_seq, a.award_seq])
        .collect()
}

/// Whether these tenders (of one group, in order) show the award going round: enough of
/// them, enough different winners, every winner from the group, never the same twice in a
/// row.
fn rotates(cfg: &Across, same: &[&Awarded]) -> bool {
    let winners: BTreeSet<&str> = same.iter().map(|a| a.winner.as_str()).collect();
    same.len() >= cfg.rotation_min_tenders
        && winners.len() >= cfg.rotation_min_winners
        && same.iter().all(|a| a.bidders.contains(&a.winner))
        && same.windows(2).all(|w| w[0].winner != w[1].winner)
}

/// Bid rotation: the same group of companies bids together tender after tender and the
/// award goes round among them (each winner different until the group has won at least
/// `rotation_min_winners` times). Evidence: the opening records and awards.
fn rotation(cfg: &Across, ev: &Event, prior: &[&Event]) -> Vec<Finding> {
    let all = awarded(prior.iter().copied().chain(std::iter::once(ev)));
    let Some(last) = all.last().filter(|a| a.award_seq == ev.seq) else {
        return Vec::new();
    };
    if last.bidders.len() < cfg.rotation_min_group {
        return Vec::new();
    }
    let same: Vec<&Awarded> = all.iter().filter(|a| a.bidders == last.bidders).collect();
    // Raised once per group: when this award first completes the pattern.
    let before = &same[..same.len().saturating_sub(1)];
    if !rotates(cfg, &same) || rotates(cfg, before) {
        return Vec::new();
    }
    let group: Vec<&str> = last.bidders.iter().map(String::as_str).collect();
    vec![Finding::new(
        AlertKind::Collusion,
        Severity::High,
        "across.bid_rotation",
        &cfg.collusion_article,
        ev.tender.as_deref(),
        format!(
            "the same {} companies bid together in {} tenders and took turns winning / 同一组{}家投标人共同参与{}个项目并轮流中标",
            group.len(),
            same.len(),
            group.len(),
            same.len()
        ),
        seqs(&same),
        json!({"group": group, "tenders": same.len(),
               "winners": same.iter().map(|a| a.winner.as_str()).collect::<Vec<_>>()}),
        &group.join("+"),
    )]
}

/// A company that lost to this award's winner at least `lose_min_tenders` times and never
/// won a tender the two both bid in (a cover bidder, 陪标).
fn always_loses(cfg: &Across, ev: &Event, prior: &[&Event]) -> Vec<Finding> {
    let all = awarded(prior.iter().copied().chain(std::iter::once(ev)));
    let Some(last) = all.last().filter(|a| a.award_seq == ev.seq) else {
        return Vec::new();
    };
    let winner = last.winner.as_str();
    let mut out = Vec::new();
    for loser in last.bidders.iter().filter(|b| b.as_str() != winner) {
        let together: Vec<&Awarded> = all
            .iter()
            .filter(|a| a.bidders.contains(loser) && a.bidders.contains(winner))
            .collect();
        let lost: Vec<&Awarded> = together
            .iter()
            .copied()
            .filter(|a| a.winner == winner)
            .collect();
        // Raised once, when the count of losses first reaches the threshold.
        if lost.len() != cfg.lose_min_tenders || together.iter().any(|a| &a.winner == loser) {
            continue;
        }
        out.push(Finding::new(
            AlertKind::Collusion,
            Severity::Medium,
            "across.always_loses",
            &cfg.collusion_article,
            ev.tender.as_deref(),
            format!(
                "a company lost to the same winner in all {} tenders they both bid in / 某投标人在与同一中标人共同参与的{}个项目中均未中标",
                lost.len(),
                lost.len()
            ),
            seqs(&lost),
            json!({"loser": loser, "winner": winner, "tenders": lost.len()}),
            &format!("{loser}>{winner}"),
        ));
    }
    out
}

/// Split tenders (化整为零, 招标投标法 第4条): one tenderee publishing several tenders of
/// the same category within `split_window_days`, each estimated just under the category's
/// threshold.
fn split(cfg: &Across, ev: &Event, prior: &[&Event]) -> Option<Finding> {
    let under = |e: &Event| -> Option<(String, String, i64)> {
        let category = e.str("category")?;
        let threshold = *cfg.split_thresholds_fen.get(category)?;
        let estimate = e.payload.get("estimated_price_fen")?.as_i64()?;
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let floor = (threshold as f64 * (1.0 - cfg.split_margin_pct / 100.0)) as i64;
        (estimate < threshold && estimate >= floor).then(|| {
            (
                e.str("tenderee_org_id").unwrap_or_default().to_string(),
                category.to_string(),
                threshold,
            )
        })
    };
    let (tenderee, category, threshold) = under(ev)?;
    let since = ev.time - Duration::days(cfg.split_window_days);
    let mut group: Vec<&Event> = prior
        .iter()
        .copied()
        .filter(|e| e.action == "tender.publish" && e.time >= since)
        .filter(|e| under(e).is_some_and(|(t, c, _)| t == tenderee && c == category))
        .collect();
    group.push(ev);
    // Raised once per run of tenders, at the tender that completes it.
    if group.len() != cfg.split_min_tenders {
        return None;
    }
    let codes: Vec<&str> = group.iter().filter_map(|e| e.str("code")).collect();
    Some(Finding::new(
        AlertKind::AcrossTenders,
        Severity::Medium,
        "across.split_tenders",
        "招标投标法 第4条",
        ev.tender.as_deref(),
        format!(
            "one tenderee published {} {category} tenders within {} days, each just under the threshold / 同一招标人{}日内发布{}个估算价略低于限额的同类项目（疑似化整为零）",
            group.len(),
            cfg.split_window_days,
            cfg.split_window_days,
            group.len()
        ),
        group.iter().map(|e| e.seq).collect(),
        json!({"tenderee": tenderee, "category": category, "threshold_fen": threshold,
               "codes": codes}),
        &format!("{tenderee}:{}", group.first().map_or(ev.seq, |e| e.seq)),
    ))
}

/// The tenderee of each tender, from its publication.
fn tenderees<'e>(prior: &[&'e Event]) -> BTreeMap<&'e str, &'e str> {
    prior
        .iter()
        .filter(|e| e.action == "tender.publish")
        .filter_map(|e| Some((e.tender.as_deref()?, e.str("tenderee_org_id")?)))
        .collect()
}

/// A tenderee whose tenders were cancelled or failed `max_cancellations` times within
/// `cancel_window_days`.
fn cancellations(cfg: &Across, ev: &Event, prior: &[&Event]) -> Option<Finding> {
    let owners = tenderees(prior);
    let tenderee = *owners.get(ev.tender.as_deref()?)?;
    let since = ev.time - Duration::days(cfg.cancel_window_days);
    let mut ended: Vec<&Event> = prior
        .iter()
        .copied()
        .filter(|e| matches!(e.action.as_str(), "tender.cancel" | "tender.fail"))
        .filter(|e| e.time >= since)
        .filter(|e| {
            e.tender
                .as_deref()
                .and_then(|t| owners.get(t))
                .is_some_and(|o| *o == tenderee)
        })
        .collect();
    ended.push(ev);
    if ended.len() != cfg.max_cancellations {
        return None;
    }
    Some(Finding::new(
        AlertKind::AcrossTenders,
        Severity::Low,
        "across.repeated_cancellations",
        "平台监察规则 / platform supervision rule",
        ev.tender.as_deref(),
        format!(
            "one tenderee's tenders were cancelled or failed {} times within {} days / 同一招标人{}日内有{}个项目终止或流标",
            ended.len(),
            cfg.cancel_window_days,
            cfg.cancel_window_days,
            ended.len()
        ),
        ended.iter().map(|e| e.seq).collect(),
        json!({"tenderee": tenderee, "count": ended.len()}),
        &format!("{tenderee}:{}", ev.seq),
    ))
}

fn drawn_experts(e: &Event) -> Vec<&str> {
    e.payload
        .get("members")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("expert_id").and_then(Value::as_str))
        .collect()
}

/// An expert drawn more than `max_draws` times within `draw_window_days` (a draw that is
/// not random, 实施条例 第46条).
fn drawn_often(cfg: &Across, ev: &Event, prior: &[&Event]) -> Vec<Finding> {
    let since = ev.time - Duration::days(cfg.draw_window_days);
    let draws: Vec<&Event> = prior
        .iter()
        .copied()
        .filter(|e| e.action == "expert.draw.reveal" && e.time >= since)
        .collect();
    let mut out = Vec::new();
    for expert in drawn_experts(ev) {
        let mut evidence: Vec<u64> = draws
            .iter()
            .filter(|e| drawn_experts(e).contains(&expert))
            .map(|e| e.seq)
            .collect();
        evidence.push(ev.seq);
        if evidence.len() != cfg.max_draws + 1 {
            continue;
        }
        out.push(Finding::new(
            AlertKind::Evaluation,
            Severity::Medium,
            "across.expert_drawn_often",
            "实施条例 第46条",
            ev.tender.as_deref(),
            format!(
                "an expert was drawn {} times within {} days / 同一专家{}日内被抽取{}次",
                evidence.len(),
                cfg.draw_window_days,
                cfg.draw_window_days,
                evidence.len()
            ),
            evidence.clone(),
            json!({"expert_id": expert, "draws": evidence.len()}),
            &format!("{expert}:{}", ev.seq),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::rules::testkit::{ev, rules};

    fn on(t: &str, mut e: Event) -> Event {
        e.tender = Some(t.into());
        e
    }

    /// The opening record and award of tender `t` (seqs `seq`, `seq + 1`).
    fn trade(seq: u64, t: &str, bidders: &[&str], winner: &str) -> [Event; 2] {
        let bids: Vec<Value> = bidders.iter().map(|b| json!({"bidder_id": b})).collect();
        [
            on(
                t,
                ev(
                    seq,
                    i64::try_from(seq).unwrap(),
                    "opening.record",
                    json!({"record": {"bids": bids}}),
                ),
            ),
            on(
                t,
                ev(
                    seq + 1,
                    i64::try_from(seq).unwrap(),
                    "result.award",
                    json!({"winner_org_id": winner}),
                ),
            ),
        ]
    }

    /// Runs the rules over `log` as the engine does, event by event.
    fn run(cfg: &Across, log: &[Event]) -> Vec<Finding> {
        let mut out = Vec::new();
        for (i, e) in log.iter().enumerate() {
            out.extend(on_event(cfg, e, &log[..i]));
        }
        out
    }

    #[test]
    fn rotation_among_a_group_is_found_once() {
        let cfg = rules().across;
        let group = ["a", "b", "c"];
        let mut log = Vec::new();
        for (i, w) in ["a", "b", "c", "a"].iter().enumerate() {
            log.extend(trade(10 * i as u64 + 1, &format!("T{i}"), &group, w));
        }
        let f: Vec<_> = run(&cfg, &log)
            .into_iter()
            .filter(|f| f.rule == "across.bid_rotation")
            .collect();
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].evidence, vec![1, 2, 11, 12, 21, 22]);
        assert_eq!(f[0].dedup_key, "across.bid_rotation|T2|a+b+c");
        // The same winner twice in a row is no rotation.
        let mut log = Vec::new();
        for (i, w) in ["a", "a", "b"].iter().enumerate() {
            log.extend(trade(10 * i as u64 + 1, &format!("T{i}"), &group, w));
        }
        assert!(
            run(&cfg, &log)
                .iter()
                .all(|f| f.rule != "across.bid_rotation")
        );
    }

    #[test]
    fn a_company_that_always_loses_to_the_same_winner() {
        let cfg = rules().across;
        let mut log = Vec::new();
        for i in 0..3u64 {
            log.extend(trade(10 * i + 1, &format!("T{i}"), &["w", "l", "x"], "w"));
        }
        let f: Vec<_> = run(&cfg, &log)
            .into_iter()
            .filter(|f| f.rule == "across.always_loses")
            .collect();
        // Both other bidders lost three times to w.
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].evidence, vec![1, 2, 11, 12, 21, 22]);
        // Once l has beaten w, l is no cover bidder.
        let mut log = trade(1, "T0", &["w", "l"], "l").to_vec();
        for i in 1..4u64 {
            log.extend(trade(10 * i + 1, &format!("T{i}"), &["w", "l"], "w"));
        }
        assert!(
            run(&cfg, &log)
                .iter()
                .all(|f| f.rule != "across.always_loses")
        );
    }

    fn publish(seq: u64, day: i64, t: &str, tenderee: &str, estimate: i64) -> Event {
        on(
            t,
            ev(
                seq,
                day * 24 * 60,
                "tender.publish",
                json!({"code": t, "category": "construction", "tenderee_org_id": tenderee,
                       "estimated_price_fen": estimate}),
            ),
        )
    }

    #[test]
    fn tenders_split_just_under_the_threshold() {
        let cfg = rules().across;
        let just_under = 390_000_000;
        let log = [
            publish(1, 0, "T1", "buyer", just_under),
            publish(2, 1, "T2", "other", just_under),
            publish(3, 2, "T3", "buyer", 100_000_000),
            publish(4, 3, "T4", "buyer", just_under),
        ];
        let f = run(&cfg, &log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "across.split_tenders");
        assert_eq!(f[0].evidence, vec![1, 4]);
        // Far apart in time: no split.
        let log = [
            publish(1, 0, "T1", "buyer", just_under),
            publish(4, 200, "T4", "buyer", just_under),
        ];
        assert!(run(&cfg, &log).is_empty());
        // A category without a threshold, or an estimate at the threshold: nothing.
        let mut odd = publish(5, 1, "T5", "buyer", just_under);
        odd.payload["category"] = json!("land");
        let at = publish(6, 1, "T6", "buyer", 400_000_000);
        assert!(run(&cfg, &[publish(1, 0, "T1", "buyer", just_under), odd, at]).is_empty());
    }

    #[test]
    fn repeated_cancellations_by_one_tenderee() {
        let cfg = rules().across;
        let mut log = Vec::new();
        for i in 0..3u64 {
            let t = format!("T{i}");
            log.push(publish(10 * i + 1, 0, &t, "buyer", 1));
            log.push(on(&t, ev(10 * i + 2, 60, "tender.cancel", json!({}))));
        }
        let f = run(&cfg, &log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].rule, "across.repeated_cancellations");
        assert_eq!(f[0].evidence, vec![2, 12, 22]);
        // A cancellation of an unknown tender is ignored, not a panic.
        let stray = on("T9", ev(99, 0, "tender.fail", json!({})));
        assert!(on_event(&cfg, &stray, &[]).is_empty());
    }

    #[test]
    fn an_expert_drawn_too_often() {
        let cfg = rules().across;
        let draw = |seq: u64, day: i64, experts: &[&str]| {
            let members: Vec<Value> = experts.iter().map(|e| json!({"expert_id": e})).collect();
            on(
                &format!("T{seq}"),
                ev(
                    seq,
                    day * 24 * 60,
                    "expert.draw.reveal",
                    json!({"members": members}),
                ),
            )
        };
        let log: Vec<Event> = (0..=cfg.max_draws as u64)
            .map(|i| {
                let experts: &[&str] = if i == 0 {
                    &["often", "once"]
                } else {
                    &["often"]
                };
                draw(i + 1, i64::try_from(i).unwrap(), experts)
            })
            .collect();
        let f = run(&cfg, &log);
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].detail["expert_id"], "often");
        assert_eq!(f[0].evidence.len(), cfg.max_draws + 1);
        // A malformed payload gives nothing.
        let bad = on(
            "T0",
            ev(1, 0, "expert.draw.reveal", json!({"members": "x"})),
        );
        assert!(on_event(&cfg, &bad, &log).is_empty());
    }
}
