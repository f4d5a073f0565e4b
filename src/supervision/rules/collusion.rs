//! Collusion signals evaluated once the bids are opened (实施条例 第40条: files prepared by
//! the same unit or person, abnormally identical files, prices that differ by a regular
//! pattern). Only what the log holds is used: the upload events (address, user agent,
//! device id, ciphertext digest), the opened parts' plaintext digests, the final
//! submissions' times, the opening record's prices, and the ceiling price published with
//! the tender.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde_json::{Value, json};

use super::{AlertKind, Finding, Severity};
use crate::supervision::config::Collusion;
use crate::supervision::event::Event;

/// One bid of the opening record.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedBid {
    /// The bidder organisation.
    pub bidder: String,
    /// Its price, when the bid was opened with a bid form.
    pub price_fen: Option<i64>,
    /// Whether the bid is valid (opened).
    pub valid: bool,
}

/// The bids of an `opening.record` event.
pub fn opened_bids(record_event: &Event) -> Vec<OpenedBid> {
    record_event
        .payload
        .pointer("/record/bids")
        .and_then(Value::as_array)
        .map(|bids| {
            bids.iter()
                .filter_map(|b| {
                    Some(OpenedBid {
                        bidder: b.get("bidder_id")?.as_str()?.to_string(),
                        price_fen: b.get("price_fen").and_then(Value::as_i64),
                        valid: b.get("status").and_then(Value::as_str) == Some("opened"),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Every collusion finding for the tender whose opening record is `ev`.
pub fn after_opening(cfg: &Collusion, ev: &Event, history: &[Event]) -> Vec<Finding> {
    let bids = opened_bids(ev);
    let bidders: BTreeSet<&str> = bids.iter().map(|b| b.bidder.as_str()).collect();
    let tender = ev.tender.as_deref();
    let mut out = Vec::new();
    let uploads: Vec<&Event> = history
        .iter()
        .filter(|e| e.action == "bid.upload")
        .filter(|e| e.str("bidder_id").is_some_and(|b| bidders.contains(b)))
        .collect();
    let mut shared = |on: bool, key: &str, label: &str, severity: Severity| {
        if !on {
            return;
        }
        for (value, (who, seqs)) in group_by(&uploads, |e| e.str(key)) {
            if who.len() >= 2 {
                out.push(Finding::new(
                    AlertKind::Collusion,
                    severity,
                    &format!("collusion.same_{label}"),
                    &cfg.article,
                    tender,
                    format!(
                        "{} bidders uploaded from the same {label} / {} 家投标人的投标文件来自同一{}",
                        who.len(),
                        who.len(),
                        match label {
                            "ip" => "IP 地址",
                            "device" => "设备",
                            _ => "浏览器标识",
                        }
                    ),
                    seqs,
                    json!({"value": value, "bidders": who}),
                    &format!("{label}:{value}"),
                ));
            }
        }
    };
    shared(cfg.same_ip, "client_ip", "ip", Severity::High);
    shared(cfg.same_device, "device_id", "device", Severity::High);
    shared(
        cfg.same_user_agent,
        "user_agent",
        "user_agent",
        Severity::Low,
    );
    if cfg.identical_digests {
        out.extend(identical_digests(cfg, tender, &uploads, history, &bidders));
    }
    out.extend(price_findings(cfg, ev, history, &bids));
    out.extend(clustered_submissions(cfg, tender, history, &bidders));
    out
}

/// The distinct bidders sharing a value, and the sequence numbers of their events.
type Group<'e> = (BTreeSet<&'e str>, Vec<u64>);

/// Groups events by a value (skipping empty ones): value → (distinct bidders, sequence
/// numbers).
fn group_by<'e>(
    events: &[&'e Event],
    value: impl Fn(&'e Event) -> Option<&'e str>,
) -> BTreeMap<&'e str, (BTreeSet<&'e str>, Vec<u64>)> {
    let mut groups: BTreeMap<&str, (BTreeSet<&str>, Vec<u64>)> = BTreeMap::new();
    for e in events {
        let (Some(v), Some(b)) = (value(e), e.str("bidder_id")) else {
            continue;
        };
        if v.trim().is_empty() {
            continue;
        }
        let g = groups.entry(v).or_default();
        g.0.insert(b);
        g.1.push(e.seq);
    }
    groups
}

fn identical_digests(
    cfg: &Collusion,
    tender: Option<&str>,
    uploads: &[&Event],
    history: &[Event],
    bidders: &BTreeSet<&str>,
) -> Vec<Finding> {
    // Plaintext digests come with the opening of each part.
    let parts: Vec<(&Event, &str, &str)> = history
        .iter()
        .filter(|e| e.action == "opening.part")
        .filter_map(|e| {
            let b = e.str("bidder_id").filter(|b| bidders.contains(b))?;
            let d = e.payload.pointer("/part/plaintext_sha256")?.as_str()?;
            Some((e, b, d))
        })
        .collect();
    let mut groups: BTreeMap<(&str, &str), Group<'_>> = BTreeMap::new();
    for e in uploads {
        if let (Some(d), Some(b)) = (e.str("sha256"), e.str("bidder_id")) {
            let g = groups.entry(("ciphertext", d)).or_default();
            g.0.insert(b);
            g.1.push(e.seq);
        }
    }
    for (e, b, d) in parts {
        let g = groups.entry(("plaintext", d)).or_default();
        g.0.insert(b);
        g.1.push(e.seq);
    }
    groups
        .into_iter()
        .filter(|(_, (who, _))| who.len() >= 2)
        .map(|((what, digest), (who, seqs))| {
            Finding::new(
                AlertKind::Collusion,
                Severity::High,
                "collusion.identical_file",
                &cfg.article,
                tender,
                format!(
                    "{} bidders submitted an identical file ({what}) / {} 家投标人提交了相同的文件",
                    who.len(),
                    who.len()
                ),
                seqs,
                json!({"digest": digest, "of": what, "bidders": who}),
                &format!("{what}:{digest}"),
            )
        })
        .collect()
}

/// The ceiling price published with the tender (the last publication or amendment that
/// states one).
fn ceiling(history: &[Event]) -> Option<i64> {
    history
        .iter()
        .rev()
        .filter(|e| e.action == "tender.publish")
        .find_map(|e| e.payload.get("ceiling_price_fen").and_then(Value::as_i64))
}

fn price_findings(
    cfg: &Collusion,
    ev: &Event,
    history: &[Event],
    bids: &[OpenedBid],
) -> Vec<Finding> {
    let tender = ev.tender.as_deref();
    let priced: Vec<(&str, i64)> = bids
        .iter()
        .filter(|b| b.valid)
        .filter_map(|b| Some((b.bidder.as_str(), b.price_fen?)))
        .collect();
    let prices: Vec<i64> = priced.iter().map(|(_, p)| *p).collect();
    let mut evidence = vec![ev.seq];
    if let Some(p) = history.iter().rev().find(|e| e.action == "tender.publish") {
        evidence.push(p.seq);
    }
    let mut out = Vec::new();
    let mut push = |rule: &str, severity, summary: String, detail: Value| {
        out.push(Finding::new(
            AlertKind::Collusion,
            severity,
            rule,
            &cfg.article,
            tender,
            summary,
            evidence.clone(),
            detail,
            "prices",
        ));
    };
    if cfg.identical_prices {
        let mut by_price: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
        for (b, p) in &priced {
            by_price.entry(*p).or_default().push(b);
        }
        let same: Vec<Value> = by_price
            .into_iter()
            .filter(|(_, who)| who.len() >= 2)
            .map(|(p, who)| json!({"price_fen": p, "bidders": who}))
            .collect();
        if !same.is_empty() {
            push(
                "collusion.identical_prices",
                Severity::High,
                "several bids have the same price / 多家投标报价完全相同".into(),
                json!({"groups": same}),
            );
        }
    }
    if cfg.progression {
        if let Some(t) = arithmetic_triples(&prices).first() {
            push(
                "collusion.arithmetic_prices",
                Severity::High,
                "three bid prices form an arithmetic progression / 投标报价呈等差数列".into(),
                json!({"prices_fen": t}),
            );
        }
        if let Some(t) = geometric_triples(&prices).first() {
            push(
                "collusion.geometric_prices",
                Severity::High,
                "three bid prices form a geometric progression / 投标报价呈等比数列".into(),
                json!({"prices_fen": t}),
            );
        }
    }
    if prices.len() >= cfg.min_bids.max(2) {
        if let Some(spread) = within_band(&prices, cfg.mean_band_pct) {
            push(
                "collusion.prices_near_mean",
                Severity::Medium,
                format!(
                    "all {} prices lie within {}% of their mean / 全部报价均在平均值 {}% 以内",
                    prices.len(),
                    cfg.mean_band_pct,
                    cfg.mean_band_pct
                ),
                json!({"max_deviation_pct": spread, "prices_fen": prices}),
            );
        }
        if let Some(c) = ceiling(history)
            && hugging(&prices, c, cfg.ceiling_hug_pct)
        {
            push(
                "collusion.prices_hug_ceiling",
                Severity::Medium,
                format!(
                    "every price is at least {}% of the ceiling / 全部报价均贴近最高投标限价",
                    cfg.ceiling_hug_pct
                ),
                json!({"ceiling_fen": c, "prices_fen": prices}),
            );
        }
    }
    out
}

/// Triples `a < b < c` of distinct prices with `b − a = c − b`.
pub fn arithmetic_triples(prices: &[i64]) -> Vec<[i64; 3]> {
    let set: BTreeSet<i64> = prices.iter().copied().collect();
    let sorted: Vec<i64> = set.iter().copied().collect();
    let mut out = Vec::new();
    for (i, a) in sorted.iter().enumerate() {
        for c in sorted.iter().skip(i + 2) {
            let sum = i128::from(*a) + i128::from(*c);
            if sum % 2 == 0
                && let Ok(mid) = i64::try_from(sum / 2)
                && set.contains(&mid)
            {
                out.push([*a, mid, *c]);
            }
        }
    }
    out
}

/// Triples `a < b < c` of distinct positive prices with `b² = a·c`.
pub fn geometric_triples(prices: &[i64]) -> Vec<[i64; 3]> {
    let set: BTreeSet<i64> = prices.iter().copied().filter(|p| *p > 0).collect();
    let sorted: Vec<i64> = set.iter().copied().collect();
    let mut out = Vec::new();
    for (i, a) in sorted.iter().enumerate() {
        for c in sorted.iter().skip(i + 2) {
            let prod = i128::from(*a) * i128::from(*c);
            let root = isqrt(prod);
            if root * root == prod
                && let Ok(mid) = i64::try_from(root)
                && set.contains(&mid)
            {
                out.push([*a, mid, *c]);
            }
        }
    }
    out
}

fn isqrt(n: i128) -> i128 {
    if n <= 0 {
        return 0;
    }
    // Floating point gives a close start; the loops correct its last bits.
    #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
    let mut x = (n as f64).sqrt() as i128;
    while x > 0 && x * x > n {
        x -= 1;
    }
    while (x + 1) * (x + 1) <= n {
        x += 1;
    }
    x
}

/// The largest deviation from the mean in percent, when every price lies within `pct` of it.
#[allow(clippy::cast_precision_loss)]
pub fn within_band(prices: &[i64], pct: f64) -> Option<f64> {
    if prices.is_empty() {
        return None;
    }
    let mean = prices.iter().map(|p| *p as f64).sum::<f64>() / prices.len() as f64;
    if mean <= 0.0 {
        return None;
    }
    let worst = prices
        .iter()
        .map(|p| ((*p as f64 - mean).abs() / mean) * 100.0)
        .fold(0.0, f64::max);
    (worst <= pct).then_some((worst * 100.0).round() / 100.0)
}

/// Whether every price is at least `pct` percent of the ceiling.
pub fn hugging(prices: &[i64], ceiling: i64, pct: f64) -> bool {
    #[allow(clippy::cast_precision_loss)]
    let floor = ceiling as f64 * pct / 100.0;
    ceiling > 0 && !prices.is_empty() && prices.iter().all(|p| *p as f64 >= floor)
}

/// Final submissions of at least `cluster_bidders` bidders within `cluster_minutes`.
fn clustered_submissions(
    cfg: &Collusion,
    tender: Option<&str>,
    history: &[Event],
    bidders: &BTreeSet<&str>,
) -> Vec<Finding> {
    // The last submission of each bidder counts (a replacement supersedes the earlier one).
    let mut last: BTreeMap<&str, &Event> = BTreeMap::new();
    for e in history.iter().filter(|e| e.action == "bid.submit") {
        if let Some(b) = e.str("bidder_id").filter(|b| bidders.contains(b)) {
            last.insert(b, e);
        }
    }
    let mut subs: Vec<&Event> = last.into_values().collect();
    subs.sort_by_key(|e| (e.time, e.seq));
    let window = chrono::Duration::minutes(cfg.cluster_minutes);
    let mut best: &[&Event] = &[];
    for i in 0..subs.len() {
        let Some(start) = subs.get(i) else { break };
        let end = subs
            .iter()
            .skip(i)
            .take_while(|e| e.time - start.time <= window)
            .count();
        if let Some(group) = subs.get(i..i + end)
            && group.len() > best.len()
        {
            best = group;
        }
    }
    if best.len() < cfg.cluster_bidders.max(2) {
        return Vec::new();
    }
    let who: HashSet<&str> = best.iter().filter_map(|e| e.str("bidder_id")).collect();
    let mut who: Vec<&str> = who.into_iter().collect();
    who.sort_unstable();
    vec![Finding::new(
        AlertKind::Collusion,
        Severity::Medium,
        "collusion.clustered_submissions",
        &cfg.article,
        tender,
        format!(
            "{} bids were submitted within {} minutes / {} 家投标在 {} 分钟内集中递交",
            best.len(),
            cfg.cluster_minutes,
            best.len(),
            cfg.cluster_minutes
        ),
        best.iter().map(|e| e.seq).collect(),
        json!({"bidders": who}),
        "submissions",
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::rules::testkit::{ev, rules, upload};

    fn record(seq: u64, prices: &[(&str, i64)]) -> Event {
        let bids: Vec<Value> = prices
            .iter()
            .map(|(b, p)| json!({"bidder_id": b, "status": "opened", "price_fen": p}))
            .collect();
        ev(seq, 60, "opening.record", json!({"record": {"bids": bids}}))
    }

    fn rules_of(findings: &[Finding]) -> Vec<&str> {
        findings.iter().map(|f| f.rule.as_str()).collect()
    }

    #[test]
    fn the_same_address_across_bidders_is_flagged_and_distinct_ones_are_not() {
        let cfg = rules().collusion;
        let history = vec![
            upload(1, "A", "10.0.0.1", "d1"),
            upload(2, "B", "10.0.0.1", "d2"),
            upload(3, "C", "10.0.0.9", "d3"),
        ];
        let rec = record(9, &[("A", 100_000), ("B", 131_000), ("C", 177_000)]);
        let f = after_opening(&cfg, &rec, &history);
        let ip: Vec<_> = f.iter().filter(|f| f.rule == "collusion.same_ip").collect();
        assert_eq!(ip.len(), 1);
        assert_eq!(ip[0].evidence, vec![1, 2]);
        assert_eq!(ip[0].detail["bidders"], json!(["A", "B"]));

        let history = vec![
            upload(1, "A", "10.0.0.1", "d1"),
            upload(2, "B", "10.0.0.2", "d2"),
            // One bidder uploading twice from one address is no signal.
            upload(3, "A", "10.0.0.1", "d3"),
        ];
        let f = after_opening(&cfg, &rec, &history);
        assert!(!rules_of(&f).contains(&"collusion.same_ip"), "{f:?}");
        assert!(!rules_of(&f).contains(&"collusion.same_device"));
    }

    #[test]
    fn identical_plaintexts_are_flagged() {
        let cfg = rules().collusion;
        let part = |seq, b: &str, d: &str| {
            ev(
                seq,
                50,
                "opening.part",
                json!({"bidder_id": b, "part": {"plaintext_sha256": d}}),
            )
        };
        let rec = record(9, &[("A", 100_000), ("B", 131_000)]);
        let f = after_opening(&cfg, &rec, &[part(1, "A", "x"), part(2, "B", "x")]);
        assert!(rules_of(&f).contains(&"collusion.identical_file"));
        let f = after_opening(&cfg, &rec, &[part(1, "A", "x"), part(2, "B", "y")]);
        assert!(!rules_of(&f).contains(&"collusion.identical_file"));
    }

    #[test]
    fn price_patterns() {
        assert_eq!(
            arithmetic_triples(&[100, 250, 110, 120]),
            vec![[100, 110, 120]]
        );
        assert!(arithmetic_triples(&[100, 111, 123]).is_empty());
        assert_eq!(
            geometric_triples(&[100, 110, 121, 500]),
            vec![[100, 110, 121]]
        );
        assert!(geometric_triples(&[100, 110, 122]).is_empty());
        assert!(within_band(&[100, 101, 102], 3.0).is_some());
        assert!(within_band(&[100, 110, 120], 3.0).is_none());
        assert!(hugging(&[9_950, 9_990], 10_000, 99.0));
        assert!(!hugging(&[9_000, 9_990], 10_000, 99.0));
    }

    #[test]
    fn price_rules_fire_on_the_opening_record() {
        let cfg = rules().collusion;
        let publish = ev(
            0,
            0,
            "tender.publish",
            json!({"ceiling_price_fen": 1_000_000}),
        );
        let rec = record(9, &[("A", 995_000), ("B", 996_000), ("C", 997_000)]);
        let f = after_opening(&cfg, &rec, std::slice::from_ref(&publish));
        let r = rules_of(&f);
        assert!(r.contains(&"collusion.arithmetic_prices"), "{r:?}");
        assert!(r.contains(&"collusion.prices_near_mean"));
        assert!(r.contains(&"collusion.prices_hug_ceiling"));
        assert!(!r.contains(&"collusion.identical_prices"));
        assert_eq!(f[0].evidence, vec![0, 9]);

        let rec = record(9, &[("A", 700_000), ("B", 850_000), ("C", 990_000)]);
        let f = after_opening(&cfg, &rec, &[publish]);
        assert!(f.is_empty(), "{f:?}");
        let rec = record(9, &[("A", 700_000), ("B", 700_000), ("C", 990_000)]);
        let f = after_opening(&cfg, &rec, &[]);
        assert_eq!(rules_of(&f), vec!["collusion.identical_prices"]);
    }

    #[test]
    fn clustered_submissions_need_enough_bidders_in_the_window() {
        let cfg = rules().collusion;
        let submit = |seq, b: &str, minute| ev(seq, minute, "bid.submit", json!({"bidder_id": b}));
        let rec = record(9, &[("A", 700_000), ("B", 850_000), ("C", 990_000)]);
        let close = [submit(1, "A", 0), submit(2, "B", 2), submit(3, "C", 4)];
        let f = after_opening(&cfg, &rec, &close);
        assert_eq!(rules_of(&f), vec!["collusion.clustered_submissions"]);
        let apart = [submit(1, "A", 0), submit(2, "B", 20), submit(3, "C", 40)];
        assert!(after_opening(&cfg, &rec, &apart).is_empty());
    }
}
