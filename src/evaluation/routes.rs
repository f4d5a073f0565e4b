//! JSON API of the evaluation (评标). Handlers parse, call the service, and map; the rules
//! live in the pure modules and `service`.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::price_table::{self, PriceTableInput};
use super::service::{self, BallotInput, DissentInput, MarksInput, ScoresInput, StartInput};
use super::{clarification, replacement};
use serde_json::{Value, json};

use crate::evaluation::Env;
use crate::evaluation::error::EvaluationError;
use crate::evaluation::report::sign::{self, SignFinish};
use crate::http::{ApiResult, AppState, Ctx};
use crate::identity::passkey;
use crate::tender::service::Caller;

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<StartInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::start(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn view(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(service::view(env(&state), &caller, &code).await?))
}

async fn ballot(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<BallotInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::cast_ballot(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn marks(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<MarksInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::record_marks(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn scores(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<ScoresInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::submit_scores(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn price_table(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<PriceTableInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = price_table::record(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn sign_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(start_signing(&state, &caller, &code).await?))
}

async fn sign_finish(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<SignFinish>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = finish_signing(&state, &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn dissent(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<DissentInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = service::dissent(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn ask_clarification(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<clarification::AskInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = clarification::ask(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list_clarifications(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = clarification::list_for_tender(env(&state), &caller, &code).await?;
    Ok(Json(serde_json::json!({ "clarifications": items })))
}

async fn answer_clarification(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
    crate::http::ApiJson(input): crate::http::ApiJson<clarification::AnswerInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = clarification::answer(env(&state), &caller, &code, &id, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn my_clarifications(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = clarification::list_mine(env(&state), &caller).await?;
    Ok(Json(serde_json::json!({ "clarifications": items })))
}

async fn start_replacement(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    crate::http::ApiJson(input): crate::http::ApiJson<replacement::StartInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let v = replacement::start(env(&state), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

async fn list_replacements(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = replacement::list(env(&state), &caller, &code).await?;
    Ok(Json(serde_json::json!({ "replacements": items })))
}

async fn complete_replacement(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        replacement::complete(env(&state), &caller, &code, &id).await?,
    ))
}

/// The evaluation context of a request: its database, rulebooks and time.
pub(crate) fn env(state: &AppState) -> Env<'_> {
    Env {
        db: &state.db,
        rulebooks: &state.rulebooks,
        now: state.clock.now(),
    }
}

/// Starts a member's passkey signature over the report: the challenge is the report's
/// SHA-256 ([`sign::challenge`]).
pub(crate) async fn start_signing(
    state: &AppState,
    caller: &Caller,
    code: &str,
) -> Result<Value, EvaluationError> {
    let c = sign::challenge(env(state), caller, code).await?;
    let (ceremony, options) = passkey::start_signature_for_user(state, &c.member, &c.digest)
        .await
        .map_err(EvaluationError::Passkey)?;
    let options =
        serde_json::to_value(&options).map_err(|e| EvaluationError::corrupt(e.to_string()))?;
    Ok(json!({"ceremony_id": ceremony, "options": options, "report_sha256": c.report_sha256}))
}

/// Finishes a member's passkey signature: the assertion must be the member's, user-verified,
/// and over the report's SHA-256; then [`sign::record_signature`].
pub(crate) async fn finish_signing(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &SignFinish,
) -> Result<Value, EvaluationError> {
    let credential =
        passkey::parse_assertion(input.credential.clone()).map_err(EvaluationError::Passkey)?;
    let c = sign::challenge(env(state), caller, code).await?;
    let verified = passkey::verify_signature(
        state,
        &caller.actor,
        &c.member,
        &input.ceremony_id,
        &credential,
        &c.digest,
    )
    .await
    .map_err(EvaluationError::Passkey)?;
    sign::record_signature(env(state), caller, code, &c, verified.credential_id).await
}

/// The evaluation routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenders/{code}/evaluation/clarifications",
            get(list_clarifications).post(ask_clarification),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/clarifications/{id}/answer",
            post(answer_clarification),
        )
        .route("/api/v1/clarifications", get(my_clarifications))
        .route(
            "/api/v1/tenders/{code}/evaluation/replacements",
            get(list_replacements).post(start_replacement),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/replacements/{id}/complete",
            post(complete_replacement),
        )
        .route("/api/v1/tenders/{code}/evaluation", get(view).post(start))
        .route("/api/v1/tenders/{code}/evaluation/ballots", post(ballot))
        .route(
            "/api/v1/tenders/{code}/evaluation/review-marks",
            post(marks),
        )
        .route("/api/v1/tenders/{code}/evaluation/scores", post(scores))
        .route(
            "/api/v1/tenders/{code}/evaluation/price-table",
            post(price_table),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/report/sign/start",
            post(sign_start),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/report/sign/finish",
            post(sign_finish),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/report/dissent",
            post(dissent),
        )
}
