//! JSON API of electronic supervision (regulators only; everyone else 403): alerts with
//! their evidence, acknowledgement, and cases. Handlers parse, call the service, and map.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::alerts::{self, AlertDetail, AlertFilter, AlertView};
use super::cases::{self, CaseView, CloseInput, OpenCaseInput, TextInput};
use crate::http::{ApiJson, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::Caller;

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
    summary = "Open a case from an alert",
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
    summary = "The dashboard's figures: trades by category and month, alerts by kind and status",
    responses(
        (status = 200, description = "OK", body = super::stats::Dashboard),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn stats(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(super::stats::dashboard(&state.db, &caller).await?))
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
        .route("/api/v1/supervision/cases", post(open_case))
        .route("/api/v1/supervision/cases/{id}", get(get_case))
        .route("/api/v1/supervision/cases/{id}/notes", post(add_note))
        .route(
            "/api/v1/supervision/cases/{id}/suspend",
            post(suspend_tender),
        )
        .route("/api/v1/supervision/cases/{id}/resume", post(resume_tender))
        .route("/api/v1/supervision/cases/{id}/close", post(close_case))
}
