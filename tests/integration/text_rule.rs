//! Control characters in text (issue 11 item 10): every text field of the API refuses C0/C1
//! controls (line feed and tab only where several lines make sense) and the bidi
//! embedding/override/isolate characters with 422 `TEXT_CONTROL_CHARACTER` naming the
//! field, storing nothing; and the Atom feed stays well-formed XML whatever the database
//! holds (a row written before the rule, or by other means).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both;
use crate::harness::{Backend, Harness, PASSWORD, assert_error, next_serial, uscc};
use crate::tenders::World;

const CODE: &str = "TEXT_CONTROL_CHARACTER";

/// A refusal under the rule whose message names `field`.
fn refused(got: (StatusCode, Value), field: &str) {
    assert_error(&got, StatusCode::UNPROCESSABLE_ENTITY, CODE);
    let message = got.1["message"].as_str().unwrap_or_default();
    assert!(message.contains(field), "names {field}: {message}");
}

async fn control_characters_are_refused_everywhere(h: &Harness) {
    let w = World::new(h).await;
    let operator = h.operator().await;
    let before = h.count("tender").await;
    let snapshot = h.snapshot().await;

    // Tender fields: NUL, ESC, a C1 control, the bidi overrides and isolates.
    let docs_at = h.now() + chrono::Duration::minutes(1);
    let cases: [(&str, Value); 6] = [
        ("title", json!("道路工程\u{0}")),
        ("description", json!("正文\u{1B}[31m红字")),
        ("opening_place", json!("开标室\u{202E}1")),
        ("title", json!("标题\u{85}续")),
        ("title", json!("第1标段\u{2066}")),
        (
            "criteria",
            json!([{"name": "技术\u{7}", "weight": 60}, {"name": "价格", "weight": 40}]),
        ),
    ];
    for (field, value) in cases {
        let mut input = w.input(
            &format!("TXT-{}", next_serial()),
            "文本规则测试工程",
            docs_at,
            20,
        );
        input[field] = value;
        let got = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
        refused(got, field);
    }
    // A line break is refused in a title, allowed in a description.
    let mut input = w.input(
        &format!("TXT-{}", next_serial()),
        "标题\n第二行",
        docs_at,
        20,
    );
    let got = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
    refused(got, "title");
    assert_eq!(h.count("tender").await, before, "nothing stored");
    assert_eq!(
        h.snapshot().await,
        snapshot,
        "nothing stored, nothing audited"
    );

    // U+2028 (line separator) is neither a control nor a bidi override: the rule lets it
    // through, and XML carries it.
    input["title"] = json!("文本规则测试工程");
    input["description"] = json!("第一段\n第二段\u{2028}第三段\t完");
    let (s, body) = h.api_post("/api/v1/tenders", Some(&w.agent), &input).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let code = input["code"].as_str().expect("code").to_string();

    // Organisation and user names, a company registering itself.
    let snapshot = h.snapshot().await;
    let got = h
        .api_post(
            "/api/v1/organisations",
            Some(&operator),
            &json!({"kind": "tenderee", "name": "建设\u{0}公司"}),
        )
        .await;
    refused(got, "name");
    let got = h
        .api_post(
            "/api/v1/users",
            Some(&operator),
            &json!({"username": "txt_user", "display_name": "张\u{202D}三",
                    "role": "operator", "password": PASSWORD}),
        )
        .await;
    refused(got, "display_name");
    let got = h
        .api_post(
            "/api/v1/companies",
            None,
            &json!({"company_name": "恶意\u{1B}公司", "uscc": uscc(next_serial()),
                    "username": "txt_company", "display_name": "李四", "password": PASSWORD}),
        )
        .await;
    refused(got, "company_name");

    // The expert pool.
    let got = h
        .api_post(
            "/api/v1/experts",
            Some(&operator),
            &json!({"name": "王\u{9F}五", "specialties": ["A0101"], "region": "330106",
                    "title": "senior", "years_of_practice": 12, "birth_year": 1972}),
        )
        .await;
    refused(got, "name");
    assert_eq!(
        h.snapshot().await,
        snapshot,
        "no organisation, user or audit event stored"
    );

    // Questions and amendments of a published tender.
    let pcode = format!("TXT-{}", next_serial());
    w.published(h, &pcode, "文本规则发布工程", 20).await;
    let got = h
        .api_post(
            &format!("/api/v1/tenders/{pcode}/questions"),
            Some(&w.bidder1),
            &json!({"body": "问题\u{0}"}),
        )
        .await;
    refused(got, "body");
    let got = h
        .api_post(
            &format!("/api/v1/tenders/{pcode}/amendments"),
            Some(&w.agent),
            &json!({"summary": "澄清\u{2069}", "body": "正文"}),
        )
        .await;
    refused(got, "summary");
    assert_eq!(h.count("question").await, 0);
    assert_eq!(h.count("tender_amendment").await, 0);
    assert_eq!(h.count("expert").await, 0);
    let (s, t) = h
        .api_get(&format!("/api/v1/tenders/{code}"), Some(&w.agent))
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
}
both!(text_rule, control_characters_are_refused_everywhere);

/// The feed as XML text, checked to parse; returns the entry titles.
async fn feed_titles(h: &Harness) -> Vec<String> {
    let r = h
        .client
        .get(h.url("/feed.atom"))
        .send()
        .await
        .expect("feed");
    assert_eq!(r.status(), StatusCode::OK);
    let xml = r.text().await.expect("xml");
    let doc = roxmltree::Document::parse(&xml)
        .unwrap_or_else(|e| panic!("the feed is well-formed XML: {e}\n{xml:?}"));
    doc.root_element()
        .children()
        .filter(|c| c.tag_name().name() == "entry")
        .filter_map(|e| e.children().find(|c| c.tag_name().name() == "title"))
        .filter_map(|t| t.text().map(str::to_string))
        .collect()
}

async fn feed_survives_stored_control_characters(h: &Harness) {
    let w = World::new(h).await;
    let code = format!("FEED-{}", next_serial());
    w.published(h, &code, "河道整治工程", 20).await;
    // Written behind the API's back. PostgreSQL text cannot hold NUL at all; SQLite can.
    let bad = match h.backend {
        Backend::Sqlite => "'河道' || char(0) || '整治' || char(27) || '工程' || char(65534)",
        Backend::Postgres => "'河道' || chr(1) || '整治' || chr(27) || '工程' || chr(65534)",
    };
    let n = h
        .exec(&format!(
            "update tender set title = {bad} where code = '{code}'"
        ))
        .await
        .expect("update");
    assert_eq!(n, 1);
    let org = h
        .exec(&format!(
            "update organisation set name = name || {} where org_id = '{}'",
            match h.backend {
                Backend::Sqlite => "char(8)",
                Backend::Postgres => "chr(8)",
            },
            w.tenderee
        ))
        .await
        .expect("update organisation");
    assert_eq!(org, 1);
    let titles = feed_titles(h).await;
    assert!(
        titles
            .iter()
            .any(|t| t.contains("河道\u{FFFD}整治\u{FFFD}工程\u{FFFD}")),
        "the characters XML cannot carry are replaced, the rest kept: {titles:?}"
    );
}
both!(feed_stays_xml, feed_survives_stored_control_characters);
