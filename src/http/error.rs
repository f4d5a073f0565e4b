//! The one mapping from errors to HTTP: every error body is
//! `{"code": "STABLE_CODE", "message": "…"}`, and a 5xx says nothing internal.

use axum::Json;
use axum::body::Body;
use axum::extract::Request;
use axum::extract::rejection::{FormRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::header::{CONTENT_LANGUAGE, CONTENT_LENGTH, RETRY_AFTER};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use serde_json::json;

use crate::error::{Coded, Kind};

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// Message a person understands (Chinese and English where it matters).
    pub message: String,
    /// Optional structured details (e.g. every violated rule).
    pub details: Option<serde_json::Value>,
    /// Seconds to wait, sent as `Retry-After` (every 429 has one; 60 when not set).
    pub retry_after: Option<u64>,
}

/// Result alias for handlers and services that speak HTTP.
pub type ApiResult<T, E = ApiError> = Result<T, E>;

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            retry_after: None,
        }
    }

    /// Sets the `Retry-After` seconds.
    pub fn with_retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Adds details.
    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// 400.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 401.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    /// 404.
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            format!("{what} not found / 未找到"),
        )
    }

    /// 409.
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    /// 422.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500 with the cause logged, never returned.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error / 服务器内部错误",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "message": self.message });
        if let Some(d) = self.details {
            body["details"] = d;
        }
        let mut resp = (self.status, Json(body.clone())).into_response();
        // The body again, for `localise` to answer in the caller's language.
        resp.extensions_mut().insert(ErrorBody(body));
        let retry_after = match (self.retry_after, self.status) {
            (Some(secs), _) => Some(secs),
            // A client told "too many" must also be told when to come back.
            (None, StatusCode::TOO_MANY_REQUESTS) => Some(60),
            (None, _) => None,
        };
        if let Some(secs) = retry_after {
            resp.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

/// An error response's JSON body, kept in the response's extensions.
#[derive(Clone, Debug)]
struct ErrorBody(serde_json::Value);

/// Middleware: an error's message in the language the caller asked for (`?lang=`, the
/// `lang` cookie, `Accept-Language`), or in both when nothing says which.
pub async fn localise(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let jar = CookieJar::from_headers(&parts.headers);
    let lang = super::i18n::requested(&parts, &jar);
    let mut resp = next.run(Request::from_parts(parts, body)).await;
    let (Some(lang), Some(ErrorBody(mut body))) = (lang, resp.extensions_mut().remove()) else {
        return resp;
    };
    if let Some(message) = body["message"].as_str() {
        body["message"] = crate::i18n::pick(message, lang).into();
    }
    let (mut parts, _) = resp.into_parts();
    parts.headers.remove(CONTENT_LENGTH);
    parts
        .headers
        .insert(CONTENT_LANGUAGE, HeaderValue::from_static(lang.code()));
    Response::from_parts(parts, Body::from(body.to_string()))
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        // An unreachable database is a 503 with Retry-After, anything else a 500.
        ApiError::from(crate::store::StoreError::from(e))
    }
}

/// The one mapping from a domain failure's kind to an HTTP status.
pub fn status_of(kind: Kind) -> StatusCode {
    match kind {
        Kind::Unauthenticated => StatusCode::UNAUTHORIZED,
        Kind::Forbidden => StatusCode::FORBIDDEN,
        Kind::NotFound => StatusCode::NOT_FOUND,
        Kind::BadRequest => StatusCode::BAD_REQUEST,
        Kind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        Kind::Conflict => StatusCode::CONFLICT,
        Kind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Kind::TooMany => StatusCode::TOO_MANY_REQUESTS,
        Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl<E: Coded> From<E> for ApiError {
    fn from(e: E) -> Self {
        if e.kind() == Kind::Internal {
            return ApiError::internal(&e);
        }
        let mut api = ApiError::new(status_of(e.kind()), e.code(), e.to_string());
        api.details = e.details();
        // A 503 always says when to come back (RFC 9110 §10.2.3), even from a feature
        // error that wraps the unavailable dependency without saying so itself.
        api.retry_after = e
            .retry_after()
            .or((e.kind() == Kind::Unavailable).then_some(5));
        api
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
                "MALFORMED_JSON",
                format!("request body is not valid JSON: {}", e.body_text()),
            ),
            JsonRejection::JsonDataError(e) => ApiError::unprocessable(
                "INVALID_FIELDS",
                format!(
                    "request body has invalid or unknown fields: {}",
                    e.body_text()
                ),
            ),
            JsonRejection::MissingJsonContentType(_) => ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "JSON_CONTENT_TYPE_REQUIRED",
                "send the body as application/json",
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
            other => ApiError::bad_request("BAD_BODY", other.body_text()),
        }
    }
}

/// 413 for a body over the route's limit.
fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
        "the request body is too large / 请求内容过大",
    )
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::bad_request(
            "INVALID_PATH",
            format!("invalid path parameter: {}", r.body_text()),
        )
    }
}

impl From<FormRejection> for ApiError {
    fn from(r: FormRejection) -> Self {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            return too_large();
        }
        ApiError::unprocessable(
            "INVALID_FORM",
            format!("the form is incomplete or invalid: {}", r.body_text()),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::bad_request(
            "INVALID_QUERY",
            format!("invalid query parameters: {}", r.body_text()),
        )
    }
}

/// The router's fallback: an unknown API route is a JSON 404, an unknown page an HTML one.
pub async fn not_found(ctx: Result<super::Ctx, ApiError>, uri: axum::http::Uri) -> Response {
    let err = ApiError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("no such address: {} / 地址不存在", uri.path()),
    );
    error_for(&ctx, &uri, err)
}

/// The router's answer to a known route called with a method it does not serve.
pub async fn method_not_allowed(
    ctx: Result<super::Ctx, ApiError>,
    uri: axum::http::Uri,
) -> Response {
    let err = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
        "this address does not accept this method / 该地址不支持此请求方法",
    );
    error_for(&ctx, &uri, err)
}

/// A wrong address or method is answered as such whoever asks: an expired or revoked token
/// must not turn a 404 or 405 into a 401 (the route does not exist for anyone).
fn error_for(ctx: &Result<super::Ctx, ApiError>, uri: &axum::http::Uri, err: ApiError) -> Response {
    match ctx {
        Ok(ctx) if !uri.path().starts_with("/api/") => {
            super::page::PageError::new(ctx, err).into_response()
        }
        _ => err.into_response(),
    }
}
