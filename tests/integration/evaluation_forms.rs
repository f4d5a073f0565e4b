//! The evaluation's form pages over HTTP: the clarification pages (a member asks on the
//! tender's page, the bidder answers on `/clarifications`) and the member replacement page
//! (the agent starts and completes a replacement), plus the replacement JSON API end to end
//! (start → the replacement draw → the new expert confirms and checks in → complete). Every
//! refusal — missing or forged CSRF token, wrong role, unknown tender, blank or too long text,
//! an answer after the deadline, a bad member number — is checked to store nothing.
//!
//! The committee comes from `evaluation_clarify::in_review` (five checked-in experts, the
//! review under way); the replacement draws are real: the supervisor enters the input over
//! HTTP and the only eligible expert of the pool is drawn.

use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::evaluation_clarify::{Fx, in_review};
use crate::harness::{Browser, Harness, PASSWORD, Page, assert_error, next_serial};

/// Asserts an error page: its status and the stable code it shows.
#[track_caller]
fn assert_page_error(p: &Page, status: StatusCode, code: &str) {
    assert_eq!(p.status, status, "{}", p.body);
    assert!(
        p.body.contains(&format!("data-code=\"{code}\"")),
        "expected {code}: {}",
        p.body
    );
}

/// The message of an error page, which is in the page's language only (Chinese by default).
fn page_error_message(p: &Page) -> &str {
    p.body
        .split_once("data-code=")
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</p>"))
        .map(|(m, _)| m)
        .unwrap_or_default()
}

/// Asserts that an error page speaks the page's language: Chinese, with no English half.
#[track_caller]
fn assert_chinese_only(p: &Page) {
    let m = page_error_message(p);
    assert!(
        m.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)) && !m.contains(" / "),
        "a Chinese message only: {m:?}"
    );
}

/// Asserts a refusal of the CSRF guard (a JSON answer, before any handler runs).
#[track_caller]
fn assert_csrf_refused(p: &Page) {
    assert_eq!(p.status, StatusCode::FORBIDDEN, "{}", p.body);
    let code = p.json()["code"].as_str().unwrap_or_default().to_string();
    assert!(code.starts_with("CSRF_"), "{}", p.body);
}

/// Asserts a post/redirect/get answer to `to`.
#[track_caller]
fn assert_redirect(p: &Page, to: &str) {
    assert!(p.status.is_redirection(), "{}: {}", p.status, p.body);
    assert_eq!(
        p.headers.get("location").and_then(|v| v.to_str().ok()),
        Some(to)
    );
}

async fn logged_in(h: &Harness, username: &str) -> (Browser, String) {
    let b = h.browser();
    let login = b.login(username, PASSWORD).await;
    assert!(
        login.status.is_redirection(),
        "{username}: {}",
        login.status
    );
    let csrf = b.cookie("sunbid_csrf").expect("csrf cookie");
    (b, csrf)
}

/// Row counts a refused clarification step must leave alone, with the answers given.
async fn clarification_counts(h: &Harness) -> [i64; 4] {
    [
        h.count("evaluation_clarification").await,
        h.count("evaluation_clarification where answer is not null")
            .await,
        h.count("notice").await,
        h.count("audit_event").await,
    ]
}

async fn clarification_pages(h: &Harness) {
    let fx: Fx = in_review(h).await;
    let code = fx.code.clone();
    let page = format!("/tenders/{code}/evaluation/clarifications");
    let (bid0, _) = fx.bids[0].clone();
    let (member, member_csrf) = logged_in(h, &fx.expert_names[2]).await;
    let (bidder, bidder_csrf) = logged_in(h, &fx.bidder_names[0]).await;
    let (other_bidder, other_csrf) = logged_in(h, &fx.bidder_names[1]).await;
    let (agent, agent_csrf) = logged_in(h, "agent1").await;
    let employer = h.create_org(OrgKind::ExpertEmployer, "另一专家单位").await;
    let outsider_name = format!("clr-outsider{}", next_serial());
    h.create_user(&outsider_name, Role::Expert, Some(&employer))
        .await;
    let (outsider, _) = logged_in(h, &outsider_name).await;

    // Who sees the tender's page: the member with the ask form, the agent and the bidder
    // without; an expert not on the committee 403; an unknown tender 404; no login → login.
    let p = member.get(&page).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("id=\"ask-form\""), "{}", p.body);
    assert!(p.body.contains(&format!("value=\"{bid0}\"")));
    assert!(p.body.contains("id=\"no-clarifications\""));
    for b in [&agent, &bidder] {
        let p = b.get(&page).await;
        assert_eq!(p.status, StatusCode::OK, "{}", p.body);
        assert!(!p.body.contains("id=\"ask-form\""));
    }
    assert_page_error(
        &outsider.get(&page).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_page_error(
        &member
            .get("/tenders/NO-SUCH-TENDER/evaluation/clarifications")
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_redirect(&h.browser().get(&page).await, "/login");
    // The evaluation page links here (and the agent's to the replacements).
    let p = member.get(&format!("/tenders/{code}/evaluation")).await;
    assert!(p.body.contains("id=\"clarifications-link\""), "{}", p.body);
    assert!(!p.body.contains("id=\"replacements-link\""));
    let p = agent.get(&format!("/tenders/{code}/evaluation")).await;
    assert!(p.body.contains("id=\"replacements-link\""), "{}", p.body);

    // Refused asks, each storing nothing: no token, a forged token, a cross-site origin,
    // the wrong role, an unknown tender, a blank or too long question, a bad window, a bid
    // of no one.
    let question = "请说明投标报价中措施费的计算依据。";
    let before = clarification_counts(h).await;
    let ask = |q: &str, w: &str| -> Vec<(&'static str, String)> {
        vec![
            ("bid_id", bid0.clone()),
            ("question", q.to_string()),
            ("window_minutes", w.to_string()),
        ]
    };
    let fields = |v: &[(&'static str, String)], csrf: &str| -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> =
            v.iter().map(|(k, x)| (k.to_string(), x.clone())).collect();
        out.push(("csrf".into(), csrf.to_string()));
        out
    };
    let post = async |b: &Browser, path: &str, form: &[(String, String)]| -> Page {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post_form(path, &form).await
    };
    let good = ask(question, "");
    let no_token: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_csrf_refused(&member.post_form(&page, &no_token).await);
    assert_csrf_refused(&post(&member, &page, &fields(&good, "forged-token")).await);
    let cross = fields(&good, &member_csrf);
    let cross: Vec<(&str, &str)> = cross
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_csrf_refused(
        &member
            .post_form_with(&page, &cross, &[("origin", "https://evil.example")])
            .await,
    );
    assert_page_error(
        &post(&bidder, &page, &fields(&good, &bidder_csrf)).await,
        StatusCode::FORBIDDEN,
        "EVALUATION_NOT_A_MEMBER",
    );
    assert_page_error(
        &post(&agent, &page, &fields(&good, &agent_csrf)).await,
        StatusCode::FORBIDDEN,
        "EVALUATION_NOT_A_MEMBER",
    );
    assert_page_error(
        &post(
            &member,
            "/tenders/NO-SUCH-TENDER/evaluation/clarifications",
            &fields(&good, &member_csrf),
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    let too_long = "问".repeat(2_001);
    for (q, w, code) in [
        ("   ", "", "CLARIFICATION_BAD_QUESTION"),
        (too_long.as_str(), "", "CLARIFICATION_BAD_QUESTION"),
        (question, "abc", "CLARIFICATION_BAD_WINDOW"),
        (question, "-5", "CLARIFICATION_BAD_WINDOW"),
        (question, "5", "CLARIFICATION_BAD_WINDOW"),
        (question, "4321", "CLARIFICATION_BAD_WINDOW"),
    ] {
        let p = post(&member, &page, &fields(&ask(q, w), &member_csrf)).await;
        assert_page_error(&p, StatusCode::UNPROCESSABLE_ENTITY, code);
        assert_chinese_only(&p);
    }
    let mut stranger = fields(&good, &member_csrf);
    stranger[0].1 = "not-a-bid".into();
    assert_page_error(
        &post(&member, &page, &stranger).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "CLARIFICATION_UNKNOWN_BID",
    );
    assert_eq!(clarification_counts(h).await, before);

    // The member asks with the default window; the page lists it with who asked.
    let p = post(&member, &page, &fields(&good, &member_csrf)).await;
    assert_redirect(&p, &page);
    let after = clarification_counts(h).await;
    assert_eq!(after[0], before[0] + 1);
    assert_eq!(
        after[2],
        before[2] + 1,
        "one notice to the bidder's one user"
    );
    let p = member.get(&page).await;
    assert!(p.body.contains(question), "{}", p.body);
    assert!(p.body.contains("data-status=\"pending\""));
    assert!(p.body.contains(&format!("{} 测试", fx.expert_names[2])));
    // The agent sees the request, not who asked.
    let p = agent.get(&page).await;
    assert!(p.body.contains(question));
    assert!(!p.body.contains(&format!("{} 测试", fx.expert_names[2])));
    assert!(!p.body.contains("class=\"asked-by\""));
    // The other bidder sees nothing of it.
    let p = other_bidder.get("/clarifications").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(!p.body.contains(question));

    // The bidder's notice leads to its page, which has the answer form.
    let p = bidder.get("/notices").await;
    assert!(
        p.body
            .contains("href=\"/clarifications\" class=\"clarifications-link\""),
        "{}",
        p.body
    );
    let p = bidder.get("/clarifications").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.body.contains(question));
    assert!(p.body.contains("class=\"answer-form\""), "{}", p.body);
    let id: String = {
        let mine = h
            .api_get("/api/v1/clarifications", Some(&fx.bids[0].1))
            .await
            .1;
        mine["clarifications"][0]["clarification_id"]
            .as_str()
            .expect("id")
            .to_string()
    };
    let answer_path = format!("{page}/{id}/answer");
    let text = "措施费按省定额第3章计取。";

    // Refused answers, each storing nothing.
    let before = clarification_counts(h).await;
    assert_csrf_refused(&bidder.post_form(&answer_path, &[("answer", text)]).await);
    assert_csrf_refused(
        &bidder
            .post_form(&answer_path, &[("answer", text), ("csrf", "forged")])
            .await,
    );
    assert_page_error(
        &other_bidder
            .post_form(&answer_path, &[("answer", text), ("csrf", &other_csrf)])
            .await,
        StatusCode::FORBIDDEN,
        "CLARIFICATION_NOT_ADDRESSEE",
    );
    assert_page_error(
        &member
            .post_form(&answer_path, &[("answer", text), ("csrf", &member_csrf)])
            .await,
        StatusCode::FORBIDDEN,
        "CLARIFICATION_NOT_ADDRESSEE",
    );
    let long_answer = "答".repeat(5_001);
    for bad in ["", "  \n ", long_answer.as_str()] {
        assert_page_error(
            &bidder
                .post_form(&answer_path, &[("answer", bad), ("csrf", &bidder_csrf)])
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "CLARIFICATION_BAD_ANSWER",
        );
    }
    for path in [
        format!("/tenders/NO-SUCH-TENDER/evaluation/clarifications/{id}/answer"),
        format!("{page}/not-an-id/answer"),
    ] {
        assert_page_error(
            &bidder
                .post_form(&path, &[("answer", text), ("csrf", &bidder_csrf)])
                .await,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
        );
    }
    assert_eq!(clarification_counts(h).await, before);

    // The bidder answers once; the member sees the answer; a second answer is refused.
    let p = bidder
        .post_form(&answer_path, &[("answer", text), ("csrf", &bidder_csrf)])
        .await;
    assert_redirect(&p, "/clarifications");
    let p = bidder.get("/clarifications").await;
    assert!(p.body.contains("data-status=\"answered\""), "{}", p.body);
    assert!(p.body.contains(text));
    assert!(!p.body.contains("class=\"answer-form\""));
    let p = member.get(&page).await;
    assert!(p.body.contains(text), "{}", p.body);
    let before = clarification_counts(h).await;
    assert_page_error(
        &bidder
            .post_form(
                &answer_path,
                &[("answer", "改一下"), ("csrf", &bidder_csrf)],
            )
            .await,
        StatusCode::CONFLICT,
        "CLARIFICATION_ALREADY_ANSWERED",
    );

    // An answer after the deadline is refused and the request shows as expired.
    let late_q = "请补充说明工期安排。";
    let p = post(&member, &page, &fields(&ask(late_q, "10"), &member_csrf)).await;
    assert_redirect(&p, &page);
    h.clock.advance(Duration::minutes(11));
    let mine = h
        .api_get("/api/v1/clarifications", Some(&fx.bids[0].1))
        .await
        .1;
    let late_id = mine["clarifications"]
        .as_array()
        .expect("list")
        .iter()
        .find(|c| c["question"] == late_q)
        .and_then(|c| c["clarification_id"].as_str())
        .expect("late request")
        .to_string();
    let before_late = clarification_counts(h).await;
    assert_eq!(before_late[0], before[0] + 1);
    assert_page_error(
        &bidder
            .post_form(
                &format!("{page}/{late_id}/answer"),
                &[("answer", text), ("csrf", &bidder_csrf)],
            )
            .await,
        StatusCode::CONFLICT,
        "CLARIFICATION_EXPIRED",
    );
    assert_eq!(clarification_counts(h).await, before_late);
    let p = bidder.get("/clarifications").await;
    assert!(p.body.contains("data-status=\"expired\""), "{}", p.body);
    assert_eq!(p.body.matches("class=\"answer-form\"").count(), 0);

    // `/clarifications` is a bidder's page.
    assert_page_error(
        &agent.get("/clarifications").await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_redirect(&h.browser().get("/clarifications").await, "/login");
}

both!(clarification_pages_ask_and_answer, clarification_pages);

// ---- member replacement ---------------------------------------------------------------------

/// Row counts a refused replacement step must leave alone.
async fn replacement_counts(h: &Harness) -> [i64; 4] {
    [
        h.count("evaluation_replacement").await,
        h.count("evaluation_replacement where state = 'completed'")
            .await,
        h.count("expert_draw").await,
        h.count("audit_event where action like 'evaluation.%'")
            .await,
    ]
}

/// Adds an active expert with a login to the pool; the replacement draw can only pick an
/// expert of the fixture's specialty not drawn for the tender yet. Returns (username, token).
async fn pool_expert(h: &Harness, op: &str, employer: &str) -> (String, String) {
    let username = format!("rpl-expert{}", next_serial());
    let user = h.create_user(&username, Role::Expert, Some(employer)).await;
    let (status, body) = h
        .api_post(
            "/api/v1/experts",
            Some(op),
            &json!({
                "name": format!("补抽专家{}", next_serial()),
                "specialties": ["A01"],
                "region": "330106",
                "employer_org_id": null,
                "title": "senior",
                "years_of_practice": 15,
                "birth_year": 1975,
                "user_id": user,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = h.login(&username, PASSWORD).await;
    (username, token)
}

/// The expert module's steps for a replacement draw: the supervisor's input, the drawn
/// expert's confirmation, an emergency check-in by the supervisor.
async fn draw_confirm_check_in(
    h: &Harness,
    code: &str,
    supervisor: &str,
    draw_id: &str,
    expert: &str,
) {
    let (status, body) = h
        .api_post(
            &format!("/api/v1/draws/{draw_id}/supervisor-input"),
            Some(supervisor),
            &json!({"input": "2 7 1 8 2 8"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["draw"]["state"], "drawn");
    let no = body["draw"]["members"][0]["member_no"]
        .as_i64()
        .expect("member number");
    let (status, body) = h
        .api_post(
            &format!("/api/v1/expert/assignments/{draw_id}/confirm"),
            Some(expert),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/checkin/emergency"),
            Some(supervisor),
            &json!({"member_no": no, "reason": "补抽专家到场，未带手机 / present without phone"}),
        )
        .await;
    assert!(status.is_success(), "{status} {body}");
}

fn only(list: &Value) -> &Value {
    let items = list["replacements"].as_array().expect("list");
    items.last().expect("a replacement")
}

async fn replacement_api_and_page(h: &Harness) {
    let fx: Fx = in_review(h).await;
    let code = fx.code.clone();
    let agent = fx.w.agent.clone();
    let op = h.operator().await;
    let employer = h
        .create_org(OrgKind::ExpertEmployer, "补抽专家所在单位")
        .await;
    // The committee's draw is supervised by a regulator (the fixture recorded the agent).
    let dept = h
        .create_org(OrgKind::Regulator, "公共资源交易监督办公室")
        .await;
    let reg_id = h
        .create_user("rpl-supervisor", Role::Regulator, Some(&dept))
        .await;
    let reg = h.login("rpl-supervisor", PASSWORD).await;
    h.exec(&format!(
        "update expert_draw set supervisor_user_id = '{reg_id}'
         where tender_id = (select tender_id from tender where code = '{code}')"
    ))
    .await
    .expect("supervisor");
    let api = format!("/api/v1/tenders/{code}/evaluation/replacements");
    let reason = "2号专家与投标人存在利害关系，须回避";

    // ---- the JSON API: refusals, each storing nothing --------------------------------------
    let before = replacement_counts(h).await;
    let body = json!({"member_no": 2, "reason": reason});
    let (status, _) = h.api_post(&api, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    for token in [&fx.bids[0].1, &fx.experts[0].1, &reg] {
        let got = h.api_post(&api, Some(token), &body).await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    }
    let got = h
        .api_post(
            "/api/v1/tenders/NO-SUCH-TENDER/evaluation/replacements",
            Some(&agent),
            &body,
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    for bad in ["", "    ", "回避", &"因".repeat(2_001)] {
        let got = h
            .api_post(&api, Some(&agent), &json!({"member_no": 2, "reason": bad}))
            .await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "REPLACEMENT_REASON_REQUIRED",
        );
    }
    for no in [0, 99, -1] {
        let got = h
            .api_post(
                &api,
                Some(&agent),
                &json!({"member_no": no, "reason": reason}),
            )
            .await;
        assert_error(
            &got,
            StatusCode::UNPROCESSABLE_ENTITY,
            "REPLACEMENT_NOT_A_MEMBER",
        );
    }
    for malformed in [
        json!({"member_no": "2", "reason": reason}),
        json!({"member_no": 2, "reason": reason, "member": "x"}),
        json!({"reason": reason}),
    ] {
        let (status, err) = h.api_post(&api, Some(&agent), &malformed).await;
        assert!(status.is_client_error(), "{malformed}: {status} {err}");
    }
    let got = h
        .api_post(
            &format!("{api}/not-an-id/complete"),
            Some(&agent),
            &json!({}),
        )
        .await;
    assert_error(&got, StatusCode::NOT_FOUND, "NOT_FOUND");
    assert_eq!(replacement_counts(h).await, before);

    // ---- the JSON API: start → draw → confirm and check in → complete ----------------------
    let (_, first_token) = pool_expert(h, &op, &employer).await;
    let (status, started) = h.api_post(&api, Some(&agent), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    assert_eq!(started["evaluation_state"], "replacing");
    let id = started["replacement_id"].as_str().expect("id").to_string();
    let draw_id = started["draw_id"].as_str().expect("draw").to_string();
    // The evaluation is suspended: no clarification, no second replacement.
    let got = h
        .api_post(
            &format!("/api/v1/tenders/{code}/evaluation/clarifications"),
            Some(&fx.experts[0].1),
            &json!({"bid_id": fx.bids[0].0, "question": "请说明。"}),
        )
        .await;
    assert_eq!(got.0, StatusCode::CONFLICT, "{}", got.1);
    let got = h
        .api_post(
            &api,
            Some(&agent),
            &json!({"member_no": 3, "reason": reason}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "REPLACEMENT_IN_PROGRESS");
    // Not ready: the draw waits for the supervisor; the list says so.
    let (_, list) = h.api_get(&api, Some(&agent)).await;
    assert_eq!(only(&list)["ready"], json!(false));
    assert!(
        only(&list)["waiting"]
            .as_str()
            .is_some_and(|w| w.contains("监督人")),
        "{list}"
    );
    assert!(
        only(&list).get("member").is_none(),
        "the agent never sees who"
    );
    let before = replacement_counts(h).await;
    let got = h
        .api_post(&format!("{api}/{id}/complete"), Some(&agent), &json!({}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "REPLACEMENT_NOT_READY");
    let got = h
        .api_post(
            &format!("{api}/{id}/complete"),
            Some(&fx.bids[0].1),
            &json!({}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(replacement_counts(h).await, before);

    draw_confirm_check_in(h, &code, &reg, &draw_id, &first_token).await;
    let (_, list) = h.api_get(&api, Some(&agent)).await;
    assert_eq!(only(&list)["ready"], json!(true), "{list}");
    let (status, done) = h
        .api_post(&format!("{api}/{id}/complete"), Some(&agent), &json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["state"], "completed");
    assert_eq!(done["evaluation_state"], "review");
    let got = h
        .api_post(&format!("{api}/{id}/complete"), Some(&agent), &json!({}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "REPLACEMENT_COMPLETE");
    // The new member acts: the replaced one no longer can.
    let (status, view) = h
        .api_get(
            &format!("/api/v1/tenders/{code}/evaluation"),
            Some(&first_token),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["state"], "review");
    let (status, _) = h
        .api_get(
            &format!("/api/v1/tenders/{code}/evaluation"),
            Some(&fx.experts[1].1),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // ---- the page ------------------------------------------------------------------------
    let page = format!("/tenders/{code}/evaluation/replacements");
    let (agent_b, agent_csrf) = logged_in(h, "agent1").await;
    let (bidder_b, bidder_csrf) = logged_in(h, &fx.bidder_names[0]).await;
    let (member_b, member_csrf) = logged_in(h, &fx.expert_names[0]).await;
    // The agent's evaluation page names members by the draw's numbers, as this page does:
    // the newcomer by its own number, member 2 gone.
    let new_no = done["member_no"].as_i64().expect("member number");
    let ev = agent_b.get(&format!("/tenders/{code}/evaluation")).await;
    assert!(
        ev.body.contains(&format!("成员 {new_no}</td>")),
        "{}",
        ev.body
    );
    assert!(!ev.body.contains("成员 2</td>"), "{}", ev.body);
    let p = agent_b.get(&page).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(p.body.contains("id=\"start-form\""), "{}", p.body);
    assert!(p.body.contains("data-state=\"completed\""));
    assert!(p.body.contains(reason));
    assert!(!p.body.contains("id=\"signed-warning\""), "nobody signed");
    // Members 1, 3, 4, 5 and the newcomer can be named; 2 left.
    assert!(p.body.contains("<option value=\"3\">"), "{}", p.body);
    assert!(!p.body.contains("<option value=\"2\">"));
    // The committee sees the list, without forms; a bidder is refused; no login → login.
    let p = member_b.get(&page).await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    assert!(!p.body.contains("id=\"start-form\""));
    assert_page_error(
        &bidder_b.get(&page).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_page_error(
        &agent_b
            .get("/tenders/NO-SUCH-TENDER/evaluation/replacements")
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_redirect(&h.browser().get(&page).await, "/login");

    // Refused starts, each storing nothing.
    let reason3 = "3号专家因病无法继续评标";
    let before = replacement_counts(h).await;
    let form = |no: &str, why: &str, csrf: &str| -> Vec<(String, String)> {
        vec![
            ("member_no".into(), no.into()),
            ("reason".into(), why.into()),
            ("csrf".into(), csrf.into()),
        ]
    };
    let post = async |b: &Browser, path: &str, form: &[(String, String)]| -> Page {
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        b.post_form(path, &form).await
    };
    assert_csrf_refused(
        &agent_b
            .post_form(&page, &[("member_no", "3"), ("reason", reason3)])
            .await,
    );
    assert_csrf_refused(&post(&agent_b, &page, &form("3", reason3, "forged")).await);
    assert_page_error(
        &post(&bidder_b, &page, &form("3", reason3, &bidder_csrf)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_page_error(
        &post(&member_b, &page, &form("3", reason3, &member_csrf)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_page_error(
        &post(
            &agent_b,
            "/tenders/NO-SUCH-TENDER/evaluation/replacements",
            &form("3", reason3, &agent_csrf),
        )
        .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    for no in ["", "abc", "0", "-3", "2", "99"] {
        let p = post(&agent_b, &page, &form(no, reason3, &agent_csrf)).await;
        assert_page_error(
            &p,
            StatusCode::UNPROCESSABLE_ENTITY,
            "REPLACEMENT_NOT_A_MEMBER",
        );
        assert_chinese_only(&p);
    }
    let long_reason = "因".repeat(2_001);
    for why in ["", "  ", "生病", long_reason.as_str()] {
        assert_page_error(
            &post(&agent_b, &page, &form("3", why, &agent_csrf)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "REPLACEMENT_REASON_REQUIRED",
        );
    }
    assert_eq!(replacement_counts(h).await, before);

    // The agent starts on the page: the replacement shows as drawing, with the draw page's
    // link and what it waits for; no "complete" yet, and completing is refused.
    let (_, second_token) = pool_expert(h, &op, &employer).await;
    let mut start = form("3", reason3, &agent_csrf);
    start.push(("void_signed_report".into(), "1".into()));
    assert_redirect(&post(&agent_b, &page, &start).await, &page);
    let (_, list) = h.api_get(&api, Some(&agent)).await;
    let second = only(&list);
    assert_eq!(second["member_no"], json!(3));
    assert_eq!(second["state"], "drawing");
    let id2 = second["replacement_id"].as_str().expect("id").to_string();
    let draw2 = second["draw_id"].as_str().expect("draw").to_string();
    let p = agent_b.get(&page).await;
    assert!(
        p.body.contains(&format!("href=\"/draws/{draw2}\"")),
        "{}",
        p.body
    );
    assert!(p.body.contains("class=\"muted waiting\""));
    assert!(!p.body.contains("class=\"complete-form\""));
    assert!(
        !p.body.contains("id=\"start-form\""),
        "one replacement at a time"
    );
    assert!(p.body.contains("data-state=\"replacing\""));
    let complete = format!("{page}/{id2}/complete");
    let before = replacement_counts(h).await;
    assert_page_error(
        &agent_b.post_form(&complete, &[("csrf", &agent_csrf)]).await,
        StatusCode::CONFLICT,
        "REPLACEMENT_NOT_READY",
    );

    // Drawn, confirmed, checked in: the page offers "complete"; refusals first.
    draw_confirm_check_in(h, &code, &reg, &draw2, &second_token).await;
    let p = agent_b.get(&page).await;
    assert!(p.body.contains("class=\"complete-form\""), "{}", p.body);
    assert!(
        !member_b
            .get(&page)
            .await
            .body
            .contains("class=\"complete-form\"")
    );
    assert_csrf_refused(&agent_b.post_form(&complete, &[]).await);
    assert_csrf_refused(&agent_b.post_form(&complete, &[("csrf", "forged")]).await);
    assert_page_error(
        &member_b
            .post_form(&complete, &[("csrf", &member_csrf)])
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN",
    );
    assert_page_error(
        &agent_b
            .post_form(
                &format!("{page}/not-an-id/complete"),
                &[("csrf", &agent_csrf)],
            )
            .await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    );
    assert_eq!(replacement_counts(h).await, before);
    assert_redirect(
        &agent_b.post_form(&complete, &[("csrf", &agent_csrf)]).await,
        &page,
    );
    let p = agent_b.get(&page).await;
    assert_eq!(
        p.body.matches("data-state=\"completed\"").count(),
        2,
        "{}",
        p.body
    );
    assert!(p.body.contains("data-state=\"review\""));
    assert_page_error(
        &agent_b.post_form(&complete, &[("csrf", &agent_csrf)]).await,
        StatusCode::CONFLICT,
        "REPLACEMENT_COMPLETE",
    );
}

both!(replacement_api_and_pages, replacement_api_and_page);
