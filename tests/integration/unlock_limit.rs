//! Custodian passphrases cannot be guessed without limit or trace (issue 11 item 3): after
//! five wrong passphrases in a row for one tender, every attempt of that custodian for that
//! tender waits (429 with `Retry-After`, 1 minute, then 2, …), even with the right
//! passphrase; each failure is in the public audit log; another custodian and the same
//! custodian at another tender are not held up; a success resets the count.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error};
use crate::opening_faults::{Open, honest_bid, published_by};
use crate::tenders::World;

const WRONG: &str = "not-the-passphrase-42";

/// An unlock attempt: status, `Retry-After` (if any) and body.
async fn unlock(
    h: &Harness,
    o: &Open,
    token: &str,
    passphrase: &str,
) -> (StatusCode, Option<u64>, Value) {
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/tenders/{}/opening/unlock", o.code)))
        .bearer_auth(token)
        .json(&json!({ "passphrase": passphrase }))
        .send()
        .await
        .expect("unlock");
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    let (status, body) = crate::harness::json_of(resp).await;
    (status, retry_after, body)
}

/// The public audit entries of one action for one tender.
async fn entries(h: &Harness, action: &str, tender_id: &str) -> Vec<Value> {
    let mut all = h.public_entries(action).await;
    all.retain(|e| e["tender"] == tender_id);
    all
}

async fn start_opening(h: &Harness, agent: &str, o: &Open) {
    let (s, v) = h
        .api_post(
            &format!("/api/v1/tenders/{}/opening/start", o.code),
            Some(agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "unlocking", "{v}");
}

async fn attempts_are_limited_per_custodian_and_tender(h: &Harness) {
    let world = World::new(h).await;
    let t1 = published_by(h, &world).await;
    let t2 = published_by(h, &world).await;
    for (i, name) in ["ul_a", "ul_b", "ul_c"].iter().enumerate() {
        let (org, _, token) = h.bidder(name).await;
        let price = 11_000_000_000 + i64::try_from(i).expect("small") * 100_000_000;
        honest_bid(h, &t1, &org, &token, price).await;
        honest_bid(h, &t2, &org, &token, price).await;
    }
    h.clock.advance(Duration::days(21));
    let agent = h.login("agent1", PASSWORD).await;
    start_opening(h, &agent, &t1).await;
    start_opening(h, &agent, &t2).await;
    let c0 = h.login("custodian0", PASSWORD).await;
    let c1 = h.login("custodian1", PASSWORD).await;

    // Five wrong passphrases are answered, each counted.
    for _ in 0..5 {
        let (s, retry, body) = unlock(h, &t1, &c0, WRONG).await;
        assert_error(
            &(s, body),
            StatusCode::UNPROCESSABLE_ENTITY,
            "WRONG_PASSPHRASE",
        );
        assert_eq!(retry, None);
    }
    // The sixth waits, even with the right passphrase, and is told how long.
    let (s, retry, body) = unlock(h, &t1, &c0, PASSWORD).await;
    assert_error(
        &(s, body),
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_UNLOCK_ATTEMPTS",
    );
    let wait = retry.expect("Retry-After on the 429");
    assert!((55..=60).contains(&wait), "about a minute: {wait}");

    // Every failure is in the public log, for the regulator, and no passphrase is.
    let fails = entries(h, "opening.unlock.fail", &t1.tender_id).await;
    assert_eq!(fails.len(), 5, "{fails:?}");
    let c0_id = &world.custodians[0];
    for (n, e) in fails.iter().enumerate() {
        assert_eq!(e["payload"]["custodian"], c0_id.as_str(), "{e}");
        assert_eq!(e["payload"]["failures_in_a_row"], n + 1, "{e}");
        assert_eq!(e["actor"], c0_id.as_str(), "{e}");
        let text = e.to_string();
        assert!(!text.contains(WRONG) && !text.contains(PASSWORD), "{text}");
    }
    assert_eq!(fails[4]["payload"]["delay_seconds"], 60, "{}", fails[4]);
    assert!(fails[3]["payload"]["delay_seconds"].is_null());

    // Another custodian of the same tender, and the same custodian at another tender, go on.
    let (s, _, body) = unlock(h, &t1, &c1, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, body) = unlock(h, &t2, &c0, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{body}");

    // After the minute the next attempt is taken; one more failure doubles the wait.
    h.clock.advance(Duration::seconds(61));
    let (s, _, body) = unlock(h, &t1, &c0, WRONG).await;
    assert_error(
        &(s, body),
        StatusCode::UNPROCESSABLE_ENTITY,
        "WRONG_PASSPHRASE",
    );
    let (s, retry, body) = unlock(h, &t1, &c0, PASSWORD).await;
    assert_error(
        &(s, body),
        StatusCode::TOO_MANY_REQUESTS,
        "TOO_MANY_UNLOCK_ATTEMPTS",
    );
    let wait = retry.expect("Retry-After");
    assert!((115..=120).contains(&wait), "two minutes: {wait}");
    h.clock.advance(Duration::seconds(121));
    // Tokens are short-lived; a fresh login, then the right passphrase opens the bids.
    let c0 = h.login("custodian0", PASSWORD).await;
    let (s, _, body) = unlock(h, &t1, &c0, PASSWORD).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "opened", "{body}");
    assert_eq!(
        entries(h, "opening.unlock.fail", &t1.tender_id).await.len(),
        6
    );
    assert_eq!(
        h.count("custodian_unlock_attempt").await,
        0,
        "every success reset its count"
    );
}
both!(
    unlock_attempts_are_limited,
    attempts_are_limited_per_custodian_and_tender
);
