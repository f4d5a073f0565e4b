//! The HTTP surface as the CLI and the page call it.

use super::*;

/// The HTTP surface as the CLI and the page call it (routing, status codes, bodies).
pub(crate) async fn scenario_http_contract(kit: &Kit) {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    let t = published(kit).await;
    let app = crate::server::router(kit.state.clone());
    let token = async |c: &Caller| {
        crate::identity::session_store::open_for(
            &kit.state.db,
            &kit.state.sessions,
            kit.now(),
            &c.user.user_id,
            c.user.role.as_str(),
            c.user.org_id.as_deref(),
            &c.user.name,
        )
        .await
        .unwrap()
    };
    let send = |req: Request<Body>| {
        let app = app.clone();
        async move {
            let resp = app.oneshot(req).await.unwrap();
            let status = resp.status();
            let body = axum::body::to_bytes(resp.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            )
        }
    };
    let (s, key) = send(
        Request::get(format!("/api/v1/tenders/{}/opening-key", t.code))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(key["tender_id"], t.tender_id);
    assert_eq!((key["k"].as_u64(), key["n"].as_u64()), (Some(2), Some(3)));
    let (s, pkey) = send(
        Request::get("/api/v1/platform-key")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(pkey["vkey"], crate::audit::routes::vkey(&kit.state));
    assert_eq!(
        pkey["public_key"],
        base64::engine::general_purpose::STANDARD.encode(kit.state.platform_key.public())
    );

    let pk = opening_pk(kit, &t.code).await;
    let me = org_of(&kit.bidder);
    let bearer = format!("Bearer {}", token(&kit.bidder).await);
    let post = |path: String, ct: &str, body: Vec<u8>| {
        Request::post(path)
            .header("authorization", bearer.clone())
            .header("content-type", ct)
            .header("x-device-id", "dev-1")
            .body(Body::from(body))
            .unwrap()
    };
    let (s, e) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=form&name=bid.json",
            t.code
        ),
        "application/octet-stream",
        b"plain".to_vec(),
    ))
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["code"], "SEAL_NOT_AN_ENVELOPE");
    // Bigger than the 2 MB default body limit: streamed, accepted.
    let big = vec![3u8; 3 * 1024 * 1024];
    let (s, a) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=attachment&name=%E6%8A%80%E6%9C%AF.pdf",
            t.code
        ),
        "application/octet-stream",
        seal(&pk, &t.tender_id, &me, "tech.pdf", &big),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let (s, f) = send(post(
        format!(
            "/api/v1/tenders/{}/bid/parts?label=form&name=bid.json",
            t.code
        ),
        "application/octet-stream",
        seal(&pk, &t.tender_id, &me, "bid.json", &form(5)),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    let (s, r) = send(post(
        format!("/api/v1/tenders/{}/bid/submit", t.code),
        "application/json",
        serde_json::to_vec(&serde_json::json!({"parts": [f["part_id"], a["part_id"]]})).unwrap(),
    ))
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["receipt"]["parts"][1]["name"], "技术.pdf");
    assert_eq!(r["receipt"]["v"], 1);
    let receipt: crate::bid::receipt::Receipt =
        serde_json::from_value(r["receipt"].clone()).unwrap();
    assert!(receipt.verify(
        &kit.state.platform_key.public(),
        r["signature"].as_str().unwrap()
    ));
    let (s, mine) = send(
        Request::get(format!("/api/v1/tenders/{}/bid", t.code))
            .header("authorization", bearer.clone())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["bid"]["state"], "submitted");
    let (s, o) = send(
        Request::get(format!("/api/v1/tenders/{}/opening", t.code))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["state"], "not_started");
    let (s, w) = send(post(
        format!("/api/v1/tenders/{}/bid/withdraw", t.code),
        "application/json",
        b"{}".to_vec(),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{w}");
    // Drafts have no opening key.
    let draft = kit.code("D");
    tenders::create_draft(
        kit.db(),
        kit.books(),
        kit.now(),
        &kit.agent,
        &kit.input(&draft, 20),
    )
    .await
    .unwrap();
    let (s, _) = send(
        Request::get(format!("/api/v1/tenders/{draft}/opening-key"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
