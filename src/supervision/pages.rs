//! The regulator's workspace (`/supervision`): the dashboard with its charts, the alert list
//! with filters, an alert with its evidence events, and a case with its forms. Server-
//! rendered forms post to the handlers below and come back (post/redirect/get); the rules
//! are in the services.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
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
    let d = stats::dashboard(&state.db, &who).await.or_page(&ctx)?;
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
    Ok(render(&DashboardPage {
        base,
        charts,
        open_alerts,
    }))
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
    let input = OpenCaseInput { alert_id: id };
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
        .route("/supervision/alerts/{id}", get(alert_page))
        .route("/supervision/alerts/{id}/acknowledge", post(acknowledge))
        .route("/supervision/alerts/{id}/case", post(open_case))
        .route("/supervision/cases/{id}", get(case_page))
        .route("/supervision/cases/{id}/notes", post(note))
        .route("/supervision/cases/{id}/suspend", post(suspend))
        .route("/supervision/cases/{id}/resume", post(resume))
        .route("/supervision/cases/{id}/close", post(close))
}
