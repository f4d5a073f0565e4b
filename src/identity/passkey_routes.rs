//! JSON API for passkeys: register, list, remove, and log in with one (DESIGN.md "Check-in").
//! The ceremony logic lives in [`super::passkey`]; these handlers parse, authorise and map.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::passkey::{self, PasskeyLogin};
use crate::http::{ApiJson, ApiResult, AppState, Ctx};

/// The HTTP layer passes its state to the passkey functions as it is.
impl<'a> From<&'a AppState> for passkey::Passkeys<'a> {
    fn from(state: &'a AppState) -> Self {
        passkey::Passkeys {
            db: &state.db,
            config: &state.config,
            now: state.clock.now(),
        }
    }
}

/// `POST /api/v1/passkeys/register/finish`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    /// The id returned by `register/start`.
    pub ceremony_id: String,
    /// What `navigator.credentials.create` returned, binary fields as base64url.
    pub credential: Value,
    /// A label for the passkey ("work laptop").
    #[serde(default)]
    pub name: Option<String>,
}

/// `POST /api/v1/passkeys/login/start`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartLogin {
    /// Login name.
    pub username: String,
}

/// `POST /api/v1/passkeys/login/finish` (and the page's `POST /login/passkey`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FinishAssertion {
    /// The id returned by `login/start`.
    pub ceremony_id: String,
    /// What `navigator.credentials.get` returned, binary fields as base64url.
    pub credential: Value,
}

#[utoipa::path(
    post,
    path = "/api/v1/passkeys/register/start",
    tag = "passkeys",
    summary = "Start registering a passkey (user verification required)",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Ceremony),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn start_registration(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    let (ceremony_id, options) = passkey::start_registration(&state, &user.user_id).await?;
    Ok(Json(
        json!({"ceremony_id": ceremony_id, "options": options}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/passkeys/register/finish",
    tag = "passkeys",
    summary = "Finish registering a passkey",
    request_body = FinishRegistration,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::PasskeyRegistered),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn finish_registration(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<FinishRegistration>,
) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    let credential = passkey::parse_registration(req.credential)?;
    let view = passkey::finish_registration(
        &state,
        &ctx.actor(),
        &user.user_id,
        &req.ceremony_id,
        &credential,
        req.name,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({"passkey": view}))))
}

#[utoipa::path(
    get,
    path = "/api/v1/passkeys",
    tag = "passkeys",
    summary = "The caller's passkeys (no key material)",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Passkeys),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_passkeys(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    let passkeys = passkey::list_passkeys(&state.db, &user.user_id).await?;
    Ok(Json(json!({
        "passkeys": passkeys,
        "enabled": passkey::enabled(&state.config),
    })))
}

#[utoipa::path(
    delete,
    path = "/api/v1/passkeys/{passkey_id}",
    tag = "passkeys",
    summary = "Remove one of the caller's passkeys",
    params(("passkey_id" = String, Path, description = "Passkey id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::PasskeyRemoved),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn remove_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(passkey_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    passkey::remove_passkey(&state, &ctx.actor(), &user.user_id, &passkey_id).await?;
    Ok(Json(json!({"passkey_id": passkey_id, "removed": true})))
}

#[utoipa::path(
    post,
    path = "/api/v1/passkeys/login/start",
    tag = "passkeys",
    summary = "Start a passkey login",
    request_body = StartLogin,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Ceremony),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn start_login(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<StartLogin>,
) -> ApiResult<impl IntoResponse> {
    let (ceremony_id, options) = passkey::start_login(
        &state,
        &state.login_limiter,
        req.username.trim(),
        ctx.client_ip.as_deref(),
    )
    .await?;
    Ok(Json(
        json!({"ceremony_id": ceremony_id, "options": options}),
    ))
}

/// Verifies a login assertion and issues a session token; shared by the API and the page.
pub async fn passkey_login_flow(
    state: &AppState,
    ctx: &Ctx,
    req: FinishAssertion,
) -> ApiResult<(String, PasskeyLogin)> {
    let credential = passkey::parse_assertion(req.credential)?;
    let login = passkey::finish_login(state, &ctx.actor(), &req.ceremony_id, &credential).await?;
    let token =
        super::session_store::open(&state.db, &state.sessions, state.clock.now(), &login.user)
            .await?;
    Ok((token, login))
}

#[utoipa::path(
    post,
    path = "/api/v1/passkeys/login/finish",
    tag = "passkeys",
    summary = "Finish a passkey login; returns a session token",
    request_body = FinishAssertion,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::PasskeyLoggedIn),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn finish_login(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<FinishAssertion>,
) -> ApiResult<impl IntoResponse> {
    let (token, login) = passkey_login_flow(&state, &ctx, req).await?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": state.sessions.lifetime_secs(),
        "user": login.user,
        "passkey_id": login.assertion.passkey_id,
    })))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/passkeys", get(list_passkeys))
        .route("/api/v1/passkeys/{passkey_id}", delete(remove_passkey))
        .route("/api/v1/passkeys/register/start", post(start_registration))
        .route(
            "/api/v1/passkeys/register/finish",
            post(finish_registration),
        )
        .route("/api/v1/passkeys/login/start", post(start_login))
        .route("/api/v1/passkeys/login/finish", post(finish_login))
}
