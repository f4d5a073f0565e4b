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

use crate::evaluation::Env;
use crate::evaluation::error::EvaluationError;
use crate::evaluation::report::sign::{self, ActRecorded, SignCeremony, SignFinish};
use crate::http::{ApiResult, AppState, Ctx};
use crate::identity::passkey;
use crate::tender::service::Caller;

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation",
    tag = "evaluation",
    summary = "Start the evaluation (owning agent, tender opened, committee checked in): forms the committee (招标投标法 第37条); refused with the rule and article",
    params(("code" = String, Path, description = "Project code")),
    request_body = StartInput,
    responses(
        (status = 201, description = "Created", body = super::start::EvaluationStarted),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation",
    tag = "evaluation",
    summary = "The evaluation as the caller may see it (owning agent, committee, operators, regulators); only counts until every member's score sheets are in; members by pseudonym to the agent and operators until the award (members_withheld)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::view::EvaluationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn view(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(service::view(env(&state), &caller, &code).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/ballots",
    tag = "evaluation",
    summary = "A member's one ballot for the committee leader (组长推选); counted when all have voted",
    params(("code" = String, Path, description = "Project code")),
    request_body = BallotInput,
    responses(
        (status = 201, description = "Created", body = super::start::BallotCast),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/review-marks",
    tag = "evaluation",
    summary = "A member's preliminary review marks (pass/fail with reason), never changed; decided once complete",
    params(("code" = String, Path, description = "Project code")),
    request_body = MarksInput,
    responses(
        (status = 201, description = "Created", body = super::review::marks::MarksRecorded),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/scores",
    tag = "evaluation",
    summary = "A member submits every score sheet once (hundredths of a point); ranked when all are in",
    params(("code" = String, Path, description = "Project code")),
    request_body = ScoresInput,
    responses(
        (status = 201, description = "Created", body = super::scoring::sheets::ScoresSubmitted),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/price-table",
    tag = "evaluation",
    summary = "Lowest evaluated price: the leader records the committee's price comparison table (标价比较表) once; the bids are ranked by evaluated price and the report written at once. Every bad line at once: 422 PRICE_TABLE_INVALID",
    params(("code" = String, Path, description = "Project code")),
    request_body = PriceTableInput,
    responses(
        (status = 201, description = "Created", body = price_table::PriceTableRecorded),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/report/sign/start",
    tag = "evaluation",
    summary = "Start a member's passkey signature over the report; the challenge is the report's SHA-256 (refused before every score is in)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = SignCeremony),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn sign_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(start_signing(&state, &caller, &code).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/report/sign/finish",
    tag = "evaluation",
    summary = "Finish the signature with a user-verified assertion over the report's SHA-256 (实施条例 第53条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = SignFinish,
    responses(
        (status = 201, description = "Created", body = ActRecorded),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/report/dissent",
    tag = "evaluation",
    summary = "A member dissents from the report with a written reason (实施条例 第53条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = DissentInput,
    responses(
        (status = 201, description = "Created", body = ActRecorded),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/clarifications",
    tag = "evaluation",
    summary = "A checked-in member asks the bidder of one bid for a written clarification (evaluation in review or scoring); window 10–4320 minutes, default 60; the bidder's users get a notice",
    params(("code" = String, Path, description = "Project code")),
    request_body = clarification::AskInput,
    responses(
        (status = 201, description = "Created", body = clarification::ClarificationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation/clarifications",
    tag = "evaluation",
    summary = "The tender's clarifications: members and regulators all with who asked; the owning agent all without who asked; a bidder its own",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Clarifications),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_clarifications(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = clarification::list_for_tender(env(&state), &caller, &code).await?;
    Ok(Json(serde_json::json!({ "clarifications": items })))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/clarifications/{id}/answer",
    tag = "evaluation",
    summary = "The bidder answers once, in writing, up to the deadline; late: 409 CLARIFICATION_EXPIRED, second answer: 409 CLARIFICATION_ALREADY_ANSWERED",
    params(("code" = String, Path, description = "Project code"), ("id" = String, Path, description = "Clarification id")),
    request_body = clarification::AnswerInput,
    responses(
        (status = 201, description = "Created", body = clarification::ClarificationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/clarifications",
    tag = "evaluation",
    summary = "The calling bidder's clarification requests across tenders (pending, answered, expired), newest first",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Clarifications),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_clarifications(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = clarification::list_mine(env(&state), &caller).await?;
    Ok(Json(serde_json::json!({ "clarifications": items })))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/replacements",
    tag = "evaluation",
    summary = "The owning agent replaces a member (by member number, written reason): the member withdraws, a replacement draw is committed, the evaluation is suspended; a report already acted on needs void_signed_report",
    params(("code" = String, Path, description = "Project code")),
    request_body = replacement::StartInput,
    responses(
        (status = 201, description = "Created", body = replacement::ReplacementStarted),
        crate::http::openapi::AuthRefusals,
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation/replacements",
    tag = "evaluation",
    summary = "The tender's member replacements (agent: member numbers; members and regulators: ids too)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Replacements),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_replacements(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let items = replacement::list(env(&state), &caller, &code).await?;
    Ok(Json(serde_json::json!({ "replacements": items })))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/evaluation/replacements/{id}/complete",
    tag = "evaluation",
    summary = "Once the replacement expert confirmed and checked in: swap the member, void the replaced member's conclusions, go back to the step to redo",
    params(("code" = String, Path, description = "Project code"), ("id" = String, Path, description = "Replacement id")),
    responses(
        (status = 200, description = "OK", body = replacement::ReplacementCompleted),
        crate::http::openapi::AuthRefusals,
    ),
)]
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
) -> Result<SignCeremony, EvaluationError> {
    let c = sign::challenge(env(state), caller, code).await?;
    let (ceremony, options) = passkey::start_signature_for_user(state, &c.member, &c.digest)
        .await
        .map_err(EvaluationError::Passkey)?;
    let options =
        serde_json::to_value(&options).map_err(|e| EvaluationError::corrupt(e.to_string()))?;
    Ok(SignCeremony {
        ceremony_id: ceremony,
        options,
        report_sha256: c.report_sha256,
    })
}

/// Finishes a member's passkey signature: the assertion must be the member's, user-verified,
/// and over the report's SHA-256; then [`sign::record_signature`].
pub(crate) async fn finish_signing(
    state: &AppState,
    caller: &Caller,
    code: &str,
    input: &SignFinish,
) -> Result<ActRecorded, EvaluationError> {
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
