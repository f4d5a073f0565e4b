//! Domain metrics for `/metrics`: bids received, openings, job lag, audit size and alerts.
//!
//! Every figure is read from the database at scrape time, not counted in the process, so
//! any of several processes behind a load balancer reports the same values and a restart
//! loses nothing. The counts are few aggregate queries over indexed tables, cheap enough for
//! a scrape every few seconds.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};

use crate::clock::to_millis;
use crate::q_all;
use crate::q_one;
use crate::store::{Db, StoreError};

/// The domain figures at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DomainStats {
    /// Every bid submission ever recorded (replaced and withdrawn ones included).
    pub bids_received: i64,
    /// Bids by state (`submitted`, `replaced`, `withdrawn`, `opened`, `revoked`).
    pub bids_by_state: Vec<(String, i64)>,
    /// Opening ceremonies started.
    pub openings_started: i64,
    /// Opening ceremonies finished, by outcome (`opened`, `failed`).
    pub openings_finished: Vec<(String, i64)>,
    /// Time-driven jobs due and not yet run.
    pub jobs_due: i64,
    /// How late the oldest due job is, in seconds (0 when none is due).
    pub job_lag_seconds: f64,
    /// Events in the audit log (the Merkle tree size).
    pub audit_events: i64,
    /// Size of the latest signed checkpoint kept (0 before the first).
    pub audit_checkpoint_size: i64,
    /// Alerts raised, by kind and severity.
    pub alerts_raised: Vec<(String, String, i64)>,
    /// Alerts still open (not acknowledged, not in a case, not closed), by kind and severity.
    pub alerts_open: Vec<(String, String, i64)>,
}

/// Reads the figures in one read transaction (one consistent snapshot).
pub async fn collect(db: &Db, now: DateTime<Utc>) -> Result<DomainStats, StoreError> {
    let mut tx = db.read().await?;
    let (bids_received,): (i64,) = q_one!(tx, (i64,), "select count(*) from bid")?;
    let bids_by_state = q_all!(
        tx,
        (String, i64),
        "select state, count(*) from bid group by state order by state"
    )?;
    let (openings_started,): (i64,) = q_one!(tx, (i64,), "select count(*) from opening")?;
    let openings_finished = q_all!(
        tx,
        (String, i64),
        "select state, count(*) from opening where state <> 'unlocking' group by state order by state"
    )?;
    let now_ms = to_millis(now);
    let (jobs_due, oldest): (i64, Option<i64>) = q_one!(
        tx,
        (i64, Option<i64>),
        "select count(*), min(run_at) from job where state = 'pending' and run_at <= $1",
        now_ms
    )?;
    let (audit_events,): (i64,) = q_one!(tx, (i64,), "select size from audit_head where id = 1")?;
    let (audit_checkpoint_size,): (i64,) = q_one!(
        tx,
        (i64,),
        "select coalesce(max(size), 0) from audit_checkpoint"
    )?;
    let alerts_raised = q_all!(
        tx,
        (String, String, i64),
        "select kind, severity, count(*) from supervision_alert group by kind, severity order by kind, severity"
    )?;
    let alerts_open = q_all!(
        tx,
        (String, String, i64),
        "select kind, severity, count(*) from supervision_alert where status = 'open' group by kind, severity order by kind, severity"
    )?;
    Ok(DomainStats {
        bids_received,
        bids_by_state,
        openings_started,
        openings_finished,
        jobs_due,
        job_lag_seconds: job_lag(now_ms, oldest),
        audit_events,
        audit_checkpoint_size,
        alerts_raised,
        alerts_open,
    })
}

/// Seconds since the oldest due job should have run; a job due in the future is no lag.
pub fn job_lag(now_ms: i64, oldest_due_ms: Option<i64>) -> f64 {
    oldest_due_ms.map_or(0.0, |due| {
        (now_ms.saturating_sub(due)).max(0) as f64 / 1000.0
    })
}

/// The Prometheus text exposition (format 0.0.4) of the figures; `db_up` says whether the
/// database answered (when it did not, only that line is written).
pub fn render(stats: Option<&DomainStats>) -> String {
    let mut out = String::new();
    family(
        &mut out,
        "sunbid_db_up",
        "gauge",
        "Whether the database answered this scrape.",
    );
    line(&mut out, "sunbid_db_up", &[], u8::from(stats.is_some()));
    let Some(s) = stats else {
        return out;
    };
    family(
        &mut out,
        "sunbid_bids_received_total",
        "counter",
        "Bid submissions recorded, every process together.",
    );
    line(&mut out, "sunbid_bids_received_total", &[], s.bids_received);
    family(
        &mut out,
        "sunbid_bids",
        "gauge",
        "Bid submissions by state.",
    );
    for (state, n) in &s.bids_by_state {
        line(&mut out, "sunbid_bids", &[("state", state.as_str())], n);
    }
    family(
        &mut out,
        "sunbid_openings_started_total",
        "counter",
        "Opening ceremonies started.",
    );
    line(
        &mut out,
        "sunbid_openings_started_total",
        &[],
        s.openings_started,
    );
    family(
        &mut out,
        "sunbid_openings_finished_total",
        "counter",
        "Opening ceremonies finished, by outcome (opened, failed).",
    );
    for outcome in ["failed", "opened"] {
        let n = s
            .openings_finished
            .iter()
            .find(|(o, _)| o == outcome)
            .map_or(0, |(_, n)| *n);
        line(
            &mut out,
            "sunbid_openings_finished_total",
            &[("outcome", outcome)],
            n,
        );
    }
    family(
        &mut out,
        "sunbid_jobs_due",
        "gauge",
        "Time-driven jobs due and not yet run.",
    );
    line(&mut out, "sunbid_jobs_due", &[], s.jobs_due);
    family(
        &mut out,
        "sunbid_job_lag_seconds",
        "gauge",
        "How late the oldest due job is.",
    );
    line(&mut out, "sunbid_job_lag_seconds", &[], s.job_lag_seconds);
    family(
        &mut out,
        "sunbid_audit_events",
        "gauge",
        "Events in the audit log (the Merkle tree size).",
    );
    line(&mut out, "sunbid_audit_events", &[], s.audit_events);
    family(
        &mut out,
        "sunbid_audit_checkpoint_size",
        "gauge",
        "Tree size of the latest signed checkpoint.",
    );
    line(
        &mut out,
        "sunbid_audit_checkpoint_size",
        &[],
        s.audit_checkpoint_size,
    );
    family(
        &mut out,
        "sunbid_alerts_raised_total",
        "counter",
        "Supervision alerts raised, by kind and severity.",
    );
    for (kind, severity, n) in &s.alerts_raised {
        let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
        line(&mut out, "sunbid_alerts_raised_total", &labels, n);
    }
    family(
        &mut out,
        "sunbid_alerts_open",
        "gauge",
        "Supervision alerts nobody has acknowledged yet, by kind and severity.",
    );
    for (kind, severity, n) in &s.alerts_open {
        let labels = [("kind", kind.as_str()), ("severity", severity.as_str())];
        line(&mut out, "sunbid_alerts_open", &labels, n);
    }
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn line(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// Label values escape backslash, double quote and newline (the text format's rule).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lag_counts_only_overdue_jobs() {
        assert!((job_lag(10_000, None) - 0.0).abs() < f64::EPSILON);
        assert!((job_lag(10_000, Some(12_000)) - 0.0).abs() < f64::EPSILON);
        assert!((job_lag(10_000, Some(7_500)) - 2.5).abs() < f64::EPSILON);
    }

    #[test]
    fn renders_the_text_format_with_escaped_labels() {
        let stats = DomainStats {
            bids_received: 3,
            bids_by_state: vec![("submitted".into(), 2), ("replaced".into(), 1)],
            openings_started: 1,
            openings_finished: vec![("opened".into(), 1)],
            alerts_raised: vec![("a\"b\\c\nd".into(), "high".into(), 4)],
            ..DomainStats::default()
        };
        let text = render(Some(&stats));
        assert!(text.contains("sunbid_db_up 1\n"), "{text}");
        assert!(text.contains("sunbid_bids_received_total 3\n"), "{text}");
        assert!(
            text.contains("sunbid_bids{state=\"replaced\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("sunbid_openings_finished_total{outcome=\"failed\"} 0\n"));
        assert!(text.contains("sunbid_openings_finished_total{outcome=\"opened\"} 1\n"));
        assert!(
            text.contains(
                "sunbid_alerts_raised_total{kind=\"a\\\"b\\\\c\\nd\",severity=\"high\"} 4\n"
            ),
            "{text}"
        );
        assert!(text.contains("# TYPE sunbid_job_lag_seconds gauge\n"));
        // Every sample line is `name{labels} value` with one space before the value.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').expect("a value");
            assert!(v.parse::<f64>().is_ok(), "{l}");
        }
    }

    #[test]
    fn a_database_outage_is_reported_not_hidden() {
        assert_eq!(
            render(None),
            "# HELP sunbid_db_up Whether the database answered this scrape.\n\
             # TYPE sunbid_db_up gauge\nsunbid_db_up 0\n"
        );
    }
}
