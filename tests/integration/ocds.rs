//! OCDS open data (issue 16): every release and record package the platform serves for the
//! demo validates against the official OCDS 1.1.5 schemas in `../shared/ocds-1.1.5/` (the
//! core release schema merge-patched with the bid and bidOpening extensions, draft 4, with
//! format checks); releases of every mapped change (clarifications, opening, award, contract
//! included)
//! validate too; nothing the law keeps secret is in any package; bad cursors are refused.

use std::path::PathBuf;

use jsonschema::{Draft, Validator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::ocds::release::{Names, from_entry};
use sunbid::ocds::{compile, service};

use crate::harness::{Backend, Harness, run_with};

fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/ocds-1.1.5")
}

fn load(rel: &str) -> Value {
    let path = shared().join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the OCDS schemas live in ../shared)",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("schema JSON")
}

/// RFC 7386 JSON Merge Patch, as the extensions are meant to be applied.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().expect("object");
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Replaces references to other published schema files (the package schemas point at the
/// release schema by URL) with `{}`: what they point at is validated on its own here.
fn drop_remote_refs(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("$ref")
                .and_then(Value::as_str)
                .is_some_and(|r| r.starts_with("http"))
            {
                o.clear();
                return;
            }
            o.values_mut().for_each(drop_remote_refs);
        }
        Value::Array(a) => a.iter_mut().for_each(drop_remote_refs),
        _ => {}
    }
}

fn validator(schema: &Value) -> Validator {
    jsonschema::options()
        .with_draft(Draft::Draft4)
        .should_validate_formats(true)
        .build(schema)
        .expect("schema compiles")
}

struct Schemas {
    release: Validator,
    versioned: Validator,
    release_package: Validator,
    record_package: Validator,
}

fn schemas() -> Schemas {
    let mut release = load("release-schema.json");
    merge_patch(
        &mut release,
        &load("extensions/ocds_bid_extension/release-schema.json"),
    );
    merge_patch(
        &mut release,
        &load("extensions/ocds_bidOpening_extension/release-schema.json"),
    );
    // bidOpening's `location` refers to the location extension's Location, which is not in
    // ../shared; the platform never writes `location`, so any object stands in for it.
    if release["definitions"].get("Location").is_none() {
        release["definitions"]["Location"] = json!({"type": "object"});
    }
    let mut release_package = load("release-package-schema.json");
    drop_remote_refs(&mut release_package);
    let mut record_package = load("record-package-schema.json");
    drop_remote_refs(&mut record_package);
    Schemas {
        release: validator(&release),
        versioned: validator(&load("versioned-release-validation-schema.json")),
        release_package: validator(&release_package),
        record_package: validator(&record_package),
    }
}

fn assert_valid(v: &Validator, doc: &Value, what: &str) {
    let errors: Vec<String> = v
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what} is not valid OCDS: {errors:#?}\n{doc:#}"
    );
}

fn check_release_package(s: &Schemas, package: &Value) {
    assert_valid(&s.release_package, package, "release package");
    for r in package["releases"].as_array().expect("releases") {
        assert_valid(&s.release, r, "release");
    }
}

fn check_record_package(s: &Schemas, package: &Value) {
    assert_valid(&s.record_package, package, "record package");
    for rec in package["records"].as_array().expect("records") {
        for r in rec["releases"].as_array().expect("releases") {
            assert_valid(&s.release, r, "record release");
        }
        assert_valid(&s.release, &rec["compiledRelease"], "compiled release");
        assert_valid(&s.versioned, &rec["versionedRelease"], "versioned release");
    }
}

async fn demo_packages_validate(h: &Harness) {
    let s = schemas();
    let (size, _) = sunbid::audit::head(&mut h.db().read().await.unwrap())
        .await
        .unwrap();
    // Walk the whole feed.
    let mut cursor: Option<String> = None;
    let mut releases = Vec::new();
    let mut served = Vec::new();
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/ocds/releases?cursor={c}"),
            None => "/api/v1/ocds/releases".into(),
        };
        let (status, page) = h.api_get(&path, None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let next = page["next_cursor"]
            .as_str()
            .expect("next cursor")
            .to_string();
        if page["package"].is_null() {
            // The job loop may append (a deadline passing) while the test runs.
            let end = next.parse::<u64>().unwrap();
            assert!(
                end >= size,
                "an empty page points at the end: {end} < {size}"
            );
            break;
        }
        check_release_package(&s, &page["package"]);
        releases.extend(page["package"]["releases"].as_array().unwrap().clone());
        served.push(page["package"].to_string());
        assert_ne!(cursor.as_deref(), Some(next.as_str()), "the feed moves on");
        cursor = Some(next);
    }
    let tags: Vec<&str> = releases
        .iter()
        .filter_map(|r| r["tag"][0].as_str())
        .collect();
    assert!(tags.contains(&"tender"), "{tags:?}");
    assert!(tags.contains(&"tenderAmendment"), "{tags:?}");
    // The demo's public answer to a question is a clarification, with its text; the asker
    // is not named.
    let clarification = releases
        .iter()
        .flat_map(|r| {
            r["tender"]["documents"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|d| d["documentType"] == "clarifications")
        .expect("a clarification release");
    assert!(
        clarification["description"]
            .as_str()
            .is_some_and(|d| d.contains("A级燃烧性能")),
        "{clarification}"
    );
    // The demo's auction and listing are published as contracting processes too.
    let trades: Vec<&Value> = releases
        .iter()
        .filter(|r| {
            r["tender"]["procurementMethodDetails"]
                .as_str()
                .is_some_and(|d| d.contains("auction") || d.contains("listing"))
        })
        .collect();
    assert!(trades.len() >= 2, "the demo's two trades: {trades:?}");
    for t in &trades {
        assert_eq!(t["tag"], json!(["tender"]));
        assert!(t["tender"]["value"]["amount"].as_f64().is_some(), "{t}");
        assert!(t["parties"][0]["name"].is_string(), "{t}");
    }
    // The same page twice is the same releases (they are immutable).
    let (_, again) = h.api_get("/api/v1/ocds/releases?cursor=0", None).await;
    let (_, first) = h.api_get("/api/v1/ocds/releases", None).await;
    assert_eq!(again["package"]["releases"], first["package"]["releases"]);

    // A record package per contracting process.
    let mut ocids: Vec<String> = releases
        .iter()
        .map(|r| r["ocid"].as_str().unwrap().to_string())
        .collect();
    ocids.sort();
    ocids.dedup();
    for ocid in &ocids {
        assert!(ocid.starts_with("ocds-sunbid-"), "{ocid}");
        let (status, rp) = h
            .api_get(&format!("/api/v1/ocds/records/{ocid}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{rp}");
        check_record_package(&s, &rp);
        served.push(rp.to_string());
    }

    // Secrets stay out: no bidder of a tender before its opening (the demo opens one tender
    // at load, whose bidders are public since), no expert before the award.
    let mut tx = h.db().read().await.unwrap();
    let sealed: Vec<(String, String)> = sunbid::q_all!(
        tx,
        (String, String),
        "select b.tender_id, o.name from bid b
           join organisation o on o.org_id = b.bidder_org_id
           join tender t on t.tender_id = b.tender_id
          where t.state in ('draft', 'published', 'closed')"
    )
    .unwrap();
    let experts: Vec<(String,)> = sunbid::q_all!(
        tx,
        (String,),
        "select display_name from app_user where role = 'expert'"
    )
    .unwrap();
    // Nobody learns who applied for a trade before it ends.
    let applicants: Vec<(String, String)> = sunbid::q_all!(
        tx,
        (String, String),
        "select a.trade_id, o.name from auction_application a
           join organisation o on o.org_id = a.org_id
           join auction_trade t on t.trade_id = a.trade_id
          where t.state not in ('deal', 'no_deal', 'cancelled')"
    )
    .unwrap();
    drop(tx);
    assert!(!applicants.is_empty(), "the demo's trades have applicants");
    for (trade_id, name) in &applicants {
        let ocid = format!("ocds-sunbid-{trade_id}");
        let (status, rp) = h
            .api_get(&format!("/api/v1/ocds/records/{ocid}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{rp}");
        assert!(
            !rp.to_string().contains(name.as_str()),
            "{name} is published"
        );
    }
    assert!(
        !sealed.is_empty(),
        "the demo has sealed bids not yet opened"
    );
    assert!(!experts.is_empty(), "the demo has experts");
    for (tender_id, name) in &sealed {
        let ocid = format!("ocds-sunbid-{tender_id}");
        let (status, rp) = h
            .api_get(&format!("/api/v1/ocds/records/{ocid}"), None)
            .await;
        if status == StatusCode::OK {
            assert!(
                !rp.to_string().contains(name.as_str()),
                "{name} is published"
            );
        }
    }
    for (name,) in &experts {
        for text in &served {
            assert!(!text.contains(name.as_str()), "{name} is published");
        }
    }

    // The monthly bulk file: JSON lines, gzip, every release dated in the month.
    use std::io::Read as _;
    let month = h.now().format("%Y-%m").to_string();
    let resp = h
        .client
        .get(h.url(&format!("/api/v1/ocds/bulk/{month}.jsonl.gz")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    let gz = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    let in_month = releases
        .iter()
        .filter(|r| r["date"].as_str().unwrap().starts_with(&month))
        .count();
    assert!(in_month > 0);
    assert_eq!(text.lines().count(), in_month);
    for line in text.lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        assert_valid(&s.release, &r, "bulk release");
    }
    let next_year = (h.now() + chrono::Duration::days(400))
        .format("%Y-%m")
        .to_string();
    for bad in ["2026-13", "x", "2026-1", next_year.as_str()] {
        let (status, body) = h.api_get(&format!("/api/v1/ocds/bulk/{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "BAD_MONTH", "{bad}");
    }

    // Bad input: malformed and future cursors, unknown process, unknown parameter.
    for bad in ["abc", "-1", "01", "1.5", "%20"] {
        let (status, body) = h
            .api_get(&format!("/api/v1/ocds/releases?cursor={bad}"), None)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["code"], "BAD_CURSOR", "{bad}");
    }
    let (status, body) = h
        .api_get(
            &format!("/api/v1/ocds/releases?cursor={}", size + 100_000),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["code"], "FUTURE_CURSOR");
    let (status, _) = h.api_get("/api/v1/ocds/releases?page=2", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    for unknown in ["ocds-sunbid-nope", "other-prefix-x", "ocds-sunbid-"] {
        let (status, body) = h
            .api_get(&format!("/api/v1/ocds/records/{unknown}"), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {body}");
    }
}

mod demo_packages {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_demo(crate::harness::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_demo(crate::harness::Backend::Postgres).await;
    }
}

async fn with_demo(backend: Backend) {
    run_with(backend, |c| c.demo = true, demo_packages_validate).await;
}

struct Known;

impl Names for Known {
    fn org_name(&self, org_id: &str) -> Option<String> {
        Some(format!("公司 {org_id}"))
    }

    fn clarification(&self, question_id: &str) -> Option<(String, String)> {
        (question_id == "q1").then(|| ("能否延期？".to_string(), "不能。".to_string()))
    }
}

fn sha(text: &str) -> String {
    sunbid::store::blob::sha256_hex(text.as_bytes())
}

/// Releases of every mapped change, from entries shaped as the platform writes them.
fn lifecycle_entries() -> Vec<Value> {
    let t = "01TENDER";
    let time = |d: u32| format!("2026-03-{d:02}T02:00:00.000Z");
    let entry = |seq: u64, d: u32, action: &str, payload: Value| {
        json!({"v": 1, "seq": seq, "time": time(d), "action": action, "tender": t,
               "payload": payload, "actor": null, "role": "agent"})
    };
    vec![
        entry(
            1,
            1,
            "tender.publish",
            json!({
                "code": "SZ-1", "title": "道路工程", "procedure": "open", "currency": "CNY",
                "tenderee_org_id": "buyer", "agent_org_id": "agent",
                "estimated_price_fen": 123_456_700, "evaluation_method": "comprehensive",
                "documents_available_at": time(1), "published_at": time(1),
                "clarification_cutoff_at": time(10), "bid_deadline_at": time(25),
                "opening_place": "开标三室",
                "documents": [{"document_id": "d1", "filename": "招标文件.pdf", "size_bytes": 10, "sha256": "ab"}],
            }),
        ),
        entry(
            2,
            5,
            "tender.amend",
            json!({
                "amendment_id": "a1", "summary": "延期", "body_sha256": "cd",
                "old_deadline": time(25), "new_deadline": time(28),
            }),
        ),
        entry(
            6,
            6,
            "tender.question.answer",
            json!({"question_id": "q1", "question_sha256": sha("能否延期？"),
                   "answer_sha256": sha("不能。")}),
        ),
        entry(
            3,
            28,
            "opening.record",
            json!({"record_sha256": "ef", "record": {
            "opened_at": time(28), "valid_bids": 2,
            "bids": [
                {"bid_id": "b1", "bidder_id": "o1", "bidder_name": "甲公司", "status": "opened", "price_fen": 100_000_000},
                {"bid_id": "b2", "bidder_id": "o2", "bidder_name": "乙公司", "status": "opened", "price_fen": 110_000_000},
                {"bid_id": "b3", "bidder_id": "o3", "bidder_name": "丙公司", "status": "revoked", "reason": "broken"},
            ]}}),
        ),
        entry(
            4,
            29,
            "result.award",
            json!({
                "bid_id": "b1", "winner_org_id": "o1", "winner": "甲公司", "price_fen": 100_000_000,
                "candidate_rank": 1, "reason": null, "contract_due": time(30), "report_sha256": "01",
            }),
        ),
        entry(
            5,
            30,
            "result.contract",
            json!({
                "signed_at": time(30), "amount_fen": 100_000_000, "award_price_fen": 100_000_000,
                "winner_org_id": "o1", "document_sha256": "02",
            }),
        ),
    ]
}

#[test]
fn every_kind_of_release_validates() {
    let s = schemas();
    // The validators do refuse: a release without its required fields, a bad date format,
    // a tag outside the closed codelist.
    assert!(!s.release.is_valid(&json!({"ocid": "x"})));
    let mut broken = from_entry("ocds-test", &lifecycle_entries()[0], &Known).unwrap();
    broken["date"] = json!("yesterday");
    assert!(!s.release.is_valid(&broken));
    broken["date"] = json!("2026-03-01T02:00:00Z");
    assert!(s.release.is_valid(&broken));
    broken["tag"] = json!(["bidding"]);
    assert!(!s.release.is_valid(&broken));
    let releases: Vec<Value> = lifecycle_entries()
        .iter()
        .map(|e| from_entry("ocds-test", e, &Known).expect("a release"))
        .collect();
    for r in &releases {
        assert_valid(&s.release, r, "release");
    }
    for (action, tail) in [
        ("tender.fail", "unsuccessful"),
        ("tender.cancel", "cancelled"),
    ] {
        let e = json!({"seq": 9, "time": "2026-03-29T02:00:00.000Z", "action": action,
                       "tender": "01TENDER", "payload": {}});
        let r = from_entry("ocds-test", &e, &Known).unwrap();
        assert_valid(&s.release, &r, action);
        assert_eq!(r["tender"]["status"], tail);
    }
    // A clarification carries its text only when it matches the hashes the log recorded.
    let answer = &releases[2];
    assert_eq!(answer["tag"], json!(["tenderUpdate"]));
    let doc = &answer["tender"]["documents"][0];
    assert_eq!(doc["documentType"], "clarifications");
    assert!(
        doc["description"].as_str().unwrap().contains("不能。"),
        "{doc}"
    );
    let mut other = lifecycle_entries()[2].clone();
    other["payload"]["answer_sha256"] = json!(sha("可以。"));
    let r = from_entry("ocds-test", &other, &Known).unwrap();
    assert_valid(&s.release, &r, "clarification by hash");
    let text = r["tender"]["documents"][0]["description"].as_str().unwrap();
    assert!(!text.contains("不能") && text.contains("SHA-256"), "{text}");
    for bad in [json!({}), json!({"question_id": 5})] {
        let mut e = lifecycle_entries()[2].clone();
        e["payload"] = bad;
        assert!(from_entry("ocds-test", &e, &Known).is_none());
    }
    let ocid = "ocds-test-01TENDER";
    let compiled = compile::compiled(ocid, &releases);
    // The clarification joins the bidding documents in the compiled release.
    assert_eq!(
        compiled["tender"]["documents"].as_array().unwrap().len(),
        2,
        "{compiled}"
    );
    assert_valid(&s.release, &compiled, "compiled release");
    assert_eq!(compiled["tender"]["status"], "complete");
    assert_eq!(compiled["bids"]["details"].as_array().unwrap().len(), 3);
    assert_eq!(compiled["awards"][0]["value"]["amount"], json!(1_000_000.0));
    assert_eq!(
        compiled["contracts"][0]["awardID"],
        compiled["awards"][0]["id"]
    );
    assert_eq!(
        compiled["tender"]["tenderPeriod"]["endDate"],
        "2026-03-28T02:00:00.000Z"
    );
    assert_valid(
        &s.versioned,
        &compile::versioned(ocid, &releases),
        "versioned release",
    );
    let package = json!({
        "uri": "https://bid.example/api/v1/ocds/records/x", "version": service::OCDS_VERSION,
        "extensions": service::EXTENSIONS, "publishedDate": "2026-03-30T00:00:00Z",
        "publisher": {"name": "Sunbid"}, "records": [{"ocid": ocid, "releases": releases,
        "compiledRelease": compiled, "versionedRelease": compile::versioned(ocid, &releases)}],
    });
    check_record_package(&s, &package);
}

/// Entries of an auction from announcement to deal, shaped as the platform writes them.
fn auction_entries() -> Vec<Value> {
    let t = "01TRADE";
    let entry = |seq: u64, action: &str, payload: Value| {
        json!({"v": 1, "seq": seq, "time": format!("2026-04-{:02}T02:00:00.000Z", seq + 1),
               "action": action, "tender": t, "payload": payload, "actor": null, "role": "agent"})
    };
    let ms = |d: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 4, d)
            .unwrap()
            .and_hms_opt(2, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis()
    };
    vec![
        entry(
            1,
            "auction.announce",
            json!({"code": "TD-1", "starts_at": ms(22), "ends_at": ms(23), "rulebook": "land",
                   "kind": "listing", "category": "land", "title": "某地块国有建设用地使用权",
                   "seller_name": "某市自然资源局", "agent_org_id": "agent", "currency": "CNY",
                   "start_price_fen": 500_000_000, "increment_fen": 1_000_000,
                   "deposit_fen": 100_000_000, "announced_at": "2026-04-02T02:00:00.000Z",
                   "relists": null}),
        ),
        entry(
            2,
            "auction.final_auction",
            json!({"code": "TD-1", "bidders": ["123456", "654321"], "ends_at": ms(24),
                   "article": "x"}),
        ),
        entry(
            3,
            "auction.deal",
            json!({"code": "TD-1", "bidder_no": "123456", "winner_org_id": "o1",
                   "price_fen": 520_000_000, "bid_seq": 9, "confirmation_sha256": "ab"}),
        ),
    ]
}

#[test]
fn auction_and_listing_releases_validate() {
    let s = schemas();
    let releases: Vec<Value> = auction_entries()
        .iter()
        .map(|e| from_entry("ocds-test", e, &Known).expect("a release"))
        .collect();
    for r in &releases {
        assert_valid(&s.release, r, "auction release");
    }
    assert_eq!(releases[0]["tag"], json!(["tender"]));
    assert_eq!(releases[0]["tender"]["value"]["amount"], json!(5_000_000.0));
    assert_eq!(
        releases[0]["tender"]["tenderPeriod"]["startDate"],
        "2026-04-22T02:00:00.000Z"
    );
    assert_eq!(releases[2]["tag"], json!(["award"]));
    let ocid = "ocds-test-01TRADE";
    let compiled = compile::compiled(ocid, &releases);
    assert_valid(&s.release, &compiled, "compiled auction release");
    assert_eq!(compiled["tender"]["status"], "complete");
    assert_eq!(
        compiled["tender"]["tenderPeriod"]["endDate"], "2026-04-24T02:00:00.000Z",
        "the timed auction after the listing moves the end"
    );
    assert_eq!(compiled["awards"][0]["suppliers"][0]["name"], "公司 o1");
    assert_valid(
        &s.versioned,
        &compile::versioned(ocid, &releases),
        "versioned auction release",
    );
    for (action, status) in [
        ("auction.no_deal", "unsuccessful"),
        ("auction.cancel", "cancelled"),
    ] {
        let e = json!({"seq": 9, "time": "2026-04-29T02:00:00.000Z", "action": action,
                       "tender": "01TRADE", "payload": {"code": "TD-1", "reason": "x"}});
        let r = from_entry("ocds-test", &e, &Known).unwrap();
        assert_valid(&s.release, &r, action);
        assert_eq!(r["tender"]["status"], status);
    }
    // Entries the log keeps for the bidders' side make no release; a broken one neither.
    for e in [
        json!({"seq": 4, "time": "2026-04-29T02:00:00.000Z", "action": "auction.bid",
               "tender": "01TRADE", "payload": {"amount_fen": 1}}),
        json!({"seq": 4, "time": "2026-04-29T02:00:00.000Z", "action": "auction.deal",
               "tender": "01TRADE", "payload": {}}),
        json!({"seq": 4, "time": "2026-04-29T02:00:00.000Z", "action": "auction.announce",
               "tender": "01TRADE", "payload": {"title": "no agent"}}),
    ] {
        assert!(from_entry("ocds-test", &e, &Known).is_none(), "{e}");
    }
}
