//! Auctions and listings (issue 17) over HTTP on SQLite and PostgreSQL: drafting and the
//! rulebook's periods, applications, deposits and bidder numbers, bids ordered by the
//! database (equal bids at once: exactly one accepted), the anti-sniping extension, the end
//! with a signed deal confirmation, a listing that goes on to a timed auction, and every bad
//! input the issue lists — including anyone reading who the bidders are before the end.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::auction::jobs::{Confirmation, run_due};
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};

/// A seller's agent, an operator, a regulator and three bidder companies.
pub(crate) struct World {
    pub(crate) agent: String,
    pub(crate) operator: String,
    pub(crate) regulator: String,
    /// (org id, token) of each bidder.
    pub(crate) bidders: Vec<(String, String)>,
}

impl World {
    pub(crate) async fn new(h: &Harness) -> Self {
        let agency = h
            .create_org(OrgKind::Agent, "土地储备交易代理有限公司")
            .await;
        h.create_user("seller_agent", Role::Agent, Some(&agency))
            .await;
        let agent = h.login("seller_agent", PASSWORD).await;
        let operator = h.operator().await;
        let reg_org = h.create_org(OrgKind::Regulator, "自然资源局监督科").await;
        h.create_user("land_regulator", Role::Regulator, Some(&reg_org))
            .await;
        let regulator = h.login("land_regulator", PASSWORD).await;
        let mut bidders = Vec::new();
        for name in ["bidder_a", "bidder_b", "bidder_c"] {
            let (org, _, token) = h.bidder(name).await;
            bidders.push((org, token));
        }
        Self {
            agent,
            operator,
            regulator,
            bidders,
        }
    }

    pub(crate) fn token(&self, i: usize) -> &str {
        &self.bidders[i].1
    }

    /// Moves the server's clock and logs everyone in again (sessions expire meanwhile).
    pub(crate) async fn advance(&mut self, h: &Harness, by: Duration) {
        h.clock.advance(by);
        self.agent = h.login("seller_agent", PASSWORD).await;
        self.operator = h.login("operator", PASSWORD).await;
        self.regulator = h.login("land_regulator", PASSWORD).await;
        for (i, name) in ["bidder_a", "bidder_b", "bidder_c"].iter().enumerate() {
            self.bidders[i].1 = h.login(name, PASSWORD).await;
        }
    }
}

pub(crate) fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A draft's body: `kind` auction or listing, starting `start_in` from now, lasting `len`.
pub(crate) fn draft(code: &str, kind: &str, starts: DateTime<Utc>, len: Duration) -> Value {
    json!({
        "code": code, "kind": kind, "category": "land",
        "title": "城东地块国有建设用地使用权", "description": "住宅用地，出让年限70年",
        "seller_name": "某市自然资源和规划局",
        "start_price_fen": 100_000_000, "increment_fen": 1_000_000, "deposit_fen": 20_000_000,
        "starts_at": rfc(starts), "ends_at": rfc(starts + len),
    })
}

pub(crate) async fn publish(h: &Harness, w: &World, body: &Value) -> String {
    let code = body["code"].as_str().unwrap().to_string();
    let (s, v) = h.api_post("/api/v1/auctions", Some(&w.agent), body).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], "draft");
    let (s, v) = h
        .api_post(
            &format!("/api/v1/auctions/{code}/publish"),
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "announced");
    code
}

/// Bidder `i` applies; returns its deposit reference.
pub(crate) async fn apply(h: &Harness, w: &World, code: &str, i: usize) -> String {
    let (s, v) = h
        .api_post(
            &format!("/api/v1/auctions/{code}/applications"),
            Some(w.token(i)),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], "applied");
    v["deposit_ref"].as_str().unwrap().to_string()
}

pub(crate) async fn admit(h: &Harness, w: &World, code: &str, dref: &str) {
    let (s, v) = h
        .api_post(
            &format!("/api/v1/auctions/{code}/deposits"),
            Some(&w.operator),
            &json!({"deposit_ref": dref, "amount_fen": 20_000_000}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = h
        .api_post(
            &format!("/api/v1/auctions/{code}/admissions"),
            Some(&w.operator),
            &json!({"deposit_ref": dref}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(
        v.get("bidder_no").is_none(),
        "the operator does not learn the number: {v}"
    );
}

pub(crate) async fn bid(
    h: &Harness,
    w: &World,
    code: &str,
    i: usize,
    amount: i64,
) -> (StatusCode, Value) {
    h.api_post(
        &format!("/api/v1/auctions/{code}/bids"),
        Some(w.token(i)),
        &json!({"amount_fen": amount}),
    )
    .await
}

pub(crate) async fn bidder_no(h: &Harness, w: &World, code: &str, i: usize) -> String {
    let (s, v) = h
        .api_get(
            &format!("/api/v1/auctions/{code}/my-application"),
            Some(w.token(i)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["bidder_no"].as_str().unwrap().to_string()
}

pub(crate) async fn run_jobs(h: &Harness) {
    let st = h.state();
    run_due(h.db(), &st.auction_rulebooks, &st.platform_key, h.now())
        .await
        .unwrap();
}

/// Every public audit entry of an auction action (what anyone can read now).
pub(crate) async fn public_text(h: &Harness) -> String {
    let (s, v) = h.api_get("/api/v1/audit/events?limit=1000", None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["entry"].as_str())
        .filter(|e| e.contains("\"action\":\"auction."))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn an_auction_from_announcement_to_signed_deal(h: &Harness) {
    let mut w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);

    // The rulebook's periods: 20 days' announcement (39号令 第10条), listing ≥ 10 days (第20条).
    let early = draft(
        &format!("LAND-{}", next_serial()),
        "auction",
        start - Duration::days(2),
        Duration::hours(1),
    );
    let (s, _) = h.api_post("/api/v1/auctions", Some(&w.agent), &early).await;
    assert_eq!(s, StatusCode::CREATED);
    let got = h
        .api_post(
            &format!(
                "/api/v1/auctions/{}/publish",
                early["code"].as_str().unwrap()
            ),
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_PERIOD_TOO_SHORT",
    );
    assert_eq!(got.1["details"][0]["rule"], "announcement_min_days");
    assert!(
        got.1["details"][0]["article"]
            .as_str()
            .unwrap()
            .contains("第10条")
    );
    let short = draft(
        &format!("LAND-{}", next_serial()),
        "listing",
        start,
        Duration::days(9),
    );
    h.api_post("/api/v1/auctions", Some(&w.agent), &short).await;
    let got = h
        .api_post(
            &format!(
                "/api/v1/auctions/{}/publish",
                short["code"].as_str().unwrap()
            ),
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_PERIOD_TOO_SHORT",
    );
    assert_eq!(got.1["details"][0]["rule"], "listing_min_days");
    // Malformed terms.
    let mut bad = draft("BAD-1", "auction", start, Duration::hours(1));
    bad["increment_fen"] = json!(0);
    let got = h.api_post("/api/v1/auctions", Some(&w.agent), &bad).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "AUCTION_BAD_AMOUNT");
    bad["increment_fen"] = json!("1000");
    let got = h.api_post("/api/v1/auctions", Some(&w.agent), &bad).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS");
    let got = h
        .api_post(
            "/api/v1/auctions",
            Some(w.token(0)),
            &draft("BAD-2", "auction", start, Duration::hours(1)),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");

    let code = publish(
        h,
        &w,
        &draft(
            &format!("LAND-{}", next_serial()),
            "auction",
            start,
            Duration::hours(1),
        ),
    )
    .await;
    let mut refs = Vec::new();
    for i in 0..3 {
        refs.push(apply(h, &w, &code, i).await);
    }
    let got = h
        .api_post(
            &format!("/api/v1/auctions/{code}/applications"),
            Some(w.token(0)),
            &json!({}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_ALREADY_APPLIED");

    // Deposits: short, admission before the deposit, not the operator.
    let got = h
        .api_post(
            &format!("/api/v1/auctions/{code}/deposits"),
            Some(&w.operator),
            &json!({"deposit_ref": refs[2], "amount_fen": 19_999_999}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_DEPOSIT_SHORT",
    );
    let got = h
        .api_post(
            &format!("/api/v1/auctions/{code}/admissions"),
            Some(&w.operator),
            &json!({"deposit_ref": refs[2]}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_DEPOSIT_NOT_CONFIRMED");
    let got = h
        .api_post(
            &format!("/api/v1/auctions/{code}/deposits"),
            Some(&w.agent),
            &json!({"deposit_ref": refs[0], "amount_fen": 20_000_000}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    admit(h, &w, &code, &refs[0]).await;
    admit(h, &w, &code, &refs[1]).await;
    let (a_no, b_no) = (
        bidder_no(h, &w, &code, 0).await,
        bidder_no(h, &w, &code, 1).await,
    );
    assert_ne!(a_no, b_no);

    // Nobody but a regulator learns who the bidders are before the end.
    for token in [
        None,
        Some(w.agent.as_str()),
        Some(w.operator.as_str()),
        Some(w.token(0)),
    ] {
        let got = h
            .api_get(&format!("/api/v1/auctions/{code}/bidders"), token)
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let (s, v) = h
        .api_get(
            &format!("/api/v1/auctions/{code}/bidders"),
            Some(&w.regulator),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 3);

    let got = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_ENDED");
    // Before the start.
    let got = bid(h, &w, &code, 0, 100_000_000).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_STARTED");
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;

    // Not admitted, deposit unconfirmed, malformed amounts.
    let got = bid(h, &w, &code, 2, 100_000_000).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_DEPOSIT_NOT_CONFIRMED");
    let (_, _, stranger) = h.bidder("bidder_d").await;
    let got = h
        .api_post(
            &format!("/api/v1/auctions/{code}/bids"),
            Some(&stranger),
            &json!({"amount_fen": 100_000_000}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_ADMITTED");
    for amount in [json!("abc"), json!(1.5), json!(null), json!("100000000")] {
        let got = h
            .api_post(
                &format!("/api/v1/auctions/{code}/bids"),
                Some(w.token(0)),
                &json!({"amount_fen": amount}),
            )
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS");
    }
    for amount in [-5, 0] {
        let got = bid(h, &w, &code, 0, amount).await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "AUCTION_BAD_AMOUNT");
    }
    let got = h
        .api_post_raw(
            &format!("/api/v1/auctions/{code}/bids"),
            Some(w.token(0)),
            "application/json",
            "{\"amount_fen\": 1e",
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "MALFORMED_JSON");

    // The first bid may be the starting price; then current + increment.
    let (s, v) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["bid"]["seq"], 1);
    assert_eq!(v["bid"]["bidder_no"], a_no.as_str());
    let got = bid(h, &w, &code, 1, 100_500_000).await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AUCTION_BID_TOO_LOW",
    );

    // Equal bids at once: exactly one is accepted, every round.
    let mut price = 100_000_000;
    for _ in 0..5 {
        price += 1_000_000;
        let (x, y) = tokio::join!(bid(h, &w, &code, 0, price), bid(h, &w, &code, 1, price));
        let accepted = [&x, &y]
            .iter()
            .filter(|r| r.0 == StatusCode::CREATED)
            .count();
        assert_eq!(accepted, 1, "{x:?} {y:?}");
        let refused = if x.0 == StatusCode::CREATED { y } else { x };
        assert_error(
            &refused,
            StatusCode::UNPROCESSABLE_ENTITY,
            "AUCTION_BID_TOO_LOW",
        );
    }
    let (s, history) = h
        .api_get(&format!("/api/v1/auctions/{code}/bids"), None)
        .await;
    assert_eq!(s, StatusCode::OK);
    let seqs: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=6).collect::<Vec<_>>());
    let amounts: Vec<i64> = history
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["amount_fen"].as_i64().unwrap())
        .collect();
    assert!(amounts.windows(2).all(|p| p[1] > p[0]), "{amounts:?}");

    // Anti-sniping: a bid 2 minutes before the end moves it to 5 minutes after the bid.
    let (_, t) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    let ends_at = t["ends_at"].as_i64().unwrap();
    let to_end = ends_at - t["server_time"].as_i64().unwrap();
    w.advance(h, Duration::milliseconds(to_end) - Duration::minutes(2))
        .await;
    price += 1_000_000;
    let (s, v) = bid(h, &w, &code, 1, price).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["extended"], true, "{v}");
    let new_end = v["ends_at"].as_i64().unwrap();
    assert!(new_end > ends_at, "{new_end} > {ends_at}");
    assert_eq!(
        new_end,
        v["bid"]["placed_at"].as_i64().unwrap() + 5 * 60_000
    );
    // The public entry of a bid names the number and the price, not the company or user.
    let text = public_text(h).await;
    assert!(text.contains("auction.bid"));
    for (org, _) in &w.bidders {
        assert!(
            !text.contains(org.as_str()),
            "a bidder's id is public before the end"
        );
    }

    // After the end (before any job ran): refused; then the deal.
    w.advance(h, Duration::minutes(6)).await;
    let got = bid(h, &w, &code, 0, price + 1_000_000).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_ENDED");
    run_jobs(h).await;
    let (_, t) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(t["state"], "deal", "{t}");
    assert_eq!(t["winner_bidder_no"], b_no.as_str());
    let (s, r) = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let c: Confirmation = serde_json::from_value(r["confirmation"].clone()).unwrap();
    assert_eq!((c.price_fen, c.bidder_no.as_str()), (price, b_no.as_str()));
    assert_eq!(c.winner_org_id, w.bidders[1].0);
    let key = h.state().platform_key.public();
    assert!(c.verify(&key, r["signature"].as_str().unwrap()));
    let mut forged = c.clone();
    forged.price_fen -= 1;
    assert!(!forged.verify(&key, r["signature"].as_str().unwrap()));
    // The deal's audit event comes with its inclusion proof, checked offline against the
    // log's key; the entry is the deal's.
    let dp = &r["deal_proof"];
    let entry = dp["entry"].as_str().expect("the deal's entry is public");
    assert!(entry.contains("\"auction.deal\""), "{entry}");
    let (_, cp) = h.api_get("/api/v1/audit/checkpoint", None).await;
    let log_key =
        sunbid::audit::checkpoint::parse_verifier_key(cp["vkey"].as_str().unwrap()).unwrap();
    let proof = sunbid::audit::tlog_proof::parse(dp["proof"].as_str().unwrap()).unwrap();
    let leaf = sunbid::audit::merkle::leaf_hash(entry.as_bytes());
    assert!(sunbid::audit::tlog_proof::verify(&proof, &leaf, &log_key, &[]).is_ok());
    let other = sunbid::audit::merkle::leaf_hash(b"{}");
    assert!(sunbid::audit::tlog_proof::verify(&proof, &other, &log_key, &[]).is_err());

    // Now who bid is public, with the deposits' fate.
    let (s, v) = h
        .api_get(&format!("/api/v1/auctions/{code}/bidders"), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let fate = |org: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|b| b["org_id"] == org)
            .unwrap()["deposit"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(fate(&w.bidders[1].0), "convert");
    assert_eq!(fate(&w.bidders[0].0), "refund");
    assert_eq!(fate(&w.bidders[2].0), "none");
    let text = public_text(h).await;
    assert!(
        text.contains(w.bidders[0].0.as_str()),
        "the applications are public after the end"
    );
    assert!(text.contains("auction.deal"));
}
both!(
    auction_from_announcement_to_signed_deal,
    an_auction_from_announcement_to_signed_deal
);

async fn a_listing_goes_on_to_a_timed_auction_among_those_who_ask(h: &Harness) {
    let mut w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let code = publish(
        h,
        &w,
        &draft(
            &format!("LIST-{}", next_serial()),
            "listing",
            start,
            Duration::days(10),
        ),
    )
    .await;
    for i in 0..3 {
        let dref = apply(h, &w, &code, i).await;
        admit(h, &w, &code, &dref).await;
    }
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;
    run_jobs(h).await;
    let (_, t) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(t["state"], "listing", "{t}");
    // Quotes during the listing: the highest is public by number; no extension.
    let (s, v) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["bid"]["phase"], "listing");
    assert_eq!(v["extended"], false);
    let (s, _) = bid(h, &w, &code, 1, 101_000_000).await;
    assert_eq!(s, StatusCode::CREATED);
    for i in [0, 1] {
        let (s, v) = h
            .api_post(
                &format!("/api/v1/auctions/{code}/continue"),
                Some(w.token(i)),
                &json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    w.advance(h, Duration::days(10)).await;
    run_jobs(h).await;
    let (_, t) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(t["state"], "bidding", "two asked to go on: {t}");
    // Only those who asked bid in the timed auction.
    let got = bid(h, &w, &code, 2, 102_000_000).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_CONTINUING");
    let (s, v) = bid(h, &w, &code, 0, 102_000_000).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["bid"]["phase"], "auction");
    w.advance(h, Duration::minutes(11)).await;
    run_jobs(h).await;
    let (_, r) = h
        .api_get(&format!("/api/v1/auctions/{code}/result"), None)
        .await;
    assert_eq!(r["state"], "deal", "{r}");
    assert_eq!(r["confirmation"]["winner_org_id"], w.bidders[0].0.as_str());
    assert_eq!(r["confirmation"]["price_fen"], 102_000_000);
}
both!(
    listing_goes_on_to_timed_auction,
    a_listing_goes_on_to_a_timed_auction_among_those_who_ask
);

async fn an_auction_without_bids_fails_and_is_relisted(h: &Harness) {
    let mut w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let code = publish(
        h,
        &w,
        &draft(
            &format!("NOBID-{}", next_serial()),
            "auction",
            start,
            Duration::hours(1),
        ),
    )
    .await;
    w.advance(h, Duration::days(21)).await;
    run_jobs(h).await;
    run_jobs(h).await;
    let (_, t) = h.api_get(&format!("/api/v1/auctions/{code}"), None).await;
    assert_eq!(t["state"], "no_deal", "{t}");
    let mut again = draft(
        &format!("NOBID-{}", next_serial()),
        "auction",
        h.now() + Duration::days(21),
        Duration::hours(1),
    );
    again["relists"] = json!(code);
    let (s, v) = h.api_post("/api/v1/auctions", Some(&w.agent), &again).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["relists"], code.as_str());

    // Cancelling (终止) an announced trade: only its agent, once, with a reason.
    let other = publish(
        h,
        &w,
        &draft(
            &format!("STOP-{}", next_serial()),
            "auction",
            h.now() + Duration::days(21),
            Duration::hours(1),
        ),
    )
    .await;
    let cancel = format!("/api/v1/auctions/{other}/cancel");
    let got = h
        .api_post(&cancel, Some(w.token(0)), &json!({"reason": "不是我的"}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(&cancel, Some(&w.agent), &json!({"reason": " "}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "AUCTION_BAD_TEXT");
    let (s, v) = h
        .api_post(
            &cancel,
            Some(&w.agent),
            &json!({"reason": "规划调整，终止出让"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["state"], "cancelled");
    let got = h
        .api_post(&cancel, Some(&w.agent), &json!({"reason": "再次终止"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_WRONG_STATE");
    // Only a failed trade (流拍) is relisted.
    let mut again = draft(
        &format!("STOP-{}", next_serial()),
        "auction",
        h.now() + Duration::days(21),
        Duration::hours(1),
    );
    again["relists"] = json!(other);
    let got = h.api_post("/api/v1/auctions", Some(&w.agent), &again).await;
    assert_error(&got, StatusCode::CONFLICT, "AUCTION_NOT_RELISTABLE");
}
both!(
    auction_without_bids_fails_and_is_relisted,
    an_auction_without_bids_fails_and_is_relisted
);

async fn the_live_view_streams_bids_with_the_server_time(h: &Harness) {
    let mut w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let code = publish(
        h,
        &w,
        &draft(
            &format!("LIVE-{}", next_serial()),
            "auction",
            start,
            Duration::hours(1),
        ),
    )
    .await;
    let dref = apply(h, &w, &code, 0).await;
    admit(h, &w, &code, &dref).await;
    w.advance(h, Duration::days(20) + Duration::minutes(2))
        .await;
    let (s, _) = bid(h, &w, &code, 0, 100_000_000).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut resp = h
        .client
        .get(h.url(&format!("/api/v1/auctions/{code}/live")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut text = String::new();
    while !text.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("more");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(text.contains("event: update"), "{text}");
    assert!(text.contains("\"server_time\""), "{text}");
    assert!(text.contains("\"amount_fen\":100000000"), "{text}");
    // A new bid reaches the open stream.
    let (s, _) = bid(h, &w, &code, 0, 101_000_000).await;
    assert_eq!(s, StatusCode::CREATED);
    let mut more = String::new();
    while !more.contains("101000000") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk())
            .await
            .expect("the new bid within 10 s")
            .unwrap()
            .expect("more");
        more.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(more.contains("id: 2"), "{more}");
    let got = h.api_get("/api/v1/auctions/NOPE-1/live", None).await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
}
both!(
    live_view_streams_bids,
    the_live_view_streams_bids_with_the_server_time
);

async fn the_pages_show_the_trade_and_the_bidders_room_in_both_languages(h: &Harness) {
    let w = World::new(h).await;
    let start = h.now() + Duration::days(20) + Duration::minutes(1);
    let code = publish(
        h,
        &w,
        &draft(
            &format!("PAGE-{}", next_serial()),
            "auction",
            start,
            Duration::hours(1),
        ),
    )
    .await;
    let anon = h.browser();
    let list = anon.get("/auctions").await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains(&code) && list.body.contains("城东地块"),
        "{}",
        list.body
    );
    let page = anon.get(&format!("/auctions/{code}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("起始价") && page.body.contains("1,000,000.00"),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains("apply-form"),
        "the public sees no application form"
    );
    let en = anon.get(&format!("/auctions/{code}?lang=en")).await;
    assert!(en.body.contains("Starting price"), "{}", en.body);

    // A bidder applies from the page and sees the deposit reference; once admitted, the
    // bid form with its bidder number.
    let b = h.browser();
    b.login("bidder_a", PASSWORD).await;
    let page = b.get(&format!("/auctions/{code}")).await;
    assert!(page.body.contains("id=\"apply-form\""), "{}", page.body);
    let csrf = b.cookie("sunbid_csrf").unwrap_or_default();
    let sent = b
        .post_form(&format!("/auctions/{code}/apply"), &[("csrf", &csrf)])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let (_, mine) = h
        .api_get(
            &format!("/api/v1/auctions/{code}/my-application"),
            Some(w.token(0)),
        )
        .await;
    let dref = mine["deposit_ref"].as_str().unwrap().to_string();
    let page = b.get(&format!("/auctions/{code}")).await;
    assert!(page.body.contains(&dref), "{}", page.body);
    admit(h, &w, &code, &dref).await;
    let number = bidder_no(h, &w, &code, 0).await;
    let page = b.get(&format!("/auctions/{code}")).await;
    assert!(
        page.body.contains("id=\"bid-form\"") && page.body.contains(&number),
        "{}",
        page.body
    );
    assert!(page.body.contains("/static/auction.js"));
    let js = anon.get("/static/auction.js").await;
    assert_eq!(js.status, StatusCode::OK);
    let missing = anon.get("/auctions/NOPE-404").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
}
both!(
    pages_show_trade_and_room,
    the_pages_show_the_trade_and_the_bidders_room_in_both_languages
);
