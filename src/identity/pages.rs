//! Pages for logging in, bidder registration and the operator's approvals and users.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderValue;
use axum::http::header::{RETRY_AFTER, SET_COOKIE};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::Caller;
use super::model::{OrgKind, OrgView, Role, UserView};
use super::routes::login_flow;
use super::service::{self, NewOrg, NewUser, RegisterCompany};
use crate::http::ctx::SESSION_COOKIE;
use crate::http::page::{Base, OrPage, PageResult, render, require_page};
use crate::http::{ApiForm, AppState, Ctx};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    base: Base,
    error: Option<String>,
    username: String,
}

#[derive(Template)]
#[template(path = "register.html")]
struct RegisterPage {
    base: Base,
    error: Option<String>,
    done: bool,
}

#[derive(Template)]
#[template(path = "operator.html")]
struct OperatorPage {
    base: Base,
    error: Option<String>,
    orgs: Vec<OrgView>,
    users: Vec<UserView>,
}

#[derive(Deserialize)]
struct LoginForm {
    #[allow(dead_code)]
    csrf: String,
    username: String,
    password: String,
}

async fn login_page(ctx: Ctx) -> Response {
    render(&LoginPage {
        base: Base::new(&ctx),
        error: None,
        username: String::new(),
    })
}

/// The `Set-Cookie` value carrying a session token (an empty token and 0 log out).
pub(crate) fn session_cookie(state: &AppState, token: &str, max_age: i64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if state.config.secure_cookies() {
            "; Secure"
        } else {
            ""
        }
    )
}

async fn login_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(form): ApiForm<LoginForm>,
) -> Response {
    match login_flow(&state, &ctx, form.username.trim(), form.password).await {
        Ok((token, user)) => {
            let home = match Role::parse(&user.role) {
                Some(Role::Agent) => "/agent",
                Some(Role::Operator) => "/operator",
                Some(Role::Regulator) => "/supervision",
                _ => "/",
            };
            let cookie = session_cookie(&state, &token, state.sessions.lifetime_secs());
            ([(SET_COOKIE, cookie)], Redirect::to(home)).into_response()
        }
        Err(e) => {
            let mut resp = render(&LoginPage {
                base: Base::new(&ctx),
                error: Some(e.message),
                username: form.username,
            });
            *resp.status_mut() = e.status;
            if let Some(secs) = e.retry_after {
                resp.headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(secs));
            }
            resp
        }
    }
}

/// Ends the cookie's session on the server too, so a copy of the cookie stops working.
async fn logout(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    if let Some(sid) = &ctx.session_id {
        super::session_store::logout(&state.db, state.clock.now(), &ctx.actor(), sid)
            .await
            .or_page(&ctx)?;
    }
    Ok((
        [(SET_COOKIE, session_cookie(&state, "", 0))],
        Redirect::to("/"),
    )
        .into_response())
}

async fn register_page(ctx: Ctx) -> Response {
    render(&RegisterPage {
        base: Base::new(&ctx),
        error: None,
        done: false,
    })
}

#[derive(Deserialize)]
struct RegisterForm {
    #[allow(dead_code)]
    csrf: String,
    company_name: String,
    uscc: String,
    username: String,
    display_name: String,
    password: String,
}

async fn register_submit(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(f): ApiForm<RegisterForm>,
) -> Response {
    let req = RegisterCompany {
        company_name: f.company_name,
        uscc: f.uscc,
        username: f.username.trim().to_string(),
        display_name: f.display_name,
        password: f.password,
    };
    match service::register_company(&state.db, state.clock.now(), &ctx.actor(), req).await {
        Ok(_) => render(&RegisterPage {
            base: Base::new(&ctx),
            error: None,
            done: true,
        }),
        Err(e) => {
            let e: crate::http::ApiError = e.into();
            let mut resp = render(&RegisterPage {
                base: Base::new(&ctx),
                error: Some(e.message),
                done: false,
            });
            *resp.status_mut() = e.status;
            resp
        }
    }
}

async fn operator_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let orgs = service::list_orgs(&state.db).await.or_page(&ctx)?;
    let users = service::list_users(&state.db).await.or_page(&ctx)?;
    Ok(render(&OperatorPage {
        base: Base::new(&ctx),
        error: None,
        orgs,
        users,
    }))
}

async fn approve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(org_id): Path<String>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    service::decide_org(&state.db, state.clock.now(), &caller, &org_id, true)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/operator").into_response())
}

async fn reject(State(state): State<AppState>, ctx: Ctx, Path(org_id): Path<String>) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    service::decide_org(&state.db, state.clock.now(), &caller, &org_id, false)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/operator").into_response())
}

#[derive(Deserialize)]
struct OrgForm {
    #[allow(dead_code)]
    csrf: String,
    kind: OrgKind,
    name: String,
    #[serde(default)]
    uscc: String,
}

async fn create_org(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(f): ApiForm<OrgForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let req = NewOrg {
        kind: f.kind,
        name: f.name,
        uscc: Some(f.uscc).filter(|s| !s.trim().is_empty()),
    };
    service::create_org(&state.db, state.clock.now(), &ctx.actor(), req)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/operator").into_response())
}

#[derive(Deserialize)]
struct UserForm {
    #[allow(dead_code)]
    csrf: String,
    username: String,
    display_name: String,
    role: Role,
    #[serde(default)]
    org_id: String,
    password: String,
}

async fn create_user(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiForm(f): ApiForm<UserForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let req = NewUser {
        username: f.username.trim().to_string(),
        display_name: f.display_name,
        role: f.role,
        org_id: Some(f.org_id).filter(|s| !s.is_empty()),
        password: f.password,
    };
    service::create_user(&state.db, state.clock.now(), &ctx.actor(), req)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/operator").into_response())
}

async fn set_status(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((user_id, action)): Path<(String, String)>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let active = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => {
            return Err(crate::http::page::PageError::new(
                &ctx,
                crate::http::ApiError::not_found("action"),
            ));
        }
    };
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    service::set_user_status(&state.db, state.clock.now(), &caller, &user_id, active)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to("/operator").into_response())
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/register", get(register_page).post(register_submit))
        .route("/operator", get(operator_page))
        .route("/operator/orgs", post(create_org))
        .route("/operator/orgs/{org_id}/approve", post(approve))
        .route("/operator/orgs/{org_id}/reject", post(reject))
        .route("/operator/users", post(create_user))
        .route("/operator/users/{user_id}/{action}", post(set_status))
}
