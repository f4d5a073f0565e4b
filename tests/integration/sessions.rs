//! Sessions and login limits (issue 11, items 9 and 13): logout and password change revoke
//! tokens server-side, disabling a user revokes theirs, the password limit is per user and
//! client, every 429 says when to come back, and a passkey login is not held by it.

use reqwest::StatusCode;
use serde_json::json;
use sunbid::identity::{OrgKind, Role};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, json_of};

async fn audit_count(h: &Harness, action: &str) -> i64 {
    h.count(&format!("audit_event where action = '{action}'"))
        .await
}

async fn logout_revokes_that_session_only(h: &Harness) {
    h.create_user("sess_op", Role::Operator, None).await;
    let first = h.login("sess_op", PASSWORD).await;
    let second = h.login("sess_op", PASSWORD).await;
    assert_eq!(
        h.api_get("/api/v1/me", Some(&first)).await.0,
        StatusCode::OK
    );

    let logouts = audit_count(h, "session.logout").await;
    let (status, body) = h
        .api_post("/api/v1/auth/logout", Some(&first), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        audit_count(h, "session.logout").await,
        logouts + 1,
        "the logout is audited"
    );

    let got = h.api_get("/api/v1/me", Some(&first)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    let orgs = h.count("organisation").await;
    let got = h
        .api_post(
            "/api/v1/organisations",
            Some(&first),
            &json!({"kind": "agent", "name": "注销之后代理公司"}),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    assert_eq!(h.count("organisation").await, orgs, "nothing created");
    // A second logout with the same token is refused, not audited again.
    let got = h
        .api_post("/api/v1/auth/logout", Some(&first), &json!({}))
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    assert_eq!(audit_count(h, "session.logout").await, logouts + 1);
    // A wrong method or address stays a 405 or 404 for a revoked token and for nobody: the
    // route does not exist for anyone, so no login question arises.
    for token in [Some(first.as_str()), None] {
        let trace = reqwest::Method::from_bytes(b"TRACE").expect("a method");
        let mut req = h.client.request(trace, h.url("/api/v1/audit/checkpoint"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let got = json_of(req.send().await.expect("TRACE")).await;
        assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        // A method that could carry a body, on a route that does not take it: still 405,
        // not the 401 a write to an existing route gets before its body is read.
        let mut req = h
            .client
            .put(h.url("/api/v1/audit/checkpoint"))
            .json(&json!({}));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let got = json_of(req.send().await.expect("PUT")).await;
        assert_error(&got, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED");
        let mut req = h.client.get(h.url("/api/v1/no-such-thing"));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let got = json_of(req.send().await.expect("GET")).await;
        assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    }
    // Nobody to log out.
    let got = h.api_post("/api/v1/auth/logout", None, &json!({})).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "LOGIN_REQUIRED");

    // The same user's other session is untouched.
    let (status, me) = h.api_get("/api/v1/me", Some(&second)).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    let (status, body) = h
        .api_post(
            "/api/v1/organisations",
            Some(&second),
            &json!({"kind": "regulator", "name": "另一会话监督单位"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}
both!(logout_api, logout_revokes_that_session_only);

async fn page_logout_revokes_the_cookie(h: &Harness) {
    h.create_user("sess_page", Role::Operator, None).await;
    let other = h.login("sess_page", PASSWORD).await;
    let browser = h.browser();
    let page = browser.login("sess_page", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let cookie = browser.cookie("sunbid_session").expect("session cookie");
    assert_eq!(browser.get("/operator").await.status, StatusCode::OK);

    let csrf = browser.cookie("sunbid_csrf").expect("csrf");
    let page = browser.post_form("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(browser.cookie("sunbid_session").is_none());

    // A copy of the cookie taken before the logout no longer works, as a cookie or a token.
    let resp = h
        .client
        .get(h.url("/operator"))
        .header("cookie", format!("sunbid_session={cookie}"))
        .send()
        .await
        .expect("GET");
    assert_eq!(
        resp.status(),
        StatusCode::SEE_OTHER,
        "sent to the login page"
    );
    let got = h.api_get("/api/v1/me", Some(&cookie)).await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    assert_eq!(
        h.api_get("/api/v1/me", Some(&other)).await.0,
        StatusCode::OK
    );
}
both!(page_logout, page_logout_revokes_the_cookie);

async fn password_change_revokes_every_session(h: &Harness) {
    h.create_user("sess_pw", Role::Operator, None).await;
    let first = h.login("sess_pw", PASSWORD).await;
    let second = h.login("sess_pw", PASSWORD).await;
    let new_password = "a-much-better-passphrase";

    // A wrong current password changes nothing.
    let got = h
        .api_post(
            "/api/v1/me/password",
            Some(&first),
            &json!({"current_password": "not-the-password", "new_password": new_password}),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS");
    let got = h
        .api_post(
            "/api/v1/me/password",
            Some(&first),
            &json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "WEAK_PASSWORD");
    assert_eq!(
        h.api_get("/api/v1/me", Some(&second)).await.0,
        StatusCode::OK
    );

    let revocations = audit_count(h, "session.revoke").await;
    let (status, body) = h
        .api_post(
            "/api/v1/me/password",
            Some(&first),
            &json!({"current_password": PASSWORD, "new_password": new_password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["sessions_revoked"], 2, "{body}");
    assert_eq!(audit_count(h, "session.revoke").await, revocations + 1);
    for token in [&first, &second] {
        let got = h.api_get("/api/v1/me", Some(token)).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "SESSION_REVOKED");
    }
    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "sess_pw", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS");
    let fresh = h.login("sess_pw", new_password).await;
    assert_eq!(
        h.api_get("/api/v1/me", Some(&fresh)).await.0,
        StatusCode::OK
    );
}
both!(password_change, password_change_revokes_every_session);

/// A client whose connections come from another loopback address, as a second machine's
/// would: the server sees a different client IP without trusting any proxy header.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(Some(ip.parse().expect("ip")))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn login_from(
    h: &Harness,
    client: &reqwest::Client,
    username: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(h.url("/api/v1/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .expect("POST")
}

fn retry_after(resp: &reqwest::Response) -> u64 {
    let value = resp
        .headers()
        .get("retry-after")
        .unwrap_or_else(|| panic!("a 429 carries Retry-After: {:?}", resp.headers()));
    let secs: u64 = value
        .to_str()
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("Retry-After in seconds: {value:?}"));
    assert!((1..=60).contains(&secs), "Retry-After {secs}");
    secs
}

async fn lockout_is_per_client_and_passkeys_bypass_it(h: &Harness) {
    let centre = h
        .create_org(OrgKind::TradingCentre, "锁定测试交易中心")
        .await;
    h.create_user("custodian_target", Role::Custodian, Some(&centre))
        .await;
    let token = h.login("custodian_target", PASSWORD).await;
    let mut soft = h.register_passkey(&token).await;

    // Client A guesses until refused.
    let a = client_from("127.0.0.1");
    let mut limited = None;
    for attempt in 1..=20 {
        let resp = login_from(h, &a, "custodian_target", &format!("guess-{attempt:04}")).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            retry_after(&resp);
            limited = Some(attempt);
            break;
        }
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    assert!(limited.is_some(), "client A is limited");
    let resp = login_from(h, &a, "custodian_target", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    retry_after(&resp);
    let (status, body) = json_of(resp).await;
    assert_error(
        &(status, body),
        StatusCode::TOO_MANY_REQUESTS,
        "LOGIN_RATE_LIMITED",
    );
    // The page login says when to come back too.
    let page = h.browser().login("custodian_target", PASSWORD).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.headers.contains_key("retry-after"),
        "{:?}",
        page.headers
    );

    // The custodian, from their own machine, still logs in with the password.
    let b = client_from("127.0.0.2");
    let resp = login_from(h, &b, "custodian_target", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::OK);

    // And from client A with the passkey, whose login the password limit does not hold.
    let (status, start) = h
        .api_post(
            "/api/v1/passkeys/login/start",
            None,
            &json!({"username": "custodian_target"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let origin = Url::parse(&h.public_url).expect("origin");
    let cred = soft.do_authentication(origin, options).expect("assert");
    let (status, body) = h
        .api_post(
            "/api/v1/passkeys/login/finish",
            None,
            &json!({"ceremony_id": start["ceremony_id"], "credential": cred}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().expect("token");
    assert_eq!(h.api_get("/api/v1/me", Some(token)).await.0, StatusCode::OK);
}
both!(
    targeted_lockout,
    lockout_is_per_client_and_passkeys_bypass_it
);
