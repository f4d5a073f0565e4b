//! The supervision rules as pure functions over audit events: no database, no clock read.
//! [`on_event`] runs when an event is consumed, with the earlier events of its tender;
//! [`overdue`] runs on a schedule with the time passed in. [`replay`] runs both over a
//! whole log, which is how an alert is reproduced from the log alone.

pub mod across;
pub mod collusion;
pub mod evaluation;
pub mod timing;

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config::{Calendar, Rules};
use super::event::Event;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Signals of collusion among bidders (实施条例 第40条).
    Collusion,
    /// A statutory time limit missed (限时办结).
    TimeLimit,
    /// Actions out of office hours.
    OutOfHours,
    /// Signals about the evaluation committee.
    Evaluation,
    /// Patterns across tenders (split tenders, repeated cancellations).
    AcrossTenders,
    /// The audit log itself: a witness or verifier holds two checkpoints the platform
    /// signed that no single log can have produced (a split view).
    LogIntegrity,
}

impl AlertKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::Collusion => "collusion",
            AlertKind::TimeLimit => "time_limit",
            AlertKind::OutOfHours => "out_of_hours",
            AlertKind::Evaluation => "evaluation",
            AlertKind::AcrossTenders => "across_tenders",
            AlertKind::LogIntegrity => "log_integrity",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Every kind.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::Collusion,
        AlertKind::TimeLimit,
        AlertKind::OutOfHours,
        AlertKind::Evaluation,
        AlertKind::AcrossTenders,
        AlertKind::LogIntegrity,
    ];
}

/// How serious an alert is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Worth a look.
    Low,
    /// Needs an answer.
    Medium,
    /// Likely a violation.
    High,
}

impl Severity {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Severity::Low, Severity::Medium, Severity::High]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// What a rule found: an alert before it is stored.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// What it is about.
    pub kind: AlertKind,
    /// How serious.
    pub severity: Severity,
    /// The rule's id (`collusion.same_ip` …).
    pub rule: String,
    /// The article the rule rests on.
    pub article: String,
    /// The tender concerned.
    pub tender: Option<String>,
    /// What was found, "English / 中文".
    pub summary: String,
    /// The audit sequence numbers it rests on, ascending.
    pub evidence: Vec<u64>,
    /// The rule's figures.
    pub detail: Value,
    /// Unique per finding: the same finding is never raised twice.
    pub dedup_key: String,
}

impl Finding {
    /// A finding with its evidence sorted and deduplicated.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: AlertKind,
        severity: Severity,
        rule: &str,
        article: &str,
        tender: Option<&str>,
        summary: String,
        mut evidence: Vec<u64>,
        detail: Value,
        subject: &str,
    ) -> Finding {
        evidence.sort_unstable();
        evidence.dedup();
        Finding {
            kind,
            severity,
            rule: rule.to_string(),
            article: article.to_string(),
            tender: tender.map(str::to_string),
            dedup_key: format!("{rule}|{}|{subject}", tender.unwrap_or("-")),
            summary,
            evidence,
            detail,
        }
    }
}

/// Everything the rules need besides the events.
pub struct Context<'a> {
    /// Switches and thresholds.
    pub rules: &'a Rules,
    /// The working-day calendar.
    pub calendar: &'a Calendar,
}

/// The findings an event gives when it is consumed; `history` holds the earlier events of
/// the same tender, in order (empty for events without a tender).
pub fn on_event(ctx: &Context<'_>, ev: &Event, history: &[Event]) -> Vec<Finding> {
    let mut out = Vec::new();
    match ev.action.as_str() {
        "opening.record" if ctx.rules.collusion.enabled => {
            out.extend(collusion::after_opening(&ctx.rules.collusion, ev, history));
        }
        "evaluation.report.reveal" if ctx.rules.evaluation.enabled => {
            out.extend(evaluation::deviating_members(&ctx.rules.evaluation, ev));
        }
        "expert.checkin.emergency"
            if ctx.rules.evaluation.enabled && ctx.rules.evaluation.emergency_checkin =>
        {
            out.push(evaluation::emergency_checkin(&ctx.rules.evaluation, ev));
        }
        "passkey.counter_regression"
            if ctx.rules.evaluation.enabled && ctx.rules.evaluation.counter_regression =>
        {
            out.push(evaluation::counter_regression(&ctx.rules.evaluation, ev));
        }
        "tender.amend" if ctx.rules.time_limits.enabled => {
            out.extend(timing::deadline_moves(&ctx.rules.time_limits, ev, history));
        }
        _ => {}
    }
    if ctx.rules.out_of_hours.enabled {
        out.extend(timing::out_of_hours(ctx, ev));
    }
    out
}

/// Whether the rules for `action` read the earlier events of its tender.
pub fn needs_history(action: &str) -> bool {
    matches!(action, "opening.record" | "tender.amend")
}

/// The actions [`overdue`] reads: the start of each clock and what stops it.
pub const CLOCK_ACTIONS: &[&str] = &[
    "result.objection",
    "result.objection.answer",
    "tender.question.ask",
    "tender.question.answer",
    "result.award",
    "result.contract",
    "complaint.file",
    "complaint.accept",
    "complaint.reject",
    "complaint.decide",
];

/// The time limits missed at `now`, from the events of [`CLOCK_ACTIONS`] in order.
pub fn overdue(ctx: &Context<'_>, events: &[Event], now: DateTime<Utc>) -> Vec<Finding> {
    if !ctx.rules.time_limits.enabled {
        return Vec::new();
    }
    timing::overdue(ctx, events, now)
}

/// Every finding the log gives, as the engine would raise it consuming the whole log and
/// then checking the clocks at `now`: the reproduction of the stored alerts.
pub fn replay(ctx: &Context<'_>, log: &[Event], now: DateTime<Utc>) -> Vec<Finding> {
    let mut by_tender: HashMap<&str, Vec<Event>> = HashMap::new();
    let mut across_prior: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for ev in log {
        for f in across::on_event(&ctx.rules.across, ev, &across_prior) {
            if seen.insert(f.dedup_key.clone()) {
                out.push(f);
            }
        }
        if across::ACTIONS.contains(&ev.action.as_str()) {
            across_prior.push(ev.clone());
        }
        let history = ev
            .tender
            .as_deref()
            .and_then(|t| by_tender.get(t))
            .map(Vec::as_slice)
            .unwrap_or_default();
        for f in on_event(ctx, ev, history) {
            if seen.insert(f.dedup_key.clone()) {
                out.push(f);
            }
        }
        if let Some(t) = ev.tender.as_deref() {
            by_tender.entry(t).or_default().push(ev.clone());
        }
    }
    let clocks: Vec<Event> = log
        .iter()
        .filter(|e| CLOCK_ACTIONS.contains(&e.action.as_str()))
        .cloned()
        .collect();
    for f in overdue(ctx, &clocks, now) {
        if seen.insert(f.dedup_key.clone()) {
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod testkit {
    use super::*;
    use serde_json::json;

    /// An event at `minute` minutes after 10:00 China time on Tuesday 11 March 2025.
    pub(crate) fn ev(seq: u64, minute: i64, action: &str, payload: Value) -> Event {
        let base: DateTime<Utc> = "2025-03-11T02:00:00Z".parse().unwrap();
        Event {
            seq,
            time: base + chrono::Duration::minutes(minute),
            actor: Some("u".into()),
            role: Some("bidder".into()),
            action: action.into(),
            tender: Some("T1".into()),
            payload,
            client_ip: None,
        }
    }

    pub(crate) fn upload(seq: u64, bidder: &str, ip: &str, sha: &str) -> Event {
        ev(
            seq,
            0,
            "bid.upload",
            json!({"bidder_id": bidder, "client_ip": ip, "user_agent": format!("UA-{bidder}"),
                   "device_id": format!("dev-{bidder}"), "sha256": sha}),
        )
    }

    pub(crate) fn rules() -> Rules {
        Rules::builtin().unwrap()
    }

    pub(crate) fn calendar() -> Calendar {
        Calendar::builtin().unwrap()
    }
}
