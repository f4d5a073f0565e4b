//! Procedures (issue 18) over HTTP: the rulebooks in force, the operator's replacement of
//! one without a rebuild (validated, versioned, audited; published tenders keep theirs),
//! and re-tendering a failed tender (重新招标) with its link and the second-failure rule.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, json_of};
use crate::tenders::{World, upload};

async fn put_rulebook(
    h: &Harness,
    token: Option<&str>,
    id: &str,
    toml: &str,
) -> (StatusCode, Value) {
    let mut req = h
        .client
        .put(h.url(&format!("/api/v1/rulebooks/{id}")))
        .json(&json!({ "toml": toml }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    json_of(req.send().await.expect("PUT")).await
}

async fn rulebook_replacement(h: &Harness) {
    let w = World::new(h).await;
    let operator = h.operator().await;

    // Every category the seeds name, each procedure, listed publicly.
    let (s, list) = h.api_get("/api/v1/rulebooks", None).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|b| b["id"].as_str())
        .collect();
    for id in [
        "construction-open",
        "construction-invited",
        "water-open",
        "water-invited",
        "transport-open",
        "transport-invited",
        "procurement-open",
        "procurement-invited",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let (s, book) = h.api_get("/api/v1/rulebooks/construction-open", None).await;
    assert_eq!(s, StatusCode::OK, "{book}");
    assert_eq!(book["version"], 1);
    assert_eq!(book["stamp"], "construction-open");
    assert_eq!(
        book["rules"]["min_days_documents_to_deadline"]["article"],
        "招标投标法 第24条"
    );
    let original = book["toml"].as_str().expect("toml").to_string();
    assert!(original.contains("min_valid_bids"));
    let (s, v) = h.api_get("/api/v1/rulebooks/no-such-book", None).await;
    assert_error(&(s, v), StatusCode::NOT_FOUND, "NOT_FOUND");

    // A tender published under version 1.
    w.published(h, "PR-V1", "规则版本一工程", 20).await;

    // Only the operator may replace; nothing changes on a refusal.
    let longer = original.replace(
        "min_days_documents_to_deadline = { value = 20,",
        "min_days_documents_to_deadline = { value = 25,",
    );
    assert_ne!(longer, original);
    let events = h.count("audit_event").await;
    let (s, v) = put_rulebook(h, None, "construction-open", &longer).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
    let (s, v) = put_rulebook(h, Some(&w.agent), "construction-open", &longer).await;
    assert_error(&(s, v), StatusCode::FORBIDDEN, "FORBIDDEN");
    let (s, v) = put_rulebook(h, Some(&w.bidder1), "construction-open", &longer).await;
    assert_error(&(s, v), StatusCode::FORBIDDEN, "FORBIDDEN");

    // Bad files: each refused with the file, the key and the reason.
    let bad = [
        (
            original.replace(
                "committee_min_members = { value = 5,",
                "committee_min_members = { value = 6,",
            ),
            "RULEBOOK_INVALID",
            "rules.committee_min_members",
            "even",
        ),
        (
            original.replace(
                "min_days_documents_to_deadline = { value = 20,",
                "min_days_documents_to_deadline = { value = 19,",
            ),
            "RULEBOOK_INVALID",
            "rules.min_days_documents_to_deadline",
            "第24条",
        ),
        (
            original.replace(
                "candidate_publicity_min_days = { value = 3,",
                "candidate_publicity_min_days = { value = 0,",
            ),
            "RULEBOOK_INVALID",
            "rules.candidate_publicity_min_days",
            "0",
        ),
        (
            original
                .lines()
                .filter(|l| !l.starts_with("min_valid_bids"))
                .collect::<Vec<_>>()
                .join("\n"),
            "RULEBOOK_PARSE",
            "min_valid_bids",
            "missing",
        ),
        (
            original.replace("id = \"construction-open\"", "id = \"water-open\""),
            "RULEBOOK_INVALID",
            "id",
            "construction-open",
        ),
    ];
    for (text, code, key, reason) in bad {
        assert_ne!(text, original, "{key}: the test edits the file");
        let (s, v) = put_rulebook(h, Some(&operator), "construction-open", &text).await;
        assert_error(&(s, v.clone()), StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_eq!(v["details"]["file"], "construction-open.toml", "{v}");
        assert_eq!(v["details"]["key"], key, "{v}");
        let why = v["details"]["reason"].as_str().unwrap_or_default();
        assert!(why.contains(reason), "{key}: {why}");
        let message = v["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(key),
            "the message names the key: {message}"
        );
    }
    assert_eq!(h.count("rulebook_version").await, 0, "nothing stored");
    assert_eq!(h.count("audit_event").await, events, "nothing audited");

    // A good replacement: version 2, audited in the same transaction.
    let (s, v) = put_rulebook(h, Some(&operator), "construction-open", &longer).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["version"], 2, "{v}");
    assert_eq!(v["stamp"], "construction-open@v2", "{v}");
    assert_eq!(v["rules"]["min_days_documents_to_deadline"]["value"], 25);
    assert_eq!(v["versions"].as_array().map(Vec::len), Some(2), "{v}");
    assert_eq!(v["versions"][1]["replaced_by"], "operator", "{v}");
    let replaced = h.public_entries("rulebook.replace").await;
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!(h.count("rulebook_version").await, 1);

    // The tender published before keeps version 1; a new one is judged by version 2.
    let (_, old) = h.api_get("/api/v1/tenders/PR-V1", None).await;
    assert_eq!(old["rulebook_id"], "construction-open", "{old}");
    let input = w.input("PR-V2-20", "二十天工程", h.now() + Duration::minutes(1), 20);
    let (s, v) = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, doc) = upload(h, &w.agent, "PR-V2-20", "招标文件.pdf", b"%PDF-1.4").await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/PR-V2-20/publish",
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_error(
        &(s, v.clone()),
        StatusCode::UNPROCESSABLE_ENTITY,
        "BID_DEADLINE_TOO_SOON",
    );
    assert!(
        v["message"].as_str().unwrap_or_default().contains("25"),
        "{v}"
    );
    let body = w.published(h, "PR-V2-25", "二十五天工程", 25).await;
    assert_eq!(body["rulebook_id"], "construction-open@v2", "{body}");

    // The pages: the list, one rulebook, and a refused upload shown with its key.
    let b = h.browser();
    b.login("operator", PASSWORD).await;
    let page = b.get("/operator/rulebooks?lang=en").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("data-rulebook=\"water-open\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("Rulebooks in force"), "{}", page.body);
    let page = b.get("/operator/rulebooks/construction-open?lang=zh").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("construction-open@v2"), "{}", page.body);
    assert!(page.body.contains("招标投标法 第24条"), "{}", page.body);
    let csrf = b.cookie("sunbid_csrf").unwrap_or_default();
    let even = longer.replace(
        "committee_min_members = { value = 5,",
        "committee_min_members = { value = 4,",
    );
    let sent = b
        .post_form(
            "/operator/rulebooks/construction-open",
            &[("csrf", &csrf), ("toml", &even)],
        )
        .await;
    assert_eq!(
        sent.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        sent.body
    );
    assert!(sent.body.contains("id=\"refusal\""), "{}", sent.body);
    assert!(
        sent.body.contains("rules.committee_min_members"),
        "{}",
        sent.body
    );
    assert_eq!(h.count("rulebook_version").await, 1, "nothing stored");
    let agent_pages = h.browser();
    agent_pages.login("agent1", PASSWORD).await;
    let page = agent_pages.get("/operator/rulebooks").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
both!(operator_replaces_a_rulebook, rulebook_replacement);

/// Moves a published tender past its deadline and starts the opening with no bid: 流标.
async fn fail(h: &Harness, code: &str) {
    h.clock.advance(Duration::days(26));
    let agent = h.login("agent1", PASSWORD).await;
    let (s, v) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/opening/start"),
            Some(&agent),
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, t) = h.api_get(&format!("/api/v1/tenders/{code}"), None).await;
    assert_eq!(t["state"], "failed", "{t}");
}

async fn retendering(h: &Harness) {
    let w = World::new(h).await;
    w.published(h, "RT-1", "流标测试工程", 20).await;

    // Only a failed tender may be re-tendered.
    let next = |code: &str| json!({"tender": w.input(code, "流标测试工程（重新招标）", h.now() + Duration::minutes(1), 20)});
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/RT-1/retender",
            Some(&w.agent),
            &next("RT-1-R"),
        )
        .await;
    assert_error(&(s, v), StatusCode::CONFLICT, "TENDER_NOT_FAILED");

    fail(h, "RT-1").await;
    let agent = h.login("agent1", PASSWORD).await;
    let next = |code: &str| json!({"tender": w.input(code, "流标测试工程（重新招标）", h.now() + Duration::minutes(1), 20)});

    // Bad input: another category, another procedure for works, a bidder, a missing tender.
    let mut other = next("RT-1-R");
    other["tender"]["category"] = json!("water");
    let (s, v) = h
        .api_post("/api/v1/tenders/RT-1/retender", Some(&agent), &other)
        .await;
    assert_error(
        &(s, v),
        StatusCode::UNPROCESSABLE_ENTITY,
        "RETENDER_CATEGORY_CHANGED",
    );
    let mut invited = next("RT-1-R");
    invited["tender"]["procedure"] = json!("invited");
    invited["approval_ref"] = json!("某发改〔2025〕1号");
    let (s, v) = h
        .api_post("/api/v1/tenders/RT-1/retender", Some(&agent), &invited)
        .await;
    assert_error(
        &(s, v),
        StatusCode::UNPROCESSABLE_ENTITY,
        "PROCEDURE_CHANGE_NOT_ALLOWED",
    );
    let bidder = h.login("bidder1", PASSWORD).await;
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/RT-1/retender",
            Some(&bidder),
            &next("RT-1-R"),
        )
        .await;
    assert_error(&(s, v), StatusCode::FORBIDDEN, "FORBIDDEN");
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/NOPE/retender",
            Some(&agent),
            &next("RT-1-R"),
        )
        .await;
    assert_error(&(s, v), StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(h.count("tender").await, 1, "nothing stored");

    // The re-tender: a draft linked to the failed tender, audited with the link.
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/RT-1/retender",
            Some(&agent),
            &next("RT-1-R"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["tender"]["retender_of"], "RT-1", "{v}");
    assert_eq!(v["tender"]["state"], "draft", "{v}");
    assert!(v.get("second_failure").is_none(), "a first failure: {v}");
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/RT-1/retender",
            Some(&agent),
            &next("RT-1-S"),
        )
        .await;
    assert_error(&(s, v), StatusCode::CONFLICT, "ALREADY_RETENDERED");

    // Published, both show the link, in the API and on the portal.
    let (s, doc) = upload(h, &agent, "RT-1-R", "招标文件.pdf", b"%PDF-1.4").await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    let (s, v) = h
        .api_post("/api/v1/tenders/RT-1-R/publish", Some(&agent), &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (_, old) = h.api_get("/api/v1/tenders/RT-1", None).await;
    assert_eq!(old["retendered_by"], "RT-1-R", "{old}");
    let (_, new) = h.api_get("/api/v1/tenders/RT-1-R", None).await;
    assert_eq!(new["retender_of"], "RT-1", "{new}");
    let anon = h.browser();
    let page = anon.get("/tenders/RT-1?lang=en").await;
    assert!(
        page.body.contains("href=\"/tenders/RT-1-R\""),
        "{}",
        page.body
    );
    let page = anon.get("/tenders/RT-1-R?lang=zh").await;
    assert!(
        page.body.contains("href=\"/tenders/RT-1\""),
        "{}",
        page.body
    );
    assert!(page.body.contains("重新招标"), "{}", page.body);

    // A second failure: the re-tender is allowed and the rulebook's rule is surfaced.
    fail(h, "RT-1-R").await;
    let agent = h.login("agent1", PASSWORD).await;
    let (s, v) = h
        .api_post(
            "/api/v1/tenders/RT-1-R/retender",
            Some(&agent),
            &next("RT-1-R2"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["second_failure"]["failures"], 2, "{v}");
    assert_eq!(
        v["second_failure"]["rule"]["action"], "retender_or_skip_with_approval",
        "{v}"
    );
    assert!(
        v["second_failure"]["message_zh"]
            .as_str()
            .unwrap_or_default()
            .contains("第38条"),
        "{v}"
    );
}
both!(a_failed_tender_is_retendered, retendering);

async fn invited_tendering(h: &Harness) {
    let w = World::new(h).await;
    let (a, _, a_token) = h.bidder("invitee_a").await;
    let (b, _, _) = h.bidder("invitee_b").await;
    let (c, _, _) = h.bidder("invitee_c").await;
    let (_, _, outsider) = h.bidder("outsider").await;

    let mut input = w.input(
        "INV-1",
        "邀请招标测试工程",
        h.now() + Duration::minutes(1),
        20,
    );
    input["procedure"] = json!("invited");
    let (s, v) = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(v["rulebook_id"], "construction-invited", "{v}");
    let (s, doc) = upload(h, &w.agent, "INV-1", "招标文件.pdf", b"%PDF-1.4 invited").await;
    assert_eq!(s, StatusCode::CREATED, "{doc}");
    let doc_id = doc["document_id"]
        .as_str()
        .expect("document id")
        .to_string();

    // Publication needs three invitees (招标投标法 第17条).
    let (s, v) = h
        .api_post("/api/v1/tenders/INV-1/publish", Some(&w.agent), &json!({}))
        .await;
    assert_error(
        &(s, v.clone()),
        StatusCode::UNPROCESSABLE_ENTITY,
        "TOO_FEW_INVITEES",
    );
    assert!(
        v["message"].as_str().unwrap_or_default().contains("第17条"),
        "{v}"
    );

    // Bad invitation lists, each refused and nothing stored.
    let put = async |token: &str, ids: &[&str]| {
        let resp = h
            .client
            .put(h.url("/api/v1/tenders/INV-1/invitations"))
            .bearer_auth(token)
            .json(&json!({ "org_ids": ids }))
            .send()
            .await
            .expect("PUT");
        json_of(resp).await
    };
    let got = put(&w.agent, &[&a, &b]).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "TOO_FEW_INVITEES");
    let got = put(&w.agent, &[&a, &b, &b]).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "TOO_FEW_INVITEES");
    let got = put(&w.agent, &[&a, &b, &w.tenderee]).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_INVITEE");
    let got = put(&a_token, &[&a, &b, &c]).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(h.count("tender_invitation").await, 0, "nothing stored");

    // Three invitees: recorded, audited (withheld), and the tender publishes.
    let got = put(&w.agent, &[&a, &b, &c]).await;
    assert_eq!(got.0, StatusCode::OK, "{}", got.1);
    assert_eq!(
        got.1["invitees"].as_array().map(Vec::len),
        Some(3),
        "{}",
        got.1
    );
    assert_eq!(got.1["article"], "招标投标法 第17条");
    let (s, v) = h
        .api_post("/api/v1/tenders/INV-1/publish", Some(&w.agent), &json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let got = put(&w.agent, &[&a, &b, &c]).await;
    assert_error(&got, StatusCode::CONFLICT, "INVALID_STATE");

    // Who is invited is not public before the opening: not in the API for bidders, not in
    // the public audit log.
    let (s, v) = h
        .api_get("/api/v1/tenders/INV-1/invitations", Some(&outsider))
        .await;
    assert_error(&(s, v), StatusCode::FORBIDDEN, "FORBIDDEN");
    let (s, v) = h
        .api_get("/api/v1/tenders/INV-1/invitations", Some(&w.agent))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // Company ids are public through their registration; what must not show is the
    // invitation event's entry, which links them to this tender.
    assert!(h.public_entries("tender.invitations").await.is_empty());
    let page = h.browser().get("/tenders/INV-1").await;
    assert!(!page.body.contains("invitee_a"), "{}", page.body);

    // Only invitees obtain the documents (available a minute after publication) and bid.
    h.clock.advance(Duration::minutes(2));
    let path = format!("/api/v1/tenders/INV-1/documents/{doc_id}");
    let resp = h
        .client
        .get(h.url(&path))
        .bearer_auth(&outsider)
        .send()
        .await
        .expect("GET");
    assert_error(&json_of(resp).await, StatusCode::FORBIDDEN, "NOT_INVITED");
    let resp = h
        .client
        .get(h.url(&path))
        .bearer_auth(&a_token)
        .send()
        .await
        .expect("GET");
    assert_eq!(resp.status(), StatusCode::OK);
    let (_, mine) = h
        .api_get("/api/v1/tenders/INV-1/my-invitation", Some(&outsider))
        .await;
    assert_eq!(mine["may_take_part"], false, "{mine}");
    let (_, mine) = h
        .api_get("/api/v1/tenders/INV-1/my-invitation", Some(&a_token))
        .await;
    assert_eq!(mine["may_take_part"], true, "{mine}");
    let resp = h
        .client
        .post(h.url("/api/v1/tenders/INV-1/bid/parts?label=form"))
        .bearer_auth(&outsider)
        .header("content-type", "application/octet-stream")
        .body(b"not even an envelope".to_vec())
        .send()
        .await
        .expect("POST");
    assert_error(&json_of(resp).await, StatusCode::FORBIDDEN, "NOT_INVITED");
    assert_eq!(h.count("bid_part").await, 0);

    // Invitations belong to invited tenders only.
    w.published(h, "OPEN-1", "公开招标工程", 20).await;
    let resp = h
        .client
        .get(h.url("/api/v1/tenders/OPEN-1/invitations"))
        .bearer_auth(&w.agent)
        .send()
        .await
        .expect("GET");
    assert_error(
        &json_of(resp).await,
        StatusCode::CONFLICT,
        "NOT_INVITED_TENDERING",
    );
}
both!(only_invitees_take_part, invited_tendering);
