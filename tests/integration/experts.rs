//! Expert pool, verifiable draw, confirmation, replacement and passkey check-in over HTTP
//! (issue 4): CSV with malformed rows, an unfillable quota, avoided employers, a second
//! draw, confidentiality (numbers for the agent, names for the regulator, every view
//! audited), decline → replacement, check-in refusals and success, and `sunbid draw verify`
//! MATCH after the reveal and MISMATCH after tampering.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::identity::{OrgKind, Role};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::prelude::Url;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial, run_cli};
use crate::tenders::World;

struct Setup {
    w: World,
    op: String,
    reg_id: String,
    reg: String,
    code: String,
}

async fn setup(h: &Harness) -> Setup {
    let w = World::new(h).await;
    let op = h.operator().await;
    let dept = h.create_org(OrgKind::Regulator, "住房和城乡建设局").await;
    let reg_id = h
        .create_user("supervisor1", Role::Regulator, Some(&dept))
        .await;
    let reg = h.login("supervisor1", PASSWORD).await;
    let code = format!("EXP-{}", next_serial());
    w.published(h, &code, "专家抽取测试工程", 25).await;
    Setup {
        w,
        op,
        reg_id,
        reg,
        code,
    }
}

async fn add_expert(h: &Harness, op: &str, employer: Option<&str>, user: Option<&str>) -> String {
    let (status, body) = h
        .api_post(
            "/api/v1/experts",
            Some(op),
            &json!({
                "name": format!("专家{}", next_serial()),
                "specialties": ["A0101"],
                "region": "330106",
                "employer_org_id": employer,
                "title": "senior",
                "years_of_practice": 12,
                "birth_year": 1972,
                "user_id": user,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["expert"]["expert_id"]
        .as_str()
        .expect("id")
        .to_string()
}

fn request(s: &Setup, h: &Harness, count: u32, alternates: u32) -> Value {
    json!({
        "supervisor_user_id": s.reg_id,
        "quotas": [{"specialty": "A0101", "count": count, "alternates": alternates}],
        "evaluation_at": (h.now() + Duration::days(2)).to_rfc3339(),
        "evaluation_place": "评标室 3",
        "confirm_minutes": 120,
    })
}

async fn views(h: &Harness) -> i64 {
    h.count("audit_event where action = 'expert.draw.view'")
        .await
}

async fn csv_import(h: &Harness) {
    let op = h.operator().await;
    let employer = h
        .create_org(OrgKind::ExpertEmployer, "设计研究院有限公司")
        .await;
    let csv = format!(
        "name,specialties,region,title,years_of_practice,birth_year,employer,penalised\n\
         王工,A0101;A05,330106,正高,15,1970,{employer},否\n\
         李工,Z99,330106,senior,10,1975,,\n\
         \"赵, 工\",construction.building,3301,associate_senior,9,1980,,0\n\
         孙工,A0101,33x,senior,10,1975,,\n\
         周工,A0101,330106,senior,ten,1975,,\n\
         吴工,A0101,330106\n\
         \"郑工,A0101,330106,senior,10,1975,,\n"
    );
    let (status, body) = h
        .api_post_raw("/api/v1/experts/import", Some(&op), "text/csv", &csv)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["imported"].as_array().map(Vec::len), Some(2), "{body}");
    let rejected: Vec<(u64, String)> = body["rejected"]
        .as_array()
        .expect("rejected")
        .iter()
        .map(|r| {
            (
                r["row"].as_u64().unwrap_or(0),
                r["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        rejected,
        vec![
            (3, "UNKNOWN_SPECIALTY".to_string()),
            (5, "INVALID_EXPERT_FIELD".to_string()),
            (6, "INVALID_EXPERT_FIELD".to_string()),
            (7, "INVALID_EXPERT_FIELD".to_string()),
            (8, "MALFORMED_CSV_ROW".to_string()),
        ],
        "{body}"
    );
    // A bad header refuses the whole file.
    let before = h.count("expert").await;
    let got = h
        .api_post_raw(
            "/api/v1/experts/import",
            Some(&op),
            "text/csv",
            "name,shoe_size\n王工,42\n",
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_CSV_HEADER");
    assert_eq!(h.count("expert").await, before);
    // Only operators import; the list filters.
    let (_, _, bidder) = h.bidder("bidder-csv").await;
    let got = h
        .api_post_raw("/api/v1/experts/import", Some(&bidder), "text/csv", &csv)
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = h.api_get("/api/v1/experts?specialty=A05", Some(&op)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["experts"].as_array().map(Vec::len), Some(1), "{body}");
    // The pool page shows them.
    let b = h.browser();
    b.login("operator", PASSWORD).await;
    let page = b.get("/operator/experts").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("王工") && page.body.contains("赵, 工"));
    assert_eq!(
        b.get("/operator/experts/import").await.status,
        StatusCode::OK
    );
}
both!(csv_import_reports_malformed_rows, csv_import);

async fn draw_flow(h: &Harness) {
    let s = setup(h).await;
    // A company that obtained the documents is a bidder; its staff are avoided.
    let (borg, buser, _) = h.bidder("bidder-x").await;
    h.exec(&format!(
        "insert into document_download (download_id, tender_id, document_id, user_id, client_ip, user_agent, at)
         select '{}', d.tender_id, d.document_id, '{buser}', null, null, 0
         from tender_document d join tender t on t.tender_id = d.tender_id where t.code = '{}'",
        uuid::Uuid::now_v7(),
        s.code
    ))
    .await
    .expect("download row");
    let mut avoided = Vec::new();
    for _ in 0..3 {
        avoided.push(add_expert(h, &s.op, Some(&borg), None).await);
    }
    for _ in 0..4 {
        add_expert(h, &s.op, None, None).await;
    }
    // Unfillable: 5 needed, 4 eligible → 422 naming the quota and the count; marked failed.
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{}/draws", s.code),
            Some(&s.w.agent),
            &request(&s, h, 4, 1),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let failed_id = body["draw"]["draw_id"].as_str().expect("id").to_string();
    assert_eq!(body["draw"]["state"], "committed");
    let got = h
        .api_post(
            &format!("/api/v1/draws/{failed_id}/supervisor-input"),
            Some(&s.reg),
            &json!({"input": "3 1 4 1 5"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "QUOTA_UNFILLABLE");
    assert!(got.1["message"].as_str().unwrap_or("").contains("A0101"));
    assert_eq!(got.1["details"]["eligible"], 4);
    assert_eq!(got.1["details"]["needed"], 5);

    // A new request after the failure; the agent cannot enter the input; the supervisor can.
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{}/draws", s.code),
            Some(&s.w.agent),
            &request(&s, h, 3, 1),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let draw_id = body["draw"]["draw_id"].as_str().expect("id").to_string();
    let again = h
        .api_post(
            &format!("/api/v1/tenders/{}/draws", s.code),
            Some(&s.w.agent),
            &request(&s, h, 3, 1),
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "DRAW_EXISTS");
    let got = h
        .api_post(
            &format!("/api/v1/draws/{draw_id}/supervisor-input"),
            Some(&s.w.agent),
            &json!({"input": "1"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let (status, body) = h
        .api_post(
            &format!("/api/v1/draws/{draw_id}/supervisor-input"),
            Some(&s.reg),
            &json!({"input": "6 6 2 5"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let members = body["draw"]["members"].as_array().expect("members").clone();
    assert_eq!(members.len(), 4);
    for m in &members {
        let id = m["expert_id"].as_str().expect("regulator sees ids");
        assert!(!avoided.iter().any(|a| a == id), "drew an avoided expert");
    }
    // A second draw for the same request: 409.
    let got = h
        .api_post(
            &format!("/api/v1/draws/{draw_id}/supervisor-input"),
            Some(&s.reg),
            &json!({"input": "6 6 2 5"}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "DRAW_ALREADY_PERFORMED");

    // Confidentiality: numbers for the agent, names for the regulator, each look audited.
    let before = views(h).await;
    let (status, agent_view) = h
        .api_get(&format!("/api/v1/draws/{draw_id}"), Some(&s.w.agent))
        .await;
    assert_eq!(status, StatusCode::OK);
    for m in agent_view["draw"]["members"].as_array().expect("members") {
        assert!(
            m.get("name").is_none() && m.get("expert_id").is_none(),
            "{m}"
        );
        assert!(m["member_no"].as_i64().is_some());
    }
    let (_, reg_view) = h
        .api_get(&format!("/api/v1/draws/{draw_id}"), Some(&s.reg))
        .await;
    assert!(reg_view["draw"]["members"][0]["name"].is_string());
    let (status, _) = h
        .api_get(&format!("/api/v1/draws/{draw_id}"), Some(&s.w.bidder1))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(views(h).await, before + 2);
    // The same on the pages.
    let name = reg_view["draw"]["members"][0]["name"]
        .as_str()
        .expect("name")
        .to_string();
    let agent_page = h.browser();
    agent_page.login("agent1", PASSWORD).await;
    let page = agent_page.get(&format!("/draws/{draw_id}")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(&name));
    let page = agent_page
        .get(&format!("/agent/tenders/{}/draw", s.code))
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("draw-form") && !page.body.contains(&name));
    let reg_page = h.browser();
    reg_page.login("supervisor1", PASSWORD).await;
    let page = reg_page.get(&format!("/draws/{draw_id}")).await;
    assert!(page.body.contains(&name));
    assert_eq!(
        views(h).await,
        before + 6,
        "draw page, draw list and committee each logged"
    );
    // Nothing about who was drawn is readable in the public log (the pool's own events
    // name expert ids, but no draw event does).
    let (_, log) = h
        .api_get("/api/v1/audit/events?from=0&limit=1000", None)
        .await;
    let draw_entries: Vec<String> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["entry"].as_str())
        .filter(|e| {
            e.contains("\"action\":\"expert.draw") || e.contains("\"action\":\"expert.assignment")
        })
        .map(str::to_string)
        .collect();
    assert!(draw_entries.len() >= 6, "{draw_entries:?}");
    for m in &members {
        let id = m["expert_id"].as_str().unwrap_or("-");
        assert!(
            draw_entries.iter().all(|e| !e.contains(id)),
            "{id} in the public log"
        );
    }
}
both!(unfillable_second_draw_and_confidentiality, draw_flow);

async fn check_in(
    h: &Harness,
    code: &str,
    who: &mut (String, String, SoftPasskey),
) -> (StatusCode, Value) {
    let (_, token, soft) = who;
    let token = token.as_str();
    let (status, start) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/checkin/start"),
            Some(token),
            &json!({}),
        )
        .await;
    if status != StatusCode::OK {
        return (status, start);
    }
    let options = serde_json::from_value(start["options"].clone()).expect("options");
    let origin = Url::parse(&h.public_url).expect("origin");
    let cred = soft.do_authentication(origin, options).expect("assert");
    h.api_post(
        &format!("/api/v1/tenders/{code}/checkin/finish"),
        Some(token),
        &json!({"ceremony_id": start["ceremony_id"], "credential": cred}),
    )
    .await
}

/// Every event of the log, as the holder of `token` (or anyone) reads it.
async fn whole_log(h: &Harness, token: Option<&str>) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let (status, page) = h
            .api_get(
                &format!("/api/v1/audit/events?from={}&limit=500", out.len()),
                token,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        out.extend(events);
    }
}

async fn replacement_checkin_verify(h: &Harness) {
    let s = setup(h).await;
    // Four experts with logins and passkeys.
    let employer = h
        .create_org(OrgKind::ExpertEmployer, "市政设计研究院有限公司")
        .await;
    let mut people = Vec::new();
    let mut usernames = std::collections::HashMap::new();
    let mut user_ids = std::collections::HashMap::new();
    for i in 0..4 {
        let username = format!("expert{i}");
        let uid = h
            .create_user(&username, Role::Expert, Some(&employer))
            .await;
        let token = h.login(&username, PASSWORD).await;
        let eid = add_expert(h, &s.op, None, Some(&uid)).await;
        let soft = h.register_passkey(&token).await;
        usernames.insert(eid.clone(), username);
        user_ids.insert(eid.clone(), uid);
        people.push((eid, token, soft));
    }
    let (_, body) = h
        .api_post(
            &format!("/api/v1/tenders/{}/draws", s.code),
            Some(&s.w.agent),
            &request(&s, h, 2, 0),
        )
        .await;
    let draw_id = body["draw"]["draw_id"].as_str().expect("id").to_string();
    let (status, body) = h
        .api_post(
            &format!("/api/v1/draws/{draw_id}/supervisor-input"),
            Some(&s.reg),
            &json!({"input": "2 4 6 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let drawn_ids: Vec<String> = body["draw"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .filter_map(|m| m["expert_id"].as_str().map(str::to_string))
        .collect();
    let (mut drawn, mut others): (Vec<_>, Vec<_>) = people
        .into_iter()
        .partition(|(e, _, _)| drawn_ids.contains(e));
    assert_eq!(drawn.len(), 2);
    // Each drawn expert sees their own assignment.
    let (_, mine) = h
        .api_get("/api/v1/expert/assignments", Some(&drawn[0].1))
        .await;
    assert_eq!(mine["assignments"].as_array().map(Vec::len), Some(1));
    assert_eq!(mine["assignments"][0]["state"], "notified");
    let b = h.browser();
    let expert_name = usernames[&drawn[0].0].clone();
    b.login(&expert_name, PASSWORD).await;
    let page = b.get("/expert/assignments").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(&s.code));
    // A stranger cannot check in.
    let got = check_in(h, &s.code, &mut others[0]).await;
    assert_error(&got, StatusCode::FORBIDDEN, "EXPERT_NOT_DRAWN");

    // One confirms, one declines → a replacement draw (new id, new commitment).
    let (status, _) = h
        .api_post(
            &format!("/api/v1/expert/assignments/{draw_id}/confirm"),
            Some(&drawn[0].1),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = h
        .api_post(
            &format!("/api/v1/expert/assignments/{draw_id}/decline"),
            Some(&drawn[1].1),
            &json!({"reason": "回避：亲属在投标单位"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = check_in(h, &s.code, &mut drawn[1]).await;
    assert_error(&got, StatusCode::FORBIDDEN, "EXPERT_NOT_CONFIRMED");
    let (_, list) = h
        .api_get(&format!("/api/v1/tenders/{}/draws", s.code), Some(&s.reg))
        .await;
    let draws = list["draws"].as_array().expect("draws").clone();
    assert_eq!(draws.len(), 2);
    assert_eq!(draws[1]["kind"], "replacement");
    assert_ne!(draws[1]["commitment"], draws[0]["commitment"]);
    let rep_id = draws[1]["draw_id"].as_str().expect("id").to_string();
    let (status, body) = h
        .api_post(
            &format!("/api/v1/draws/{rep_id}/supervisor-input"),
            Some(&s.reg),
            &json!({"input": "5 5 3"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let new_id = body["draw"]["members"][0]["expert_id"]
        .as_str()
        .expect("id")
        .to_string();
    assert!(!drawn_ids.contains(&new_id));
    let idx = others
        .iter()
        .position(|(e, _, _)| *e == new_id)
        .expect("a pool expert");
    let mut replacement = others.remove(idx);
    let (status, _) = h
        .api_post(
            &format!("/api/v1/expert/assignments/{rep_id}/confirm"),
            Some(&replacement.1),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    // Outside the window: refused. Inside: a passkey with UV checks in.
    let got = check_in(h, &s.code, &mut drawn[0]).await;
    assert_error(&got, StatusCode::CONFLICT, "CHECKIN_NOT_OPEN");
    h.clock.advance(Duration::days(2) - Duration::minutes(20));
    // Sessions do not last two days: everyone logs in again.
    let agent = h.login("agent1", PASSWORD).await;
    let reg = h.login("supervisor1", PASSWORD).await;
    for p in drawn.iter_mut() {
        p.1 = h.login(&usernames[&p.0], PASSWORD).await;
    }
    let (_, c) = h
        .api_get(
            &format!("/api/v1/tenders/{}/committee", s.code),
            Some(&agent),
        )
        .await;
    assert_eq!(c["committee"]["ready"], false, "{c}");
    let got = check_in(h, &s.code, &mut drawn[0]).await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    assert!(got.1["checkin"]["credential_id"].is_string());
    let got = check_in(h, &s.code, &mut drawn[0]).await;
    assert_error(&got, StatusCode::CONFLICT, "ALREADY_CHECKED_IN");
    // The supervisor records an emergency check-in for the replacement, with a reason.
    let (_, c) = h
        .api_get(
            &format!("/api/v1/tenders/{}/committee", s.code),
            Some(&agent),
        )
        .await;
    let rep_no = c["committee"]["members"]
        .as_array()
        .expect("members")
        .iter()
        .find(|m| m["draw_id"] == rep_id.as_str())
        .and_then(|m| m["member_no"].as_i64())
        .expect("member no");
    let got = h
        .api_post(
            &format!("/api/v1/tenders/{}/checkin/emergency", s.code),
            Some(&reg),
            &json!({"member_no": rep_no, "reason": "手机故障，已核验身份证"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
    let (_, c) = h
        .api_get(&format!("/api/v1/tenders/{}/committee", s.code), Some(&reg))
        .await;
    assert_eq!(c["committee"]["ready"], true, "{c}");
    assert_eq!(
        c["committee"]["emergency"][0]["reason"],
        "手机故障，已核验身份证"
    );
    let _ = &mut replacement;

    // The whole public log, read as anyone can, names no expert who was drawn (招标投标法
    // 第37条): the draw, the views of the assignment, the confirmation, the refusal, the
    // check-ins are there only as leaf hashes. The pool's own events (an expert added, a
    // login created, a passkey registered) exist for every expert alike and name no tender.
    let (_, t) = h
        .api_get(&format!("/api/v1/tenders/{}", s.code), Some(&agent))
        .await;
    let tender_id = t["tender_id"].as_str().expect("tender id").to_string();
    let mut secrets: Vec<String> = Vec::new();
    for (eid, _, _) in drawn.iter().chain([&replacement]) {
        secrets.push(eid.clone());
        let username = usernames[eid].clone();
        secrets.push(user_ids[eid].clone());
        secrets.push(format!("\"{username}\""));
    }
    let pool_events = ["user.create", "expert.add", "passkey.register"];
    let public = whole_log(h, None).await;
    let mut hidden = 0;
    for e in &public {
        let Some(entry) = e["entry"].as_str() else {
            hidden += 1;
            continue;
        };
        let v: Value = serde_json::from_str(entry).expect("entry JSON");
        let action = v["action"].as_str().unwrap_or_default();
        for secret in &secrets {
            if entry.contains(secret.as_str()) {
                assert!(
                    pool_events.contains(&action) && !entry.contains(&tender_id),
                    "public entry names a drawn expert ({secret}): {entry}"
                );
            }
        }
    }
    assert!(
        hidden >= 8,
        "the draw's events are withheld, not missing: {hidden}"
    );
    // The regulator reads every entry, so the walk above saw the real log.
    let supervised = whole_log(h, Some(&reg)).await;
    assert_eq!(supervised.len(), public.len());
    assert!(supervised.iter().all(|e| e["entry"].is_string()));
    assert!(
        supervised
            .iter()
            .filter_map(|e| e["entry"].as_str())
            .any(|e| e.contains("expert.draw.view") && e.contains(&user_ids[&drawn[0].0])),
        "the drawn expert's look at the assignment is logged"
    );

    // Before the award nothing is public; after it, the reveal lets anyone replay.
    let (status, _) = h
        .api_get(&format!("/api/v1/draws/{draw_id}/public"), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    h.exec(&format!(
        "update tender set state = 'awarded' where code = '{}'",
        s.code
    ))
    .await
    .expect("award");
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{}/draws/reveal", s.code),
            Some(&agent),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["revealed"], 2);
    for id in [&draw_id, &rep_id] {
        let (ok, out, err) = run_cli(&["draw", "verify", "--server", &h.base, "--draw", id]).await;
        assert!(ok, "{out}{err}");
        assert!(out.starts_with("MATCH"), "{out}");
    }
    // Tampering with the stored result is caught.
    let swapped = h
        .exec(&format!(
            "update expert_draw set result_json = replace(result_json, '{}', '{}') where draw_id = '{draw_id}'",
            drawn_ids[0], new_id
        ))
        .await
        .expect("tamper");
    assert_eq!(swapped, 1);
    let (ok, out, _) = run_cli(&["draw", "verify", "--server", &h.base, "--draw", &draw_id]).await;
    assert!(!ok);
    assert!(out.starts_with("MISMATCH"), "{out}");
}
both!(
    decline_replacement_checkin_and_verify,
    replacement_checkin_verify
);
