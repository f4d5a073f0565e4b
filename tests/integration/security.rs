//! Sessions, CSRF and login rate limiting, attacked over HTTP.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;
use sunbid::identity::session::SessionKeys;
use sunbid::keys::SigningKey;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial, uscc};

async fn bad_tokens_are_refused(h: &Harness) {
    let operator_id = h
        .create_user("operator", sunbid::identity::Role::Operator, None)
        .await;
    let good = h.login("operator", PASSWORD).await;
    let (status, _) = h.api_get("/api/v1/users", Some(&good)).await;
    assert_eq!(status, StatusCode::OK, "a real token works");

    // Signed by another key, with otherwise perfect claims.
    let other = SessionKeys::new(
        &SigningKey::generate().expect("key"),
        h.public_url.clone(),
        chrono::Duration::minutes(60),
    );
    let forged = other
        .issue(h.now(), &operator_id, "operator", None, "伪造")
        .expect("issue");
    let got = h.api_get("/api/v1/users", Some(&forged)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");

    // Signed by the server's own key two hours ago: expired an hour ago.
    let expired = h
        .state()
        .sessions
        .issue(
            h.now() - chrono::Duration::hours(2),
            &operator_id,
            "operator",
            None,
            "过期",
        )
        .expect("issue");
    let got = h.api_get("/api/v1/users", Some(&expired)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED");

    // `alg: none` with the real claims and no signature.
    let claims = good.split('.').nth(1).expect("claims part");
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let got = h
        .api_get("/api/v1/users", Some(&format!("{header}.{claims}.")))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");

    // HS256 "signed" with the server's public key (the classic key-confusion attack).
    let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let signing_input = format!("{hs_header}.{claims}");
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &h.state().platform_key.public());
    let mac = ring::hmac::sign(&mac_key, signing_input.as_bytes());
    let hs = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(mac.as_ref()));
    let got = h.api_get("/api/v1/users", Some(&hs)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");

    // A real signature over changed claims (a bidder promoting itself).
    let (_, _, bidder) = h.bidder("bidder1").await;
    let mut parts: Vec<String> = bidder.split('.').map(str::to_string).collect();
    let mut c: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
    c["role"] = json!("operator");
    parts[1] = URL_SAFE_NO_PAD.encode(c.to_string());
    let got = h.api_get("/api/v1/users", Some(&parts.join("."))).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");

    for junk in ["", "garbage", "a.b.c", "Bearer"] {
        let got = h.api_get("/api/v1/me", Some(junk)).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_INVALID");
    }

    // A forged session cookie is "not logged in" on pages, never a login.
    let r = h
        .client
        .get(h.url("/operator"))
        .header("cookie", format!("sunbid_session={forged}"))
        .send()
        .await
        .expect("page");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], "/login");
}
both!(tokens, bad_tokens_are_refused);

async fn page_login_and_csrf(h: &Harness) {
    h.create_user("operator", sunbid::identity::Role::Operator, None)
        .await;

    // The proper flow: GET /login hands out the CSRF cookie and embeds it in the form.
    let browser = h.browser();
    let page = browser.get("/login").await;
    assert_eq!(page.status, StatusCode::OK);
    let csrf = browser.cookie("sunbid_csrf").expect("csrf cookie");
    assert!(csrf.len() >= 32, "a long random token");
    assert!(
        page.body
            .contains(&format!("name=\"csrf\" value=\"{csrf}\"")),
        "the form carries the token"
    );
    let set = page.set_cookie("sunbid_csrf").expect("set-cookie");
    assert!(set.contains("SameSite=Strict"), "{set}");

    // Cross-site post with everything else right.
    let form = [
        ("csrf", csrf.as_str()),
        ("username", "operator"),
        ("password", PASSWORD),
    ];
    let page = browser
        .post_form_with("/login", &form, &[("origin", "http://evil.example")])
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.json()["code"], "CSRF_ORIGIN_MISMATCH");
    assert!(page.set_cookie("sunbid_session").is_none());

    let page = browser
        .post_form_with(
            "/login",
            &form,
            &[
                ("origin", &browser.origin),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.json()["code"], "CSRF_CROSS_SITE");

    // Without the csrf field, with a wrong one, and without the cookie.
    let page = browser
        .post_form(
            "/login",
            &[("username", "operator"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.json()["code"], "CSRF_TOKEN_INVALID");
    let page = browser
        .post_form(
            "/login",
            &[
                ("csrf", "0000"),
                ("username", "operator"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(page.json()["code"], "CSRF_TOKEN_INVALID");
    let cookieless = h.browser();
    let page = cookieless.post_form("/login", &form).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.json()["code"], "CSRF_TOKEN_INVALID");
    assert!(browser.cookie("sunbid_session").is_none());

    // Now the real thing.
    let page = browser.post_form("/login", &form).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.headers["location"], "/operator");
    let session = page.set_cookie("sunbid_session").expect("session cookie");
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Lax"), "{session}");
    let page = browser.get("/operator").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("operator 测试"),
        "shows who is logged in"
    );

    // A pending company; a logged-in operator is tricked into approving it cross-site.
    let (_, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &json!({"company_name": "跨站测试有限公司", "uscc": uscc(next_serial()),
                    "username": "csrfco", "display_name": "赵六", "password": PASSWORD}),
        )
        .await;
    let org = body["org_id"].as_str().expect("org").to_string();
    let approve = format!("/operator/orgs/{org}/approve");
    let before = h.snapshot().await;
    let page = browser
        .post_form_with(
            &approve,
            &[("csrf", &csrf)],
            &[("origin", "http://evil.example")],
        )
        .await;
    assert_eq!(page.json()["code"], "CSRF_ORIGIN_MISMATCH");
    // A cookie-authenticated JSON call must carry the token too.
    let page = browser
        .post_json_with(
            &format!("/api/v1/organisations/{org}/approve"),
            &json!({}),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(page.json()["code"], "CSRF_TOKEN_INVALID");
    let page = browser.post_form(&approve, &[]).await;
    assert_eq!(page.json()["code"], "CSRF_TOKEN_INVALID");
    assert_eq!(h.snapshot().await, before, "nothing changed");
    let refused = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "csrfco", "password": PASSWORD}),
        )
        .await;
    assert_eq!(refused.1["code"], "PENDING_APPROVAL");

    // With the token from our own page it goes through.
    let page = browser.post_form(&approve, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    h.login("csrfco", PASSWORD).await;

    // Logging out clears the cookie.
    let page = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(browser.cookie("sunbid_session").is_none());
    let page = browser.get("/operator").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}
both!(csrf, page_login_and_csrf);

async fn login_is_rate_limited(h: &Harness) {
    h.create_user("victim", sunbid::identity::Role::Operator, None)
        .await;
    let mut refused_at = None;
    for attempt in 1..=20 {
        let got = h
            .api_post(
                "/api/v1/auth/login",
                None,
                &json!({"username": "victim", "password": format!("guess-{attempt:04}")}),
            )
            .await;
        if got.0 == StatusCode::TOO_MANY_REQUESTS {
            assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED");
            refused_at = Some(attempt);
            break;
        }
        assert_error(&got, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS");
    }
    // Ten attempts a minute per username; the bucket refills one every six seconds, so a
    // slow machine may squeeze in one more before the refusal.
    assert!(
        refused_at.is_some_and(|n| (11..=13).contains(&n)),
        "refused after the quota of ten, at attempt {refused_at:?}"
    );
    // Once limited even the right password is refused, so guessing cannot go on.
    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "victim", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED");
    // Case tricks count against the same name.
    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "VICTIM", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::TOO_MANY_REQUESTS, "LOGIN_RATE_LIMITED");
    // The page login shares the limit.
    let page = h.browser().login("victim", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    // Other users are not locked out by someone attacking one name.
    h.create_user("bystander", sunbid::identity::Role::Operator, None)
        .await;
    h.login("bystander", PASSWORD).await;
}
both!(rate_limit, login_is_rate_limited);

/// Token lifetimes follow the server's (injected) clock, like every other rule with a
/// time in it: tests and deadline jobs move that clock, and a session must move with it.
async fn sessions_follow_the_server_clock(h: &Harness) {
    h.create_user("operator", sunbid::identity::Role::Operator, None)
        .await;
    // A login after the clock moved days ahead (as the tender tests do) must work.
    h.clock.advance(chrono::Duration::days(21));
    let later = h.login("operator", PASSWORD).await;
    let (status, me) = h.api_get("/api/v1/me", Some(&later)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "token issued at the server's now: {me}"
    );

    // And it expires an hour later by that clock.
    h.clock.advance(chrono::Duration::minutes(61));
    let got = h.api_get("/api/v1/me", Some(&later)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_EXPIRED");
}
both!(session_clock, sessions_follow_the_server_clock);

/// Disabling a user takes effect at once, even for a token issued before.
async fn disabled_user_token_stops_working(h: &Harness) {
    let operator = h.operator().await;
    let (_, user_id, token) = h.bidder("bidder_disabled").await;
    assert_eq!(
        h.api_get("/api/v1/me", Some(&token)).await.0,
        StatusCode::OK
    );
    let (status, body) = h
        .api_post(
            &format!("/api/v1/users/{user_id}/disable"),
            Some(&operator),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = h.api_get("/api/v1/me", Some(&token)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "ACCOUNT_DISABLED");
    // Enabled again: the old token stays revoked (issue 11, item 9); a new login works.
    h.api_post(
        &format!("/api/v1/users/{user_id}/enable"),
        Some(&operator),
        &serde_json::json!({}),
    )
    .await;
    let got = h.api_get("/api/v1/me", Some(&token)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    let fresh = h.login("bidder_disabled", PASSWORD).await;
    assert_eq!(
        h.api_get("/api/v1/me", Some(&fresh)).await.0,
        StatusCode::OK
    );
    // An operator cannot lock themself out: 409, still active, nothing audited.
    let (_, me) = h.api_get("/api/v1/me", Some(&operator)).await;
    let own = me["user_id"].as_str().expect("own id").to_string();
    let before = h.snapshot().await;
    let got = h
        .api_post(
            &format!("/api/v1/users/{own}/disable"),
            Some(&operator),
            &serde_json::json!({}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CANNOT_DISABLE_SELF");
    assert_eq!(h.snapshot().await, before);
    assert_eq!(
        h.api_get("/api/v1/me", Some(&operator)).await.0,
        StatusCode::OK
    );
}
both!(disabled_user, disabled_user_token_stops_working);
