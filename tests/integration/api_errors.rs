//! Every API error has the documented `{code, message}` JSON shape (issue 11, item 14): bad
//! path parameters, unknown routes, wrong methods, oversized bodies, and authentication
//! checked before the body is parsed. Unknown pages get a page, not an empty body.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both;
use crate::harness::{Harness, assert_error};

/// Sends a request and checks that the answer is a JSON error with `status` and `code`.
async fn expect_json_error(
    h: &Harness,
    req: reqwest::RequestBuilder,
    status: StatusCode,
    code: &str,
) -> Value {
    let resp = req.send().await.expect("request");
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let got_status = resp.status();
    let text = resp.text().await.expect("body");
    assert!(
        content_type.starts_with("application/json"),
        "{got_status} with content type {content_type:?}: {text:?}"
    );
    let body: Value = serde_json::from_str(&text).expect("JSON body");
    assert_error(&(got_status, body.clone()), status, code);
    let _ = h;
    body
}

async fn api_errors_have_one_shape(h: &Harness) {
    let operator = h.operator().await;

    // A path parameter of the wrong type.
    expect_json_error(
        h,
        h.client.get(h.url("/api/v1/audit/nodes/not-a-level/x")),
        StatusCode::BAD_REQUEST,
        "INVALID_PATH",
    )
    .await;

    // Unknown routes, with and without a login.
    expect_json_error(
        h,
        h.client.get(h.url("/api/v1/no-such-thing")),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    expect_json_error(
        h,
        h.client
            .post(h.url("/api/v2/whatever"))
            .bearer_auth(&operator)
            .json(&serde_json::json!({})),
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;

    // A known route with the wrong method.
    expect_json_error(
        h,
        h.client
            .request(Method::DELETE, h.url("/api/v1/me"))
            .bearer_auth(&operator),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;

    // An oversized JSON body (the default limit is 2 MiB). Only just over it: the server
    // answers without reading the rest, and a small excess fits the loopback socket
    // buffers, so the client is done sending before the connection closes.
    let huge = format!(
        "{{\"username\": \"{}\", \"password\": \"x\"}}",
        "a".repeat((2 << 20) + 1024)
    );
    expect_json_error(
        h,
        h.client
            .post(h.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body(huge.clone()),
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    )
    .await;
    expect_json_error(
        h,
        h.client
            .post(h.url("/api/v1/organisations"))
            .bearer_auth(&operator)
            .header("content-type", "application/json")
            .body(huge),
        StatusCode::PAYLOAD_TOO_LARGE,
        "BODY_TOO_LARGE",
    )
    .await;

    // Anonymous with a malformed or invalid body: the missing login is the answer.
    let orgs = h.count("organisation").await;
    for body in [
        "{",
        r#"{"unknown": 1}"#,
        r#"{"kind": "agent", "name": "匿名"}"#,
    ] {
        expect_json_error(
            h,
            h.client
                .post(h.url("/api/v1/organisations"))
                .header("content-type", "application/json")
                .body(body),
            StatusCode::UNAUTHORIZED,
            "LOGIN_REQUIRED",
        )
        .await;
    }
    expect_json_error(
        h,
        h.client
            .post(h.url("/api/v1/passkeys/register/finish"))
            .header("content-type", "text/plain")
            .body("garbage"),
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    )
    .await;
    assert_eq!(h.count("organisation").await, orgs, "nothing stored");
    // Routes open to anonymous callers still parse their bodies.
    expect_json_error(
        h,
        h.client
            .post(h.url("/api/v1/auth/login"))
            .header("content-type", "application/json")
            .body("{"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;

    // Pages keep HTML errors, but never an empty 404.
    let resp = h
        .client
        .get(h.url("/no-such-page"))
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let text = resp.text().await.expect("body");
    assert!(!text.trim().is_empty(), "a 404 page has a body");
}
both!(api_error_shape, api_errors_have_one_shape);

/// Error messages follow the language the caller asks for: `Accept-Language`, overridden by
/// an explicit `?lang=` or `lang` cookie; both languages when nothing says which.
async fn error_messages_follow_the_callers_language(h: &Harness) {
    let req = |lang: Option<&str>, path: &str| {
        let r = h.client.get(h.url(path));
        match lang {
            Some(l) => r.header("accept-language", l),
            None => r,
        }
    };
    let me = "/api/v1/me";
    let both =
        expect_json_error(h, req(None, me), StatusCode::UNAUTHORIZED, "LOGIN_REQUIRED").await;
    assert_eq!(both["message"], "please log in first / 请先登录");
    let en = expect_json_error(
        h,
        req(Some("en-GB,en;q=0.9"), me),
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    )
    .await;
    assert_eq!(en["message"], "please log in first");
    let zh = expect_json_error(
        h,
        req(Some("zh-CN,zh;q=0.9,en;q=0.8"), me),
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    )
    .await;
    assert_eq!(zh["message"], "请先登录");
    // An explicit choice wins over the browser's header; a language we do not speak
    // leaves both.
    let explicit = expect_json_error(
        h,
        req(Some("en"), "/api/v1/me?lang=zh"),
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    )
    .await;
    assert_eq!(explicit["message"], "请先登录");
    let other = expect_json_error(
        h,
        req(Some("fr"), me),
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    )
    .await;
    assert_eq!(other["message"], "please log in first / 请先登录");
    // The answer says which language it is in.
    let resp = req(Some("en"), "/api/v1/me").send().await.expect("GET");
    assert_eq!(resp.headers()["content-language"], "en");
}
both!(
    api_error_language,
    error_messages_follow_the_callers_language
);
