//! Time rules (限时办结): steps not taken within their statutory time, deadlines moved
//! more than once, and actions out of office hours on the working-day calendar (调休
//! included). Time is passed in; nothing here reads a clock.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde_json::json;

use super::{AlertKind, Context, Finding, Severity};
use crate::clock::china;
use crate::supervision::config::TimeLimits;
use crate::supervision::event::Event;

/// A deadline moved by amendments more often than allowed.
pub fn deadline_moves(cfg: &TimeLimits, ev: &Event, history: &[Event]) -> Option<Finding> {
    let moved = |e: &Event| {
        e.action == "tender.amend"
            && e.payload
                .get("deadline_moved")
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(false)
    };
    if !moved(ev) {
        return None;
    }
    let mut seqs: Vec<u64> = history.iter().filter(|e| moved(e)).map(|e| e.seq).collect();
    seqs.push(ev.seq);
    // Raised once, at the first move past the allowance.
    (seqs.len() == cfg.max_deadline_moves + 1).then(|| {
        Finding::new(
            AlertKind::TimeLimit,
            Severity::Low,
            "time.deadline_moved_repeatedly",
            "实施条例 第21条",
            ev.tender.as_deref(),
            format!(
                "the bid deadline was moved {} times / 投标截止时间已被推迟 {} 次",
                seqs.len(),
                seqs.len()
            ),
            seqs,
            json!({"moves": cfg.max_deadline_moves + 1}),
            "deadline",
        )
    })
}

/// Whether `t` falls within office hours on a working day (China time).
pub fn in_office_hours(ctx: &Context<'_>, t: DateTime<Utc>) -> bool {
    let local = t.with_timezone(&china());
    let Ok((start, end)) = ctx.rules.office_hours() else {
        return true;
    };
    ctx.calendar.is_working_day(local.date_naive()) && {
        let time = local.time();
        time >= start && time < end
    }
}

/// A watched action out of office hours: one finding per tender, action and day.
pub fn out_of_hours(ctx: &Context<'_>, ev: &Event) -> Option<Finding> {
    if !ctx.rules.out_of_hours.actions.contains(&ev.action) || in_office_hours(ctx, ev.time) {
        return None;
    }
    let day = ev.time.with_timezone(&china()).date_naive();
    Some(Finding::new(
        AlertKind::OutOfHours,
        Severity::Low,
        "time.out_of_hours",
        "平台监察规则 / platform supervision rule",
        ev.tender.as_deref(),
        format!(
            "{} out of office hours on {day} / {day} 非工作时间操作：{}",
            ev.action, ev.action
        ),
        vec![ev.seq],
        json!({"action": ev.action, "day": day.to_string(), "role": ev.role}),
        &format!("{}:{day}", ev.action),
    ))
}

/// One duty with a deadline (a running clock): when it started, when it is due, and the
/// event that stopped it, if any.
pub struct Clock<'e> {
    /// The event that started it.
    pub start: &'e Event,
    /// When it is due.
    pub due: DateTime<Utc>,
    /// The event that stopped it.
    pub stop: Option<&'e Event>,
}

fn parse_time(s: Option<&str>) -> Option<DateTime<Utc>> {
    s.and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// Every duty with a deadline the events start, by (rule, subject id), with its stop.
pub fn clocks<'e>(
    ctx: &Context<'_>,
    events: &'e [Event],
) -> BTreeMap<(&'static str, String), Clock<'e>> {
    let cfg = &ctx.rules.time_limits;
    let mut clocks: BTreeMap<(&'static str, String), Clock<'e>> = BTreeMap::new();
    let mut accepted: BTreeSet<String> = BTreeSet::new();
    for e in events {
        let id = |k: &str| e.str(k).map(str::to_string);
        match e.action.as_str() {
            "result.objection" if cfg.objection_answer => {
                if let (Some(id), Some(due)) = (id("objection_id"), parse_time(e.str("answer_due")))
                {
                    clocks.insert(
                        ("time.objection_unanswered", id),
                        Clock {
                            start: e,
                            due,
                            stop: None,
                        },
                    );
                }
            }
            "result.objection.answer" => stop(
                &mut clocks,
                "time.objection_unanswered",
                id("objection_id"),
                e,
            ),
            "tender.question.ask" => {
                if let Some(id) = id("question_id") {
                    let due = e.time + Duration::days(cfg.question_answer_days);
                    clocks.insert(
                        ("time.question_unanswered", id),
                        Clock {
                            start: e,
                            due,
                            stop: None,
                        },
                    );
                }
            }
            "tender.question.answer" => stop(
                &mut clocks,
                "time.question_unanswered",
                id("question_id"),
                e,
            ),
            "result.award" if cfg.contract => {
                if let (Some(t), Some(due)) = (e.tender.clone(), parse_time(e.str("contract_due")))
                {
                    clocks.insert(
                        ("time.contract_late", t),
                        Clock {
                            start: e,
                            due,
                            stop: None,
                        },
                    );
                }
            }
            "result.contract" => stop(&mut clocks, "time.contract_late", e.tender.clone(), e),
            "complaint.file" => {
                if let Some(id) = id("complaint_id") {
                    let due = ctx
                        .calendar
                        .working_days_after(e.time, cfg.complaint_accept_working_days);
                    clocks.insert(
                        ("time.complaint_acceptance", id),
                        Clock {
                            start: e,
                            due,
                            stop: None,
                        },
                    );
                }
            }
            "complaint.accept" => {
                stop(
                    &mut clocks,
                    "time.complaint_acceptance",
                    id("complaint_id"),
                    e,
                );
                if let Some(id) = id("complaint_id") {
                    accepted.insert(id.clone());
                    let due = ctx
                        .calendar
                        .working_days_after(e.time, cfg.complaint_decide_working_days);
                    clocks.insert(
                        ("time.complaint_decision", id),
                        Clock {
                            start: e,
                            due,
                            stop: None,
                        },
                    );
                }
            }
            "complaint.reject" => stop(
                &mut clocks,
                "time.complaint_acceptance",
                id("complaint_id"),
                e,
            ),
            "complaint.decide" => stop(
                &mut clocks,
                "time.complaint_decision",
                id("complaint_id"),
                e,
            ),
            _ => {}
        }
    }
    clocks
}

/// Every clock missed at `now`: the start has no stop, or a late one.
pub fn overdue(ctx: &Context<'_>, events: &[Event], now: DateTime<Utc>) -> Vec<Finding> {
    clocks(ctx, events)
        .into_iter()
        .filter(|(_, c)| match c.stop {
            Some(s) => s.time > c.due,
            None => now > c.due,
        })
        .map(|((rule, subject), c)| {
            let mut evidence = vec![c.start.seq];
            evidence.extend(c.stop.map(|s| s.seq));
            let (article, what) = match rule {
                "time.objection_unanswered" => ("实施条例 第54条", "an objection to the result was not answered in time / 异议未在规定期限内答复"),
                "time.question_unanswered" => ("平台监察规则 / platform supervision rule", "a question was not answered in time / 澄清问题未在规定期限内答复"),
                "time.contract_late" => ("招标投标法 第46条", "the contract was not recorded within 30 days of the award / 未在中标通知书发出后30日内签订合同"),
                "time.complaint_acceptance" => ("实施条例 第61条", "a complaint was not accepted or rejected within 3 working days / 投诉未在3个工作日内决定是否受理"),
                _ => ("实施条例 第61条", "a complaint was not decided within 30 working days / 投诉未在30个工作日内作出处理决定"),
            };
            Finding::new(
                AlertKind::TimeLimit,
                Severity::Medium,
                rule,
                article,
                c.start.tender.as_deref(),
                what.to_string(),
                evidence,
                json!({"due": crate::audit::entry_time(c.due), "late_stop": c.stop.is_some()}),
                &subject,
            )
        })
        .collect()
}

fn stop<'e>(
    clocks: &mut BTreeMap<(&'static str, String), Clock<'e>>,
    rule: &'static str,
    id: Option<String>,
    e: &'e Event,
) {
    if let Some(c) = id.and_then(|id| clocks.get_mut(&(rule, id)))
        && c.stop.is_none()
    {
        c.stop = Some(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervision::rules::testkit::{calendar, ev, rules};

    #[test]
    fn the_second_deadline_move_is_flagged_once() {
        let cfg = rules().time_limits;
        let amend = |seq, moved| ev(seq, 0, "tender.amend", json!({"deadline_moved": moved}));
        let first = amend(1, true);
        assert!(deadline_moves(&cfg, &first, &[]).is_none());
        let second = amend(3, true);
        let f = deadline_moves(&cfg, &second, &[first.clone(), amend(2, false)]).unwrap();
        assert_eq!(f.evidence, vec![1, 3]);
        let third = amend(4, true);
        assert!(deadline_moves(&cfg, &third, &[first, second]).is_none());
    }

    #[test]
    fn out_of_hours_uses_the_calendar() {
        let (r, c) = (rules(), calendar());
        let ctx = Context {
            rules: &r,
            calendar: &c,
        };
        // 10:00 on Tuesday 11 March 2025: office hours.
        let mut e = ev(1, 0, "bid.upload", json!({}));
        assert!(out_of_hours(&ctx, &e).is_none());
        // 23:00 the same day.
        e.time += Duration::hours(13);
        assert!(out_of_hours(&ctx, &e).is_some());
        // 10:00 on National Day 2025 (a Wednesday).
        e.time = "2025-10-01T02:00:00Z".parse().unwrap();
        assert!(out_of_hours(&ctx, &e).is_some());
        // 10:00 on Sunday 28 September 2025, worked instead (调休).
        e.time = "2025-09-28T02:00:00Z".parse().unwrap();
        assert!(out_of_hours(&ctx, &e).is_none());
        // An action nobody watches.
        e.action = "tender.question.ask".into();
        e.time = "2025-10-01T02:00:00Z".parse().unwrap();
        assert!(out_of_hours(&ctx, &e).is_none());
    }

    #[test]
    fn clocks_missed_and_kept() {
        let (r, c) = (rules(), calendar());
        let ctx = Context {
            rules: &r,
            calendar: &c,
        };
        let raised = ev(
            1,
            0,
            "result.objection",
            json!({"objection_id": "o1",
            "answer_due": "2025-03-14T02:00:00.000Z"}),
        );
        let before: DateTime<Utc> = "2025-03-13T02:00:00Z".parse().unwrap();
        let after: DateTime<Utc> = "2025-03-15T02:00:00Z".parse().unwrap();
        assert!(overdue(&ctx, std::slice::from_ref(&raised), before).is_empty());
        let f = overdue(&ctx, std::slice::from_ref(&raised), after);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].rule, "time.objection_unanswered");
        // Answered in time: nothing; answered late: flagged with both events.
        let mut answer = ev(
            2,
            60,
            "result.objection.answer",
            json!({"objection_id": "o1"}),
        );
        assert!(overdue(&ctx, &[raised.clone(), answer.clone()], after).is_empty());
        answer.time = after;
        let f = overdue(&ctx, &[raised, answer], after);
        assert_eq!(f[0].evidence, vec![1, 2]);
    }

    #[test]
    fn complaint_acceptance_counts_working_days() {
        let (r, c) = (rules(), calendar());
        let ctx = Context {
            rules: &r,
            calendar: &c,
        };
        // Filed Friday 26 Sep 2025 (China time): 3 working days end Tue 30 Sep (Sun 28 worked).
        let mut filed = ev(1, 0, "complaint.file", json!({"complaint_id": "c1"}));
        filed.time = "2025-09-26T02:00:00Z".parse().unwrap();
        let tue: DateTime<Utc> = "2025-09-30T10:00:00Z".parse().unwrap();
        assert!(overdue(&ctx, std::slice::from_ref(&filed), tue).is_empty());
        let wed: DateTime<Utc> = "2025-10-01T02:00:00Z".parse().unwrap();
        assert_eq!(
            overdue(&ctx, &[filed], wed)[0].rule,
            "time.complaint_acceptance"
        );
    }
}
