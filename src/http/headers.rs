//! Security headers on every response: a strict Content-Security-Policy (no inline script
//! or style, no framing), `X-Content-Type-Options: nosniff`, `Referrer-Policy`, and
//! `X-Frame-Options` for browsers that predate `frame-ancestors`.

use std::sync::LazyLock;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::Response;
use base64::Engine as _;
use tower_http::set_header::SetResponseHeaderLayer;

/// The evaluation report's HTML page keeps its style sheet inline so that a saved copy
/// prints as it was shown (docs/evaluation.md); the policy admits exactly that block by its
/// hash instead of allowing inline style everywhere.
const REPORT_TEMPLATE: &str = include_str!("../../web/templates/evaluation_report.html");

/// The text between the first `<style>` and `</style>` of `html`, as a browser hashes it.
fn inline_style(html: &str) -> Option<&str> {
    let start = html.find("<style>")? + "<style>".len();
    let len = html.get(start..)?.find("</style>")?;
    html.get(start..start + len)
}

/// A CSP source expression admitting one inline block by its SHA-256.
fn hash_source(block: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, block.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
    )
}

/// The Content-Security-Policy of every response.
pub fn content_security_policy() -> &'static str {
    static CSP: LazyLock<String> = LazyLock::new(|| {
        let report_style = inline_style(REPORT_TEMPLATE)
            .map(hash_source)
            .unwrap_or_default();
        format!(
            "default-src 'self'; script-src 'self'; style-src 'self' {report_style}; \
             img-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; \
             form-action 'self'; object-src 'none'"
        )
    });
    &CSP
}

/// The policy of a PDF: only no framing. Chrome's viewer renders an inline PDF through an
/// embed and styles of its own, which the page policy would block (crbug.com/271452).
const PDF_POLICY: &str = "frame-ancestors 'none'";

/// The policy for a response: the page policy, except for PDFs.
fn policy_for(resp: &Response) -> Option<HeaderValue> {
    let pdf = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/pdf"));
    let policy = if pdf {
        PDF_POLICY
    } else {
        content_security_policy()
    };
    Some(HeaderValue::from_static(policy))
}

type SetHeader = SetResponseHeaderLayer<HeaderValue>;
type SetPolicy = SetResponseHeaderLayer<fn(&Response) -> Option<HeaderValue>>;

/// Adds the headers to every response of `router`; a handler that sets one of them itself
/// keeps its own (downloaded tender documents are sandboxed that way).
pub fn add<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    let set = |name: HeaderName, value: &'static str| {
        SetHeader::if_not_present(name, HeaderValue::from_static(value))
    };
    router
        .layer(SetPolicy::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            policy_for as fn(&Response) -> Option<HeaderValue>,
        ))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        // Same-origin requests keep the Referer (useful in logs); other sites get none, so
        // tender and user addresses do not leak through outbound links.
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_is_strict_and_admits_the_report_style_by_hash_only() {
        let csp = content_security_policy();
        for directive in [
            "default-src 'self'",
            "script-src 'self';",
            "frame-ancestors 'none'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
        ] {
            assert!(csp.contains(directive), "{directive} in {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        assert!(!csp.contains("unsafe-eval"), "{csp}");
        let style = inline_style(REPORT_TEMPLATE).expect("the report keeps its inline style");
        assert!(csp.contains(&hash_source(style)), "{csp}");
    }

    #[test]
    fn pdfs_get_only_the_framing_rule() {
        let pdf = Response::builder()
            .header(header::CONTENT_TYPE, "application/pdf")
            .body(axum::body::Body::empty())
            .expect("response");
        assert_eq!(policy_for(&pdf).expect("policy"), PDF_POLICY);
        let page = Response::builder()
            .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
            .body(axum::body::Body::empty())
            .expect("response");
        assert_eq!(
            policy_for(&page).expect("policy"),
            content_security_policy()
        );
    }

    #[test]
    fn report_style_is_constant_text() {
        // The hash is taken from the template source; template syntax inside the block
        // would make the rendered text (and so its hash) differ from it.
        let style = inline_style(REPORT_TEMPLATE).expect("inline style");
        assert!(!style.contains("{{") && !style.contains("{%"), "{style}");
        assert_eq!(inline_style("<style>a{}</style>"), Some("a{}"));
        assert_eq!(inline_style("<p>none</p>"), None);
    }

    #[test]
    fn hash_source_matches_the_csp_specification_example() {
        // CSP Level 3, "hash-source": the digest of `alert('Hello, world.');` as given in
        // the specification's example.
        assert_eq!(
            hash_source("alert('Hello, world.');"),
            "'sha256-qznLcsROx4GACP2dm0UCKCzCG+HiZ1guq6ZZDob/Tng='"
        );
    }
}
