//! Cross-site request forgery protection for everything a browser can be tricked into
//! sending with our cookie: the Origin (and Sec-Fetch-Site) must be ours, and a
//! double-submit token from the `sunbid_csrf` cookie must come back as a form field, an
//! `x-csrf-token` header or a `csrf` query parameter. Bearer-token API calls carry no
//! ambient credentials and skip the token check.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, COOKIE, SET_COOKIE};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;

use super::ctx::{CSRF_COOKIE, SESSION_COOKIE};
use super::{ApiError, AppState};

/// The token minted for a browser that had no CSRF cookie yet (read by [`super::Ctx`]).
#[derive(Clone, Debug)]
pub struct FreshToken(pub String);

const MAX_FORM_BYTES: usize = 1024 * 1024;

fn new_token() -> String {
    let mut bytes = [0u8; 24];
    // SystemRandom only fails when the OS has no entropy source; then the request fails
    // the comparison below rather than running with a predictable token.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    hex::encode(bytes)
}

fn csrf_error(code: &'static str, message: &str) -> Response {
    ApiError::new(axum::http::StatusCode::FORBIDDEN, code, message.to_string()).into_response()
}

fn query_token(req: &Request) -> Option<String> {
    req.uri().query().and_then(|q| {
        url_pairs(q.as_bytes())
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v)
    })
}

fn url_pairs(body: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
        .unwrap_or_default()
        .into_iter()
}

/// What the guard reads from the request head, copied out so no borrow of the request is
/// held across the body read (a borrowed body would make the future non-`Send`).
struct Seen {
    fetch_site: Option<String>,
    origin: Option<String>,
    content_type: String,
    supplied: Option<String>,
    has_session: bool,
}

fn seen(req: &Request) -> Seen {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    Seen {
        fetch_site: header("sec-fetch-site"),
        origin: header("origin"),
        content_type: header(CONTENT_TYPE.as_str()).unwrap_or_default(),
        supplied: header("x-csrf-token").or_else(|| query_token(req)),
        has_session: req.headers().get_all(COOKIE).iter().any(|v| {
            v.to_str()
                .map(|s| s.contains(SESSION_COOKIE))
                .unwrap_or(false)
        }),
    }
}

/// Compares digests rather than the tokens, so the comparison time says nothing about
/// how much of a guessed token was right.
fn tokens_match(cookie: Option<&str>, supplied: Option<&str>) -> bool {
    match (cookie, supplied) {
        (Some(c), Some(s)) if !c.is_empty() => {
            let d = |x: &str| ring::digest::digest(&ring::digest::SHA256, x.as_bytes());
            d(c).as_ref() == d(s).as_ref()
        }
        _ => false,
    }
}

/// The middleware.
pub async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let jar = CookieJar::from_headers(req.headers());
    let cookie_token = jar.get(CSRF_COOKIE).map(|c| c.value().to_string());
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);

    let mut req = req;
    if unsafe_method && !req.headers().contains_key(AUTHORIZATION) {
        let Seen {
            fetch_site,
            origin,
            content_type,
            mut supplied,
            has_session,
        } = seen(&req);
        if fetch_site.as_deref() == Some("cross-site") {
            return csrf_error(
                "CSRF_CROSS_SITE",
                "cross-site form posts are refused / 拒绝跨站提交",
            );
        }
        if origin.is_some_and(|o| o != state.config.public_origin()) {
            return csrf_error(
                "CSRF_ORIGIN_MISMATCH",
                "the request came from another site / 请求来源不是本站",
            );
        }
        let is_urlencoded = content_type.starts_with("application/x-www-form-urlencoded");
        let is_form = is_urlencoded || content_type.starts_with("multipart/form-data");
        if has_session || is_form {
            if supplied.is_none() && is_urlencoded {
                let (parts, body) = req.into_parts();
                let Ok(bytes) = to_bytes(body, MAX_FORM_BYTES).await else {
                    return ApiError::new(
                        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                        "FORM_TOO_LARGE",
                        "the form is too large / 表单过大",
                    )
                    .into_response();
                };
                supplied = url_pairs(&bytes).find(|(k, _)| k == "csrf").map(|(_, v)| v);
                req = Request::from_parts(parts, Body::from(bytes));
            }
            if !tokens_match(cookie_token.as_deref(), supplied.as_deref()) {
                return csrf_error(
                    "CSRF_TOKEN_INVALID",
                    "the form expired or came from another site; reload the page and try again / 表单已失效，请刷新页面后重试",
                );
            }
        }
    }

    let fresh = if cookie_token.is_none() {
        let token = new_token();
        req.extensions_mut().insert(FreshToken(token.clone()));
        Some(token)
    } else {
        None
    };
    let secure = state.config.secure_cookies();
    let mut resp = next.run(req).await;
    if let Some(token) = fresh {
        let cookie = format!(
            "{CSRF_COOKIE}={token}; Path=/; SameSite=Strict{}",
            if secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().append(SET_COOKIE, v);
        }
    }
    resp
}
