//! JSON API of the expert pool, draws, confirmations and check-in. Handlers parse,
//! authorise through the service, and map; the rules live in `pool`, `service`, `checkin`.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::checkin::{self, EmergencyCheckin, FinishCheckin};
use super::pool::{self, ExpertFilter, ExpertInput, SelfEdit, StatusChange, StatusInput};
use super::service::{self, DeclineInput, DrawRequestInput, ExpertError};
use super::specialty::Specialties;
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::Caller;

fn caller(ctx: &Ctx) -> Result<Caller, ApiError> {
    Caller::from_ctx(ctx)
}

/// `POST /api/v1/draws/{id}/supervisor-input`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SupervisorInput {
    /// The supervisor's own random input (dice rolls), 1–256 bytes, used exactly as sent.
    pub input: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/experts",
    tag = "experts",
    summary = "The expert pool, filtered by q, specialty, status, region (operator, regulator)",
    params(ExpertFilter),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertList),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_experts(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(filter): ApiQuery<ExpertFilter>,
) -> ApiResult<impl IntoResponse> {
    let experts = pool::list_experts(&state.db, &caller(&ctx)?, &filter).await?;
    Ok(Json(json!({ "experts": experts })))
}

#[utoipa::path(
    post,
    path = "/api/v1/experts",
    tag = "experts",
    summary = "Add an expert to the pool (operator)",
    request_body = ExpertInput,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn add_expert(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<ExpertInput>,
) -> ApiResult<impl IntoResponse> {
    let e = pool::add_expert(&state.db, state.clock.now(), &caller(&ctx)?, &input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "expert": e }))))
}

#[utoipa::path(
    get,
    path = "/api/v1/experts/{id}",
    tag = "experts",
    summary = "One expert (operator, regulator)",
    params(("id" = String, Path, description = "Expert id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn get_expert(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let e = pool::get_expert(&state.db, &caller(&ctx)?, &id).await?;
    Ok(Json(json!({ "expert": e })))
}

#[utoipa::path(
    put,
    path = "/api/v1/experts/{id}",
    tag = "experts",
    summary = "Edit an expert (operator)",
    params(("id" = String, Path, description = "Expert id")),
    request_body = ExpertInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn edit_expert(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<ExpertInput>,
) -> ApiResult<impl IntoResponse> {
    let e = pool::edit_expert(&state.db, state.clock.now(), &caller(&ctx)?, &id, &input).await?;
    Ok(Json(json!({ "expert": e })))
}

async fn change_status(
    state: &AppState,
    ctx: &Ctx,
    id: &str,
    change: StatusChange,
    input: &StatusInput,
) -> ApiResult<Json<serde_json::Value>> {
    let e = pool::change_status(
        &state.db,
        state.clock.now(),
        &caller(ctx)?,
        id,
        change,
        &input.reason,
    )
    .await?;
    Ok(Json(json!({ "expert": e })))
}

#[utoipa::path(
    post,
    path = "/api/v1/experts/{id}/suspend",
    tag = "experts",
    summary = "Suspend an expert with a reason (operator)",
    params(("id" = String, Path, description = "Expert id")),
    request_body = StatusInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn suspend(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<impl IntoResponse> {
    change_status(&state, &ctx, &id, StatusChange::Suspend, &input).await
}

#[utoipa::path(
    post,
    path = "/api/v1/experts/{id}/bar",
    tag = "experts",
    summary = "Bar an expert with a reason (operator)",
    params(("id" = String, Path, description = "Expert id")),
    request_body = StatusInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn bar(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<impl IntoResponse> {
    change_status(&state, &ctx, &id, StatusChange::Bar, &input).await
}

#[utoipa::path(
    post,
    path = "/api/v1/experts/{id}/reinstate",
    tag = "experts",
    summary = "Reinstate an expert with a reason (operator)",
    params(("id" = String, Path, description = "Expert id")),
    request_body = StatusInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn reinstate(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> ApiResult<impl IntoResponse> {
    change_status(&state, &ctx, &id, StatusChange::Reinstate, &input).await
}

/// `POST /api/v1/experts/import` with a `text/csv` body.
#[utoipa::path(
    post,
    path = "/api/v1/experts/import",
    tag = "experts",
    summary = "Import experts from CSV; answers with the rows accepted and each rejected row with its reason (operator)",
    request_body(content = String, content_type = "text/csv"),
    responses(
        (status = 200, description = "OK", body = crate::expert::pool::ImportReport),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn import_csv(
    State(state): State<AppState>,
    ctx: Ctx,
    body: axum::body::Bytes,
) -> ApiResult<impl IntoResponse> {
    let caller = caller(&ctx)?;
    let text = std::str::from_utf8(&body).map_err(|_| {
        ApiError::from(ExpertError::BadCsvHeader(
            "the file is not UTF-8 text / 文件须为 UTF-8 编码".into(),
        ))
    })?;
    let report = pool::import_csv(&state.db, state.clock.now(), &caller, text).await?;
    Ok(Json(
        json!({ "imported": report.imported, "rejected": report.rejected }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/experts/me",
    tag = "experts",
    summary = "The calling expert's own profile",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_profile(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let e = pool::my_profile(&state.db, &caller(&ctx)?).await?;
    Ok(Json(json!({ "expert": e })))
}

#[utoipa::path(
    put,
    path = "/api/v1/experts/me",
    tag = "experts",
    summary = "An expert updates their region, unavailable dates and declared conflicts",
    request_body = SelfEdit,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::ExpertAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn edit_my_profile(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(edit): ApiJson<SelfEdit>,
) -> ApiResult<impl IntoResponse> {
    let e = pool::edit_own_profile(&state.db, state.clock.now(), &caller(&ctx)?, &edit).await?;
    Ok(Json(json!({ "expert": e })))
}

#[utoipa::path(
    get,
    path = "/api/v1/specialties",
    tag = "experts",
    summary = "The coded specialty hierarchy",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Specialties),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn specialties() -> impl IntoResponse {
    let list: Vec<_> = Specialties::builtin().iter().collect();
    Json(json!({ "specialties": list }))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/draws",
    tag = "draws",
    summary = "Request an expert draw (owning agent, supervisor recorded); the server commits to its secret in the audit log",
    params(("code" = String, Path, description = "Project code")),
    request_body = DrawRequestInput,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::DrawAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn request_draw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<DrawRequestInput>,
) -> ApiResult<impl IntoResponse> {
    let d =
        service::request_draw(&state.db, state.clock.now(), &caller(&ctx)?, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(json!({ "draw": d }))))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/draws",
    tag = "draws",
    summary = "The tender's draws as the caller may see them (names for regulators, member numbers for the agent)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Draws),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_draws(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let d = service::list_draws(&state.db, state.clock.now(), &caller(&ctx)?, &code).await?;
    Ok(Json(json!({ "draws": d })))
}

#[utoipa::path(
    get,
    path = "/api/v1/draws/{id}",
    tag = "draws",
    summary = "One draw as the caller may see it; each view of the list is audited",
    params(("id" = String, Path, description = "Draw id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::DrawAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn get_draw(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let d = service::view_draw(&state.db, state.clock.now(), &caller(&ctx)?, &id).await?;
    Ok(Json(json!({ "draw": d })))
}

#[utoipa::path(
    post,
    path = "/api/v1/draws/{id}/supervisor-input",
    tag = "draws",
    summary = "The supervisor's own random input; the draw runs right after it",
    params(("id" = String, Path, description = "Draw id")),
    request_body = SupervisorInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::DrawAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn supervisor_input(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<SupervisorInput>,
) -> ApiResult<impl IntoResponse> {
    let d = service::enter_supervisor_input(
        &state.db,
        state.notifier.as_ref(),
        state.clock.now(),
        &caller(&ctx)?,
        &id,
        &input.input,
    )
    .await?;
    Ok(Json(json!({ "draw": d })))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/draws/reveal",
    tag = "draws",
    summary = "After the award: reveal the draw secrets and names so anyone can replay the draws",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Revealed),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn reveal(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let n = service::reveal_draws(&state.db, state.clock.now(), &caller(&ctx)?, &code).await?;
    Ok(Json(json!({ "revealed": n })))
}

#[utoipa::path(
    get,
    path = "/api/v1/draws/{id}/public",
    tag = "draws",
    summary = "The public replay record after the reveal (secret, supervisor input, audit root, eligible pool)",
    params(("id" = String, Path, description = "Draw id")),
    responses(
        (status = 200, description = "OK", body = crate::expert::service::PublicDrawRecord),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn public_record(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let r = service::public_record(&state.db, &id).await?;
    Ok(Json(r))
}

#[utoipa::path(
    get,
    path = "/api/v1/expert/assignments",
    tag = "draws",
    summary = "The calling expert's draws and their state",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Assignments),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_assignments(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let a = service::my_assignments(&state.db, state.clock.now(), &caller(&ctx)?).await?;
    Ok(Json(json!({ "assignments": a })))
}

#[utoipa::path(
    post,
    path = "/api/v1/expert/assignments/{draw_id}/confirm",
    tag = "draws",
    summary = "Confirm an assignment within the window",
    params(("draw_id" = String, Path, description = "Draw id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::AssignmentState),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn confirm(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(draw_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    service::respond(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &draw_id,
        true,
        None,
    )
    .await?;
    Ok(Json(json!({ "state": "confirmed" })))
}

#[utoipa::path(
    post,
    path = "/api/v1/expert/assignments/{draw_id}/decline",
    tag = "draws",
    summary = "Decline an assignment; a replacement is drawn the same way",
    params(("draw_id" = String, Path, description = "Draw id")),
    request_body = DeclineInput,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::AssignmentState),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn decline(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(draw_id): Path<String>,
    ApiJson(input): ApiJson<DeclineInput>,
) -> ApiResult<impl IntoResponse> {
    service::respond(
        &state.db,
        state.clock.now(),
        &caller(&ctx)?,
        &draw_id,
        false,
        input.reason.as_deref(),
    )
    .await?;
    Ok(Json(json!({ "state": "declined" })))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/checkin/start",
    tag = "draws",
    summary = "Start a passkey check-in (drawn and confirmed expert, inside the window)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Ceremony),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn checkin_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let (ceremony_id, options) =
        checkin::start_checkin((&state).into(), &caller(&ctx)?, &code).await?;
    Ok(Json(
        json!({ "ceremony_id": ceremony_id, "options": options }),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/checkin/finish",
    tag = "draws",
    summary = "Finish a passkey check-in with a user-verified assertion",
    params(("code" = String, Path, description = "Project code")),
    request_body = FinishCheckin,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::CheckinAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn checkin_finish(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<FinishCheckin>,
) -> ApiResult<impl IntoResponse> {
    let r = checkin::finish_checkin((&state).into(), &caller(&ctx)?, &code, req).await?;
    Ok((StatusCode::CREATED, Json(json!({ "checkin": r }))))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/checkin/emergency",
    tag = "draws",
    summary = "A supervisor records an emergency check-in with a written reason",
    params(("code" = String, Path, description = "Project code")),
    request_body = EmergencyCheckin,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::CheckinAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn checkin_emergency(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(req): ApiJson<EmergencyCheckin>,
) -> ApiResult<impl IntoResponse> {
    let r = checkin::emergency_checkin(&state.db, state.clock.now(), &caller(&ctx)?, &code, &req)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "checkin": r }))))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/committee",
    tag = "draws",
    summary = "The committee's confirmation and check-in status; ready when complete",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::CommitteeAnswer),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn committee(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let c = checkin::committee(&state.db, state.clock.now(), &caller(&ctx)?, &code).await?;
    Ok(Json(json!({ "committee": c })))
}

/// The expert API.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/experts", get(list_experts).post(add_expert))
        .route("/api/v1/experts/import", post(import_csv))
        .route("/api/v1/experts/me", get(my_profile).put(edit_my_profile))
        .route("/api/v1/experts/{id}", get(get_expert).put(edit_expert))
        .route("/api/v1/experts/{id}/suspend", post(suspend))
        .route("/api/v1/experts/{id}/bar", post(bar))
        .route("/api/v1/experts/{id}/reinstate", post(reinstate))
        .route("/api/v1/specialties", get(specialties))
        .route(
            "/api/v1/tenders/{code}/draws",
            get(list_draws).post(request_draw),
        )
        .route("/api/v1/tenders/{code}/draws/reveal", post(reveal))
        .route("/api/v1/tenders/{code}/committee", get(committee))
        .route("/api/v1/tenders/{code}/checkin/start", post(checkin_start))
        .route(
            "/api/v1/tenders/{code}/checkin/finish",
            post(checkin_finish),
        )
        .route(
            "/api/v1/tenders/{code}/checkin/emergency",
            post(checkin_emergency),
        )
        .route("/api/v1/draws/{id}", get(get_draw))
        .route(
            "/api/v1/draws/{id}/supervisor-input",
            post(supervisor_input),
        )
        .route("/api/v1/draws/{id}/public", get(public_record))
        .route("/api/v1/expert/assignments", get(my_assignments))
        .route(
            "/api/v1/expert/assignments/{draw_id}/confirm",
            post(confirm),
        )
        .route(
            "/api/v1/expert/assignments/{draw_id}/decline",
            post(decline),
        )
}
