//! The sealed reserve price (底价) of auctions and listings and the winner's passkey
//! signature on the deal confirmation (issue 17 items 3–4), over HTTP on SQLite and
//! PostgreSQL: custodians named at drafting, the key issued at publication, the reserve
//! sealed before bidding and refused when malformed or late, unreadable by anyone before
//! the end, opened by a quorum of custodians only, the deal decided against it, and the
//! winner's signature refused to anyone else and to a forged or replayed assertion.

use base64::Engine;
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::auction::jobs::Confirmation;
use sunbid::auction::reserve::{RESERVE_BIDDER_ID, reserve_plaintext};
use sunbid::audit::verify::{Verdict, verify_server};
use sunbid::identity::{OrgKind, Role};
use sunbid::seal::PublicKey;
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;

use crate::auctions::{World, admit, apply, bid, bidder_no, draft, public_text, publish, run_jobs};
use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};
use crate::opening_faults::seal;

/// Three enrolled custodians (passphrase keys); returns their user ids.
async fn custodians(h: &Harness) -> Vec<String> {
    let centre = h.create_org(OrgKind::Agent, "公共资源交易中心").await;
    let mut out = Vec::new();
    for i in 0..3 {
        let name = format!("reserve_custodian{i}");
        let id = h.create_user(&name, Role::Custodian, Some(&centre)).await;
        let caller = sunbid::tender::service::Caller {
            user: sunbid::http::ctx::SessionUser {
                user_id: id.clone(),
                role: Role::Custodian,
                org_id: Some(centre.clone()),
                name,
            },
            actor: sunbid::audit::Actor {
                user_id: Some(id.clone()),
                role: Some("custodian".into()),
                request_id: None,
                client_ip: None,
            },
            user_agent: None,
        };
        sunbid::bid::custodian::enrol(h.db(), h.now(), &caller, PASSWORD.into())
            .await
            .expect("enrol custodian key");
        out.push(id);
    }
    out
}

async fn custodian_token(h: &Harness, i: usize) -> String {
    h.login(&format!("reserve_custodian{i}"), PASSWORD).await
}

/// The reserve view, and the trade's key to seal to.
async fn reserve_of(h: &Harness, code: &str, token: Option<&str>) -> Value {
    let (s, v) = h
        .api_get(&format!("/api/v1/auctions/{code}/reserve"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn key_of(view: &Value) -> (String, PublicKey) {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(view["public_key"].as_str().expect("a key"))
        .expect("base64url");
    (
        view["trade_id"].as_str().expect("trade id").to_string(),
        PublicKey::from_bytes(&bytes).expect("P-256 point"),
    )
}

async fn post_reserve(h: &Harness, code: &str, token: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/auctions/{code}/reserve")))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("post reserve");
    crate::harness::json_of(resp).await
}

async fn unlock(h: &Harness, code: &str, token: &str, passphrase: &str) -> (StatusCode, Value) {
    h.api_post(
        &format!("/api/v1/auctions/{code}/reserve/unlock"),
        Some(token),
        &json!({"passphrase": passphrase}),
    )
    .await
}

async fn state_of(h: &Harness, code: &str) -> String {
    let (s, v) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["state"].as_str().unwrap_or_default().to_string()
}

async fn result_unsigned(h: &Harness, code: &str) -> bool {
    let (_, r) = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    r["awaiting_winner"] == true && r["winner_signature"].is_null()
}

async fn a_sealed_reserve_decides_the_deal_and_the_winner_signs(h: &Harness) {
    let mut w = World::new(h).await;
    let ids = custodians(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);

    // Custodians at drafting: a non-custodian, too few.
    let code = format!("RSV-{}", next_serial());
    let mut body = draft(&code, "auction", start, Duration::hours(1));
    body["custodians"] = json!([ids[0], w.bidders[0].0]);
    let got = h.api_post("/api/v1/auctions", Some(&w.agent), &body).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_CUSTODIANS_TOO_FEW",
    );
    let agent_id = {
        let (_, me) = h.api_get("/api/v1/me", Some(&w.agent)).await;
        me["user_id"].as_str().unwrap_or_default().to_string()
    };
    body["custodians"] = json!([ids[0], ids[1], agent_id]);
    let got = h.api_post("/api/v1/auctions", Some(&w.agent), &body).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_BAD_CUSTODIAN",
    );
    body["custodians"] = json!(ids);
    let code = publish(h, &w, &body).await;
    let view = reserve_of(h, &code, None).await;
    assert_eq!(
        (view["k"].as_u64(), view["n"].as_u64()),
        (Some(2), Some(3)),
        "{view}"
    );
    assert_eq!(view["sealed"], false);
    let (trade_id, pk) = key_of(&view);

    // Bad reserves: not an envelope, sealed as a bidder, for another trade, unpadded.
    let reserve_fen: i64 = 101_234_500;
    let good = seal(
        &pk,
        &trade_id,
        RESERVE_BIDDER_ID,
        "form",
        &reserve_plaintext(reserve_fen),
    );
    for bad in [
        b"{\"reserve_fen\": 1}".to_vec(),
        seal(
            &pk,
            &trade_id,
            &w.bidders[0].0,
            "form",
            &reserve_plaintext(1),
        ),
        seal(
            &pk,
            "01J0000000000000000000000X",
            RESERVE_BIDDER_ID,
            "form",
            &reserve_plaintext(1),
        ),
        seal(
            &pk,
            &trade_id,
            RESERVE_BIDDER_ID,
            "form",
            b"{\"reserve_fen\": 1}",
        ),
        good[..good.len() - 3].to_vec(),
    ] {
        let got = post_reserve(h, &code, &w.agent, bad).await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "AUCTION_RESERVE_INVALID",
        );
    }
    for token in [
        w.operator.clone(),
        w.token(0).to_string(),
        w.regulator.clone(),
    ] {
        let (s, v) = post_reserve(h, &code, &token, good.clone()).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    }
    let (s, v) = post_reserve(h, &code, &w.agent, good.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["replaced"], false);
    let (s, trade) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(trade["reserve_sealed"], true, "{trade}");

    // Nobody reads the amount before the end: not the API (any role), not the audit log.
    for token in [
        None,
        Some(w.agent.as_str()),
        Some(w.operator.as_str()),
        Some(w.regulator.as_str()),
    ] {
        let v = reserve_of(h, &code, token).await;
        assert_eq!(v["sealed"], true);
        assert!(v["reserve_fen"].is_null(), "{v}");
        assert!(!v.to_string().contains(&reserve_fen.to_string()), "{v}");
    }
    assert!(!public_text(h).await.contains(&reserve_fen.to_string()));
    assert_eq!(
        h.count("auction_reserve where reserve_fen is not null")
            .await,
        0,
        "the amount is nowhere in the clear"
    );

    // Bidders.
    for i in 0..2 {
        let dref = apply(h, &w, &code, i).await;
        admit(h, &w, &code, &dref).await;
    }
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;
    // After bidding started: too late to seal.
    let got = post_reserve(h, &code, &w.agent, good.clone()).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_RESERVE_TOO_LATE");
    let (s, v) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = bid(h, &w, &code, 1, 102_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Before the end nobody unlocks: custodians are refused, others are not custodians.
    let c0 = custodian_token(h, 0).await;
    let got = unlock(h, &code, &c0, PASSWORD).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_RESERVE_NOT_DUE");

    // The end: the trade waits for the custodians, nothing about the result yet.
    w.advance(h, Duration::hours(2)).await;
    run_jobs(h).await;
    assert_eq!(state_of(h, &code).await, "ended");
    let got = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_ENDED");
    let (s, _) = h
        .api_get(&format!("/api/v1/auctions/{code}/bidders"), Some(&w.agent))
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "identities stay secret until the result"
    );

    // Opening: not a custodian, a wrong passphrase, one custodian alone, the same one twice.
    for token in [w.agent.clone(), w.operator.clone(), w.token(0).to_string()] {
        let (s, v) = unlock(h, &code, &token, PASSWORD).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{v}");
    }
    let c0 = custodian_token(h, 0).await;
    let (s, v) = unlock(h, &code, &c0, "not the passphrase at all").await;
    assert!(s.is_client_error(), "{s} {v}");
    assert_eq!(v["code"], "WRONG_PASSPHRASE", "{v}");
    let (s, v) = unlock(h, &code, &c0, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["unlocked"], 1);
    assert!(v["reserve_fen"].is_null(), "one share opens nothing: {v}");
    assert_eq!(state_of(h, &code).await, "ended");
    let got = unlock(h, &code, &c0, PASSWORD).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_ALREADY_UNLOCKED");
    let c1 = custodian_token(h, 1).await;
    let (s, v) = unlock(h, &code, &c1, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["reserve_fen"], reserve_fen, "{v}");
    assert_eq!(state_of(h, &code).await, "deal");
    assert_eq!(h.count("auction_reserve_share").await, 0, "shares wiped");
    let c2 = custodian_token(h, 2).await;
    let got = unlock(h, &code, &c2, PASSWORD).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_RESERVE_NOT_DUE");

    // The confirmation: platform-signed, with the reserve, awaiting the winner.
    let (s, result) = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{result}");
    let confirmation: Confirmation =
        serde_json::from_value(result["confirmation"].clone()).expect("confirmation");
    assert_eq!(confirmation.price_fen, 102_000_000);
    assert_eq!(confirmation.reserve_fen, Some(reserve_fen));
    assert_eq!(confirmation.bidder_no, bidder_no(h, &w, &code, 1).await);
    let public = h.state().platform_key.public();
    assert!(confirmation.verify(&public, result["signature"].as_str().unwrap()));
    assert_eq!(result["awaiting_winner"], true);
    assert!(result["winner_signature"].is_null());

    // The winner's passkey signature: not another bidder, not a forged or replayed one.
    let sign_start = format!("/api/v1/auctions/{code}/confirmation/sign/start");
    let sign = format!("/api/v1/auctions/{code}/confirmation/sign");
    let (s, v) = h.api_post(&sign_start, Some(w.token(0)), &json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another bidder: {v}");
    let (s, v) = h.api_post(&sign_start, Some(&w.operator), &json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "the operator: {v}");
    let mut winner = h.register_passkey(w.token(1)).await;
    let origin = Url::parse(&h.public_url).expect("origin");
    let (s, start) = h.api_post(&sign_start, Some(w.token(1)), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        confirmation.canonical().unwrap().as_bytes(),
    );
    assert_eq!(start["confirmation_sha256"], hex::encode(digest.as_ref()));
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    // A forged assertion: the winner's, with its signature altered.
    let mut forged = serde_json::to_value(
        winner
            .do_authentication(origin.clone(), options)
            .expect("assert"),
    )
    .expect("json");
    let sig = forged["response"]["signature"]
        .as_str()
        .expect("signature")
        .to_string();
    let flipped = if sig.starts_with('A') { "B" } else { "A" };
    forged["response"]["signature"] = json!(format!("{flipped}{}", &sig[1..]));
    let (s, v) = h
        .api_post(
            &sign,
            Some(w.token(1)),
            &json!({"ceremony_id": start["ceremony_id"], "credential": forged}),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    assert!(result_unsigned(h, &code).await);
    // The ceremony is spent now: even the right answer to it is refused.
    let (s, start) = h.api_post(&sign_start, Some(w.token(1)), &json!({})).await;
    assert_eq!(s, StatusCode::OK, "{start}");
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let cred = winner
        .do_authentication(origin.clone(), options)
        .expect("assert");
    // A malformed assertion is a clear 4xx.
    let (s, v) = h
        .api_post(
            &sign,
            Some(w.token(1)),
            &json!({"ceremony_id": start["ceremony_id"], "credential": {"id": 5}}),
        )
        .await;
    assert!(s.is_client_error() && v["code"].is_string(), "{s} {v}");
    let (s, signed) = h
        .api_post(
            &sign,
            Some(w.token(1)),
            &json!({"ceremony_id": start["ceremony_id"], "credential": cred.clone()}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{signed}");
    // Replayed: the same assertion again.
    let (s, v) = h
        .api_post(
            &sign,
            Some(w.token(1)),
            &json!({"ceremony_id": start["ceremony_id"], "credential": cred}),
        )
        .await;
    assert!(s.is_client_error(), "{s} {v}");
    let got = h.api_post(&sign_start, Some(w.token(1)), &json!({})).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_ALREADY_SIGNED");
    let (_, result) = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_eq!(result["awaiting_winner"], false, "{result}");
    assert_eq!(
        result["winner_signature"]["credential_id"],
        signed["credential_id"]
    );

    // Public entries: the opening and the signature; the log verifies.
    let deal = h.public_entries("auction.deal").await;
    assert!(
        deal.iter()
            .any(|e| e.to_string().contains(&reserve_fen.to_string()))
    );
    assert_eq!(h.public_entries("auction.deal.sign").await.len(), 1);
    let (verdict, _) = verify_server(&h.base, None, None).await.expect("verify");
    assert!(matches!(verdict, Verdict::Ok { .. }), "audit verify");
}
both!(
    reserve_decides_deal,
    a_sealed_reserve_decides_the_deal_and_the_winner_signs
);

async fn a_listing_whose_one_quote_is_below_the_reserve_has_no_deal(h: &Harness) {
    let mut w = World::new(h).await;
    let ids = custodians(h).await;
    // Land listing: announced 20 days before, listed 10 days (39号令 第10、20条).
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let mut body = draft(
        &format!("RSVL-{}", next_serial()),
        "listing",
        start,
        Duration::days(10) + Duration::hours(1),
    );
    body["custodians"] = json!(ids);
    let code = publish(h, &w, &body).await;
    let (trade_id, pk) = key_of(&reserve_of(h, &code, None).await);
    let reserve_fen: i64 = 150_000_000;
    let sealed = seal(
        &pk,
        &trade_id,
        RESERVE_BIDDER_ID,
        "form",
        &reserve_plaintext(reserve_fen),
    );
    let (s, v) = post_reserve(h, &code, &w.agent, sealed).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let dref = apply(h, &w, &code, 0).await;
    admit(h, &w, &code, &dref).await;
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;
    let (s, v) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    w.advance(h, Duration::days(11)).await;
    run_jobs(h).await;
    assert_eq!(state_of(h, &code).await, "ended");
    for i in [2, 0] {
        let token = custodian_token(h, i).await;
        let (s, v) = unlock(h, &code, &token, PASSWORD).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    // 39号令 第21条: the one quote is below the reserve → no deal (挂牌不成交).
    assert_eq!(state_of(h, &code).await, "no_deal");
    let v = reserve_of(h, &code, None).await;
    assert_eq!(v["reserve_fen"], reserve_fen);
    let no_deal = h.public_entries("auction.no_deal").await;
    assert!(
        no_deal
            .iter()
            .any(|e| e.to_string().contains("below the reserve")),
        "{no_deal:?}"
    );
    let (s, bidders) = h
        .api_get(&format!("/api/v1/auctions/{code}/bidders"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "public after the result: {bidders}");
    assert_eq!(bidders[0]["deposit"], "refund");
}
both!(
    listing_below_reserve,
    a_listing_whose_one_quote_is_below_the_reserve_has_no_deal
);

async fn a_trade_without_custodians_has_no_reserve_and_deals_as_before(h: &Harness) {
    let mut w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let body = draft(
        &format!("RSVN-{}", next_serial()),
        "auction",
        start,
        Duration::hours(1),
    );
    let code = publish(h, &w, &body).await;
    let v = reserve_of(h, &code, None).await;
    assert!(v["public_key"].is_null() && v["sealed"] == false, "{v}");
    let got = post_reserve(h, &code, &w.agent, b"anything".to_vec()).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NO_RESERVE_KEY");
    let dref = apply(h, &w, &code, 0).await;
    admit(h, &w, &code, &dref).await;
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;
    let (s, v) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    w.advance(h, Duration::hours(2)).await;
    run_jobs(h).await;
    assert_eq!(state_of(h, &code).await, "deal");
}
both!(
    no_reserve_as_before,
    a_trade_without_custodians_has_no_reserve_and_deals_as_before
);
