//! JSON API of electronic supervision (regulators only; everyone else 403): alerts with
//! their evidence, acknowledgement, and cases. Handlers parse, call the service, and map.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};

use super::alerts::{self, AlertDetail, AlertFilter, AlertView};
use super::cases::{self, CaseView, CloseInput, OpenCaseInput, TextInput};
use super::export::{self, Format, What};
use crate::http::{ApiJson, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::Caller;
use serde::Deserialize;

#[utoipa::path(
    get,
    path = "/api/v1/supervision/alerts",
    tag = "supervision",
    summary = "Alerts raised by the supervision rules, newest first, filtered by tender code, kind and status (regulators only)",
    params(AlertFilter),
    responses(
        (status = 200, description = "OK", body = Vec<AlertView>),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn list_alerts(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(filter): ApiQuery<AlertFilter>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(alerts::list(&state.db, &caller, &filter).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/alerts/{id}",
    tag = "supervision",
    summary = "One alert with the audit events it rests on (entries in full, withheld ones included)",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 200, description = "OK", body = AlertDetail),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn get_alert(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(alerts::get(&state.db, now, &caller, &id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/alerts/{id}/acknowledge",
    tag = "supervision",
    summary = "A regulator acknowledges an open alert",
    params(("id" = String, Path, description = "Alert id")),
    responses(
        (status = 200, description = "OK", body = AlertView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn acknowledge_alert(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        alerts::acknowledge(&state.db, now, &caller, &id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/cases",
    tag = "supervision",
    summary = "Open a case from an alert or from a complaint (exactly one; a complaint already decided, or with an open case, is a 409)",
    request_body = OpenCaseInput,
    responses(
        (status = 201, description = "Created", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn open_case(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<OpenCaseInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let v = cases::open_case(&state.db, now, &caller, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/cases/{id}",
    tag = "supervision",
    summary = "One case with its notes and suspension",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "OK", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn get_case(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(cases::get_case(&state.db, &caller, &id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/cases/{id}/notes",
    tag = "supervision",
    summary = "Add a note to an open case",
    params(("id" = String, Path, description = "Case id")),
    request_body = TextInput,
    responses(
        (status = 201, description = "Created", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn add_note(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TextInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let v = cases::add_note(&state.db, now, &caller, &id, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/cases/{id}/suspend",
    tag = "supervision",
    summary = "Suspend the case's tender with a reason (实施条例 第62条); every further step is refused until resumed; a suspended tender gives 409",
    params(("id" = String, Path, description = "Case id")),
    request_body = TextInput,
    responses(
        (status = 200, description = "OK", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn suspend_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<TextInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        cases::suspend(&state.db, now, &caller, &id, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/cases/{id}/resume",
    tag = "supervision",
    summary = "Resume the tender this case suspended, to the state it was suspended from",
    params(("id" = String, Path, description = "Case id")),
    responses(
        (status = 200, description = "OK", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn resume_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(cases::resume(&state.db, now, &caller, &id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/supervision/cases/{id}/close",
    tag = "supervision",
    summary = "Close a case with its finding (dismissed, rectification, penalty; none is a 422); a penalised expert is avoided by later draws",
    params(("id" = String, Path, description = "Case id")),
    request_body = CloseInput,
    responses(
        (status = 200, description = "OK", body = CaseView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn close_case(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<CloseInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        cases::close(&state.db, now, &caller, &id, &input).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/stats",
    tag = "supervision",
    summary = "The dashboard's figures: trades by category and month, alerts by kind and status, savings (estimate against award), on-time rates of the statutory duties per duty and per agent",
    responses(
        (status = 200, description = "OK", body = super::stats::Dashboard),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn stats(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let rules = state.config.supervision_rules.as_deref();
    let now = state.clock.now();
    Ok(Json(
        super::stats::dashboard(&state.db, now, &caller, rules).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/cases",
    tag = "supervision",
    summary = "Every case, newest first (at most 500), without their notes",
    responses(
        (status = 200, description = "OK", body = Vec<CaseView>),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn list_cases(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(cases::list_cases(&state.db, &caller).await?))
}

/// The alert export's query: the alert list's filters and the format.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportAlertsQuery {
    /// `csv` (the default) or `xlsx`.
    pub format: Option<Format>,
    /// A tender's project code.
    pub tender: Option<String>,
    /// One kind.
    pub kind: Option<String>,
    /// One status.
    pub status: Option<String>,
}

/// The case export's query.
#[derive(Clone, Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `csv` (the default) or `xlsx`.
    pub format: Option<Format>,
}

/// The export as a download (not cached: it names bidders before the award).
fn download(bytes: Vec<u8>, name: &str, format: Format) -> Response {
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    resp
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/export/alerts",
    tag = "supervision",
    summary = "The alerts (the list's filters) as CSV or XLSX",
    params(ExportAlertsQuery),
    responses(
        (status = 200, description = "The file", body = crate::http::openapi::Binary, content_type = "*/*"),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn export_alerts(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<ExportAlertsQuery>,
) -> ApiResult<Response> {
    let caller = Caller::from_ctx(&ctx)?;
    let format = q.format.unwrap_or_default();
    let filter = AlertFilter {
        tender: q.tender,
        kind: q.kind,
        status: q.status,
    };
    let (bytes, name) = export::export(&state.db, &caller, What::Alerts, &filter, format).await?;
    Ok(download(bytes, &name, format))
}

#[utoipa::path(
    get,
    path = "/api/v1/supervision/export/cases",
    tag = "supervision",
    summary = "The cases as CSV or XLSX",
    params(ExportQuery),
    responses(
        (status = 200, description = "The file", body = crate::http::openapi::Binary, content_type = "*/*"),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn export_cases(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> ApiResult<Response> {
    let caller = Caller::from_ctx(&ctx)?;
    let format = q.format.unwrap_or_default();
    let (bytes, name) = export::export(
        &state.db,
        &caller,
        What::Cases,
        &AlertFilter::default(),
        format,
    )
    .await?;
    Ok(download(bytes, &name, format))
}

/// The supervision API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/supervision/alerts", get(list_alerts))
        .route("/api/v1/supervision/stats", get(stats))
        .route("/api/v1/supervision/alerts/{id}", get(get_alert))
        .route(
            "/api/v1/supervision/alerts/{id}/acknowledge",
            post(acknowledge_alert),
        )
        .route("/api/v1/supervision/cases", post(open_case).get(list_cases))
        .route("/api/v1/supervision/export/alerts", get(export_alerts))
        .route("/api/v1/supervision/export/cases", get(export_cases))
        .route("/api/v1/supervision/cases/{id}", get(get_case))
        .route("/api/v1/supervision/cases/{id}/notes", post(add_note))
        .route(
            "/api/v1/supervision/cases/{id}/suspend",
            post(suspend_tender),
        )
        .route("/api/v1/supervision/cases/{id}/resume", post(resume_tender))
        .route("/api/v1/supervision/cases/{id}/close", post(close_case))
}
