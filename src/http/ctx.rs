//! The request context every handler extracts: who is asking (from a Bearer token or the
//! session cookie), from where, in which language, under which request id.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;
use std::net::SocketAddr;

use super::i18n::Lang;
use super::{ApiError, AppState, REQUEST_ID};
use crate::audit::Actor;
use crate::identity::Role;
use crate::identity::session::TokenError;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sunbid_session";
/// The CSRF double-submit cookie's name.
pub const CSRF_COOKIE: &str = "sunbid_csrf";

/// An authenticated user.
#[derive(Clone, Debug)]
pub struct SessionUser {
    /// User id.
    pub user_id: String,
    /// Role.
    pub role: Role,
    /// Organisation.
    pub org_id: Option<String>,
    /// Display name.
    pub name: String,
}

/// Who, from where, and how to answer.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// Correlation id (also in the response header and the audit event).
    pub request_id: String,
    /// Client IP address.
    pub client_ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// The logged-in user, if any.
    pub user: Option<SessionUser>,
    /// Page language.
    pub lang: Lang,
    /// The CSRF token to embed in forms (empty when the browser has none yet).
    pub csrf: String,
}

impl Ctx {
    /// The audit actor for this request.
    pub fn actor(&self) -> Actor {
        Actor {
            user_id: self.user.as_ref().map(|u| u.user_id.clone()),
            role: self.user.as_ref().map(|u| u.role.as_str().to_string()),
            request_id: Some(self.request_id.clone()),
            client_ip: self.client_ip.clone(),
        }
    }

    /// The user, or 401 when nobody is logged in.
    pub fn user(&self) -> Result<&SessionUser, ApiError> {
        self.user.as_ref().ok_or_else(|| {
            ApiError::unauthorized("LOGIN_REQUIRED", "please log in first / 请先登录")
        })
    }

    /// The user if their role is one of `roles`, else 401/403.
    pub fn require(&self, roles: &[Role]) -> Result<&SessionUser, ApiError> {
        let user = self.user()?;
        if roles.contains(&user.role) {
            Ok(user)
        } else {
            let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::forbidden(format!(
                "this action needs the role {} (you are {}) / 当前角色无权执行此操作",
                names.join(" or "),
                user.role.as_str()
            )))
        }
    }
}

async fn still_active(state: &AppState, user_id: &str) -> Result<bool, ApiError> {
    let mut tx = state.db.read().await?;
    let row: Option<(String,)> = crate::q_opt!(
        tx,
        (String,),
        "select status from app_user where user_id = $1",
        user_id.to_string()
    )?;
    Ok(row.is_some_and(|(s,)| s == "active"))
}

fn client_ip(parts: &Parts, trust_proxy: bool) -> Option<String> {
    if trust_proxy
        && let Some(first) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
    {
        let ip = first.trim();
        if ip.parse::<std::net::IpAddr>().is_ok() {
            return Some(ip.to_string());
        }
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let request_id = parts
            .headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let user_agent = parts
            .headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect());

        // A Bearer token that is present but bad is an error; a stale cookie only means
        // "not logged in", so an expired session never breaks the public pages.
        let bearer = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.strip_prefix("Bearer ").map(str::trim).unwrap_or(""));
        let now = state.clock.now();
        let claims = match bearer {
            Some(token) => Some(state.sessions.verify(token, now).map_err(|e| match e {
                TokenError::Expired => ApiError::unauthorized("SESSION_EXPIRED", e.to_string()),
                TokenError::Invalid => ApiError::unauthorized("SESSION_INVALID", e.to_string()),
            })?),
            None => jar
                .get(SESSION_COOKIE)
                .and_then(|c| state.sessions.verify(c.value(), now).ok()),
        };
        let user = claims.and_then(|c| {
            Role::parse(&c.role).map(|role| SessionUser {
                user_id: c.sub,
                role,
                org_id: c.org,
                name: c.name,
            })
        });
        // A token outlives an operator's decision to disable its user; one primary-key
        // look-up per authenticated request makes the decision take effect at once.
        let user = match user {
            Some(u) if !still_active(state, &u.user_id).await? => {
                if bearer.is_some() {
                    return Err(ApiError::unauthorized(
                        "ACCOUNT_DISABLED",
                        "this account is disabled / 该账号已停用",
                    ));
                }
                None
            }
            other => other,
        };

        Ok(Ctx {
            request_id,
            client_ip: client_ip(parts, state.config.trust_proxy),
            user_agent,
            user,
            lang: Lang::from_request(parts, &jar),
            csrf: jar
                .get(CSRF_COOKIE)
                .map(|c| c.value().to_string())
                .or_else(|| {
                    parts
                        .extensions
                        .get::<super::csrf::FreshToken>()
                        .map(|t| t.0.clone())
                })
                .unwrap_or_default(),
        })
    }
}

/// JSON body extractor whose rejections use the API's error format.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(v) = axum::Json::<T>::from_request(req, state)
            .await
            .map_err(|e: JsonRejection| ApiError::from(e))?;
        Ok(ApiJson(v))
    }
}

/// Query extractor whose rejections use the API's error format.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(v) = axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e: QueryRejection| ApiError::from(e))?;
        Ok(ApiQuery(v))
    }
}

/// Form extractor whose rejections use the API's error format.
pub struct ApiForm<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiForm<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Form(v) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(ApiError::from)?;
        Ok(ApiForm(v))
    }
}
