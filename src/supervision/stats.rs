//! The regulator's dashboard figures and their charts, drawn on the server as SVG (no
//! front-end build): trades by category and month, alerts by kind and by status.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::alerts::require_regulator;
use super::error::SupervisionError;
use crate::clock::china_date;
use crate::identity::Caller;
use crate::q_all;
use crate::store::Db;

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
}

fn bars(rows: Vec<(String, i64)>) -> Vec<Bar> {
    rows.into_iter()
        .map(|(label, count)| Bar { label, count })
        .collect()
}

/// The dashboard's figures (regulators only). Grouping by month happens here, not in SQL,
/// so both databases give the same months in China time.
pub async fn dashboard(db: &Db, caller: &Caller) -> Result<Dashboard, SupervisionError> {
    require_regulator(caller)?;
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
    Ok(Dashboard {
        trades_by_category: bars(by_category),
        trades_by_month: bars(months.into_iter().skip(skip).collect()),
        alerts_by_kind: bars(by_kind),
        alerts_by_status: bars(by_status),
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
