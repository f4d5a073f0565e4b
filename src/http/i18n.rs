//! The page language of a request: `?lang=` first, then the `lang` cookie, Chinese otherwise.

use axum::http::request::Parts;
use axum_extra::extract::CookieJar;

pub use crate::i18n::Lang;

/// From the query string first, then the cookie; Chinese otherwise.
pub fn from_request(parts: &Parts, jar: &CookieJar) -> Lang {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.strip_prefix("lang="))
            .find_map(Lang::parse)
    });
    from_query
        .or_else(|| jar.get("lang").and_then(|c| Lang::parse(c.value())))
        .unwrap_or_default()
}
