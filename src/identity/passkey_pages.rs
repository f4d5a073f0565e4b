//! Pages for passkeys: "my passkeys" (register, list, remove) and the cookie-setting end of
//! a passkey login from the login page. The WebAuthn calls themselves run in
//! `web/static/passkey.js` against the JSON API of [`super::passkey_routes`].

use super::pages::session_cookie;
use askama::Template;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header::SET_COOKIE;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::Role;
use super::passkey::{self, PasskeyView};
use super::passkey_routes::{FinishAssertion, passkey_login_flow};
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiForm, ApiJson, ApiResult, AppState, Ctx};

#[derive(Template)]
#[template(path = "passkeys.html")]
struct PasskeysPage {
    base: Base,
    passkeys: Vec<PasskeyView>,
    /// Experts must have one; the page says so while they have none.
    must_register: bool,
    /// Why passkeys cannot be used here (an IP-address public URL), if so.
    unavailable: Option<String>,
}

impl PasskeysPage {
    fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        self.base.when(t)
    }
}

async fn passkeys_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let user = ctx.user().or_page(&ctx)?;
    let passkeys = passkey::list_passkeys(&state.db, &user.user_id)
        .await
        .or_page(&ctx)?;
    let unavailable = passkey::webauthn(&state.config)
        .err()
        .map(|e| e.to_string());
    Ok(render(&PasskeysPage {
        must_register: user.role == Role::Expert && passkeys.is_empty(),
        base: Base::new(&ctx),
        passkeys,
        unavailable,
    }))
}

#[derive(Deserialize)]
struct RemoveForm {
    #[allow(dead_code)]
    csrf: String,
}

async fn remove_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(passkey_id): Path<String>,
    ApiForm(_form): ApiForm<RemoveForm>,
) -> PageResult {
    let user = ctx.user().or_page(&ctx)?;
    passkey::remove_passkey(&state, &ctx.actor(), &user.user_id, &passkey_id)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/passkeys").into_response())
}

/// `POST /login/passkey`: the login page's script sends the assertion here (JSON, with the
/// CSRF header) and gets the session as an HttpOnly cookie, which script cannot read, plus
/// where to go next.
async fn login_with_passkey(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(req): ApiJson<FinishAssertion>,
) -> ApiResult<Response> {
    let (token, login) = passkey_login_flow(&state, &ctx, req).await?;
    let home = match Role::parse(&login.user.role) {
        Some(Role::Agent) => "/agent",
        Some(Role::Operator) => "/operator",
        _ => "/",
    };
    let cookie = session_cookie(&state, &token, state.sessions.lifetime_secs());
    Ok((
        [(SET_COOKIE, cookie)],
        Json(json!({"redirect": home, "user": login.user})),
    )
        .into_response())
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/passkeys", get(passkeys_page))
        .route("/passkeys/{passkey_id}/remove", post(remove_passkey))
        .route("/login/passkey", post(login_with_passkey))
}
