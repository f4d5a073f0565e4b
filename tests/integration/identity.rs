//! Identity over HTTP: bidder self-registration and approval, bad input refused with
//! stable codes and nothing stored, roles kept to their rights.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error, next_serial, uscc};

fn registration(username: &str, code: &str) -> Value {
    json!({
        "company_name": format!("{username} 建筑工程有限公司"),
        "uscc": code,
        "username": username,
        "display_name": "李四",
        "password": PASSWORD,
    })
}

async fn bidder_registers_and_waits_for_approval(h: &Harness) {
    let operator = h.operator().await;
    let (status, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("newbidder", &uscc(next_serial())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "pending");
    let org_id = body["org_id"].as_str().expect("org id").to_string();

    let refused = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "newbidder", "password": PASSWORD}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "PENDING_APPROVAL");
    assert!(refused.1.get("token").is_none());

    // The operator sees the company waiting, first in the list.
    let (status, orgs) = h.api_get("/api/v1/organisations", Some(&operator)).await;
    assert_eq!(status, StatusCode::OK);
    let first = &orgs["organisations"][0];
    assert_eq!(first["org_id"], org_id.as_str());
    assert_eq!(first["status"], "pending");

    let (status, body) = h
        .api_post(
            &format!("/api/v1/organisations/{org_id}/approve"),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "active");

    let token = h.login("newbidder", PASSWORD).await;
    let (status, me) = h.api_get("/api/v1/me", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "newbidder");
    assert_eq!(me["role"], "bidder");
    assert_eq!(me["status"], "active");
    assert_eq!(me["org_id"], org_id.as_str());
    assert!(me.get("password_hash").is_none(), "never shown: {me}");

    // Deciding twice is a conflict, not a silent success.
    let again = h
        .api_post(
            &format!("/api/v1/organisations/{org_id}/reject"),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_error(&again, StatusCode::CONFLICT, "NOT_PENDING");
    let missing = h
        .api_post(
            &format!("/api/v1/organisations/{}/approve", uuid::Uuid::now_v7()),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_error(&missing, StatusCode::NOT_FOUND, "NOT_FOUND");
}
both!(self_registration, bidder_registers_and_waits_for_approval);

async fn rejected_company_cannot_log_in(h: &Harness) {
    let operator = h.operator().await;
    let (_, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("rejected1", &uscc(next_serial())),
        )
        .await;
    let org_id = body["org_id"].as_str().expect("org id");
    let (status, _) = h
        .api_post(
            &format!("/api/v1/organisations/{org_id}/reject"),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let refused = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "rejected1", "password": PASSWORD}),
        )
        .await;
    assert_error(&refused, StatusCode::FORBIDDEN, "ACCOUNT_DISABLED");
}
both!(rejected_company, rejected_company_cannot_log_in);

async fn invalid_credit_codes_are_refused_and_nothing_stored(h: &Harness) {
    let good = uscc(next_serial());
    // Change the check character to another valid character.
    let last = good.chars().last().expect("last");
    let wrong_check = format!("{}{}", &good[..17], if last == '0' { '1' } else { '0' });
    let cases = [
        (wrong_check.as_str(), "USCC_BAD_CHECK_CHAR"),
        ("91110000600037341", "USCC_BAD_LENGTH"),
        ("", "USCC_BAD_LENGTH"),
        ("9111000060003734I1", "USCC_BAD_CHARACTER"),
        ("B1110000600037341L", "USCC_UNKNOWN_AUTHORITY"),
    ];
    let before = h.snapshot().await;
    for (i, (code, expected)) in cases.iter().enumerate() {
        let got = h
            .api_post(
                "/api/v1/companies",
                None,
                &registration(&format!("baduscc{i}"), code),
            )
            .await;
        assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, expected);
        assert!(
            got.1["message"]
                .as_str()
                .unwrap_or("")
                .contains("统一社会信用代码"),
            "the message names the field in Chinese: {}",
            got.1
        );
    }
    assert_eq!(h.snapshot().await, before, "nothing stored");

    // The same code is accepted once corrected (the test above could not pass by accident).
    let (status, body) = h
        .api_post("/api/v1/companies", None, &registration("gooduscc", &good))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let after = h.snapshot().await;
    assert_eq!(after[0], before[0] + 1);
    assert_eq!(after[1], before[1] + 1);
}
both!(
    invalid_uscc,
    invalid_credit_codes_are_refused_and_nothing_stored
);

async fn duplicates_are_conflicts_and_roll_back(h: &Harness) {
    let first = uscc(next_serial());
    let (status, _) = h
        .api_post("/api/v1/companies", None, &registration("dupuser", &first))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let before = h.snapshot().await;

    // Same username, new company: the company row written first must be rolled back.
    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("dupuser", &uscc(next_serial())),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "USERNAME_TAKEN");
    assert_eq!(h.snapshot().await, before, "nothing stored");

    // Same credit code, new username.
    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("otheruser", &first),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "USCC_TAKEN");
    assert_eq!(h.snapshot().await, before, "nothing stored");

    // The operator creating a user with a taken name gets the same answer.
    let operator = h.operator().await;
    let before = h.snapshot().await;
    let got = h
        .api_post(
            "/api/v1/users",
            Some(&operator),
            &json!({"username": "dupuser", "display_name": "重复", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::CONFLICT, "USERNAME_TAKEN");
    assert_eq!(h.snapshot().await, before);
}
both!(duplicates, duplicates_are_conflicts_and_roll_back);

async fn malformed_bodies_are_refused(h: &Harness) {
    let before = h.snapshot().await;
    let got = h
        .api_post_raw(
            "/api/v1/companies",
            None,
            "application/json",
            r#"{"company_name": "x", "uscc": "#,
        )
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "MALFORMED_JSON");

    let mut unknown = registration("unknownfield", &uscc(next_serial()));
    unknown["is_admin"] = json!(true);
    let got = h.api_post("/api/v1/companies", None, &unknown).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS");
    assert!(
        got.1["message"].as_str().unwrap_or("").contains("is_admin"),
        "names the field: {}",
        got.1
    );

    let mut missing = registration("missingfield", &uscc(next_serial()));
    missing.as_object_mut().expect("object").remove("password");
    let got = h.api_post("/api/v1/companies", None, &missing).await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS");

    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &json!({"company_name": 5, "uscc": [], "username": {}, "display_name": null, "password": 1}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS");

    let got = h
        .api_post_raw("/api/v1/companies", None, "text/plain", "{}")
        .await;
    assert_error(
        &got,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "JSON_CONTENT_TYPE_REQUIRED",
    );

    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("weakpw", &uscc(next_serial()))
                .as_object()
                .map(|o| {
                    let mut o = o.clone();
                    o.insert("password".into(), json!("short"));
                    Value::Object(o)
                })
                .expect("object"),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "WEAK_PASSWORD");

    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("bad name!", &uscc(next_serial())),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "BAD_USERNAME");

    let got = h.api_get("/api/v1/audit/events?from=-1", None).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "INVALID_QUERY");
    // Past i64 (how sequence numbers are stored, and what the OpenAPI document says).
    let got = h
        .api_get("/api/v1/audit/events?from=9223372036854775808", None)
        .await;
    assert_error(&got, StatusCode::BAD_REQUEST, "INVALID_QUERY");
    let got = h.api_get("/api/v1/audit/events?limit=100000", None).await;
    assert_error(&got, StatusCode::BAD_REQUEST, "BAD_LIMIT");

    assert_eq!(h.snapshot().await, before, "nothing stored");
}
both!(malformed_input, malformed_bodies_are_refused);

async fn roles_stay_within_their_rights(h: &Harness) {
    let operator = h.operator().await;
    let (_, _, bidder) = h.bidder("bidder1").await;
    let (status, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &registration("pendingco", &uscc(next_serial())),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let pending_org = body["org_id"].as_str().expect("org id").to_string();
    let before = h.snapshot().await;

    for path in ["/api/v1/users", "/api/v1/organisations"] {
        let got = h.api_get(path, Some(&bidder)).await;
        assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
        let got = h.api_get(path, None).await;
        assert_error(&got, StatusCode::UNAUTHORIZED, "LOGIN_REQUIRED");
        let (status, _) = h.api_get(path, Some(&operator)).await;
        assert_eq!(status, StatusCode::OK, "the operator may read {path}");
    }
    let got = h
        .api_post(
            &format!("/api/v1/organisations/{pending_org}/approve"),
            Some(&bidder),
            &json!({}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            "/api/v1/users",
            Some(&bidder),
            &json!({"username": "sneaky", "display_name": "x", "role": "operator", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            "/api/v1/organisations",
            Some(&bidder),
            &json!({"kind": "regulator", "name": "假监管部门"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    assert_eq!(h.snapshot().await, before, "nothing changed");

    let (_, orgs) = h.api_get("/api/v1/organisations", Some(&operator)).await;
    let pending = orgs["organisations"]
        .as_array()
        .expect("list")
        .iter()
        .find(|o| o["org_id"] == pending_org.as_str())
        .expect("still listed");
    assert_eq!(pending["status"], "pending");

    // The operator pages refuse a bidder too.
    let browser = h.browser();
    let page = browser.login("bidder1", PASSWORD).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let page = browser.get("/operator").await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
}
both!(role_rights, roles_stay_within_their_rights);

async fn operator_creates_organisations_and_users(h: &Harness) {
    let operator = h.operator().await;
    let (status, body) = h
        .api_post(
            "/api/v1/organisations",
            Some(&operator),
            &json!({"kind": "agent", "name": "华信招标代理有限公司", "uscc": uscc(next_serial())}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let agent_org = body["org_id"].as_str().expect("org").to_string();

    // A company without a credit code is refused.
    let got = h
        .api_post(
            "/api/v1/organisations",
            Some(&operator),
            &json!({"kind": "tenderee", "name": "无代码单位"}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "USCC_BAD_LENGTH");

    // A bidder user cannot belong to an agent organisation.
    let got = h
        .api_post(
            "/api/v1/users",
            Some(&operator),
            &json!({"username": "wrongorg", "display_name": "x", "role": "bidder", "org_id": agent_org, "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "ROLE_ORG_MISMATCH");

    let (status, body) = h
        .api_post(
            "/api/v1/users",
            Some(&operator),
            &json!({"username": "agent1", "display_name": "王五", "role": "agent", "org_id": agent_org, "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let agent_user = body["user_id"].as_str().expect("user").to_string();
    let agent = h.login("agent1", PASSWORD).await;
    let (_, me) = h.api_get("/api/v1/me", Some(&agent)).await;
    assert_eq!(me["role"], "agent");

    // Disabling the user stops new logins.
    let (status, _) = h
        .api_post(
            &format!("/api/v1/users/{agent_user}/disable"),
            Some(&operator),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "agent1", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "ACCOUNT_DISABLED");

    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "agent1", "password": "not-the-password"}),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS");
    let got = h
        .api_post(
            "/api/v1/auth/login",
            None,
            &json!({"username": "nobody-here", "password": PASSWORD}),
        )
        .await;
    assert_error(&got, StatusCode::UNAUTHORIZED, "BAD_CREDENTIALS");
}
both!(operator_admin, operator_creates_organisations_and_users);
