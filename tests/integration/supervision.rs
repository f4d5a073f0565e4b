//! Electronic supervision over HTTP (issue 13): the alert engine consumes the audit log
//! exactly once (two engines at once raise each alert once), its alerts are recomputed
//! from the log alone, regulators read them with their evidence, acknowledge them, open a
//! case, suspend the tender (the agent's next step is refused; suspending twice is 409),
//! resume it and close the case with a finding whose penalty marks the expert for the
//! draws' avoidance. Everyone else gets 403, bad input 400/422, and the log verifies.
//!
//! The bidding events are appended to the real audit log directly (the sealed-bid opening
//! has its own tests); everything the regulator does runs over HTTP.

use std::collections::BTreeSet;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::audit::verify::{Verdict, verify_server};
use sunbid::audit::{self, Actor};
use sunbid::identity::{OrgKind, Role};
use sunbid::supervision::config::{Calendar, Rules};
use sunbid::supervision::engine;
use sunbid::supervision::rules::Context;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial};
use crate::tenders::World;

/// A published tender moved to `opened`, with the log of three colluding bidders: two
/// upload from one address, and their prices are in arithmetic progression. Returns the
/// tender's code and id.
async fn colluding_tender(h: &Harness, w: &World) -> (String, String) {
    let code = format!("SUP-{}", next_serial());
    w.published(h, &code, "电子监察测试工程", 25).await;
    let (tid,): (String,) = {
        let mut tx = h.db().read().await.unwrap();
        sunbid::q_one!(
            tx,
            (String,),
            "select tender_id from tender where code = $1",
            code.clone()
        )
        .unwrap()
    };
    let now = h.now();
    let mut tx = h.db().begin().await.unwrap();
    let bidder = Actor {
        role: Some("bidder".into()),
        ..Actor::default()
    };
    let bids = [
        ("org-a", "10.1.1.7", 1_000_000_000i64),
        ("org-b", "10.1.1.7", 1_050_000_000),
        ("org-c", "192.0.2.44", 1_100_000_000),
    ];
    for (org, ip, _) in bids {
        audit::append(
            &mut tx,
            now,
            &bidder,
            "bid.upload",
            Some(&tid),
            json!({"bidder_id": org, "client_ip": ip, "user_agent": format!("UA {org}"),
                   "device_id": format!("dev-{org}"), "sha256": format!("{org:0>64}")}),
        )
        .await
        .unwrap();
    }
    let record: Vec<Value> = bids
        .iter()
        .map(|(org, _, p)| json!({"bidder_id": org, "status": "opened", "price_fen": p}))
        .collect();
    audit::append(
        &mut tx,
        now,
        &Actor::system(),
        "opening.record",
        Some(&tid),
        json!({"record": {"bids": record}}),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    h.exec(&format!(
        "update tender set state = 'opened' where tender_id = '{tid}'"
    ))
    .await
    .unwrap();
    (code, tid)
}

async fn alert_count(h: &Harness) -> i64 {
    h.count("supervision_alert").await
}

async fn supervision(h: &Harness) {
    let w = World::new(h).await;
    let (code, tid) = colluding_tender(h, &w).await;
    let org = h.create_org(OrgKind::Regulator, "住建局监督科").await;
    h.create_user("regulator1", Role::Regulator, Some(&org))
        .await;
    let reg = h.login("regulator1", PASSWORD).await;

    // Two engines at once (the server's job loop runs a third): each finding is stored once.
    let (a, b) = tokio::join!(
        engine::run(h.db(), h.now(), None),
        engine::run(h.db(), h.now(), None)
    );
    a.unwrap();
    b.unwrap();
    let stored = alert_count(h).await;
    assert!(stored >= 2, "{stored}");
    engine::run(h.db(), h.now(), None).await.unwrap();
    assert_eq!(alert_count(h).await, stored, "nothing is raised twice");

    // The alerts over HTTP, filtered by tender and kind.
    let path = format!("/api/v1/supervision/alerts?tender={code}&kind=collusion");
    let (status, list) = h.api_get(&path, Some(&reg)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap().clone();
    let rules: BTreeSet<&str> = list.iter().filter_map(|a| a["rule"].as_str()).collect();
    assert!(rules.contains("collusion.same_ip"), "{rules:?}");
    assert!(rules.contains("collusion.arithmetic_prices"), "{rules:?}");
    assert!(!rules.contains("collusion.same_device"), "{rules:?}");
    let ip = list
        .iter()
        .find(|a| a["rule"] == "collusion.same_ip")
        .unwrap();
    assert_eq!(ip["status"], "open");
    assert_eq!(ip["tender_code"], json!(code));
    assert_eq!(ip["evidence"].as_array().unwrap().len(), 2);
    let alert_id = ip["alert_id"].as_str().unwrap().to_string();

    // Reproducible: recomputing from the log alone gives the same findings.
    let (rules_cfg, cal) = (Rules::builtin().unwrap(), Calendar::builtin().unwrap());
    let ctx = Context {
        rules: &rules_cfg,
        calendar: &cal,
    };
    let again = engine::recompute(h.db(), h.now(), &ctx).await.unwrap();
    let recomputed: BTreeSet<(String, Vec<u64>)> = again
        .iter()
        .map(|f| (f.rule.clone(), f.evidence.clone()))
        .collect();
    let (_, all) = h.api_get("/api/v1/supervision/alerts", Some(&reg)).await;
    let stored_set: BTreeSet<(String, Vec<u64>)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                serde_json::from_value(a["evidence"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(recomputed, stored_set);

    // One alert with its evidence events, entries in full for the regulator.
    let (status, one) = h
        .api_get(
            &format!("/api/v1/supervision/alerts/{alert_id}"),
            Some(&reg),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let evs = one["evidence_events"].as_array().unwrap();
    assert_eq!(evs.len(), 2);
    assert!(evs[0]["entry"].as_str().unwrap().contains("10.1.1.7"));

    // Nobody else: 401 anonymous, 403 for the agent and a bidder; bad filters are 400.
    let got = h.api_get("/api/v1/supervision/alerts", None).await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED);
    for who in [&w.agent, &w.bidder1] {
        let got = h.api_get("/api/v1/supervision/alerts", Some(who)).await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
        let got = h
            .api_post(
                &format!("/api/v1/supervision/alerts/{alert_id}/acknowledge"),
                Some(who),
                &json!({}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
        let got = h
            .api_post(
                "/api/v1/supervision/cases",
                Some(who),
                &json!({"alert_id": alert_id}),
            )
            .await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let got = h
        .api_get("/api/v1/supervision/alerts?kind=gossip", Some(&reg))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_KIND");
    let got = h
        .api_get("/api/v1/supervision/alerts?status=done", Some(&reg))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_STATUS");
    let got = h
        .api_get("/api/v1/supervision/alerts/nope", Some(&reg))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");

    // Acknowledge once; twice is a 409.
    let ack = format!("/api/v1/supervision/alerts/{alert_id}/acknowledge");
    let (status, body) = h.api_post(&ack, Some(&reg), &json!({})).await;
    assert_eq!(
        (status, body["status"].clone()),
        (StatusCode::OK, json!("acknowledged")),
        "{body}"
    );
    let got = h.api_post(&ack, Some(&reg), &json!({})).await;
    assert_error(&got, StatusCode::CONFLICT, "ALERT_NOT_OPEN");

    // A case from the alert; a second case from it is a 409.
    let (status, case) = h
        .api_post(
            "/api/v1/supervision/cases",
            Some(&reg),
            &json!({"alert_id": alert_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    let case_id = case["case_id"].as_str().unwrap().to_string();
    let got = h
        .api_post(
            "/api/v1/supervision/cases",
            Some(&reg),
            &json!({"alert_id": alert_id}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "ALERT_ALREADY_HANDLED");
    let c = |p: &str| format!("/api/v1/supervision/cases/{case_id}/{p}");
    let got = h
        .api_post(&c("notes"), Some(&reg), &json!({"text": "  "}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "TEXT_REQUIRED");
    let (status, body) = h
        .api_post(
            &c("notes"),
            Some(&reg),
            &json!({"text": "调取两家投标人的上传记录。"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["notes"].as_array().unwrap().len(), 1);

    // Suspend: the tender stops, the agent's next step is refused; twice is a 409.
    let got = h
        .api_post(&c("suspend"), Some(&reg), &json!({"text": ""}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "TEXT_REQUIRED");
    let reason = "涉嫌串通投标，暂停评标 (实施条例 第62条)";
    let (status, body) = h
        .api_post(&c("suspend"), Some(&reg), &json!({"text": reason}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["suspended_reason"], reason);
    let (_, t) = h
        .api_get(&format!("/api/v1/tenders/{code}"), Some(&w.agent))
        .await;
    assert_eq!(t["state"], "suspended", "{t}");
    let got = h
        .api_post(
            &format!("/api/v1/tenders/{code}/opening/start"),
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{got:?}");
    assert!(
        got.1["message"]
            .as_str()
            .unwrap()
            .contains("suspended for supervision"),
        "{got:?}"
    );
    let got = h
        .api_post(&c("suspend"), Some(&reg), &json!({"text": reason}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "TENDER_ALREADY_SUSPENDED");

    // Closing needs a finding, and the tender resumed first.
    let got = h
        .api_post(&c("close"), Some(&reg), &json!({"text": "x"}))
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CASE_FINDING_REQUIRED",
    );
    let got = h
        .api_post(
            &c("close"),
            Some(&reg),
            &json!({"finding": "maybe", "text": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "CASE_BAD_FINDING");
    let got = h
        .api_post(
            &c("close"),
            Some(&reg),
            &json!({"finding": "dismissed", "text": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CASE_TENDER_SUSPENDED");
    let (status, body) = h.api_post(&c("resume"), Some(&reg), &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, t) = h
        .api_get(&format!("/api/v1/tenders/{code}"), Some(&w.agent))
        .await;
    assert_eq!(t["state"], "opened");
    let got = h.api_post(&c("resume"), Some(&reg), &json!({})).await;
    assert_error(&got, StatusCode::CONFLICT, "TENDER_NOT_SUSPENDED");

    // A penalty against an expert: the draw's avoidance excludes them from now on.
    let expert_id = sunbid::ids::new_id();
    h.exec(&format!(
        "insert into expert (expert_id, name, specialties, region, title, years_of_practice, birth_year,
            status, created_at, updated_at)
         values ('{expert_id}', '王专家', '[\"A0101\"]', '330106', 'senior', 12, 1975, 'active', 0, 0)"
    ))
    .await
    .unwrap();
    let penalty = json!({"finding": "penalty", "text": "评标专家违规，记录处罚。",
                         "penalties": [{"subject": "expert", "id": expert_id}]});
    let got = h
        .api_post(
            &c("close"),
            Some(&reg),
            &json!({"finding": "penalty", "text": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "CASE_PENALTIES");
    let got = h.api_post(&c("close"), Some(&reg),
        &json!({"finding": "penalty", "text": "x", "penalties": [{"subject": "expert", "id": "nobody"}]})).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "CASE_PENALTIES");
    let (status, body) = h.api_post(&c("close"), Some(&reg), &penalty).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["finding"], "penalty");
    let penalised: (i64,) = {
        let mut tx = h.db().read().await.unwrap();
        sunbid::q_one!(
            tx,
            (i64,),
            "select penalised from expert where expert_id = $1",
            expert_id.clone()
        )
        .unwrap()
    };
    assert_eq!(penalised.0, 1);
    let got = h
        .api_post(&c("notes"), Some(&reg), &json!({"text": "late"}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "CASE_CLOSED");
    let (_, one) = h
        .api_get(
            &format!("/api/v1/supervision/alerts/{alert_id}"),
            Some(&reg),
        )
        .await;
    assert_eq!(one["status"], "closed");

    // Every step is in the log, which still verifies.
    let mut tx = h.db().read().await.unwrap();
    let (n,): (i64,) = sunbid::q_one!(
        tx,
        (i64,),
        "select count(*) from audit_event where tender_id = $1 and action in
         ('supervision.alert.acknowledge', 'supervision.case.open', 'supervision.case.note',
          'tender.suspend', 'tender.resume', 'supervision.case.close')",
        tid.clone()
    )
    .unwrap();
    drop(tx);
    assert_eq!(n, 6);
    let (verdict, _) = verify_server(&h.base, None, None).await.expect("verify");
    assert!(matches!(verdict, Verdict::Ok { .. }), "{verdict:?}");

    // A penalised company is flagged in the operator's review of organisations.
    let (bidder_org,): (String,) = {
        let mut tx = h.db().read().await.unwrap();
        sunbid::q_one!(
            tx,
            (String,),
            "select org_id from app_user where user_id = $1",
            w.bidder1_id.clone()
        )
        .unwrap()
    };
    let other = list
        .iter()
        .find(|a| a["alert_id"] != json!(alert_id))
        .unwrap();
    let (status, case2) = h
        .api_post(
            "/api/v1/supervision/cases",
            Some(&reg),
            &json!({"alert_id": other["alert_id"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case2}");
    let close2 = format!(
        "/api/v1/supervision/cases/{}/close",
        case2["case_id"].as_str().unwrap()
    );
    let (status, body) = h
        .api_post(
            &close2,
            Some(&reg),
            &json!({"finding": "penalty", "text": "串通投标，记录处罚。",
                    "penalties": [{"subject": "company", "id": bidder_org}]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let operator = h.operator().await;
    let (_, orgs) = h.api_get("/api/v1/organisations", Some(&operator)).await;
    let flagged: Vec<&str> = orgs["organisations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["penalised"] == json!(true))
        .filter_map(|o| o["org_id"].as_str())
        .collect();
    assert_eq!(flagged, vec![bidder_org.as_str()], "{orgs}");

    // The case list, and the exports: CSV with a BOM, XLSX as a workbook, regulators only.
    let (status, all_cases) = h.api_get("/api/v1/supervision/cases", Some(&reg)).await;
    assert_eq!(status, StatusCode::OK, "{all_cases}");
    assert_eq!(all_cases.as_array().unwrap().len(), 2, "{all_cases}");
    let got = h.api_get("/api/v1/supervision/cases", Some(&w.agent)).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let download = async |path: &str, token: &str| {
        let resp = h
            .client
            .get(h.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let ctype = resp
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (status, ctype, resp.bytes().await.unwrap().to_vec())
    };
    let (status, ctype, csv) = download("/api/v1/supervision/export/alerts", &reg).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ctype.starts_with("text/csv"), "{ctype}");
    assert!(csv.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(csv[3..].to_vec()).unwrap();
    assert!(text.contains("collusion.same_ip"), "{text}");
    assert!(text.contains(&code), "{text}");
    let (status, _, xlsx) = download("/api/v1/supervision/export/cases?format=xlsx", &reg).await;
    assert_eq!(status, StatusCode::OK);
    assert!(xlsx.starts_with(b"PK\x03\x04"));
    let (status, _, body) = download("/api/v1/supervision/export/alerts", &w.bidder1).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let got = h
        .api_get("/api/v1/supervision/export/alerts?format=pdf", Some(&reg))
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{got:?}");
    let got = h
        .api_get("/api/v1/supervision/export/cases?kind=x", Some(&reg))
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{got:?}");

    // The live wall: alerts after a point arrive as server-sent events; regulators only.
    let mut resp = h
        .client
        .get(h.url("/supervision/stream?after=0"))
        .bearer_auth(&reg)
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
    let mut seen = String::new();
    while !seen.contains("event: alert") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(30), resp.chunk())
            .await
            .expect("an event within 30 s")
            .unwrap()
            .expect("the stream goes on until an alert is sent");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("\"audit_seq\":"), "{seen}");
    drop(resp);
    let resp = h
        .client
        .get(h.url("/supervision/stream"))
        .bearer_auth(&w.bidder1)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let got = h.api_get("/supervision/stream?after=x", Some(&reg)).await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{got:?}");
    let (status, _) = h.api_get("/supervision/wall", Some(&reg)).await;
    assert_eq!(status, StatusCode::OK);

    // The dashboard's figures: savings and on-time rates are there (nothing awarded yet).
    let (status, stats) = h.api_get("/api/v1/supervision/stats", Some(&reg)).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(stats["savings"][0]["category"], "all", "{stats}");
    assert_eq!(stats["savings"][0]["awarded"], 0, "{stats}");
    assert!(stats["duties"].is_array(), "{stats}");
}

both!(alerts_cases_and_suspension, supervision);

/// Makes bidder1's company a party of the tender: an opened bid.
async fn make_party(h: &Harness, w: &World, tid: &str, bidder_org: &str) {
    let t0 = sunbid::clock::to_millis(h.now());
    h.exec(&format!(
        "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
            signature, audit_seq, submitted_at)
         values ('{}', '{tid}', '{bidder_org}', '{}', 'opened', '{{}}', 'x', 0, {t0})",
        sunbid::ids::new_id(),
        w.bidder1_id
    ))
    .await
    .unwrap();
}

/// Complaints (实施条例 第60–61条): who may file, the window, the objection first; the
/// regulator's acceptance clock raises an alert when missed; the decision is published.
async fn complaints(h: &Harness) {
    let w = World::new(h).await;
    let (code, tid) = colluding_tender(h, &w).await;
    let org = h.create_org(OrgKind::Regulator, "住建局监督科").await;
    h.create_user("regulator2", Role::Regulator, Some(&org))
        .await;
    let reg = h.login("regulator2", PASSWORD).await;
    let (bidder_org,): (String,) = {
        let mut tx = h.db().read().await.unwrap();
        sunbid::q_one!(
            tx,
            (String,),
            "select org_id from app_user where user_id = $1",
            w.bidder1_id.clone()
        )
        .unwrap()
    };
    let t0 = sunbid::clock::to_millis(h.now());
    make_party(h, &w, &tid, &bidder_org).await;
    let file = |matter: &str, known: Option<chrono::DateTime<chrono::Utc>>| {
        json!({"tender": code, "matter": matter, "text": "开标记录与投标文件不符，请求调查。",
               "known_at": known.map(|k| k.to_rfc3339())})
    };
    let before = h.count("complaint").await;

    // Not a party, not a bidder, no prior objection, out of the window, unknown matter.
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder2),
            &file("other", Some(h.now())),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.agent),
            &file("other", Some(h.now())),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder1),
            &file("result", None),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_OBJECTION_FIRST",
    );
    let eleven_days_ago = h.now() - chrono::Duration::days(11);
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder1),
            &file("other", Some(eleven_days_ago)),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_OUT_OF_WINDOW",
    );
    let got = h
        .api_post("/api/v1/complaints", Some(&w.bidder1), &file("other", None))
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_KNOWN_AT_REQUIRED",
    );
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder1),
            &file("gossip", Some(h.now())),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_BAD_MATTER",
    );
    // An opening objection still awaiting its answer holds the complaint back.
    h.exec(&format!(
        "insert into opening_objection (objection_id, tender_id, bidder_org_id, raised_by, body, raised_at)
         values ('{}', '{tid}', '{bidder_org}', '{}', '报价宣读有误', {t0})",
        sunbid::ids::new_id(),
        w.bidder1_id
    ))
    .await
    .unwrap();
    let got = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder1),
            &file("opening", None),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "COMPLAINT_OBJECTION_PENDING");
    assert_eq!(
        h.count("complaint").await,
        before,
        "nothing stored by a refusal"
    );
    h.exec(&format!("update opening_objection set answer = '已核对', answered_at = {t0} where tender_id = '{tid}'"))
        .await
        .unwrap();
    let (status, c) = h
        .api_post(
            "/api/v1/complaints",
            Some(&w.bidder1),
            &file("opening", None),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["state"], "filed");
    let id = c["complaint_id"].as_str().unwrap().to_string();

    // The complainant sees its own; nobody else but a regulator.
    let (status, mine) = h.api_get("/api/v1/complaints", Some(&w.bidder1)).await;
    assert_eq!(
        (status, mine.as_array().unwrap().len()),
        (StatusCode::OK, 1)
    );
    let (_, theirs) = h.api_get("/api/v1/complaints", Some(&w.bidder2)).await;
    assert_eq!(theirs.as_array().unwrap().len(), 0);
    let got = h.api_get("/api/v1/complaints", Some(&w.agent)).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");

    // Acceptance is due within 3 working days: a week later the clock check raises an alert.
    engine::run(h.db(), h.now() + chrono::Duration::days(7), None)
        .await
        .unwrap();
    let path = format!("/api/v1/supervision/alerts?tender={code}&kind=time_limit");
    let (_, late) = h.api_get(&path, Some(&reg)).await;
    assert!(
        late.as_array()
            .unwrap()
            .iter()
            .any(|a| a["rule"] == "time.complaint_acceptance"),
        "{late}"
    );

    // A case opened from the complaint (实施条例 第62条: the regulator may suspend the
    // tender meanwhile): exactly one source, regulators only, one open case at a time.
    let cases = "/api/v1/supervision/cases";
    let got = h
        .api_post(
            cases,
            Some(&reg),
            &json!({"alert_id": "x", "complaint_id": id}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "CASE_SOURCE");
    let got = h.api_post(cases, Some(&reg), &json!({})).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "CASE_SOURCE");
    let got = h
        .api_post(cases, Some(&w.bidder1), &json!({"complaint_id": id}))
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(cases, Some(&reg), &json!({"complaint_id": "no-such"}))
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    let (status, case) = h
        .api_post(cases, Some(&reg), &json!({"complaint_id": id}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{case}");
    assert_eq!(case["complaint_id"], json!(id));
    assert_eq!(case["tender"], json!(tid));
    assert!(case["alert_id"].is_null(), "{case}");
    let got = h
        .api_post(cases, Some(&reg), &json!({"complaint_id": id}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "COMPLAINT_CASE_OPEN");
    let case_id = case["case_id"].as_str().unwrap().to_string();
    let (status, body) = h
        .api_post(
            &format!("{cases}/{case_id}/close"),
            Some(&reg),
            &json!({"finding": "dismissed", "text": "调查后未发现违法行为。"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Accept, decide, publish.
    let p = |s: &str| format!("/api/v1/complaints/{id}/{s}");
    let got = h.api_post(&p("accept"), Some(&w.bidder1), &json!({})).await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            &p("decide"),
            Some(&reg),
            &json!({"outcome": "dismissed", "text": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "COMPLAINT_WRONG_STATE");
    let (status, c) = h.api_post(&p("accept"), Some(&reg), &json!({})).await;
    assert_eq!(
        (status, c["state"].clone()),
        (StatusCode::OK, json!("accepted")),
        "{c}"
    );
    let got = h.api_post(&p("accept"), Some(&reg), &json!({})).await;
    assert_error(&got, StatusCode::CONFLICT, "COMPLAINT_WRONG_STATE");
    let got = h
        .api_post(
            &p("decide"),
            Some(&reg),
            &json!({"outcome": "maybe", "text": "x"}),
        )
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_BAD_OUTCOME",
    );
    let decision = "经调查，开标记录无误，投诉不成立。";
    let (status, c) = h
        .api_post(
            &p("decide"),
            Some(&reg),
            &json!({"outcome": "dismissed", "text": decision}),
        )
        .await;
    assert_eq!(
        (status, c["state"].clone()),
        (StatusCode::OK, json!("decided")),
        "{c}"
    );
    let (status, published) = h
        .api_get(&format!("/api/v1/tenders/{code}/complaint-decisions"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{published}");
    assert_eq!(published[0]["decision"], decision);
    assert_eq!(published[0]["outcome"], "dismissed");
    let got = h
        .api_get("/api/v1/tenders/NO-SUCH/complaint-decisions", None)
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    // A decided complaint starts no case.
    let got = h
        .api_post(cases, Some(&reg), &json!({"complaint_id": id}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "COMPLAINT_WRONG_STATE");
}

both!(complaints_window_and_decision, complaints);

/// The complaint window comes from the supervision rules: a file that gives 20 days lets
/// a complaint 11 days after knowing through, and refuses one after 21 days, naming 20.
async fn complaint_window_from_rules(h: &Harness) {
    let w = World::new(h).await;
    let (code, tid) = colluding_tender(h, &w).await;
    let (bidder_org,): (String,) = {
        let mut tx = h.db().read().await.unwrap();
        sunbid::q_one!(
            tx,
            (String,),
            "select org_id from app_user where user_id = $1",
            w.bidder1_id.clone()
        )
        .unwrap()
    };
    make_party(h, &w, &tid, &bidder_org).await;
    let file = |days: i64| {
        json!({"tender": code, "matter": "other", "text": "招标人未按规定公示中标候选人。",
               "known_at": (h.now() - chrono::Duration::days(days)).to_rfc3339()})
    };
    let got = h
        .api_post("/api/v1/complaints", Some(&w.bidder1), &file(21))
        .await;
    assert_error(
        &got,
        StatusCode::UNPROCESSABLE_ENTITY,
        "COMPLAINT_OUT_OF_WINDOW",
    );
    assert!(
        got.1["message"].as_str().unwrap().contains("20 days"),
        "{got:?}"
    );
    let (status, c) = h
        .api_post("/api/v1/complaints", Some(&w.bidder1), &file(11))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
}

/// A rules file with a 20-day complaint window (kept for the test process's life).
fn twenty_day_window(c: &mut sunbid::config::Config) {
    let text = include_str!("../../src/supervision/rules.toml")
        .replace("complaint_window_days = 10", "complaint_window_days = 20");
    let path = std::env::temp_dir().join(format!(
        "sunbid-rules-{}-{}.toml",
        std::process::id(),
        next_serial()
    ));
    std::fs::write(&path, text).unwrap();
    c.supervision_rules = Some(path);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn complaint_window_from_the_rules_file() {
    crate::harness::run_with(
        crate::harness::Backend::Sqlite,
        twenty_day_window,
        complaint_window_from_rules,
    )
    .await;
}

/// Rules across tenders, consumed by the engine from the real log and reproduced from it:
/// one tenderee publishing two works tenders just under the 4 million yuan threshold
/// (split tenders), and three of its tenders cancelled.
async fn across_tenders(h: &Harness) {
    let org = h.create_org(OrgKind::Regulator, "住建局监督科").await;
    h.create_user("regulator3", Role::Regulator, Some(&org))
        .await;
    let reg = h.login("regulator3", PASSWORD).await;
    let buyer = format!("buyer-{}", next_serial());
    let now = h.now();
    let mut tx = h.db().begin().await.unwrap();
    let agent = Actor {
        role: Some("agent".into()),
        ..Actor::default()
    };
    let mut tenders = Vec::new();
    for i in 0..3 {
        let tid = format!("{buyer}-t{i}");
        let estimate = if i < 2 { 390_000_000i64 } else { 100_000_000 };
        audit::append(
            &mut tx,
            now,
            &agent,
            "tender.publish",
            Some(&tid),
            json!({"code": tid, "category": "construction", "tenderee_org_id": buyer,
                   "estimated_price_fen": estimate}),
        )
        .await
        .unwrap();
        tenders.push(tid);
    }
    for tid in &tenders {
        audit::append(
            &mut tx,
            now,
            &agent,
            "tender.cancel",
            Some(tid),
            json!({"reason": "预算调整"}),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    engine::run(h.db(), now, None).await.unwrap();
    let (status, list) = h
        .api_get("/api/v1/supervision/alerts?kind=across_tenders", Some(&reg))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ours: Vec<&Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["detail"]["tenderee"] == json!(buyer))
        .collect();
    let rules: BTreeSet<&str> = ours.iter().filter_map(|a| a["rule"].as_str()).collect();
    assert_eq!(
        rules,
        BTreeSet::from(["across.split_tenders", "across.repeated_cancellations"]),
        "{list}"
    );
    let split = ours
        .iter()
        .find(|a| a["rule"] == "across.split_tenders")
        .unwrap();
    assert_eq!(split["evidence"].as_array().unwrap().len(), 2);

    // The same findings from the log alone.
    let (rules_cfg, cal) = (Rules::builtin().unwrap(), Calendar::builtin().unwrap());
    let ctx = Context {
        rules: &rules_cfg,
        calendar: &cal,
    };
    let again = engine::recompute(h.db(), now, &ctx).await.unwrap();
    let recomputed: BTreeSet<(String, Vec<u64>)> = again
        .iter()
        .filter(|f| f.detail["tenderee"] == json!(buyer))
        .map(|f| (f.rule.clone(), f.evidence.clone()))
        .collect();
    let stored: BTreeSet<(String, Vec<u64>)> = ours
        .iter()
        .map(|a| {
            (
                a["rule"].as_str().unwrap().to_string(),
                serde_json::from_value(a["evidence"].clone()).unwrap(),
            )
        })
        .collect();
    assert_eq!(recomputed, stored);
    // An unknown kind is refused.
    let got = h
        .api_get("/api/v1/supervision/alerts?kind=across", Some(&reg))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_KIND");
}

both!(rules_across_tenders, across_tenders);
