//! The public portal: Chinese pages, Chinese substring search, and the Atom feed.

use reqwest::StatusCode;

use crate::both;
use crate::harness::Harness;
use crate::tenders::World;

async fn search_and_pages(h: &Harness) {
    let w = World::new(h).await;
    w.published(h, "SZ-2025-001", "滨江新区污水处理厂扩建工程施工招标", 20)
        .await;
    w.published(h, "SZ-2025-002", "城南小学教学楼新建工程", 25)
        .await;
    // A draft is never public.
    let (status, _) = h
        .api_post(
            "/api/v1/tenders",
            Some(&w.agent),
            &w.input(
                "SZ-2025-003",
                "尚未发布的污水管网草稿",
                h.now() + chrono::Duration::hours(1),
                20,
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    let search = |q: &str| {
        let url = h.url("/api/v1/tenders");
        let q = q.to_string();
        async move {
            let r = h
                .client
                .get(url)
                .query(&[("q", q)])
                .send()
                .await
                .expect("search");
            crate::harness::json_of(r).await.1
        }
    };
    let codes = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["code"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(codes(&search("污水处理").await), ["SZ-2025-001"]);
    assert_eq!(codes(&search("教学楼").await), ["SZ-2025-002"]);
    assert_eq!(
        codes(&search("污水").await),
        ["SZ-2025-001"],
        "drafts stay hidden"
    );
    assert!(codes(&search("不存在的项目").await).is_empty());
    assert!(
        codes(&search("%").await).is_empty(),
        "LIKE wildcards are literal"
    );
    assert_eq!(codes(&search("").await).len(), 2);

    // The portal page: Chinese by default, English on request, search by ?q=.
    let r = h.client.get(h.url("/")).send().await.expect("portal");
    assert_eq!(r.status(), StatusCode::OK);
    let html = r.text().await.expect("html");
    assert!(html.contains("lang=\"zh"), "Chinese by default");
    assert!(
        html.contains("滨江新区污水处理厂扩建工程施工招标")
            && html.contains("城南小学教学楼新建工程")
    );
    assert!(!html.contains("尚未发布的污水管网草稿"));
    let r = h
        .client
        .get(h.url("/"))
        .query(&[("q", "教学楼")])
        .send()
        .await
        .expect("search page");
    let html = r.text().await.expect("html");
    assert!(html.contains("城南小学教学楼新建工程") && !html.contains("滨江新区污水处理厂"));
    let r = h
        .client
        .get(h.url("/?lang=en"))
        .send()
        .await
        .expect("english");
    let html = r.text().await.expect("html");
    assert!(html.contains("lang=\"en"), "English on request");

    let r = h
        .client
        .get(h.url("/tenders/SZ-2025-001"))
        .send()
        .await
        .expect("detail");
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.text()
            .await
            .expect("html")
            .contains("滨江新区污水处理厂扩建工程施工招标")
    );
    let r = h
        .client
        .get(h.url("/tenders/SZ-2025-003"))
        .send()
        .await
        .expect("draft page");
    assert_eq!(
        r.status(),
        StatusCode::NOT_FOUND,
        "a draft has no public page"
    );
}
both!(portal_search, search_and_pages);

async fn atom_feed_parses(h: &Harness) {
    let w = World::new(h).await;
    w.published(h, "RSS-2025-001", "河道整治工程 <第一标段> & 附属设施", 20)
        .await;
    w.published(h, "RSS-2025-002", "城南小学教学楼新建工程", 21)
        .await;
    let r = h
        .client
        .get(h.url("/feed.atom"))
        .send()
        .await
        .expect("feed");
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"]
        .to_str()
        .expect("ct")
        .to_string();
    assert!(ct.starts_with("application/atom+xml"), "{ct}");
    let xml = r.text().await.expect("xml");
    let doc =
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("feed is XML: {e}\n{xml}"));
    let feed = doc.root_element();
    assert_eq!(feed.tag_name().name(), "feed");
    assert_eq!(
        feed.tag_name().namespace(),
        Some("http://www.w3.org/2005/Atom")
    );
    for required in ["id", "title", "updated"] {
        assert!(
            feed.children().any(|c| c.tag_name().name() == required),
            "feed has <{required}>"
        );
    }
    let entries: Vec<_> = feed
        .children()
        .filter(|c| c.tag_name().name() == "entry")
        .collect();
    assert_eq!(entries.len(), 2, "{xml}");
    let titles: Vec<String> = entries
        .iter()
        .filter_map(|e| e.children().find(|c| c.tag_name().name() == "title"))
        .filter_map(|t| t.text().map(str::to_string))
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.contains("河道整治工程 <第一标段> & 附属设施")),
        "escaped and intact: {titles:?}"
    );
    for e in &entries {
        for required in ["id", "title", "updated", "link"] {
            assert!(
                e.children().any(|c| c.tag_name().name() == required),
                "entry has <{required}>: {xml}"
            );
        }
        let href = e
            .children()
            .find(|c| c.tag_name().name() == "link")
            .and_then(|l| l.attribute("href"))
            .unwrap_or("");
        assert!(
            href.starts_with(&h.public_url),
            "absolute link on the public URL: {href}"
        );
    }
}
both!(atom_feed, atom_feed_parses);
