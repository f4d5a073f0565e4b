//! The evaluation's form pages over HTTP: the clarification pages (a member asks on the
//! tender's page, the bidder answers on `/clarifications`). Every refusal — missing or forged
//! CSRF token, wrong role, unknown tender, blank or too long text, an answer after the
//! deadline — is checked to store nothing.
//!
//! The committee comes from `evaluation_clarify::in_review` (five checked-in experts, the
//! review under way).

use chrono::Duration;
use reqwest::StatusCode;
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::evaluation_clarify::{Fx, in_review};
use crate::harness::{Browser, Harness, PASSWORD, Page, next_serial};

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
    // The evaluation page links here.
    let p = member.get(&format!("/tenders/{code}/evaluation")).await;
    assert!(p.body.contains("id=\"clarifications-link\""), "{}", p.body);

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
        assert!(p.body.contains(" / "), "bilingual: {}", p.body);
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
