//! JSON API of the result: report delivery, candidate publicity, objections, award and
//! contract. Handlers parse, call [`super::service`], and map.

use crate::evaluation::routes::env;
use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::service::{self, AwardInput, ContractInput, PublicityInput, TextInput};
use crate::http::{ApiJson, ApiResult, AppState, Ctx};
use crate::tender::service::Caller;

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/report/deliver",
    tag = "result",
    summary = "The owning agent delivers the signed report and closes signing; silent members are deemed to agree once every member acted or an hour after the ranking (实施条例 第53条)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::answers::ReportDelivered),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn deliver(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::deliver_report(env(&state), &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/publicity",
    tag = "result",
    summary = "Publish the candidates from now until ends_at: within 3 days of the report, at least 3 days (实施条例 第54条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = PublicityInput,
    responses(
        (status = 201, description = "Created", body = super::answers::Published),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn publish(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<PublicityInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::publish(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/result-objections",
    tag = "result",
    summary = "A bidder of the tender objects to the result during the publicity (实施条例 第54条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = TextInput,
    responses(
        (status = 201, description = "Created", body = super::answers::ObjectionRaised),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<TextInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::raise_objection(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/result-objections/{id}/answer",
    tag = "result",
    summary = "The owning agent answers an objection in writing (due within 3 days; a late answer is recorded and flagged)",
    params(("code" = String, Path, description = "Project code"), ("id" = String, Path, description = "Objection id")),
    request_body = TextInput,
    responses(
        (status = 201, description = "Created", body = super::answers::ObjectionAnswered),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
    ApiJson(input): ApiJson<TextInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::answer_objection(env(&state), &caller, &code, &id, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/award",
    tag = "result",
    summary = "Award notice (中标通知书) after the publicity with every objection answered; the first candidate unless another is chosen with a reason; reveals the expert draws",
    params(("code" = String, Path, description = "Project code")),
    request_body = AwardInput,
    responses(
        (status = 201, description = "Created", body = super::answers::Awarded),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn award(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<AwardInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::award(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/contract",
    tag = "result",
    summary = "Record the signed contract within 30 days of the award (招标投标法 第46条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = ContractInput,
    responses(
        (status = 201, description = "Created", body = super::answers::ContractRecorded),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn contract(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<ContractInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::record_contract(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/result",
    tag = "result",
    summary = "The result as the caller may see it: publicity with candidates, objections (texts to the objector, agent and regulators only), award, contract",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::view::ResultView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn view(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx).ok();
    Ok(Json(
        super::view::view(env(&state), caller.as_ref(), &code).await?,
    ))
}

/// The result routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenders/{code}/evaluation/report/deliver",
            post(deliver),
        )
        .route("/api/v1/tenders/{code}/result", get(view))
        .route("/api/v1/tenders/{code}/publicity", post(publish))
        .route("/api/v1/tenders/{code}/result-objections", post(object))
        .route(
            "/api/v1/tenders/{code}/result-objections/{id}/answer",
            post(answer),
        )
        .route("/api/v1/tenders/{code}/award", post(award))
        .route("/api/v1/tenders/{code}/contract", post(contract))
}
