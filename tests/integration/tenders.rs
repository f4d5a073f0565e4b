//! Tenders over HTTP: drafting and the rulebook at publication (招标投标法 第24条),
//! amendments and the 15-day rule, Q&A that never reveals the asker, recorded document
//! downloads, cancellation, and refused input.

use chrono::{DateTime, Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::identity::{OrgKind, Role};

use crate::both;
use crate::harness::{Harness, PASSWORD, assert_error};

/// The people of one tender: an agent, three custodians, two bidders and the operator.
pub struct World {
    pub tenderee: String,
    pub custodians: Vec<String>,
    pub agent: String,
    pub bidder1: String,
    pub bidder1_id: String,
    pub bidder2: String,
}

impl World {
    pub async fn new(h: &Harness) -> World {
        let tenderee = h
            .create_org(OrgKind::Tenderee, "滨江新区建设投资有限公司")
            .await;
        let agency = h.create_org(OrgKind::Agent, "华信招标代理有限公司").await;
        h.create_user("agent1", Role::Agent, Some(&agency)).await;
        let mut custodians = Vec::new();
        for i in 0..3 {
            let id = h
                .create_user(&format!("custodian{i}"), Role::Custodian, Some(&agency))
                .await;
            // Publication needs every custodian's opening-key enrolment (sealed bidding).
            let caller = sunbid::tender::service::Caller {
                user: sunbid::http::ctx::SessionUser {
                    user_id: id.clone(),
                    role: Role::Custodian,
                    org_id: Some(agency.clone()),
                    name: format!("custodian{i}"),
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
            custodians.push(id);
        }
        let (_, bidder1_id, bidder1) = h.bidder("bidder1").await;
        let (_, _, bidder2) = h.bidder("bidder2").await;
        World {
            tenderee,
            custodians,
            agent: h.login("agent1", PASSWORD).await,
            bidder1,
            bidder1_id,
            bidder2,
        }
    }

    /// A valid construction tender: documents from `docs_at`, the deadline `days` later,
    /// questions until 10 days before the deadline.
    pub fn input(&self, code: &str, title: &str, docs_at: DateTime<Utc>, days: i64) -> Value {
        let deadline = docs_at + Duration::days(days);
        json!({
            "code": code,
            "title": title,
            "description": format!("{title}：招标公告正文。"),
            "category": "construction",
            "procedure": "open",
            "tenderee_org_id": self.tenderee,
            "estimated_price_fen": 12_000_000_000i64,
            "ceiling_price_fen": 12_500_000_000i64,
            "bid_security_fen": 100_000_000,
            "documents_available_at": docs_at.to_rfc3339(),
            "clarification_cutoff_at": (deadline - Duration::days(10)).to_rfc3339(),
            "bid_deadline_at": deadline.to_rfc3339(),
            "opening_place": "开标室1",
            "evaluation_method": "comprehensive",
            "criteria": [{"name": "技术", "weight": 60}, {"name": "价格", "weight": 40}],
            "expert_quotas": [{"specialty": "给排水", "count": 5}],
            "custodians": self.custodians,
        })
    }

    /// Drafts and publishes a tender whose documents are available from now.
    pub async fn published(&self, h: &Harness, code: &str, title: &str, days: i64) -> Value {
        let input = self.input(code, title, h.now() + Duration::minutes(1), days);
        let (status, body) = h
            .api_post("/api/v1/tenders", Some(&self.agent), &input)
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, doc) = upload(h, &self.agent, code, "招标文件.pdf", b"%PDF-1.4 test").await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
        let (status, body) = h
            .api_post(
                &format!("/api/v1/tenders/{code}/publish"),
                Some(&self.agent),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// Uploads a document as the agent; returns its JSON.
pub async fn upload(
    h: &Harness,
    token: &str,
    code: &str,
    name: &str,
    bytes: &[u8],
) -> (StatusCode, Value) {
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/tenders/{code}/documents")))
        .query(&[("filename", name)])
        .bearer_auth(token)
        .header("content-type", "application/pdf")
        .body(bytes.to_vec())
        .send()
        .await
        .expect("upload");
    crate::harness::json_of(resp).await
}

async fn twenty_day_rule(h: &Harness) {
    let w = World::new(h).await;
    let docs = h.now() + Duration::hours(1);
    let (status, body) = h
        .api_post(
            "/api/v1/tenders",
            Some(&w.agent),
            &w.input("BJ-2025-019", "十九天测试工程", docs, 19),
        )
        .await;
    if status == StatusCode::CREATED {
        let (status, doc) = upload(h, &w.agent, "BJ-2025-019", "招标文件.pdf", b"%PDF-1.4").await;
        assert_eq!(status, StatusCode::CREATED, "{doc}");
    }
    let events_before = h.count("audit_event").await;
    let publish = if status == StatusCode::CREATED {
        // Drafts may be incomplete; the rulebook speaks at publication.
        h.api_post(
            "/api/v1/tenders/BJ-2025-019/publish",
            Some(&w.agent),
            &json!({}),
        )
        .await
    } else {
        (status, body)
    };
    assert_eq!(publish.0, StatusCode::UNPROCESSABLE_ENTITY, "{}", publish.1);
    assert_eq!(publish.1["code"], "BID_DEADLINE_TOO_SOON", "{}", publish.1);
    let message = publish.1["message"].as_str().expect("message");
    assert!(message.contains("第24条"), "names the article: {message}");
    assert!(message.contains("20"), "names the 20 days: {message}");
    assert_eq!(
        h.count("audit_event").await,
        events_before,
        "nothing stored"
    );
    let (_, list) = h.api_get("/api/v1/tenders", None).await;
    assert_eq!(list["total"], 0, "not public: {list}");

    // Exactly 20 days is accepted.
    let (status, body) = h
        .api_post(
            "/api/v1/tenders",
            Some(&w.agent),
            &w.input("BJ-2025-020", "二十天测试工程", docs, 20),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, doc) = upload(h, &w.agent, "BJ-2025-020", "招标文件.pdf", b"%PDF-1.4").await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let (status, body) = h
        .api_post(
            "/api/v1/tenders/BJ-2025-020/publish",
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "published", "{body}");
    let (_, list) = h.api_get("/api/v1/tenders", None).await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["code"], "BJ-2025-020");
}
both!(deadline_20_days, twenty_day_rule);

async fn bad_tender_input_is_refused(h: &Harness) {
    let w = World::new(h).await;
    let docs = h.now() + Duration::hours(1);
    let before = h.count("audit_event").await;
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            {
                let mut v = w.input("NEG-1", "负数金额", docs, 20);
                v["estimated_price_fen"] = json!(-1);
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_MONEY",
        ),
        (
            {
                let mut v = w.input("ABS-1", "荒谬金额", docs, 20);
                v["estimated_price_fen"] = json!(i64::MAX);
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_MONEY",
        ),
        (
            {
                let mut v = w.input("TIME-1", "错误时间", docs, 20);
                v["bid_deadline_at"] = json!("next tuesday");
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_TIME",
        ),
        (
            {
                let mut v = w.input("RB-1", "未知规则", docs, 20);
                v["category"] = json!("spaceships");
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "UNKNOWN_RULEBOOK",
        ),
        (
            {
                let mut v = w.input("UNK-1", "未知字段", docs, 20);
                v["secret_discount"] = json!(1);
                v
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_FIELDS",
        ),
    ];
    for (input, status, code) in cases {
        let got = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
        assert_error(&got, status, code);
    }
    // A bidder cannot draft.
    let got = h
        .api_post(
            "/api/v1/tenders",
            Some(&w.bidder1),
            &w.input("BID-1", "投标人起草", docs, 20),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post(
            "/api/v1/tenders",
            None,
            &w.input("ANON-1", "匿名起草", docs, 20),
        )
        .await;
    assert_eq!(got.0, StatusCode::UNAUTHORIZED, "{}", got.1);
    assert_eq!(h.count("audit_event").await, before, "nothing stored");
    assert_eq!(h.count("tender").await, 0);

    // A bidder cannot publish or cancel someone else's tender.
    w.published(h, "OWN-1", "权限测试工程", 20).await;
    let got = h
        .api_post(
            "/api/v1/tenders/OWN-1/cancel",
            Some(&w.bidder1),
            &json!({"reason": "x"}),
        )
        .await;
    assert_error(&got, StatusCode::FORBIDDEN, "FORBIDDEN");
    let got = h
        .api_post("/api/v1/tenders/OWN-1/cancel", Some(&w.agent), &json!({}))
        .await;
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, "REASON_REQUIRED");
    let (status, body) = h
        .api_post(
            "/api/v1/tenders/OWN-1/cancel",
            Some(&w.agent),
            &json!({"reason": "项目资金未落实"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "cancelled");
    let got = h
        .api_post("/api/v1/tenders/OWN-1/publish", Some(&w.agent), &json!({}))
        .await;
    assert_error(&got, StatusCode::CONFLICT, "INVALID_STATE");
}
both!(tender_bad_input, bad_tender_input_is_refused);

async fn documents_questions_and_amendments(h: &Harness) {
    let w = World::new(h).await;
    let code = "QA-2025-001";
    let docs_at = h.now() + Duration::minutes(1);
    let (status, body) = h
        .api_post(
            "/api/v1/tenders",
            Some(&w.agent),
            &w.input(code, "问答与澄清测试工程", docs_at, 20),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let content = "招标文件正文 / tender documents".as_bytes();
    let (status, doc) = upload(h, &w.agent, code, "招标文件.pdf", content).await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    let doc_id = doc["document_id"]
        .as_str()
        .expect("document id")
        .to_string();
    let (status, empty) = upload(h, &w.agent, code, "空.pdf", b"").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{empty}");
    let (status, body) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/publish"),
            Some(&w.agent),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Documents become available at docs_at; move the clock past it.
    h.clock.advance(Duration::minutes(2));

    // Download: anonymous refused, bidder gets the bytes, and it is recorded.
    let path = format!("/api/v1/tenders/{code}/documents/{doc_id}");
    let r = h.client.get(h.url(&path)).send().await.expect("download");
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(h.count("document_download").await, 0);
    let r = h
        .client
        .get(h.url(&path))
        .bearer_auth(&w.bidder1)
        .header("user-agent", "sunbid-integration/1.0")
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), StatusCode::OK);
    let sha = r.headers()["x-content-sha256"]
        .to_str()
        .expect("sha")
        .to_string();
    let bytes = r.bytes().await.expect("bytes");
    assert_eq!(&bytes[..], content);
    assert_eq!(
        sha,
        hex::encode(ring::digest::digest(&ring::digest::SHA256, content))
    );
    assert_eq!(
        h.count("document_download").await,
        1,
        "the download is recorded"
    );
    let (ip, ua): (Option<String>, Option<String>) = match h.db() {
        sunbid::store::Db::Sqlite(p, _) => {
            sqlx::query_as("select client_ip, user_agent from document_download")
                .fetch_one(p)
                .await
        }
        sunbid::store::Db::Postgres(p, _) => {
            sqlx::query_as("select client_ip, user_agent from document_download")
                .fetch_one(p)
                .await
        }
    }
    .expect("download row");
    assert_eq!(ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(ua.as_deref(), Some("sunbid-integration/1.0"));

    // Q&A: bidder1 asks; bidder2 and the public never learn who asked.
    let (status, q) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/questions"),
            Some(&w.bidder1),
            &json!({"body": "第三章技术要求中的设备品牌是否可以替换？"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{q}");
    let qid = q["question_id"].as_str().expect("question id").to_string();
    let (status, a) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/questions/{qid}/answer"),
            Some(&w.agent),
            &json!({"answer": "可以替换为性能相当的品牌。"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    for token in [Some(w.bidder2.as_str()), None] {
        let (status, list) = h
            .api_get(&format!("/api/v1/tenders/{code}/questions"), token)
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let text = list.to_string();
        assert!(
            text.contains("可以替换为性能相当的品牌"),
            "answer is public: {text}"
        );
        assert!(!text.contains(&w.bidder1_id), "asker hidden: {text}");
        assert!(!text.contains("bidder1"), "asker hidden: {text}");
        assert_eq!(list["questions"][0]["mine"], false);
        let (_, detail) = h.api_get(&format!("/api/v1/tenders/{code}"), token).await;
        assert!(
            !detail.to_string().contains(&w.bidder1_id),
            "asker hidden: {detail}"
        );
        let page = h
            .client
            .get(h.url(&format!("/tenders/{code}")))
            .send()
            .await
            .expect("page");
        let html = page.text().await.expect("html");
        assert!(!html.contains("bidder1") && !html.contains(&w.bidder1_id));
    }
    let (_, mine) = h
        .api_get(
            &format!("/api/v1/tenders/{code}/questions"),
            Some(&w.bidder1),
        )
        .await;
    assert_eq!(mine["questions"][0]["mine"], true, "{mine}");

    // An amendment 20 days before the deadline leaves it; 10 days before, it moves to
    // 15 days from the amendment (招标投标法 第23条), and the downloader is told.
    let (status, am) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/amendments"),
            Some(&w.agent),
            &json!({"summary": "更正工期", "body": "工期由365日历天调整为300日历天。"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{am}");
    assert_eq!(am["old_deadline"], am["new_deadline"], "{am}");
    h.clock.advance(Duration::days(10));
    // Sessions follow the server's clock: ten days on, everyone logs in again.
    let agent = h.login("agent1", PASSWORD).await;
    let bidder1 = h.login("bidder1", PASSWORD).await;
    let bidder2 = h.login("bidder2", PASSWORD).await;
    let (status, am) = h
        .api_post(
            &format!("/api/v1/tenders/{code}/amendments"),
            Some(&agent),
            &json!({"summary": "补充图纸", "body": "补充第二批施工图。"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{am}");
    let new_deadline: DateTime<Utc> =
        serde_json::from_value(am["new_deadline"].clone()).expect("time");
    assert!(
        new_deadline >= h.now() + Duration::days(15) - Duration::minutes(1),
        "deadline moved to ≥ 15 days after the amendment: {am}"
    );
    let (_, detail) = h.api_get(&format!("/api/v1/tenders/{code}"), None).await;
    let shown: DateTime<Utc> =
        serde_json::from_value(detail["bid_deadline_at"].clone()).expect("time");
    // Stored in milliseconds; the amendment's answer may carry finer digits.
    assert_eq!(shown.timestamp_millis(), new_deadline.timestamp_millis());
    assert_eq!(
        detail["amendments"].as_array().map(Vec::len),
        Some(2),
        "{detail}"
    );

    let (status, notices) = h.api_get("/api/v1/notices", Some(&bidder1)).await;
    assert_eq!(status, StatusCode::OK, "{notices}");
    assert!(
        notices["notices"].as_array().is_some_and(|n| n.len() >= 2),
        "the bidder who downloaded is told of each amendment: {notices}"
    );
    let (_, others) = h.api_get("/api/v1/notices", Some(&bidder2)).await;
    assert_eq!(
        others["notices"].as_array().map(Vec::len),
        Some(0),
        "{others}"
    );
}
both!(documents_qa_amendments, documents_questions_and_amendments);
