//! Rulebook JSON API under `/api/v1/rulebooks`: everyone lists and reads the rulebooks in
//! force (the numbers are the law's); the operator replaces one without a rebuild.

use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::service::Caller;
use super::service::rulebooks as service;
use crate::http::ApiPath as Path;
use crate::http::{ApiJson, ApiResult, AppState, Ctx};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rulebooks", get(list_rulebooks))
        .route(
            "/api/v1/rulebooks/{id}",
            get(get_rulebook).put(replace_rulebook),
        )
}

#[utoipa::path(
    get,
    path = "/api/v1/rulebooks",
    tag = "rulebooks",
    summary = "The rulebooks in force, one per category and procedure",
    responses(
        (status = 200, description = "OK", body = Vec<service::RulebookSummary>),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn list_rulebooks(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        service::list_rulebooks(&state.db, &state.rulebooks).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/rulebooks/{id}",
    tag = "rulebooks",
    summary = "One rulebook in force: its rules with their articles, its TOML and its versions",
    params(("id" = String, Path, description = "Rulebook id, e.g. construction-open")),
    responses(
        (status = 200, description = "OK", body = service::RulebookDetail),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn get_rulebook(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        service::get_rulebook(&state.db, &state.rulebooks, &id).await?,
    ))
}

/// The replacement rulebook.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulebookUpload {
    /// The whole rulebook as TOML, in the format of `rulebooks/*.toml`.
    pub toml: String,
}

#[utoipa::path(
    put,
    path = "/api/v1/rulebooks/{id}",
    tag = "rulebooks",
    summary = "Replace a rulebook (operator): validated, stored as the next version, audited; new tenders only",
    params(("id" = String, Path, description = "Rulebook id, e.g. construction-open")),
    request_body = RulebookUpload,
    responses(
        (status = 200, description = "The rulebook now in force", body = service::RulebookDetail),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn replace_rulebook(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(upload): ApiJson<RulebookUpload>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::replace_rulebook(
            &state.db,
            &state.rulebooks,
            state.clock.now(),
            &caller,
            &id,
            &upload.toml,
        )
        .await?,
    ))
}
