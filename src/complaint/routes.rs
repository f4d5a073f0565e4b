//! JSON API of complaints: parties file, regulators accept, reject and decide, anyone reads
//! a tender's published decisions.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::service::{self, ComplaintView, DecideInput, FileInput, PublishedDecision, RejectInput};
use crate::http::{ApiJson, ApiResult, AppState, Ctx};
use crate::identity::Caller;
use crate::supervision::config::Rules;

#[utoipa::path(
    post,
    path = "/api/v1/complaints",
    tag = "complaints",
    summary = "A party files a complaint within 10 days of knowing (supervision rules: complaint_window_days), after its objection where the law asks for one first (实施条例 第60条)",
    request_body = FileInput,
    responses(
        (status = 201, description = "Created", body = ComplaintView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn file_complaint(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<FileInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let rules = Rules::load(state.config.supervision_rules.as_deref())
        .map_err(crate::supervision::SupervisionError::from)?;
    let v = service::file(&state.db, now, &caller, &input, &rules.time_limits).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/complaints",
    tag = "complaints",
    summary = "Complaints: every one for regulators, their own for complainants",
    responses(
        (status = 200, description = "OK", body = Vec<ComplaintView>),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn list_complaints(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(service::list(&state.db, &caller).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/accept",
    tag = "complaints",
    summary = "The regulator accepts a complaint (due within 3 working days of receipt, 实施条例 第61条)",
    params(("id" = String, Path, description = "Complaint id")),
    responses(
        (status = 200, description = "OK", body = ComplaintView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn accept_complaint(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let rules = Rules::load(state.config.supervision_rules.as_deref())
        .map_err(crate::supervision::SupervisionError::from)?;
    Ok(Json(
        service::accept(&state.db, now, &caller, &id, &rules.time_limits).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/reject",
    tag = "complaints",
    summary = "The regulator does not accept a complaint, with reasons (published)",
    params(("id" = String, Path, description = "Complaint id")),
    request_body = RejectInput,
    responses(
        (status = 200, description = "OK", body = ComplaintView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn reject_complaint(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<RejectInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::reject(&state.db, now, &caller, &id, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/complaints/{id}/decide",
    tag = "complaints",
    summary = "The regulator decides an accepted complaint in writing (within 30 working days, 实施条例 第61条); the decision is published",
    params(("id" = String, Path, description = "Complaint id")),
    request_body = DecideInput,
    responses(
        (status = 200, description = "OK", body = ComplaintView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn decide_complaint(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<DecideInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::decide(&state.db, now, &caller, &id, &input).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/complaint-decisions",
    tag = "complaints",
    summary = "The published complaint decisions of a tender",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = Vec<PublishedDecision>),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn complaint_decisions(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(service::published(&state.db, &code).await?))
}

/// The complaint API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/complaints",
            post(file_complaint).get(list_complaints),
        )
        .route("/api/v1/complaints/{id}/accept", post(accept_complaint))
        .route("/api/v1/complaints/{id}/reject", post(reject_complaint))
        .route("/api/v1/complaints/{id}/decide", post(decide_complaint))
        .route(
            "/api/v1/tenders/{code}/complaint-decisions",
            get(complaint_decisions),
        )
}
