//! The regulator's dashboard figures and their charts, drawn on the server as SVG (no
//! front-end build): trades by category and month, alerts by kind and by status, savings
//! (estimate against award), and the on-time rate of every duty with a statutory deadline
//! (绩效测评: 按时办结率), per duty and per agent. The satisfaction rate (满意率) is not
//! computed: the platform does not collect ratings yet.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use chrono::{DateTime, Utc};

use super::alerts::require_regulator;
use super::config::{Calendar, Rules};
use super::engine::clock_events;
use super::error::SupervisionError;
use super::rules::{Context, timing};
use crate::clock::china_date;
use crate::identity::Caller;
use crate::store::Db;
use crate::{q_all, q_one};

/// One bar: a label and a count.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Bar {
    /// What is counted.
    pub label: String,
    /// How many.
    pub count: i64,
}

/// The dashboard's figures.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    /// Published trades by category.
    pub trades_by_category: Vec<Bar>,
    /// Published trades by month of publication (China time, `YYYY-MM`), the last 12.
    pub trades_by_month: Vec<Bar>,
    /// Alerts by kind.
    pub alerts_by_kind: Vec<Bar>,
    /// Alerts by status.
    pub alerts_by_status: Vec<Bar>,
    /// Estimate against award, over every awarded tender and per category.
    pub savings: Vec<Savings>,
    /// The on-time rate of each duty with a statutory deadline.
    pub duties: Vec<DutyRate>,
    /// The on-time rate of the tender duties (objections, questions, contracts) per agent.
    pub duties_by_agent: Vec<DutyRate>,
}

/// Savings of awarded tenders: the estimate (预算/估算价) against the awarded price.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Savings {
    /// `all` or the category.
    pub category: String,
    /// Awarded tenders.
    pub awarded: i64,
    /// Sum of their estimated prices, in fen.
    pub estimate_fen: i64,
    /// Sum of their awarded prices, in fen.
    pub award_fen: i64,
    /// (estimate − award) / estimate, in percent (null without an estimate).
    pub savings_pct: Option<f64>,
}

/// How often a duty was done in time.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DutyRate {
    /// The duty (its supervision rule) or, per agent, the agent's organisation name.
    pub label: String,
    /// Done within the deadline.
    pub on_time: i64,
    /// Done late, or not done and overdue.
    pub late: i64,
    /// Not done and not yet due (not counted in the rate).
    pub pending: i64,
    /// on_time / (on_time + late), in percent (null when nothing is due yet).
    pub rate_pct: Option<f64>,
}

impl DutyRate {
    fn new(label: String) -> Self {
        DutyRate {
            label,
            on_time: 0,
            late: 0,
            pending: 0,
            rate_pct: None,
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn finish(mut self) -> Self {
        let due = self.on_time + self.late;
        self.rate_pct =
            (due > 0).then(|| (self.on_time as f64 * 1000.0 / due as f64).round() / 10.0);
        self
    }
}

/// Where a duty stands at `now`.
enum Outcome {
    OnTime,
    Late,
    Pending,
}

fn outcome(c: &timing::Clock<'_>, now: DateTime<Utc>) -> Outcome {
    match c.stop {
        Some(s) if s.time <= c.due => Outcome::OnTime,
        Some(_) => Outcome::Late,
        None if now > c.due => Outcome::Late,
        None => Outcome::Pending,
    }
}

fn count(rate: &mut DutyRate, o: &Outcome) {
    match o {
        Outcome::OnTime => rate.on_time += 1,
        Outcome::Late => rate.late += 1,
        Outcome::Pending => rate.pending += 1,
    }
}

fn bars(rows: Vec<(String, i64)>) -> Vec<Bar> {
    rows.into_iter()
        .map(|(label, count)| Bar { label, count })
        .collect()
}

#[allow(clippy::cast_precision_loss)]
fn savings_row(category: String, awarded: i64, estimate_fen: i64, award_fen: i64) -> Savings {
    Savings {
        savings_pct: (estimate_fen > 0).then(|| {
            ((estimate_fen - award_fen) as f64 * 1000.0 / estimate_fen as f64).round() / 10.0
        }),
        category,
        awarded,
        estimate_fen,
        award_fen,
    }
}

/// Savings over every awarded tender, then per category. Sums are cast so that both
/// databases return a 64-bit integer (PostgreSQL sums bigints as numeric).
async fn savings(tx: &mut crate::store::Tx) -> Result<Vec<Savings>, SupervisionError> {
    let (n, est, award): (i64, i64, i64) = q_one!(
        tx,
        (i64, i64, i64),
        "select count(*), cast(coalesce(sum(t.estimated_price_fen), 0) as bigint),
            cast(coalesce(sum(a.price_fen), 0) as bigint)
         from award a join tender t on t.tender_id = a.tender_id"
    )?;
    let mut out = vec![savings_row("all".into(), n, est, award)];
    let rows: Vec<(String, i64, i64, i64)> = q_all!(
        tx,
        (String, i64, i64, i64),
        "select t.category, count(*), cast(sum(t.estimated_price_fen) as bigint),
            cast(sum(a.price_fen) as bigint)
         from award a join tender t on t.tender_id = a.tender_id
         group by t.category order by t.category"
    )?;
    out.extend(
        rows.into_iter()
            .map(|(c, n, est, award)| savings_row(c, n, est, award)),
    );
    Ok(out)
}

/// The on-time rates per duty and, for the tender duties, per agent, at `now`.
async fn duties(
    tx: &mut crate::store::Tx,
    now: DateTime<Utc>,
    ctx: &Context<'_>,
) -> Result<(Vec<DutyRate>, Vec<DutyRate>), SupervisionError> {
    let events = clock_events(tx).await?;
    // Only the tenders the clocks name (a few), not every trade.
    let list = super::rules::CLOCK_ACTIONS
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "select t.tender_id, o.name from tender t join organisation o on o.org_id = t.agent_org_id
         where t.tender_id in (select tender_id from audit_event where action in ({list}))"
    );
    let agents: BTreeMap<String, String> = q_all!(tx, (String, String), sqlx::AssertSqlSafe(sql))?
        .into_iter()
        .collect();
    let mut by_duty: BTreeMap<&str, DutyRate> = BTreeMap::new();
    let mut by_agent: BTreeMap<String, DutyRate> = BTreeMap::new();
    for ((rule, _), clock) in &timing::clocks(ctx, &events) {
        let o = outcome(clock, now);
        count(
            by_duty
                .entry(*rule)
                .or_insert_with(|| DutyRate::new((*rule).to_string())),
            &o,
        );
        // Complaints are the regulator's own duty, not the agent's.
        if rule.starts_with("time.complaint") {
            continue;
        }
        if let Some(agent) = clock.start.tender.as_ref().and_then(|t| agents.get(t)) {
            count(
                by_agent
                    .entry(agent.clone())
                    .or_insert_with(|| DutyRate::new(agent.clone())),
                &o,
            );
        }
    }
    Ok((
        by_duty.into_values().map(DutyRate::finish).collect(),
        by_agent.into_values().map(DutyRate::finish).collect(),
    ))
}

/// The dashboard's figures (regulators only) at `now`. Grouping by month happens here, not
/// in SQL, so both databases give the same months in China time.
pub async fn dashboard(
    db: &Db,
    now: DateTime<Utc>,
    caller: &Caller,
    rules_file: Option<&std::path::Path>,
) -> Result<Dashboard, SupervisionError> {
    require_regulator(caller)?;
    let rules = Rules::load(rules_file)?;
    let calendar = Calendar::builtin()?;
    let ctx = &Context {
        rules: &rules,
        calendar: &calendar,
    };
    let mut tx = db.read().await?;
    let by_category: Vec<(String, i64)> = q_all!(
        tx,
        (String, i64),
        "select category, count(*) from tender where published_at is not null
         group by category order by category"
    )?;
    let published: Vec<(i64, i64)> = q_all!(
        tx,
        (i64, i64),
        "select published_at / 86400000, count(*) from tender where published_at is not null
         group by published_at / 86400000"
    )?;
    let mut months: BTreeMap<String, i64> = BTreeMap::new();
    for (day, n) in published {
        // The day's noon UTC falls on the same China date as most of the day.
        let m = china_date(day * 86_400_000 + 43_200_000)
            .format("%Y-%m")
            .to_string();
        *months.entry(m).or_default() += n;
    }
    let skip = months.len().saturating_sub(12);
    let by_kind: Vec<(String, i64)> = q_all!(
        tx,
        (String, i64),
        "select kind, count(*) from supervision_alert group by kind order by kind"
    )?;
    let by_status: Vec<(String, i64)> = q_all!(
        tx,
        (String, i64),
        "select status, count(*) from supervision_alert group by status order by status"
    )?;
    let savings = savings(&mut tx).await?;
    let (duties, duties_by_agent) = duties(&mut tx, now, ctx).await?;
    Ok(Dashboard {
        trades_by_category: bars(by_category),
        trades_by_month: bars(months.into_iter().skip(skip).collect()),
        alerts_by_kind: bars(by_kind),
        alerts_by_status: bars(by_status),
        savings,
        duties,
        duties_by_agent,
    })
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A horizontal bar chart as an SVG element; labels are escaped (they may come from data).
pub fn bar_chart(id: &str, title: &str, bars: &[(String, i64)]) -> String {
    const ROW: usize = 26;
    const LABEL: usize = 150;
    const WIDTH: usize = 460;
    let max = bars.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = ROW * bars.len().max(1) + 30;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg id="{}" class="chart" role="img" aria-label="{}" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
        escape(id),
        escape(title),
        escape(title)
    );
    if bars.is_empty() {
        let _ = write!(svg, r#"<text x="0" y="20" class="muted">—</text>"#);
    }
    for (i, (label, n)) in bars.iter().enumerate() {
        let y = 10 + i * ROW;
        let room = WIDTH - LABEL - 50;
        let w = usize::try_from(*n).unwrap_or(0) * room / usize::try_from(max).unwrap_or(1);
        let _ = write!(
            svg,
            r##"<g class="bar" data-label="{l}" data-count="{n}"><text x="0" y="{ty}" font-size="13">{l}</text><rect x="{LABEL}" y="{y}" width="{w}" height="18" fill="#3b6ea5"></rect><text x="{tx}" y="{ty}" font-size="13">{n}</text></g>"##,
            l = escape(label),
            ty = y + 14,
            tx = LABEL + w + 6,
        );
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_escape_labels_and_scale_bars() {
        let svg = bar_chart("c", "T", &[("<b>".into(), 2), ("x".into(), 1)]);
        assert!(svg.contains("&lt;b&gt;"));
        assert!(!svg.contains("<b>"));
        assert!(svg.contains(r#"data-count="2""#));
        assert!(bar_chart("c", "T", &[]).contains("—"));
    }
}
