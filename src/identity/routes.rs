//! JSON API for identity: login, self-registration, organisations and users.

use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::Caller;
use super::model::{Role, UserView};
use super::service::{self, IdentityError, NewOrg, NewUser, RegisterCompany};
use crate::http::{ApiJson, ApiResult, AppState, Ctx};

/// Login request body.
// No `Debug`: it carries a password, which must never reach a log.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Login name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// Rate-limits, authenticates and issues a session token; shared by the API and the page.
pub async fn login_flow(
    state: &AppState,
    ctx: &Ctx,
    username: &str,
    password: String,
) -> ApiResult<(String, UserView)> {
    if let Err(wait) = state
        .login_limiter
        .check(username, ctx.client_ip.as_deref(), state.clock.now())
        .await
    {
        tracing::warn!(username, ip = ?ctx.client_ip, "login rate limited");
        return Err(IdentityError::RateLimited(wait).into());
    }
    let user = service::authenticate(&state.db, username, password)
        .await
        .inspect_err(|e| {
            tracing::info!(username, ip = ?ctx.client_ip, reason = %e, "login refused");
        })?;
    let token =
        super::session_store::open(&state.db, &state.sessions, state.clock.now(), &user).await?;
    Ok((token, user))
}

#[utoipa::path(
    post,
    path = "/api/v1/auth/login",
    tag = "identity",
    summary = "Log in with a password; returns a Bearer token",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::LoginAnswer),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn login(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<impl IntoResponse> {
    let (token, user) = login_flow(&state, &ctx, &req.username, req.password).await?;
    Ok(Json(json!({
        "token": token,
        "token_type": "Bearer",
        "expires_in": state.sessions.lifetime_secs(),
        "user": user,
    })))
}

/// `POST /api/v1/auth/logout`: ends the caller's session on the server.
#[utoipa::path(
    post,
    path = "/api/v1/auth/logout",
    tag = "identity",
    summary = "Log out: the caller's session is revoked on the server, its token stops working",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::LoggedOut),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn logout(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    ctx.user()?;
    let sid = ctx.session_id.as_deref().unwrap_or_default();
    if !super::session_store::logout(&state.db, state.clock.now(), &ctx.actor(), sid).await? {
        // Only a request racing another logout of the same session gets here.
        return Err(crate::http::ApiError::unauthorized(
            "SESSION_REVOKED",
            "this session has ended, please log in again / 登录已失效，请重新登录",
        ));
    }
    Ok(Json(json!({"logged_out": true})))
}

/// Password change request body.
// No `Debug`: it carries passwords.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    /// The password now.
    pub current_password: String,
    /// The new password.
    pub new_password: String,
}

/// `POST /api/v1/me/password`: every session of the caller's, this one included, ends.
#[utoipa::path(
    post,
    path = "/api/v1/me/password",
    tag = "identity",
    summary = "Change one's own password; every session of the caller's is revoked (log in again)",
    request_body = PasswordChange,
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::PasswordChanged),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<PasswordChange>,
) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    // The current password is a password check like a login's, so it shares the limit.
    state
        .login_limiter
        .check(&user.user_id, ctx.client_ip.as_deref(), state.clock.now())
        .await
        .map_err(IdentityError::RateLimited)?;
    let revoked = service::change_password(
        &state.db,
        state.clock.now(),
        &Caller::from_ctx(&ctx)?,
        req.current_password,
        req.new_password,
    )
    .await?;
    Ok(Json(json!({"sessions_revoked": revoked})))
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "identity",
    summary = "The logged-in user",
    responses(
        (status = 200, description = "OK", body = UserView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn me(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    Ok(Json(service::get_user(&state.db, &user.user_id).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/companies",
    tag = "identity",
    summary = "A bidder company registers itself with its first user (pending approval)",
    request_body = RegisterCompany,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::CompanyRegistered),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn register(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<RegisterCompany>,
) -> ApiResult<impl IntoResponse> {
    let (org_id, user_id) =
        service::register_company(&state.db, state.clock.now(), &ctx.actor(), req).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"org_id": org_id, "user_id": user_id, "status": "pending"})),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/organisations",
    tag = "identity",
    summary = "All organisations (operator, regulator)",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Organisations),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_orgs(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator, Role::Regulator])?;
    Ok(Json(
        json!({"organisations": service::list_orgs(&state.db).await?}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations",
    tag = "identity",
    summary = "Create an organisation (operator)",
    request_body = NewOrg,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::OrgCreated),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn create_org(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<NewOrg>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    let org_id = service::create_org(&state.db, state.clock.now(), &ctx.actor(), req).await?;
    Ok((StatusCode::CREATED, Json(json!({"org_id": org_id}))))
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations/{org_id}/approve",
    tag = "identity",
    summary = "Approve a pending company (operator)",
    params(("org_id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::OrgDecided),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn approve_org(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    service::decide_org(
        &state.db,
        state.clock.now(),
        &Caller::from_ctx(&ctx)?,
        &org_id,
        true,
    )
    .await?;
    Ok(Json(json!({"org_id": org_id, "status": "active"})))
}

#[utoipa::path(
    post,
    path = "/api/v1/organisations/{org_id}/reject",
    tag = "identity",
    summary = "Reject a pending company (operator)",
    params(("org_id" = String, Path, description = "Organisation id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::OrgDecided),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn reject_org(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    service::decide_org(
        &state.db,
        state.clock.now(),
        &Caller::from_ctx(&ctx)?,
        &org_id,
        false,
    )
    .await?;
    Ok(Json(json!({"org_id": org_id, "status": "rejected"})))
}

#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "identity",
    summary = "All users (operator, regulator)",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Users),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn list_users(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator, Role::Regulator])?;
    Ok(Json(
        json!({"users": service::list_users(&state.db).await?}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "identity",
    summary = "Create a user (operator)",
    request_body = NewUser,
    responses(
        (status = 201, description = "Created", body = crate::http::openapi::answers::UserCreated),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<NewUser>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    let user_id = service::create_user(&state.db, state.clock.now(), &ctx.actor(), req).await?;
    Ok((StatusCode::CREATED, Json(json!({"user_id": user_id}))))
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{user_id}/disable",
    tag = "identity",
    summary = "Disable a user (operator)",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::UserStatus),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn disable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(user_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    service::set_user_status(
        &state.db,
        state.clock.now(),
        &Caller::from_ctx(&ctx)?,
        &user_id,
        false,
    )
    .await?;
    Ok(Json(json!({"user_id": user_id, "status": "disabled"})))
}

#[utoipa::path(
    post,
    path = "/api/v1/users/{user_id}/enable",
    tag = "identity",
    summary = "Enable a user (operator)",
    params(("user_id" = String, Path, description = "User id")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::UserStatus),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn enable_user(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(user_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    ctx.require(&[Role::Operator])?;
    service::set_user_status(
        &state.db,
        state.clock.now(),
        &Caller::from_ctx(&ctx)?,
        &user_id,
        true,
    )
    .await?;
    Ok(Json(json!({"user_id": user_id, "status": "active"})))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/password", post(change_password))
        .route("/api/v1/companies", post(register))
        .route("/api/v1/organisations", get(list_orgs).post(create_org))
        .route("/api/v1/organisations/{org_id}/approve", post(approve_org))
        .route("/api/v1/organisations/{org_id}/reject", post(reject_org))
        .route("/api/v1/users", get(list_users).post(create_user))
        .route("/api/v1/users/{user_id}/disable", post(disable_user))
        .route("/api/v1/users/{user_id}/enable", post(enable_user))
}
