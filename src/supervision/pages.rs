//! The regulator's workspace (`/supervision`): the dashboard with its charts, the alert list
//! with filters, an alert with its evidence events, and a case with its forms. Server-
//! rendered forms post to the handlers below and come back (post/redirect/get); the rules
//! are in the services.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::alerts::{self, AlertDetail, AlertFilter, AlertView};
use super::cases::{self, CaseView, CloseInput, OpenCaseInput, PenaltyInput, TextInput};
use super::rules::AlertKind;
use super::stats::{self, bar_chart};
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiForm, ApiQuery, AppState, Ctx};
use crate::identity::Caller;

#[derive(Template)]
#[template(path = "supervision_dashboard.html")]
struct DashboardPage {
    base: Base,
    charts: Vec<String>,
    open_alerts: Vec<AlertView>,
    /// (label, awarded, estimate, award, savings %).
    savings: Vec<(String, i64, String, String, String)>,
    duties: Vec<stats::DutyRate>,
    duties_by_agent: Vec<stats::DutyRate>,
}

fn pct(p: Option<f64>) -> String {
    p.map_or_else(|| "—".to_string(), |p| format!("{p:.1}%"))
}

#[derive(Template)]
#[template(path = "supervision_wall.html")]
struct WallPage {
    base: Base,
    /// The latest alerts, newest first.
    alerts: Vec<AlertView>,
    /// Where the live stream starts: the latest alert's audit sequence number.
    after: i64,
}

#[derive(Template)]
#[template(path = "supervision_alerts.html")]
struct AlertsPage {
    base: Base,
    alerts: Vec<AlertView>,
    kinds: Vec<&'static str>,
    statuses: Vec<&'static str>,
    tender: String,
    kind: String,
    status: String,
}

#[derive(Template)]
#[template(path = "supervision_alert.html")]
struct AlertPage {
    base: Base,
    d: AlertDetail,
}

#[derive(Template)]
#[template(path = "supervision_case.html")]
struct CasePage {
    base: Base,
    c: CaseView,
}

fn caller(ctx: &Ctx) -> PageResult<Caller> {
    Caller::from_ctx(ctx).or_page(ctx)
}

async fn dashboard(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let who = caller(&ctx)?;
    let rules = state.config.supervision_rules.as_deref();
    let d = stats::dashboard(&state.db, state.clock.now(), &who, rules)
        .await
        .or_page(&ctx)?;
    let base = Base::new(&ctx);
    let pairs = |bars: &[stats::Bar], group: Option<&str>| -> Vec<(String, i64)> {
        bars.iter()
            .map(|b| {
                let label = group.map_or_else(|| b.label.clone(), |g| base.label(g, &b.label));
                (label, b.count)
            })
            .collect()
    };
    let charts = vec![
        bar_chart(
            "chart-category",
            base.t("sup.chart.category"),
            &pairs(&d.trades_by_category, Some("category")),
        ),
        bar_chart(
            "chart-month",
            base.t("sup.chart.month"),
            &pairs(&d.trades_by_month, None),
        ),
        bar_chart(
            "chart-kind",
            base.t("sup.chart.kind"),
            &pairs(&d.alerts_by_kind, Some("sup.kind")),
        ),
        bar_chart(
            "chart-status",
            base.t("sup.chart.status"),
            &pairs(&d.alerts_by_status, Some("sup.status")),
        ),
    ];
    let filter = AlertFilter {
        status: Some("open".into()),
        ..AlertFilter::default()
    };
    let open_alerts = alerts::list(&state.db, &who, &filter).await.or_page(&ctx)?;
    let savings = d
        .savings
        .iter()
        .map(|s| {
            let label = if s.category == "all" {
                base.t("sup.all").to_string()
            } else {
                base.label("category", &s.category)
            };
            (
                label,
                s.awarded,
                crate::money::yuan(s.estimate_fen),
                crate::money::yuan(s.award_fen),
                pct(s.savings_pct),
            )
        })
        .collect();
    Ok(render(&DashboardPage {
        base,
        charts,
        open_alerts,
        savings,
        duties: d.duties,
        duties_by_agent: d.duties_by_agent,
    }))
}

/// The monitoring wall (监控大屏): the latest alerts, then new ones as they are raised.
async fn wall(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let who = caller(&ctx)?;
    let after = alerts::last_seq(&state.db, &who).await.or_page(&ctx)?;
    let mut latest = alerts::list(&state.db, &who, &AlertFilter::default())
        .await
        .or_page(&ctx)?;
    latest.truncate(50);
    Ok(render(&WallPage {
        base: Base::new(&ctx),
        alerts: latest,
        after,
    }))
}

/// How long one server-sent-event response lasts: the browser reconnects by itself with the
/// last alert's id, so a long-lived connection never holds up a graceful shutdown.
const STREAM_LIFE: Duration = Duration::from_secs(20);

/// How often the stream looks for new alerts (any server process may have raised them).
const STREAM_POLL: Duration = Duration::from_secs(2);

/// The query of the stream: where to start when no `Last-Event-ID` is sent.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    after: Option<i64>,
}

/// `GET /supervision/stream`: alerts raised after `Last-Event-ID` (or `?after=`, or now) as
/// server-sent events (`event: alert`, `id` = the alert's audit sequence number), for
/// [`STREAM_LIFE`]; regulators only.
async fn stream(
    State(state): State<AppState>,
    ctx: Ctx,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Response, crate::http::ApiError> {
    let who = Caller::from_ctx(&ctx)?;
    let last_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let after = match last_id.or(q.after) {
        Some(n) => {
            alerts::require_regulator(&who)?;
            n.max(0)
        }
        None => alerts::last_seq(&state.db, &who).await?,
    };
    let deadline = tokio::time::Instant::now() + STREAM_LIFE;
    let db = state.db.clone();
    let events = futures_util::stream::unfold(
        (after, VecDeque::<AlertView>::new(), true),
        move |(mut after, mut queue, mut first)| {
            let (db, who) = (db.clone(), who.clone());
            async move {
                loop {
                    if let Some(a) = queue.pop_front() {
                        let ev = SseEvent::default()
                            .event("alert")
                            .id(a.audit_seq.to_string())
                            .json_data(&a)
                            .unwrap_or_else(|_| SseEvent::default().comment("unreadable"));
                        return Some((Ok::<_, Infallible>(ev), (after, queue, first)));
                    }
                    if !first {
                        if tokio::time::Instant::now() >= deadline {
                            return None;
                        }
                        tokio::time::sleep(STREAM_POLL).await;
                    }
                    first = false;
                    match alerts::since(&db, &who, after).await {
                        Ok(list) => {
                            if let Some(last) = list.last() {
                                after = last.audit_seq;
                            }
                            queue.extend(list);
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "supervision stream");
                            return None;
                        }
                    }
                }
            }
        },
    );
    let mut resp = Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn alert_list(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(filter): ApiQuery<AlertFilter>,
) -> PageResult {
    let who = caller(&ctx)?;
    let list = alerts::list(&state.db, &who, &filter).await.or_page(&ctx)?;
    Ok(render(&AlertsPage {
        base: Base::new(&ctx),
        alerts: list,
        kinds: AlertKind::ALL.iter().map(|k| k.as_str()).collect(),
        statuses: vec!["open", "acknowledged", "in_case", "closed"],
        tender: filter.tender.unwrap_or_default(),
        kind: filter.kind.unwrap_or_default(),
        status: filter.status.unwrap_or_default(),
    }))
}

async fn alert_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let who = caller(&ctx)?;
    let d = alerts::get(&state.db, state.clock.now(), &who, &id)
        .await
        .or_page(&ctx)?;
    Ok(render(&AlertPage {
        base: Base::new(&ctx),
        d,
    }))
}

async fn acknowledge(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> PageResult {
    alerts::acknowledge(&state.db, state.clock.now(), &caller(&ctx)?, &id)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/supervision/alerts/{id}")).into_response())
}

async fn open_case(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let input = OpenCaseInput {
        alert_id: Some(id),
        complaint_id: None,
    };
    let c = cases::open_case(&state.db, state.clock.now(), &caller(&ctx)?, &input)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/supervision/cases/{}", c.case_id)).into_response())
}

async fn case_page(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    let c = cases::get_case(&state.db, &caller(&ctx)?, &id)
        .await
        .or_page(&ctx)?;
    Ok(render(&CasePage {
        base: Base::new(&ctx),
        c,
    }))
}

#[derive(Deserialize)]
struct TextForm {
    #[serde(default)]
    text: String,
}

fn back(id: &str) -> axum::response::Response {
    Redirect::to(&format!("/supervision/cases/{id}")).into_response()
}

async fn note(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<TextForm>,
) -> PageResult {
    let input = TextInput { text: form.text };
    cases::add_note(&state.db, state.clock.now(), &caller(&ctx)?, &id, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&id))
}

async fn suspend(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<TextForm>,
) -> PageResult {
    let input = TextInput { text: form.text };
    cases::suspend(&state.db, state.clock.now(), &caller(&ctx)?, &id, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&id))
}

async fn resume(State(state): State<AppState>, ctx: Ctx, Path(id): Path<String>) -> PageResult {
    cases::resume(&state.db, state.clock.now(), &caller(&ctx)?, &id)
        .await
        .or_page(&ctx)?;
    Ok(back(&id))
}

#[derive(Deserialize)]
struct CloseForm {
    #[serde(default)]
    finding: String,
    #[serde(default)]
    text: String,
    /// Whitespace-separated expert ids to penalise.
    #[serde(default)]
    experts: String,
    /// Whitespace-separated company ids to penalise.
    #[serde(default)]
    companies: String,
}

async fn close(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(form): ApiForm<CloseForm>,
) -> PageResult {
    let subjects = |kind: &str, ids: &str| -> Vec<PenaltyInput> {
        ids.split_whitespace()
            .map(|i| PenaltyInput {
                subject: kind.to_string(),
                id: i.to_string(),
            })
            .collect()
    };
    let mut penalties = subjects("expert", &form.experts);
    penalties.extend(subjects("company", &form.companies));
    let input = CloseInput {
        finding: Some(form.finding).filter(|f| !f.trim().is_empty()),
        text: form.text,
        penalties,
    };
    cases::close(&state.db, state.clock.now(), &caller(&ctx)?, &id, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&id))
}

/// The regulator's pages and their forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/supervision", get(dashboard))
        .route("/supervision/alerts", get(alert_list))
        .route("/supervision/wall", get(wall))
        .route("/supervision/stream", get(stream))
        .route("/supervision/alerts/{id}", get(alert_page))
        .route("/supervision/alerts/{id}/acknowledge", post(acknowledge))
        .route("/supervision/alerts/{id}/case", post(open_case))
        .route("/supervision/cases/{id}", get(case_page))
        .route("/supervision/cases/{id}/notes", post(note))
        .route("/supervision/cases/{id}/suspend", post(suspend))
        .route("/supervision/cases/{id}/resume", post(resume))
        .route("/supervision/cases/{id}/close", post(close))
}
