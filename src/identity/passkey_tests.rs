//! Passkey ceremonies driven by webauthn-authenticator-rs's software passkey against a real
//! database: SQLite always, PostgreSQL when `SUNBID_TEST_PG` is set (the tender kit's
//! convention). Covers registration, login, the counter, a replayed assertion, missing user
//! verification, an expired ceremony, a cloned credential, and document signatures.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use serde_json::Value;
use tower::ServiceExt as _;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use super::passkey::{self, PasskeyError};
use crate::audit::Actor;
use crate::config::Config;
use crate::http::ApiError;
use crate::ids::new_id;
use crate::q_all;
use crate::q_exec;
use crate::tender::testkit::Kit;

const ORIGIN: &str = "http://localhost:8080";

/// `preferred()` (the enum is not re-exported by either crate).
fn preferred<T: serde::de::DeserializeOwned>() -> T {
    serde_json::from_value(Value::from("preferred")).expect("policy")
}

fn origin() -> Url {
    Url::parse(ORIGIN).expect("origin")
}

/// An active expert of our own (the kit has none).
async fn expert(kit: &Kit) -> (String, String) {
    let id = new_id();
    let username = format!("pk-{id}");
    let mut tx = kit.db().begin().await.expect("begin");
    q_exec!(
        tx,
        "insert into app_user (user_id, org_id, username, display_name, role, password_hash, status, created_at)
         values ($1, null, $2, $3, 'expert', 'x', 'active', 0)",
        id.clone(),
        username.clone(),
        format!("专家 {id}")
    )
    .expect("insert expert");
    tx.commit().await.expect("commit");
    (id, username)
}

fn actor(user_id: &str) -> Actor {
    Actor {
        user_id: Some(user_id.to_string()),
        role: Some("expert".into()),
        request_id: Some(new_id()),
        client_ip: Some("192.0.2.9".into()),
    }
}

/// Registers a soft passkey (which reports user verification) for the user.
async fn register(kit: &Kit, user_id: &str) -> (SoftPasskey, passkey::PasskeyView) {
    let mut soft = SoftPasskey::new(true);
    let (ceremony, options) = passkey::start_registration(&kit.state, user_id)
        .await
        .expect("start registration");
    let response = soft
        .do_registration(origin(), options)
        .expect("soft registration");
    let view = passkey::finish_registration(
        &kit.state,
        &actor(user_id),
        user_id,
        &ceremony,
        &response,
        Some("软件密钥".into()),
    )
    .await
    .expect("finish registration");
    (soft, view)
}

async fn audit_entries(kit: &Kit, action: &str, needle: &str) -> Vec<Value> {
    let mut tx = kit.db().read().await.expect("read");
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select entry from audit_event where action = $1 order by seq",
        action.to_string()
    )
    .expect("audit rows");
    rows.into_iter()
        .filter(|(e,)| e.contains(needle))
        .map(|(e,)| serde_json::from_str(&e).expect("entry json"))
        .collect()
}

async fn stored_counter(kit: &Kit, passkey_id: &str) -> i64 {
    let mut tx = kit.db().read().await.expect("read");
    let rows: Vec<(i64,)> = q_all!(
        tx,
        (i64,),
        "select sign_count from passkey where passkey_id = $1",
        passkey_id.to_string()
    )
    .expect("counter");
    rows.first().map(|r| r.0).unwrap_or(-1)
}

/// Runs `body` on SQLite, then on PostgreSQL when configured.
macro_rules! on_both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                super::$body(super::Kit::sqlite().await).await;
            }

            #[tokio::test]
            async fn postgres() {
                if let Some(kit) = super::Kit::postgres().await {
                    super::$body(kit).await;
                }
            }
        }
    };
}

async fn register_login_and_counter(kit: Kit) {
    let (user_id, username) = expert(&kit).await;
    assert!(!passkey::has_passkey(kit.db(), &user_id).await.expect("has"));
    let (mut soft, view) = register(&kit, &user_id).await;
    assert_eq!(view.name, "软件密钥");
    assert!(passkey::has_passkey(kit.db(), &user_id).await.expect("has"));
    let listed = passkey::list_passkeys(kit.db(), &user_id)
        .await
        .expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].passkey_id, view.passkey_id);
    assert!(listed[0].last_used_at.is_none());
    let registered = audit_entries(&kit, "passkey.register", &view.passkey_id).await;
    assert_eq!(registered.len(), 1);
    assert_eq!(
        registered[0]["payload"]["credential_id"],
        view.credential_id
    );

    // Two logins: the counter is stored each time.
    for expected in 1..=2u32 {
        let (ceremony, options) =
            passkey::start_login(&kit.state, &kit.state.login_limiter, &username, None)
                .await
                .expect("start login");
        assert_eq!(
            serde_json::to_value(options.public_key.user_verification).expect("policy"),
            "required"
        );
        let response = soft.do_authentication(origin(), options).expect("assert");
        let login = passkey::finish_login(&kit.state, &Actor::default(), &ceremony, &response)
            .await
            .expect("finish login");
        assert_eq!(login.user.user_id, user_id);
        assert_eq!(login.user.role, "expert");
        assert_eq!(login.assertion.counter, expected);
        assert!(login.assertion.user_verified);
        assert_eq!(
            stored_counter(&kit, &view.passkey_id).await,
            i64::from(expected)
        );
    }
    let listed = passkey::list_passkeys(kit.db(), &user_id)
        .await
        .expect("list");
    assert!(listed[0].last_used_at.is_some());

    // Unknown users and users without a passkey get the same answer.
    let unknown =
        passkey::start_login(&kit.state, &kit.state.login_limiter, "nobody-here", None).await;
    assert!(
        matches!(unknown, Err(PasskeyError::NoPasskey)),
        "{unknown:?}"
    );
    let (_, bare) = expert(&kit).await;
    let bare = passkey::start_login(&kit.state, &kit.state.login_limiter, &bare, None).await;
    assert!(matches!(bare, Err(PasskeyError::NoPasskey)), "{bare:?}");
}
on_both!(
    register_login_and_counter_update,
    register_login_and_counter
);

async fn replayed_assertion(kit: Kit) {
    let (user_id, _) = expert(&kit).await;
    let (mut soft, _) = register(&kit, &user_id).await;
    let (ceremony, options) = passkey::start_assertion_for_user(&kit.state, &user_id)
        .await
        .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    let ok = passkey::verify_assertion(
        &kit.state,
        &actor(&user_id),
        Some(&user_id),
        &ceremony,
        &response,
    )
    .await
    .expect("first use");
    assert_eq!(ok.user_id, user_id);
    assert_eq!(ok.counter, 1);

    // The same response again: the ceremony is gone.
    let again = passkey::verify_assertion(
        &kit.state,
        &actor(&user_id),
        Some(&user_id),
        &ceremony,
        &response,
    )
    .await;
    assert!(
        matches!(again, Err(PasskeyError::CeremonyUnknown)),
        "{again:?}"
    );

    // The old response under a fresh ceremony: it signed another challenge.
    let (fresh, _) = passkey::start_assertion_for_user(&kit.state, &user_id)
        .await
        .expect("start");
    let replay = passkey::verify_assertion(
        &kit.state,
        &actor(&user_id),
        Some(&user_id),
        &fresh,
        &response,
    )
    .await;
    assert!(
        matches!(replay, Err(PasskeyError::Rejected(_))),
        "{replay:?}"
    );
    let e: ApiError = replay.expect_err("refused").into();
    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
}
on_both!(a_replayed_assertion_is_refused, replayed_assertion);

async fn without_user_verification(kit: Kit) {
    let (user_id, _) = expert(&kit).await;

    // Registration: an authenticator that does not verify the user (the soft passkey only
    // sets the UV flag when the options require it, so relax the options it sees).
    let mut lax = SoftPasskey::new(true);
    let (ceremony, mut options) = passkey::start_registration(&kit.state, &user_id)
        .await
        .expect("start");
    if let Some(sel) = options.public_key.authenticator_selection.as_mut() {
        sel.user_verification = preferred();
    }
    let response = lax.do_registration(origin(), options).expect("soft");
    let refused = passkey::finish_registration(
        &kit.state,
        &actor(&user_id),
        &user_id,
        &ceremony,
        &response,
        None,
    )
    .await;
    assert!(
        matches!(refused, Err(PasskeyError::UserNotVerified)),
        "{refused:?}"
    );
    assert!(!passkey::has_passkey(kit.db(), &user_id).await.expect("has"));

    // Assertion: a verified credential, then an assertion without the UV flag.
    let (mut soft, view) = register(&kit, &user_id).await;
    let (ceremony, mut options) = passkey::start_assertion_for_user(&kit.state, &user_id)
        .await
        .expect("start");
    options.public_key.user_verification = preferred();
    let response = soft.do_authentication(origin(), options).expect("assert");
    let refused = passkey::verify_assertion(
        &kit.state,
        &actor(&user_id),
        Some(&user_id),
        &ceremony,
        &response,
    )
    .await;
    assert!(
        matches!(refused, Err(PasskeyError::UserNotVerified)),
        "{refused:?}"
    );
    let e: ApiError = refused.expect_err("refused").into();
    assert_eq!(e.code, "PASSKEY_USER_NOT_VERIFIED");
    assert_eq!(stored_counter(&kit, &view.passkey_id).await, 0);
}
on_both!(
    an_assertion_without_user_verification_is_refused,
    without_user_verification
);

async fn expired_ceremony(kit: Kit) {
    let (user_id, username) = expert(&kit).await;
    let (mut soft, _) = register(&kit, &user_id).await;
    let (ceremony, options) =
        passkey::start_login(&kit.state, &kit.state.login_limiter, &username, None)
            .await
            .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    kit.clock
        .set(kit.now() + TimeDelta::milliseconds(passkey::CEREMONY_TTL_MS));
    let late = passkey::finish_login(&kit.state, &Actor::default(), &ceremony, &response).await;
    assert!(
        matches!(late, Err(PasskeyError::CeremonyExpired)),
        "{late:?}"
    );
    // And it is gone, not merely refused.
    let again = passkey::finish_login(&kit.state, &Actor::default(), &ceremony, &response).await;
    assert!(
        matches!(again, Err(PasskeyError::CeremonyUnknown)),
        "{again:?}"
    );

    // A registration ceremony expires the same way.
    let (ceremony, options) = passkey::start_registration(&kit.state, &user_id)
        .await
        .expect("start");
    let mut other = SoftPasskey::new(true);
    let response = other.do_registration(origin(), options).expect("soft");
    kit.clock
        .set(kit.now() + TimeDelta::milliseconds(passkey::CEREMONY_TTL_MS + 1));
    let late = passkey::finish_registration(
        &kit.state,
        &actor(&user_id),
        &user_id,
        &ceremony,
        &response,
        None,
    )
    .await;
    assert!(
        matches!(late, Err(PasskeyError::CeremonyExpired)),
        "{late:?}"
    );
}
on_both!(an_expired_ceremony_is_refused, expired_ceremony);

async fn counter_regression(kit: Kit) {
    let (user_id, username) = expert(&kit).await;
    let (mut soft, view) = register(&kit, &user_id).await;
    // One good login first: the counter is 1.
    let (ceremony, options) =
        passkey::start_login(&kit.state, &kit.state.login_limiter, &username, None)
            .await
            .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    passkey::finish_login(&kit.state, &Actor::default(), &ceremony, &response)
        .await
        .expect("login");

    // Another copy of the key has been used 100 times meanwhile: the stored counter is ahead.
    let mut tx = kit.db().begin().await.expect("begin");
    q_exec!(
        tx,
        "update passkey set sign_count = 100 where passkey_id = $1",
        view.passkey_id.clone()
    )
    .expect("tamper");
    tx.commit().await.expect("commit");

    let (ceremony, options) =
        passkey::start_login(&kit.state, &kit.state.login_limiter, &username, None)
            .await
            .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    let cloned = passkey::finish_login(&kit.state, &Actor::default(), &ceremony, &response).await;
    assert!(
        matches!(cloned, Err(PasskeyError::CounterRegression)),
        "{cloned:?}"
    );
    let e: ApiError = cloned.expect_err("refused").into();
    assert_eq!(e.status, StatusCode::CONFLICT);
    assert_eq!(e.code, "PASSKEY_COUNTER_REGRESSION");
    assert_eq!(stored_counter(&kit, &view.passkey_id).await, 100);
    let alerts = audit_entries(&kit, "passkey.counter_regression", &view.passkey_id).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["payload"]["stored_counter"], 100);
    assert_eq!(alerts[0]["payload"]["presented_counter"], 2);
    assert_eq!(alerts[0]["actor"], user_id.as_str());

    // The check-in path refuses the same way, here through webauthn-rs's own check: the
    // counter inside the stored credential is ahead too, so the ceremony's snapshot catches it.
    let mut tx = kit.db().begin().await.expect("begin");
    let rows: Vec<(String,)> = q_all!(
        tx,
        (String,),
        "select passkey_json from passkey where passkey_id = $1",
        view.passkey_id.clone()
    )
    .expect("json");
    let mut json: Value = serde_json::from_str(&rows[0].0).expect("passkey json");
    json["cred"]["counter"] = Value::from(100);
    q_exec!(
        tx,
        "update passkey set passkey_json = $1 where passkey_id = $2",
        json.to_string(),
        view.passkey_id.clone()
    )
    .expect("tamper json");
    tx.commit().await.expect("commit");
    let (ceremony, options) = passkey::start_assertion_for_user(&kit.state, &user_id)
        .await
        .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    let cloned =
        passkey::verify_assertion(&kit.state, &actor(&user_id), None, &ceremony, &response).await;
    assert!(
        matches!(cloned, Err(PasskeyError::CounterRegression)),
        "{cloned:?}"
    );
    let alerts = audit_entries(&kit, "passkey.counter_regression", &view.passkey_id).await;
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[1]["payload"]["presented_counter"], 3);
    assert_eq!(alerts[1]["payload"]["purpose"], "assertion");
}
on_both!(
    a_counter_regression_is_refused_and_audited,
    counter_regression
);

async fn wrong_user_and_removal(kit: Kit) {
    let (alice, _) = expert(&kit).await;
    let (bob, _) = expert(&kit).await;
    let (mut soft, view) = register(&kit, &alice).await;
    let (ceremony, options) = passkey::start_assertion_for_user(&kit.state, &alice)
        .await
        .expect("start");
    let response = soft.do_authentication(origin(), options).expect("assert");
    let wrong =
        passkey::verify_assertion(&kit.state, &actor(&bob), Some(&bob), &ceremony, &response).await;
    assert!(matches!(wrong, Err(PasskeyError::WrongUser)), "{wrong:?}");

    // Bob cannot remove Alice's passkey; Alice can, once.
    let not_his = passkey::remove_passkey(&kit.state, &actor(&bob), &bob, &view.passkey_id).await;
    assert!(
        matches!(not_his, Err(PasskeyError::NotFound)),
        "{not_his:?}"
    );
    passkey::remove_passkey(&kit.state, &actor(&alice), &alice, &view.passkey_id)
        .await
        .expect("remove");
    assert_eq!(
        audit_entries(&kit, "passkey.remove", &view.passkey_id)
            .await
            .len(),
        1
    );
    let twice = passkey::remove_passkey(&kit.state, &actor(&alice), &alice, &view.passkey_id).await;
    assert!(matches!(twice, Err(PasskeyError::NotFound)), "{twice:?}");
    assert!(
        passkey::list_passkeys(kit.db(), &alice)
            .await
            .expect("list")
            .is_empty()
    );
}
on_both!(wrong_user_and_removal_are_refused, wrong_user_and_removal);

async fn signature(kit: Kit) {
    let (user_id, _) = expert(&kit).await;
    let (mut soft, _) = register(&kit, &user_id).await;
    let digest = ring::digest::digest(&ring::digest::SHA256, "评标报告 v1".as_bytes());
    let (ceremony, options) =
        passkey::start_signature_for_user(&kit.state, &user_id, digest.as_ref())
            .await
            .expect("start");
    assert_eq!(options.public_key.challenge, digest.as_ref());
    let response = soft.do_authentication(origin(), options).expect("sign");
    let signed = passkey::verify_signature(
        &kit.state,
        &actor(&user_id),
        &user_id,
        &ceremony,
        &response,
        digest.as_ref(),
    )
    .await
    .expect("signature");
    assert_eq!(signed.challenge, digest.as_ref());

    // A signature over another document is not this document's signature.
    let (ceremony, options) =
        passkey::start_signature_for_user(&kit.state, &user_id, digest.as_ref())
            .await
            .expect("start");
    let response = soft.do_authentication(origin(), options).expect("sign");
    let other = ring::digest::digest(&ring::digest::SHA256, "评标报告 v2".as_bytes());
    let mismatch = passkey::verify_signature(
        &kit.state,
        &actor(&user_id),
        &user_id,
        &ceremony,
        &response,
        other.as_ref(),
    )
    .await;
    assert!(
        matches!(mismatch, Err(PasskeyError::ChallengeMismatch)),
        "{mismatch:?}"
    );
    let short = passkey::start_signature_for_user(&kit.state, &user_id, b"short").await;
    assert!(
        matches!(short, Err(PasskeyError::InvalidChallenge)),
        "{short:?}"
    );
}
on_both!(signature_challenge_is_the_document_digest, signature);

#[test]
fn an_ip_address_public_url_disables_passkeys() {
    let cfg = Config {
        public_url: "http://127.0.0.1:9090".into(),
        ..Config::default()
    };
    assert!(!passkey::enabled(&cfg));
    let err = passkey::webauthn(&cfg).expect_err("disabled");
    let api: ApiError = err.into();
    assert_eq!(api.status, StatusCode::CONFLICT);
    assert_eq!(api.code, "PASSKEYS_NEED_HOSTNAME");
    assert!(
        api.message.contains("http://localhost:9090"),
        "{}",
        api.message
    );
    assert!(passkey::enabled(&Config::default()));
}

/// The JSON API end to end through the router: a Bearer token registers a passkey, lists
/// it, and the login endpoints issue a token for it.
#[tokio::test]
async fn the_api_registers_lists_and_logs_in() {
    let kit = Kit::sqlite().await;
    let (user_id, username) = expert(&kit).await;
    let token = super::session_store::open_for(
        &kit.state.db,
        &kit.state.sessions,
        kit.now(),
        &user_id,
        "expert",
        None,
        "专家",
    )
    .await
    .expect("token");
    let app = crate::server::router(kit.state.clone());
    let call = |method: &str, uri: &str, body: Option<Value>, bearer: Option<&str>| {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = bearer {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.expect("response");
            let status = resp.status();
            let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20)
                .await
                .expect("body");
            (
                status,
                serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null),
            )
        }
    };

    let (status, _) = call("POST", "/api/v1/passkeys/register/start", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, start) = call(
        "POST",
        "/api/v1/passkeys/register/start",
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let mut soft = SoftPasskey::new(true);
    let credential = soft.do_registration(origin(), options).expect("soft");
    let body = serde_json::json!({
        "ceremony_id": start["ceremony_id"],
        "credential": credential,
        "name": "API key",
    });
    let (status, done) = call(
        "POST",
        "/api/v1/passkeys/register/finish",
        Some(body),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    let (status, list) = call("GET", "/api/v1/passkeys", None, Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["passkeys"][0]["name"], "API key");
    assert!(list["passkeys"][0].get("passkey_json").is_none());

    let (status, start) = call(
        "POST",
        "/api/v1/passkeys/login/start",
        Some(serde_json::json!({"username": username})),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let credential = soft.do_authentication(origin(), options).expect("assert");
    let body = serde_json::json!({"ceremony_id": start["ceremony_id"], "credential": credential});
    let (status, login) = call(
        "POST",
        "/api/v1/passkeys/login/finish",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{login}");
    assert_eq!(login["user"]["user_id"], user_id.as_str());
    let new_token = login["token"].as_str().expect("token");
    let (status, me) = call("GET", "/api/v1/me", None, Some(new_token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], username.as_str());
    let (status, again) = call("POST", "/api/v1/passkeys/login/finish", Some(body), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(again["code"], "PASSKEY_CEREMONY_UNKNOWN");

    let passkey_id = list["passkeys"][0]["passkey_id"].as_str().expect("id");
    let (status, _) = call(
        "DELETE",
        &format!("/api/v1/passkeys/{passkey_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, gone) = call(
        "DELETE",
        &format!("/api/v1/passkeys/{passkey_id}"),
        None,
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
}
