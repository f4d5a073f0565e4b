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
