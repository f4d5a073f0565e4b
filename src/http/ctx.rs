//! The request context every handler extracts: who is asking (from a Bearer token or the
//! session cookie), from where, in which language, under which request id.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
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
use crate::identity::session_store::{self, SessionCheck};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sunbid_session";
/// The CSRF double-submit cookie's name.
pub const CSRF_COOKIE: &str = "sunbid_csrf";

use crate::identity::caller::Caller;
pub use crate::identity::caller::SessionUser;

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
    /// The logged-in user's session (what a logout revokes).
    pub session_id: Option<String>,
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
        Ok(self.user()?.require_role(roles)?)
    }
}

impl Caller {
    /// From the request context; 401 when nobody is logged in.
    pub fn from_ctx(ctx: &Ctx) -> Result<Self, ApiError> {
        let user = ctx.user()?.clone();
        Ok(Self {
            user,
            actor: ctx.actor(),
            user_agent: ctx.user_agent.clone(),
        })
    }
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
        // Already worked out by `login_before_body` for this request: no second look-up.
        if let Some(ctx) = parts.extensions.get::<Ctx>() {
            return Ok(ctx.clone());
        }
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
            Some(token) => Some(state.sessions.verify(token, now)?),
            None => jar
                .get(SESSION_COOKIE)
                .and_then(|c| state.sessions.verify(c.value(), now).ok()),
        };
        let user = claims.and_then(|c| {
            Role::parse(&c.role).map(|role| {
                let user = SessionUser {
                    user_id: c.sub,
                    role,
                    org_id: c.org,
                    name: c.name,
                };
                (user, c.sid)
            })
        });
        // A token outlives a logout, a password change and an operator's decision to disable
        // its user; one primary-key look-up per authenticated request ends it at once.
        let user = match user {
            Some((u, sid)) => match session_store::check(&state.db, &sid, &u.user_id).await? {
                SessionCheck::Active => Some((u, sid)),
                _ if bearer.is_none() => None,
                SessionCheck::UserInactive => {
                    return Err(ApiError::unauthorized(
                        "ACCOUNT_DISABLED",
                        "this account is disabled / 该账号已停用",
                    ));
                }
                SessionCheck::Revoked => {
                    return Err(ApiError::unauthorized(
                        "SESSION_REVOKED",
                        "this session has ended, please log in again / 登录已失效，请重新登录",
                    ));
                }
            },
            None => None,
        };

        Ok(Ctx {
            request_id,
            client_ip: client_ip(parts, state.config.trust_proxy),
            user_agent,
            session_id: user.as_ref().map(|(_, sid)| sid.clone()),
            user: user.map(|(u, _)| u),
            lang: super::i18n::from_request(parts, &jar),
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

/// Path extractor whose rejections use the API's error format (400 `INVALID_PATH`).
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(v) = axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map_err(|e: PathRejection| ApiError::from(e))?;
        Ok(ApiPath(v))
    }
}

/// API calls open to anonymous callers that carry a body; every other API call that may
/// carry one needs a login (the OpenAPI document marks the same ones `security: []`).
const ANONYMOUS_API_WRITES: &[&str] = &[
    "/api/v1/auth/login",
    "/api/v1/companies",
    "/api/v1/passkeys/login/start",
    "/api/v1/passkeys/login/finish",
    // A witness is known by its key, not a login: only a cosignature from a witness key
    // the configuration trusts is kept (C2SP tlog-witness authenticates nothing else).
    "/api/v1/audit/cosignatures",
    // The same for a split-view report: only one signed by a trusted witness key counts.
    "/api/v1/audit/split-views",
];

/// Middleware: an API call that may carry a body and needs a login is refused with 401
/// before its body is read, so an anonymous caller learns nothing from body errors (422
/// for a body nobody would have accepted from them anyway). The context it works out is
/// kept for the handler's own `Ctx`, so the session is still looked up once.
pub async fn login_before_body(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    use axum::response::IntoResponse;
    let path = req.uri().path();
    let needs_login = path.starts_with("/api/")
        // Only the methods the API serves with a body: any other one (TRACE, a made-up
        // verb) is the router's 405 for everyone, logged in or not.
        && matches!(
            *req.method(),
            Method::POST | Method::PUT | Method::PATCH | Method::DELETE
        )
        && !ANONYMOUS_API_WRITES.contains(&path);
    if !needs_login {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let ctx = match Ctx::from_request_parts(&mut parts, &state).await {
        Ok(ctx) => ctx,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = ctx.user() {
        return e.into_response();
    }
    parts.extensions.insert(ctx);
    next.run(Request::from_parts(parts, body)).await
}
