//! Server-rendered pages: the common layout data, rendering, and errors shown as HTML.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::ctx::SessionUser;
use super::i18n::Lang;
use super::{ApiError, Ctx};
use crate::identity::Role;

/// What every page's layout needs.
#[derive(Clone, Debug)]
pub struct Base {
    /// Page language.
    pub lang: Lang,
    /// Logged-in user.
    pub user: Option<SessionUser>,
    /// CSRF token for forms.
    pub csrf: String,
}

impl Base {
    /// From the request context.
    pub fn new(ctx: &Ctx) -> Self {
        Self {
            lang: ctx.lang,
            user: ctx.user.clone(),
            csrf: ctx.csrf.clone(),
        }
    }

    /// Translation shortcut for templates.
    pub fn t<'a>(&self, key: &'a str) -> &'a str {
        self.lang.t(key)
    }

    /// The label of a stored value in the page language (see [`Lang::label`]).
    pub fn label(&self, group: &str, value: &str) -> String {
        self.lang.label(group, value)
    }

    /// Whether the user has the role (templates show menus with it).
    pub fn is(&self, role: &str) -> bool {
        self.user
            .as_ref()
            .map(|u| u.role.as_str() == role)
            .unwrap_or(false)
    }

    /// The label of a tender state in the page language.
    pub fn state_label(&self, state: &str) -> &'static str {
        let key: &'static str = match state {
            "draft" => "state.draft",
            "published" => "state.published",
            "closed" => "state.closed",
            "opened" => "state.opened",
            "evaluating" => "state.evaluating",
            "publicity" => "state.publicity",
            "awarded" => "state.awarded",
            "contracted" => "state.contracted",
            "cancelled" => "state.cancelled",
            "failed" => "state.failed",
            _ => "state.unknown",
        };
        self.lang.t(key)
    }

    /// The label of an evaluation method in the page language.
    pub fn method_label(&self, method: &str) -> &'static str {
        self.lang.t(match method {
            "comprehensive" => "method.comprehensive",
            "lowest_price" => "method.lowest_price",
            _ => "state.unknown",
        })
    }

    /// An instant as China Standard Time text.
    pub fn when(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        cst(t.timestamp_millis())
    }

    /// An instant as RFC 3339 UTC (for `<time datetime>`).
    pub fn iso(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// Fen as yuan text.
    pub fn money(&self, fen: &i64) -> String {
        yuan(*fen)
    }

    /// The logged-in user's display name, or empty.
    pub fn user_name(&self) -> &str {
        self.user.as_ref().map(|u| u.name.as_str()).unwrap_or("")
    }
}

/// Renders a template into an HTML response.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => ApiError::internal(&e).into_response(),
    }
}

/// An error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    base: Base,
    code: &'a str,
    message: &'a str,
}

/// An error shown as a page instead of JSON; login-required errors redirect to the login.
pub struct PageError(Box<(ApiError, Base)>);

impl PageError {
    /// Wraps an API error for display to `ctx`'s user.
    pub fn new(ctx: &Ctx, err: ApiError) -> Self {
        Self(Box::new((err, Base::new(ctx))))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (err, base) = *self.0;
        if err.status == StatusCode::UNAUTHORIZED {
            return Redirect::to("/login").into_response();
        }
        let page = ErrorPage {
            code: err.code,
            message: crate::i18n::pick(&err.message, base.lang),
            base,
        };
        let mut resp = render(&page);
        *resp.status_mut() = err.status;
        resp
    }
}

/// Result type of page handlers.
pub type PageResult<T = Response> = Result<T, PageError>;

/// Helper for page handlers: turns any `ApiError` into a [`PageError`] for this context.
pub trait OrPage<T> {
    /// Maps the error.
    fn or_page(self, ctx: &Ctx) -> PageResult<T>;
}

impl<T, E: Into<ApiError>> OrPage<T> for Result<T, E> {
    fn or_page(self, ctx: &Ctx) -> PageResult<T> {
        self.map_err(|e| PageError::new(ctx, e.into()))
    }
}

/// The page's user if their role fits, else the matching page error.
pub fn require_page<'a>(ctx: &'a Ctx, roles: &[Role]) -> PageResult<&'a SessionUser> {
    ctx.require(roles).or_page(ctx)
}

pub use crate::clock::cst;
pub use crate::money::yuan;
