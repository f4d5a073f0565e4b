//! The evaluation report (评标报告) as documents: the signed JSON bytes, a self-contained
//! bilingual HTML page and a PDF, for the committee, the owning agent, operators and
//! regulators only (see [`super::doc`]).
//!
//! - `GET /api/v1/tenders/{code}/evaluation/report`: the stored canonical JSON exactly as
//!   signed (its SHA-256 in `X-Report-SHA256`), so anyone holding it can check the digest;
//!   until the award, a reader outside the committee and the regulators (the agent, an
//!   operator) gets a copy with member pseudonyms and no digests instead
//!   (`X-Report-Redacted: members`, 招标投标法 第37条);
//! - `GET /api/v1/tenders/{code}/evaluation/report.html` and the page
//!   `GET /tenders/{code}/evaluation/report` (errors as pages, the login for no session);
//! - `GET /api/v1/tenders/{code}/evaluation/report.pdf`: the same content as PDF (503 with
//!   a bilingual message naming `report_font` when no CJK font is found).
//!
//! Every answer is `Cache-Control: no-store`: the report is confidential.

use crate::evaluation::routes::env;
use askama::Template;
use axum::Router;
use axum::extract::State;
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::doc::{self as report_doc, ReportDoc};
use super::pdf as report_pdf;
use crate::http::page::{OrPage, PageResult};
use crate::http::{ApiError, ApiResult, AppState, Ctx};
use crate::tender::service::Caller;

/// The report page (a standalone document, not the site layout: it is meant to print).
#[derive(Template)]
#[template(path = "evaluation_report.html")]
pub struct ReportPage<'a> {
    /// The document.
    pub doc: &'a ReportDoc,
    /// The tender code for the links.
    pub code: &'a str,
}

fn confidential(mut resp: Response, content_type: &'static str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn html(doc: &ReportDoc, code: &str) -> Result<Response, ApiError> {
    let text = ReportPage { doc, code }
        .render()
        .map_err(|e| ApiError::internal(&e))?;
    Ok(confidential(
        text.into_response(),
        "text/html; charset=utf-8",
    ))
}

/// A file name safe in a header: the code's letters, digits, `-` and `_` only.
fn file_name(code: &str) -> String {
    let safe: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(80)
        .collect();
    format!("evaluation-report-{safe}.pdf")
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation/report",
    tag = "evaluation",
    summary = "The evaluation report (评标报告) exactly as stored and signed: canonical JSON whose SHA-256 (also in the X-Report-SHA256 header) is the challenge each member signs; until the award, the agent and operators get a copy with member pseudonyms and no sheet digests or salt (X-Report-Redacted: members, no X-Report-SHA256)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "The report as canonical JSON", body = Object),
        (status = 409, description = "REPORT_NOT_READY: the report is written when every member's scores are in", body = crate::http::openapi::ErrorBody),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn report_json(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let caller = Caller::from_ctx(&ctx)?;
    let stored = report_doc::load(env(&state), &caller, &code).await?;
    let mut resp = confidential(stored.json.into_response(), "application/json");
    if stored.redacted {
        // Not the signed bytes: say so, and give no digest a reader could test guesses with.
        resp.headers_mut()
            .insert("x-report-redacted", HeaderValue::from_static("members"));
    } else if let Ok(v) = HeaderValue::from_str(&stored.sha256) {
        resp.headers_mut().insert("x-report-sha256", v);
    }
    Ok(resp)
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation/report.html",
    tag = "evaluation",
    summary = "The report as a self-contained, printable bilingual HTML document: committee, preliminary review with fail reasons, every member's score per criterion per bid, price scores, aggregation, totals, ranking (≤ 3 candidates), each member's signature status and the signed SHA-256",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "The printable report", body = String, content_type = "text/html"),
        (status = 409, description = "REPORT_NOT_READY: the report is written when every member's scores are in", body = crate::http::openapi::ErrorBody),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn report_html(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let caller = Caller::from_ctx(&ctx)?;
    let doc = report_doc::document(env(&state), &caller, &code).await?;
    html(&doc, &code)
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/evaluation/report.pdf",
    tag = "evaluation",
    summary = "The same report as PDF (A4 landscape, embedded CJK font subset)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "The report as PDF", body = crate::http::openapi::Binary, content_type = "application/pdf"),
        (status = 409, description = "REPORT_NOT_READY: the report is written when every member's scores are in", body = crate::http::openapi::ErrorBody),
        (status = 503, description = "REPORT_FONT_MISSING: no CJK font; set report_font (SUNBID_REPORT_FONT) or install fonts-wqy-microhei", body = crate::http::openapi::ErrorBody),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn report_pdf(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<Response> {
    let caller = Caller::from_ctx(&ctx)?;
    let doc = report_doc::document(env(&state), &caller, &code).await?;
    let config = state.config.clone();
    // Layout and font subsetting are CPU work: keep them off the async workers.
    let bytes = tokio::task::spawn_blocking(move || {
        let font = report_pdf::find_font(&config)?;
        report_pdf::render(&doc, &font)
    })
    .await
    .map_err(|e| ApiError::internal(&e))??;
    let mut resp = confidential(bytes.into_response(), "application/pdf");
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{}\"", file_name(&code))) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}

async fn report_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let doc = report_doc::document(env(&state), &caller, &code)
        .await
        .or_page(&ctx)?;
    html(&doc, &code).or_page(&ctx)
}

/// The report routes (API and page).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenders/{code}/evaluation/report", get(report_json))
        .route(
            "/api/v1/tenders/{code}/evaluation/report.html",
            get(report_html),
        )
        .route(
            "/api/v1/tenders/{code}/evaluation/report.pdf",
            get(report_pdf),
        )
        .route("/tenders/{code}/evaluation/report", get(report_page))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::clock::to_millis;
    use crate::config::Config;
    use crate::evaluation::report::doc::testdata::sample;
    use crate::evaluation::report::pdf::tests::{font_or_skip, pdf_text};
    use crate::identity::Role;
    use crate::ids::new_id;
    use crate::lifecycle::tender::{TenderState, force_state};
    use crate::q_exec;
    use crate::store::blob::sha256_hex;
    use crate::tender::service as tenders;
    use crate::tender::testkit::{Kit, org, user};

    struct Fixture {
        code: String,
        tender_id: String,
        members: Vec<Caller>,
        sha256: String,
    }

    /// A tender in `evaluating` whose evaluation is ranked with a stored report over five
    /// expert members and three bids (the third rejected); member 1 has signed, member 2
    /// dissented.
    async fn ranked(kit: &Kit) -> Fixture {
        let db = kit.db();
        let code = kit.code("R");
        let t = tenders::create_draft(
            db,
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await
        .expect("draft");
        let tid = t.tender_id.clone();
        let mut members = Vec::new();
        for _ in 0..5 {
            members.push(user(db, Role::Expert, None, "active").await);
        }
        let member_ids: Vec<String> = members.iter().map(|m| m.user.user_id.clone()).collect();
        let orgs = [
            kit.bidder.user.org_id.clone().unwrap(),
            org(db, "bidder", "active").await,
            org(db, "bidder", "active").await,
        ];
        let mut tx = db.begin().await.unwrap();
        let mut bids = Vec::new();
        for (i, o) in (0i64..).zip(orgs) {
            let id = new_id();
            q_exec!(
                tx,
                "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state, receipt_json,
                    signature, audit_seq, submitted_at)
                 values ($1, $2, $3, $4, 'opened', '{}', 'x', 0, $5)",
                id.clone(),
                tid.clone(),
                o,
                kit.bidder.user.user_id.clone(),
                i
            )
            .unwrap();
            bids.push(id);
        }
        let s = sample(&member_ids, &bids, 3);
        let members_json = serde_json::to_string(
            &serde_json::from_str::<serde_json::Value>(&s.json).unwrap()["members"],
        )
        .unwrap();
        let now = to_millis(kit.now());
        q_exec!(
            tx,
            "insert into evaluation (tender_id, state, members_json, review_criteria_json, review_rule,
                plan_json, election_round, leader_user_id, report_json, report_sha256, started_by,
                started_at, ranked_at)
             values ($1, 'ranked', $2, '[]', 'majority', '{}', 1, $3, $4, $5, $6, $7, $7)",
            tid.clone(),
            members_json,
            member_ids[0].clone(),
            s.json.clone(),
            s.sha256.clone(),
            kit.agent.user.user_id.clone(),
            now
        )
        .unwrap();
        q_exec!(
            tx,
            "insert into evaluation_signature (tender_id, member, act, reason, report_sha256, credential_id, signed_at)
             values ($1, $2, 'signed', null, $3, 'cred-member-1', $4),
                    ($1, $5, 'dissented', '价格分计算有误', $3, null, $4)",
            tid.clone(),
            member_ids[0].clone(),
            s.sha256.clone(),
            now,
            member_ids[1].clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
        force_state(kit.db(), &tid, TenderState::Evaluating).await;
        Fixture {
            code,
            tender_id: tid,
            members,
            sha256: s.sha256,
        }
    }

    #[derive(Clone, Copy)]
    enum Kind {
        Json,
        Html,
        Pdf,
    }

    async fn get(state: &AppState, ctx: Ctx, code: &str, kind: Kind) -> (u16, Response) {
        let path = Path(code.to_string());
        let resp = match kind {
            Kind::Json => report_json(State(state.clone()), ctx, path).await,
            Kind::Html => report_html(State(state.clone()), ctx, path).await,
            Kind::Pdf => report_pdf(State(state.clone()), ctx, path).await,
        }
        .into_response();
        (resp.status().as_u16(), resp)
    }

    async fn body(resp: Response) -> Vec<u8> {
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap()
            .to_vec()
    }

    async fn code_of(resp: Response) -> String {
        let v: serde_json::Value = serde_json::from_slice(&body(resp).await).unwrap();
        v["code"].as_str().unwrap_or_default().to_string()
    }

    /// `who` reads the report in every form and learns no member's identity: no user id,
    /// name or credential, and no digest made over them (招标投标法 第37条).
    async fn withheld_from(kit: &Kit, fx: &Fixture, who: &Caller) {
        let secrets: Vec<&str> = fx
            .members
            .iter()
            .flat_map(|m| [m.user.user_id.as_str(), m.user.name.as_str()])
            .chain(["cred-member-1"])
            .collect();
        let (st, resp) = get(&kit.state, kit.ctx(who), &fx.code, Kind::Json).await;
        assert_eq!(st, 200);
        assert_eq!(resp.headers()["x-report-redacted"], "members");
        assert!(resp.headers().get("x-report-sha256").is_none());
        let json: serde_json::Value = serde_json::from_slice(&body(resp).await).unwrap();
        assert_eq!(json["members"][0]["id"], "member-1");
        assert!(json["sheets"].as_array().is_some_and(|s| !s.is_empty()));
        let text = json.to_string();
        for secret in &secrets {
            assert!(!text.contains(secret), "JSON names {secret}");
        }
        let (st, resp) = get(&kit.state, kit.ctx(who), &fx.code, Kind::Html).await;
        assert_eq!(st, 200);
        let html = String::from_utf8(body(resp).await).unwrap();
        for secret in &secrets {
            assert!(!html.contains(secret), "HTML names {secret}");
        }
        assert!(html.contains("成员 1 Member 1") && html.contains("成员 5 Member 5"));
        assert!(
            html.contains(&fx.sha256),
            "the signed digest, salted, is no secret"
        );
        assert!(
            html.contains("价格分计算有误"),
            "a dissent's reason is the record's"
        );
        assert!(html.contains("以通行密钥签署 Signed with a passkey"));
    }

    pub(crate) async fn scenario(kit: &Kit) {
        let fx = ranked(kit).await;
        let state = &kit.state;

        // The committee, the owning agent, an operator and a regulator read it in every form;
        // before the award, the agent and the operator without the members' identities.
        let operator = user(kit.db(), Role::Operator, None, "active").await;
        for who in [&kit.agent, &operator] {
            withheld_from(kit, &fx, who).await;
        }
        let readers = [&fx.members[0], &fx.members[4], &kit.regulator];
        for who in readers {
            let (st, resp) = get(state, kit.ctx(who), &fx.code, Kind::Json).await;
            assert_eq!(st, 200);
            assert_eq!(resp.headers()["cache-control"], "no-store");
            assert_eq!(resp.headers()["x-report-sha256"], fx.sha256.as_str());
            let bytes = body(resp).await;
            assert_eq!(sha256_hex(&bytes), fx.sha256, "the exact signed bytes");

            let (st, resp) = get(state, kit.ctx(who), &fx.code, Kind::Html).await;
            assert_eq!(st, 200);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
            let html = String::from_utf8(body(resp).await).unwrap();
            assert!(html.contains("评标报告"));
            assert!(html.contains("滨江新区污水处理厂扩建工程施工招标"));
            assert!(html.contains(&fx.sha256));
            assert!(html.contains(&fx.members[0].user.name));
            assert!(html.contains("cred-member-1"), "signed with its credential");
            assert!(html.contains("价格分计算有误"), "the dissent's reason");
            assert!(html.contains("待签署 Pending"), "signing still open");
            assert!(!html.contains("<script"), "self-contained, no script");
            assert!(
                !html.contains("stylesheet"),
                "self-contained, no external style"
            );
        }

        // Once the report is delivered (signing closed), the silent members are deemed to
        // agree; the signed and dissenting members keep their acts.
        let mut tx = kit.db().begin().await.unwrap();
        q_exec!(
            tx,
            "update evaluation set state = 'reported'
             where tender_id = (select tender_id from tender where code = $1)",
            fx.code.clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
        let (_, resp) = get(state, kit.ctx(&kit.regulator), &fx.code, Kind::Html).await;
        let html = String::from_utf8(body(resp).await).unwrap();
        assert_eq!(
            html.matches("视为同意 Deemed to agree").count(),
            3,
            "members 3 to 5"
        );
        assert!(!html.contains("待签署 Pending"));
        assert!(html.contains("cred-member-1") && html.contains("价格分计算有误"));

        // After the award, the owning agent and operators see the committee as signed.
        force_state(kit.db(), &fx.tender_id, TenderState::Awarded).await;
        for who in [&kit.agent, &operator] {
            let (st, resp) = get(state, kit.ctx(who), &fx.code, Kind::Json).await;
            assert_eq!(st, 200);
            assert_eq!(resp.headers()["x-report-sha256"], fx.sha256.as_str());
            assert_eq!(sha256_hex(&body(resp).await), fx.sha256);
            let (_, resp) = get(state, kit.ctx(who), &fx.code, Kind::Html).await;
            let html = String::from_utf8(body(resp).await).unwrap();
            assert!(html.contains(&fx.members[0].user.name) && html.contains(&fx.sha256));
        }

        // Outsiders: another agent, a bidder (even one who bid), nobody logged in.
        for who in [&kit.other_agent, &kit.bidder, &kit.bidder2] {
            for kind in [Kind::Json, Kind::Html, Kind::Pdf] {
                let (st, resp) = get(state, kit.ctx(who), &fx.code, kind).await;
                assert_eq!(st, 403);
                assert_eq!(code_of(resp).await, "FORBIDDEN");
            }
        }
        let mut public = kit.ctx(&kit.bidder);
        public.user = None;
        for kind in [Kind::Json, Kind::Html, Kind::Pdf] {
            let (st, _) = get(state, public.clone(), &fx.code, kind).await;
            assert_eq!(st, 401);
        }

        // Bad input: an unknown tender, a tender not evaluated yet, a report not written yet.
        let (st, resp) = get(state, kit.ctx(&kit.agent), "NO-SUCH-TENDER", Kind::Html).await;
        assert_eq!(st, 404);
        assert_eq!(code_of(resp).await, "NOT_FOUND");
        let fresh = kit.code("R");
        tenders::create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&fresh, 20),
        )
        .await
        .unwrap();
        for kind in [Kind::Json, Kind::Html, Kind::Pdf] {
            let (st, resp) = get(state, kit.ctx(&kit.agent), &fresh, kind).await;
            assert_eq!(st, 409);
            assert_eq!(code_of(resp).await, "REPORT_NOT_READY");
        }
        let (st, _) = get(state, kit.ctx(&kit.other_agent), &fresh, Kind::Html).await;
        assert_eq!(st, 403, "an outsider learns nothing about the state");
        let mut tx = kit.db().begin().await.unwrap();
        q_exec!(
            tx,
            "update evaluation set report_json = null, report_sha256 = null, state = 'scoring'
             where tender_id = (select tender_id from tender where code = $1)",
            fx.code.clone()
        )
        .unwrap();
        tx.commit().await.unwrap();
        let (st, resp) = get(state, kit.ctx(&fx.members[2]), &fx.code, Kind::Pdf).await;
        assert_eq!(st, 409);
        assert_eq!(code_of(resp).await, "REPORT_NOT_READY");
    }

    pub(crate) async fn scenario_pdf(kit: &Kit) {
        let fx = ranked(kit).await;
        // No font: 503 naming the config key and the Debian package; the HTML still works.
        let mut no_font = kit.state.clone();
        no_font.config = std::sync::Arc::new(Config {
            report_font: Some("/nonexistent/cjk.ttc".into()),
            ..(*kit.state.config).clone()
        });
        let (st, resp) = get(&no_font, kit.ctx(&kit.agent), &fx.code, Kind::Pdf).await;
        assert_eq!(st, 503);
        let v: serde_json::Value = serde_json::from_slice(&body(resp).await).unwrap();
        assert_eq!(v["code"], "REPORT_FONT_MISSING");
        let msg = v["message"].as_str().unwrap();
        assert!(
            msg.contains("report_font")
                && msg.contains("fonts-wqy-microhei")
                && msg.contains("字体")
        );
        let (st, _) = get(&no_font, kit.ctx(&kit.agent), &fx.code, Kind::Html).await;
        assert_eq!(st, 200);

        if font_or_skip().is_none() {
            return;
        }
        let (st, resp) = get(&kit.state, kit.ctx(&fx.members[1]), &fx.code, Kind::Pdf).await;
        assert_eq!(st, 200);
        assert_eq!(resp.headers()["content-type"], "application/pdf");
        assert_eq!(resp.headers()["cache-control"], "no-store");
        assert!(
            resp.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("evaluation-report-{}.pdf", fx.code))
        );
        let pdf = body(resp).await;
        assert!(pdf.starts_with(b"%PDF-"));
        let Some(text) = pdf_text(&pdf) else { return };
        assert!(text.contains("评标报告"));
        assert!(text.contains("价格分计算有误"));
        assert!(text.contains("cred-member-1"));
        assert!(text.contains(&fx.members[3].user.name));
    }

    #[tokio::test]
    async fn access_and_bad_input_sqlite() {
        scenario(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn pdf_and_missing_font_sqlite() {
        scenario_pdf(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn report_routes_postgres() {
        let Some(kit) = Kit::postgres().await else {
            return;
        };
        scenario(&kit).await;
        scenario_pdf(&kit).await;
    }

    #[tokio::test]
    async fn routes_are_wired_and_refuse_the_public() {
        let kit = Kit::sqlite().await;
        let fx = ranked(&kit).await;
        let app = crate::server::router(kit.state.clone());
        for suffix in ["", ".html", ".pdf"] {
            // No quoted API path literal here: the OpenAPI test scans this file for routes.
            let uri = format!(
                "{}/tenders/{}/evaluation/report{suffix}",
                "/api/v1", fx.code
            );
            let resp = app
                .clone()
                .oneshot(Request::get(&uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{uri}");
        }
        // The page sends the public to the login.
        let resp = app
            .oneshot(
                Request::get(format!("/tenders/{}/evaluation/report", fx.code))
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert!(resp.status().is_redirection());
        assert_eq!(resp.headers()["location"], "/login");
    }
}
