//! Custodian keys held by a passkey (issue 11 item 4): enrolment with the WebAuthn PRF
//! extension and the unlock with a share opened in the browser, over HTTP.
//!
//! The test plays the browser: it makes the key pair, wraps the scalar under a made-up PRF
//! output (the server never sees one, so any 32 bytes do), opens the sealed share itself and
//! signs with a software passkey. What is checked is the server's side: every malformed or
//! misbound input is a 4xx `{code, message}` that stores nothing, a share that is not the one
//! issued is 422 and counted and audited like a wrong passphrase, and the right shares of a
//! quorum open the tender exactly as passphrase unlocks do.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::Duration;
use reqwest::StatusCode;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Value, json};
use sunbid::identity::{OrgKind, Role};
use sunbid::seal::custodian::open_share;
use sunbid::seal::{LockedCustodianKey, PrivateKey, SealedShare, derive_keypair};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};
use crate::opening_faults::{Open, honest_bid};
use crate::tenders::{World, upload};

/// A custodian whose browser this test plays.
struct PrfCustodian {
    user_id: String,
    soft: SoftPasskey,
    sk: PrivateKey,
    prf_output: [u8; 32],
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    SystemRandom::new().fill(&mut out).expect("random");
    out
}

/// The assertion for a started ceremony's options.
fn assert_with(h: &Harness, soft: &mut SoftPasskey, start: &Value) -> Value {
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let origin = Url::parse(&h.public_url).expect("origin");
    let cred = soft.do_authentication(origin, options).expect("assert");
    serde_json::to_value(cred).expect("credential json")
}

/// What the browser sends at enrolment: public key, nonce and wrapped scalar (base64).
fn wrapped_record(sk: &PrivateKey, prf_output: &[u8; 32], prf_salt: &[u8]) -> Value {
    let locked = LockedCustodianKey::wrap_with_prf(
        sk,
        prf_output,
        "AA".into(),
        prf_salt.to_vec(),
        random::<12>(),
    )
    .expect("wrap");
    json!({
        "public_key": STANDARD.encode(locked.public_key.to_bytes()),
        "nonce": STANDARD.encode(&locked.nonce),
        "wrapped_key": STANDARD.encode(&locked.ciphertext),
    })
}

fn enrol_body(ceremony: &Value, credential: Value, prf_salt: &str, record: &Value) -> Value {
    json!({
        "ceremony_id": ceremony,
        "credential": credential,
        "prf_salt": prf_salt,
        "public_key": record["public_key"],
        "nonce": record["nonce"],
        "wrapped_key": record["wrapped_key"],
    })
}

/// A custodian user with a passkey, not yet enrolled; returns it and its token.
async fn custodian_with_passkey(h: &Harness, username: &str) -> (PrfCustodian, String) {
    let org = h
        .create_org(
            OrgKind::TradingCentre,
            &format!("{username} 公共资源交易中心"),
        )
        .await;
    let user_id = h.create_user(username, Role::Custodian, Some(&org)).await;
    let token = h.login(username, PASSWORD).await;
    let soft = h.register_passkey(&token).await;
    let (sk, _) = derive_keypair(&random::<32>());
    let c = PrfCustodian {
        user_id,
        soft,
        sk,
        prf_output: random::<32>(),
    };
    (c, token)
}

/// Enrols `c` with its passkey; returns the key view.
async fn enrol(h: &Harness, c: &mut PrfCustodian, token: &str) -> Value {
    let (s, start) = h
        .api_post(
            "/api/v1/custodian/key/passkey/start",
            Some(token),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let salt_b64 = start["prf_salt"].as_str().expect("prf_salt");
    let salt = STANDARD.decode(salt_b64).expect("standard base64");
    let record = wrapped_record(&c.sk, &c.prf_output, &salt);
    let credential = assert_with(h, &mut c.soft, &start);
    let (s, key) = h
        .api_post(
            "/api/v1/custodian/key/passkey",
            Some(token),
            &enrol_body(&start["ceremony_id"], credential, salt_b64, &record),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    key
}

async fn enrolment_refuses_bad_input(h: &Harness) {
    let (_, _, bidder) = h.bidder("prf_bidder").await;
    let start = "/api/v1/custodian/key/passkey/start";
    let finish = "/api/v1/custodian/key/passkey";

    // Anonymous callers and other roles are refused before anything else.
    assert_error(
        &h.api_post(start, None, &json!({})).await,
        StatusCode::UNAUTHORIZED,
        "LOGIN_REQUIRED",
    );
    assert_error(
        &h.api_post(start, Some(&bidder), &json!({})).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    let junk = json!({"ceremony_id": "x", "credential": {}, "prf_salt": "", "public_key": "",
                      "nonce": "", "wrapped_key": ""});
    assert_error(
        &h.api_post(finish, Some(&bidder), &junk).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );

    // A custodian without a passkey is told to register one.
    let centre = h.create_org(OrgKind::TradingCentre, "无密钥交易中心").await;
    h.create_user("prf_nokey", Role::Custodian, Some(&centre))
        .await;
    let nokey = h.login("prf_nokey", PASSWORD).await;
    assert_error(
        &h.api_post(start, Some(&nokey), &json!({})).await,
        StatusCode::NOT_FOUND,
        "NO_PASSKEY",
    );

    let (mut c, token) = custodian_with_passkey(h, "prf_enrol").await;
    let (s, started) = h.api_post(start, Some(&token), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{started}");
    let salt_b64 = started["prf_salt"].as_str().expect("prf_salt").to_string();
    let salt = STANDARD.decode(&salt_b64).expect("standard base64");
    assert_eq!(salt.len(), 32);
    let good = wrapped_record(&c.sk, &c.prf_output, &salt);
    let credential = assert_with(h, &mut c.soft, &started);
    let ceremony = started["ceremony_id"].clone();

    // Malformed records: 422 each, and the ceremony is still usable afterwards.
    let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
    let bad_records = [
        ("public_key", json!("%%% not base64 %%%")),
        ("public_key", json!(b64(65))),
        ("public_key", json!(b64(64))),
        ("nonce", json!(b64(11))),
        ("nonce", json!("bm9uY2U")),
        ("wrapped_key", json!(b64(47))),
        ("wrapped_key", json!(b64(49))),
        ("prf_salt", json!(b64(16))),
        ("prf_salt", json!("")),
    ];
    for (field, value) in bad_records {
        let mut body = enrol_body(&ceremony, credential.clone(), &salt_b64, &good);
        body[field] = value.clone();
        let got = h.api_post(finish, Some(&token), &body).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_CUSTODIAN_KEY",
        );
        assert!(
            got.1["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{field}={value}: {}",
            got.1
        );
    }
    // Not a WebAuthn assertion at all.
    let body = enrol_body(&ceremony, json!({"id": 1}), &salt_b64, &good);
    assert_error(
        &h.api_post(finish, Some(&token), &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PASSKEY_MALFORMED",
    );
    // Another salt than the one issued: the signed challenge does not match.
    let other_salt = STANDARD.encode(random::<32>());
    let body = enrol_body(&ceremony, credential.clone(), &other_salt, &good);
    assert_error(
        &h.api_post(finish, Some(&token), &body).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PASSKEY_CHALLENGE_MISMATCH",
    );
    // That consumed the ceremony: it cannot be finished again, even with the right salt.
    let body = enrol_body(&ceremony, credential, &salt_b64, &good);
    assert_error(
        &h.api_post(finish, Some(&token), &body).await,
        StatusCode::CONFLICT,
        "PASSKEY_CEREMONY_UNKNOWN",
    );
    let (s, v) = h.api_get("/api/v1/custodian/key", Some(&token)).await;
    assert_error(&(s, v), StatusCode::NOT_FOUND, "CUSTODIAN_NOT_ENROLLED");

    // A clean enrolment: bound to the passkey that signed.
    let key = enrol(h, &mut c, &token).await;
    assert_eq!(key["kdf"], "webauthn-prf", "{key}");
    assert!(key.get("iterations").is_none(), "{key}");
    let credential_id = key["credential_id"].as_str().expect("credential id");
    let (s, passkeys) = h.api_get("/api/v1/passkeys", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(passkeys["passkeys"][0]["credential_id"], credential_id);
    let (s, mine) = h.api_get("/api/v1/custodian/key", Some(&token)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["public_key"], key["public_key"]);
    // The enrolment is audited, with the passkey and no key material.
    let enrolled: Vec<Value> = h
        .public_entries("custodian.enrol")
        .await
        .into_iter()
        .filter(|e| e["payload"]["custodian"] == c.user_id.as_str())
        .collect();
    assert_eq!(enrolled.len(), 1, "{enrolled:?}");
    let p = &enrolled[0]["payload"];
    assert_eq!(p["kdf"], "webauthn-prf");
    assert_eq!(p["credential_id"], credential_id);
    assert_eq!(p["user_verified"], true);
    assert!(
        !enrolled[0]
            .to_string()
            .contains(good["wrapped_key"].as_str().expect("b64"))
    );
    // Once only.
    assert_error(
        &h.api_post(start, Some(&token), &json!({})).await,
        StatusCode::CONFLICT,
        "CUSTODIAN_ALREADY_ENROLLED",
    );
    // A passphrase enrolment is refused for a weak passphrase, whoever asks.
    let (s, v) = h
        .api_post(
            "/api/v1/custodian/key",
            Some(&nokey),
            &json!({"passphrase": "password1234"}),
        )
        .await;
    assert_error(&(s, v), StatusCode::UNPROCESSABLE_ENTITY, "WEAK_PASSPHRASE");
    let (s, v) = h.api_get("/api/v1/custodian/key", Some(&nokey)).await;
    assert_error(&(s, v), StatusCode::NOT_FOUND, "CUSTODIAN_NOT_ENROLLED");
}
both!(passkey_enrolment_bad_input, enrolment_refuses_bad_input);

/// Publishes a tender whose custodians are `custodians`, with three honest bids; returns it.
async fn tender_with(h: &Harness, world: &World, custodians: &[String]) -> Open {
    let code = format!("PRF-{}", next_serial());
    let mut input = world.input(
        &code,
        "通行密钥开标测试工程",
        h.now() + Duration::minutes(1),
        20,
    );
    input["custodians"] = json!(custodians);
    let (s, v) = h
        .api_post("/api/v1/tenders", Some(&world.agent), &input)
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = upload(h, &world.agent, &code, "招标文件.pdf", b"%PDF-1.4 test").await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/publish"),
            Some(&world.agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, key) = h
        .api_get(&format!("/api/v1/tenders/{code}/opening-key"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{key}");
    let pk = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(key["public_key"].as_str().expect("public key"))
        .expect("base64url");
    let open = Open {
        code,
        tender_id: key["tender_id"].as_str().expect("tender id").to_string(),
        pk: sunbid::seal::PublicKey::from_bytes(&pk).expect("point"),
    };
    for i in 0..3i64 {
        let (org, _, token) = h.bidder(&format!("prf_bidder{i}_{}", next_serial())).await;
        let price = 11_000_000_000 + i * 100_000_000;
        honest_bid(h, &open, &org, &token, price).await;
    }
    open
}

/// Starts a passkey unlock; returns the start answer.
async fn start_unlock(h: &Harness, o: &Open, token: &str) -> (StatusCode, Value) {
    h.api_post(
        &format!("/api/v1/tenders/{}/opening/unlock/passkey/start", o.code),
        Some(token),
        &json!({}),
    )
    .await
}

/// Opens the share the start answer carries, as the browser does.
fn open_my_share(c: &PrfCustodian, start: &Value) -> Vec<u8> {
    let key: LockedCustodianKey = serde_json::from_value(start["key"].clone()).expect("key");
    let sk = key
        .unlock_with_prf(&c.prf_output)
        .expect("unwrap with the PRF output");
    let sealed: SealedShare =
        serde_json::from_value(start["sealed_share"].clone()).expect("sealed share");
    let tender_id = start["tender_id"].as_str().expect("tender id");
    open_share(&sk, &sealed, tender_id)
        .expect("open share")
        .as_bytes()
        .to_vec()
}

async fn post_share(
    h: &Harness,
    o: &Open,
    token: &str,
    c: &mut PrfCustodian,
    share: &[u8],
) -> (StatusCode, Value) {
    let (s, start) = start_unlock(h, o, token).await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let credential = assert_with(h, &mut c.soft, &start);
    h.api_post(
        &format!("/api/v1/tenders/{}/opening/unlock/passkey", o.code),
        Some(token),
        &json!({"ceremony_id": start["ceremony_id"], "credential": credential,
                "nonce": start["nonce"], "share": STANDARD.encode(share)}),
    )
    .await
}

async fn passkey_unlock_opens_the_tender(h: &Harness) {
    let world = World::new(h).await;
    let (mut a, a_token) = custodian_with_passkey(h, "prf_a").await;
    let (mut b, b_token) = custodian_with_passkey(h, "prf_b").await;
    enrol(h, &mut a, &a_token).await;
    enrol(h, &mut b, &b_token).await;
    let o = tender_with(
        h,
        &world,
        &[
            a.user_id.clone(),
            b.user_id.clone(),
            world.custodians[0].clone(),
        ],
    )
    .await;

    // Before the opening starts there is nothing to unlock.
    assert_error(
        &start_unlock(h, &o, &a_token).await,
        StatusCode::CONFLICT,
        "OPENING_NOT_UNLOCKING",
    );
    h.clock.advance(Duration::days(21));
    let agent = h.login("agent1", PASSWORD).await;
    let (s, v) = h
        .api_post(
            &format!("/api/v1/tenders/{}/opening/start", o.code),
            Some(&agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let a_token = h.login("prf_a", PASSWORD).await;
    let b_token = h.login("prf_b", PASSWORD).await;
    let c0 = h.login("custodian0", PASSWORD).await;
    let unlock_url = format!("/api/v1/tenders/{}/opening/unlock/passkey", o.code);

    // The method must match how the key is held.
    assert_error(
        &h.api_post(
            &format!("/api/v1/tenders/{}/opening/unlock", o.code),
            Some(&a_token),
            &json!({"passphrase": PASSWORD}),
        )
        .await,
        StatusCode::CONFLICT,
        "WRONG_UNLOCK_METHOD",
    );
    assert_error(
        &start_unlock(h, &o, &c0).await,
        StatusCode::CONFLICT,
        "WRONG_UNLOCK_METHOD",
    );
    // Another role, and a custodian of another tender, are not custodians of this one.
    assert_error(
        &start_unlock(h, &o, &agent).await,
        StatusCode::FORBIDDEN,
        "NOT_A_CUSTODIAN",
    );
    let c1 = h.login("custodian1", PASSWORD).await;
    assert_error(
        &start_unlock(h, &o, &c1).await,
        StatusCode::FORBIDDEN,
        "NOT_A_CUSTODIAN",
    );

    let (s, start) = start_unlock(h, &o, &a_token).await;
    assert_eq!(s, StatusCode::OK, "{start}");
    assert_eq!(start["tender_id"], o.tender_id.as_str());
    assert_eq!(start["key"]["kdf"], "webauthn-prf");
    let right = open_my_share(&a, &start);
    assert_eq!(right.len(), 33);

    // A nonce other than the one issued: the challenge does not match; not counted.
    let credential = assert_with(h, &mut a.soft, &start);
    assert_error(
        &h.api_post(
            &unlock_url,
            Some(&a_token),
            &json!({"ceremony_id": start["ceremony_id"], "credential": credential,
                    "nonce": STANDARD.encode(random::<16>()), "share": STANDARD.encode(&right)}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PASSKEY_CHALLENGE_MISMATCH",
    );

    // A wrong share (one bit changed, or garbage) is 422, counted and audited.
    let mut wrong = right.clone();
    wrong[32] ^= 1;
    for (n, share) in [wrong, b"not a share".to_vec()].into_iter().enumerate() {
        assert_error(
            &post_share(h, &o, &a_token, &mut a, &share).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "WRONG_SHARE",
        );
        let fails: Vec<Value> = h
            .public_entries("opening.unlock.fail")
            .await
            .into_iter()
            .filter(|e| e["tender"] == o.tender_id.as_str())
            .collect();
        assert_eq!(fails.len(), n + 1, "{fails:?}");
        let p = &fails[n]["payload"];
        assert_eq!(p["custodian"], a.user_id.as_str());
        assert_eq!(p["method"], "passkey");
        assert_eq!(p["failures_in_a_row"], n + 1);
        assert!(!fails[n].to_string().contains(&STANDARD.encode(&right)));
    }
    // The other custodian's share is not this one's either.
    let (s, b_start) = start_unlock(h, &o, &b_token).await;
    assert_eq!(s, StatusCode::OK, "{b_start}");
    let b_share = open_my_share(&b, &b_start);
    assert_error(
        &post_share(h, &o, &a_token, &mut a, &b_share).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "WRONG_SHARE",
    );

    // The right share: recorded (the count resets), quorum 1 of 2.
    let (s, v) = post_share(h, &o, &a_token, &mut a, &right).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "unlocking", "{v}");
    assert_eq!(v["unlocked"].as_array().map(Vec::len), Some(1), "{v}");
    let unlocks = h.public_entries("opening.unlock").await;
    let mine: Vec<&Value> = unlocks
        .iter()
        .filter(|e| e["tender"] == o.tender_id.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["payload"]["method"], "passkey");
    assert!(mine[0]["payload"]["credential_id"].is_string());
    assert!(!mine[0].to_string().contains(&STANDARD.encode(&right)));
    assert_error(
        &start_unlock(h, &o, &a_token).await,
        StatusCode::CONFLICT,
        "ALREADY_UNLOCKED",
    );

    // The second custodian completes the quorum and the opening runs.
    let (s, v) = post_share(h, &o, &b_token, &mut b, &b_share).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "opened", "{v}");
    let (s, v) = h
        .api_get(&format!("/api/v1/tenders/{}/opening", o.code), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "opened", "{v}");
    let bids = v["record"]["bids"].as_array().expect("bids in the record");
    assert_eq!(bids.len(), 3, "{v}");
    assert_eq!(v["record"]["valid_bids"], 3, "{v}");
}
both!(passkey_unlock, passkey_unlock_opens_the_tender);
