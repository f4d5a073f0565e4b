//! The language of a request: for pages `?lang=` first, then the `lang` cookie, Chinese
//! otherwise; for API error messages the same explicit choices, then `Accept-Language`, and
//! both languages when nothing says which.

use axum::http::request::Parts;
use axum_extra::extract::CookieJar;

pub use crate::i18n::Lang;

/// The language the caller asked for explicitly (`?lang=`, the `lang` cookie) or through
/// `Accept-Language` (the first of zh/en by preference), or `None`.
pub fn requested(parts: &Parts, jar: &CookieJar) -> Option<Lang> {
    explicit(parts, jar).or_else(|| {
        let header = parts
            .headers
            .get(axum::http::header::ACCEPT_LANGUAGE)?
            .to_str()
            .ok()?;
        accept_language(header)
    })
}

/// The preferred of zh/en in an `Accept-Language` value (RFC 9110 §12.5.4), if either.
pub fn accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(f32, Lang)> = None;
    for item in header.split(',') {
        let mut parts = item.trim().split(';');
        let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        let lang = match tag.split('-').next() {
            Some("zh") => Lang::Zh,
            Some("en") => Lang::En,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

fn explicit(parts: &Parts, jar: &CookieJar) -> Option<Lang> {
    let from_query = parts.uri.query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.strip_prefix("lang="))
            .find_map(Lang::parse)
    });
    from_query.or_else(|| jar.get("lang").and_then(|c| Lang::parse(c.value())))
}

/// From the query string first, then the cookie; Chinese otherwise.
pub fn from_request(parts: &Parts, jar: &CookieJar) -> Lang {
    explicit(parts, jar).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_ours() {
        assert_eq!(accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(accept_language("zh-CN,zh;q=0.9,en;q=0.8"), Some(Lang::Zh));
        assert_eq!(accept_language("fr, en;q=0.5, zh;q=0.7"), Some(Lang::Zh));
        assert_eq!(accept_language("de, fr"), None);
        assert_eq!(accept_language("en;q=0, zh;q=0.1"), Some(Lang::Zh));
        assert_eq!(accept_language(""), None);
    }
}
