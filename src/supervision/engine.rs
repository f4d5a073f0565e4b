//! The alert engine: a consumer of the audit log with a durable cursor, and the scheduled
//! check of the time limits.
//!
//! Exactly once with any number of servers: each batch runs in one transaction that first
//! takes the cursor row (`update … set next_seq = next_seq`: the row lock on PostgreSQL;
//! SQLite's `BEGIN IMMEDIATE` already serialises writers), reads the events after it,
//! stores the alerts they give, and advances the cursor guarded by the value it read. A
//! second server waits for the lock and then reads the advanced cursor; a server that dies
//! mid-batch rolls back and the batch is consumed again. The clock check takes the same row
//! lock, and an alert's `dedup_key` is unique, so a finding is stored once.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::config::{Calendar, Rules};
use super::error::SupervisionError;
use super::event::Event;
use super::rules::{self, CLOCK_ACTIONS, Context, Finding, across};
use crate::audit::{self, Actor, Stage};
use crate::clock::to_millis;
use crate::ids::new_id;
use crate::store::{Db, Tx};
use crate::{q_all, q_exec, q_one, q_opt};

/// Events read per transaction.
const BATCH: i64 = 1000;

/// The cursor's consumer name.
const CONSUMER: &str = "alerts";

/// What one run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Run {
    /// Events consumed.
    pub events: usize,
    /// Alerts raised.
    pub alerts: usize,
}

/// Loads the rules (built in, or the file configured) and the calendar, consumes every new
/// event and checks the clocks at `now`.
pub async fn run(
    db: &Db,
    now: DateTime<Utc>,
    rules_file: Option<&std::path::Path>,
) -> Result<Run, SupervisionError> {
    let rules = Rules::load(rules_file)?;
    let calendar = Calendar::builtin()?;
    let ctx = Context {
        rules: &rules,
        calendar: &calendar,
    };
    let mut run = consume(db, now, &ctx).await?;
    run.alerts += check_clocks(db, now, &ctx).await?;
    Ok(run)
}

/// Consumes the log up to its end, batch by batch.
pub async fn consume(
    db: &Db,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
) -> Result<Run, SupervisionError> {
    let mut total = Run::default();
    loop {
        let step = consume_batch(db, now, ctx).await?;
        if step.events == 0 {
            return Ok(total);
        }
        total.events += step.events;
        total.alerts += step.alerts;
    }
}

/// Takes the cursor row for this transaction; returns the next sequence number to read.
async fn take_cursor(tx: &mut Tx) -> Result<i64, SupervisionError> {
    let (next,): (i64,) = q_one!(
        tx,
        (i64,),
        "update supervision_cursor set next_seq = next_seq where consumer = $1 returning next_seq",
        CONSUMER
    )?;
    Ok(next)
}

async fn consume_batch(
    db: &Db,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
) -> Result<Run, SupervisionError> {
    let mut tx = db.begin().await?;
    let next = take_cursor(&mut tx).await?;
    let rows: Vec<(i64, String)> = q_all!(
        tx,
        (i64, String),
        "select seq, entry from audit_event where seq >= $1 order by seq limit $2",
        next,
        BATCH
    )?;
    let Some(&(last, _)) = rows.last() else {
        return Ok(Run::default());
    };
    let mut histories: HashMap<String, Vec<Event>> = HashMap::new();
    // The earlier events the rules across tenders read, loaded at the batch's first trigger.
    let mut across_prior: Option<Vec<Event>> = None;
    let mut alerts = 0;
    for (seq, entry) in &rows {
        let Some(ev) = Event::parse(entry) else {
            tracing::warn!(seq, "supervision: unreadable audit entry skipped");
            continue;
        };
        let cfg = &ctx.rules.across;
        if cfg.enabled && across::triggers(&ev.action) {
            if across_prior.is_none() {
                let since = ev.time - chrono::Duration::days(cfg.lookback_days);
                across_prior = Some(across_events(&mut tx, *seq, since).await?);
            }
            let prior = across_prior.as_deref().unwrap_or_default();
            for f in across::on_event(cfg, &ev, prior) {
                if store_finding(&mut tx, now, &f).await? {
                    alerts += 1;
                }
            }
        }
        if let Some(p) = across_prior.as_mut()
            && across::ACTIONS.contains(&ev.action.as_str())
        {
            p.push(ev.clone());
        }
        let history = match ev.tender.as_deref() {
            Some(t) if rules::needs_history(&ev.action) => {
                if !histories.contains_key(t) {
                    let h = tender_history(&mut tx, t, *seq).await?;
                    histories.insert(t.to_string(), h);
                }
                histories.get(t).map(Vec::as_slice).unwrap_or_default()
            }
            _ => &[],
        };
        let findings = rules::on_event(ctx, &ev, history);
        // Events of this batch join the history of their tender for later ones.
        if let Some(h) = ev.tender.as_deref().and_then(|t| histories.get_mut(t)) {
            h.push(ev.clone());
        }
        for f in findings {
            if store_finding(&mut tx, now, &f).await? {
                alerts += 1;
            }
        }
    }
    let n = q_exec!(
        tx,
        "update supervision_cursor set next_seq = $1, updated_at = $2 where consumer = $3 and next_seq = $4",
        last + 1,
        to_millis(now),
        CONSUMER,
        next
    )?;
    if n == 0 {
        // Another consumer advanced meanwhile (cannot happen under the row lock): drop all.
        return Ok(Run::default());
    }
    tx.commit().await?;
    Ok(Run {
        events: rows.len(),
        alerts,
    })
}

/// The events of [`across::ACTIONS`] before `before` and not older than `since` (a day's
/// margin: the rules apply the exact window themselves), in order.
async fn across_events(
    tx: &mut Tx,
    before: i64,
    since: DateTime<Utc>,
) -> Result<Vec<Event>, SupervisionError> {
    let list = across::ACTIONS
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "select entry from audit_event where action in ({list}) and seq < $1 and created_at >= $2
         order by seq"
    );
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        sqlx::AssertSqlSafe(sql),
        before,
        to_millis(since) - 86_400_000
    )?;
    Ok(rows.iter().filter_map(|(e,)| Event::parse(e)).collect())
}

/// The tender's events before `before`, in order.
async fn tender_history(
    tx: &mut Tx,
    tender_id: &str,
    before: i64,
) -> Result<Vec<Event>, SupervisionError> {
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select entry from audit_event where tender_id = $1 and seq < $2 order by seq",
        tender_id.to_string(),
        before
    )?;
    Ok(rows.iter().filter_map(|(e,)| Event::parse(e)).collect())
}

/// Checks every clock at `now` and stores what is overdue; returns the alerts raised.
pub async fn check_clocks(
    db: &Db,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
) -> Result<usize, SupervisionError> {
    let mut tx = db.begin().await?;
    take_cursor(&mut tx).await?;
    let events = clock_events(&mut tx).await?;
    let mut raised = 0;
    for f in rules::overdue(ctx, &events, now) {
        if store_finding(&mut tx, now, &f).await? {
            raised += 1;
        }
    }
    tx.commit().await?;
    Ok(raised)
}

/// The events that start and stop the clocks, in order.
pub async fn clock_events(tx: &mut Tx) -> Result<Vec<Event>, SupervisionError> {
    let list = CLOCK_ACTIONS
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!("select entry from audit_event where action in ({list}) order by seq");
    let rows: Vec<(String,)> = q_all!(tx, (String,), sqlx::AssertSqlSafe(sql))?;
    Ok(rows.iter().filter_map(|(e,)| Event::parse(e)).collect())
}

/// Stores a finding that comes from outside the rules (a witness's split-view report) as an
/// open alert, under the engine's lock so two reports of one finding raise it once; true
/// when stored now, false when it was raised before.
pub async fn raise(db: &Db, now: DateTime<Utc>, f: &Finding) -> Result<bool, SupervisionError> {
    let mut tx = db.begin().await?;
    take_cursor(&mut tx).await?;
    let stored = store_finding(&mut tx, now, f).await?;
    tx.commit().await?;
    Ok(stored)
}

/// Stores a finding as an open alert with its audit event, unless the same finding is
/// already stored; true when stored here.
async fn store_finding(
    tx: &mut Tx,
    now: DateTime<Utc>,
    f: &Finding,
) -> Result<bool, SupervisionError> {
    let exists: Option<(String,)> = q_opt!(
        tx,
        (String,),
        "select alert_id from supervision_alert where dedup_key = $1",
        f.dedup_key.clone()
    )?;
    if exists.is_some() {
        return Ok(false);
    }
    let alert_id = new_id();
    // The alert names the tender's bidders or members: like the committee, it stays out of
    // the public log until the award (regulators see it at once).
    let payload = json!({"alert_id": alert_id, "kind": f.kind.as_str(), "severity": f.severity.as_str(),
        "rule": f.rule, "article": f.article, "evidence": f.evidence});
    let actor = Actor::system();
    let seq = match f.tender.as_deref() {
        Some(t) => {
            audit::append_withheld_until(
                tx,
                now,
                &actor,
                "supervision.alert",
                t,
                payload,
                Stage::Award,
            )
            .await?
        }
        None => audit::append(tx, now, &actor, "supervision.alert", None, payload).await?,
    };
    let evidence = serde_json::to_string(&f.evidence).unwrap_or_else(|_| "[]".into());
    q_exec!(
        tx,
        "insert into supervision_alert (alert_id, kind, severity, tender_id, rule, article, summary,
            evidence, detail, dedup_key, status, audit_seq, raised_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'open', $11, $12)",
        alert_id,
        f.kind.as_str(),
        f.severity.as_str(),
        f.tender.clone(),
        f.rule.clone(),
        f.article.clone(),
        f.summary.clone(),
        evidence,
        f.detail.to_string(),
        f.dedup_key.clone(),
        i64::try_from(seq).unwrap_or(i64::MAX),
        to_millis(now)
    )?;
    Ok(true)
}

/// Reads the whole log and recomputes every finding at `now` with [`rules::replay`]: what
/// a regulator holding the log (with the withheld entries) can do offline.
pub async fn recompute(
    db: &Db,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
) -> Result<Vec<Finding>, SupervisionError> {
    let mut tx = db.read().await?;
    let rows: Vec<(String,)> = q_all!(tx, (String,), "select entry from audit_event order by seq")?;
    let log: Vec<Event> = rows.iter().filter_map(|(e,)| Event::parse(e)).collect();
    Ok(rules::replay(ctx, &log, now))
}
