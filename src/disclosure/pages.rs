//! The portal's pages: the announcement list with Chinese substring search, the tender
//! page (documents, amendments, answered questions — never who asked), document download
//! for logged-in bidders, and an Atom feed.

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiError, ApiForm, ApiQuery, AppState, Ctx};
use crate::tender::model::{QuestionInput, TenderDetail, TenderSummary};
use crate::tender::service::{self as tenders, Caller};
use crate::text::xml_safe;

const PAGE_SIZE: u32 = 20;

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage<'a> {
    base: Base,
    q: &'a str,
    list_html: &'a str,
    /// The latest kept checkpoint's size and the witnesses that cosigned it.
    log: Option<(u64, Vec<String>)>,
}

#[derive(Template)]
#[template(path = "portal_list.html")]
struct PortalList<'a> {
    base: Base,
    q_enc: &'a str,
    total: u64,
    tenders: Vec<TenderSummary>,
    prev: Option<u32>,
    next: Option<u32>,
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: Option<u32>,
    #[serde(default)]
    #[allow(dead_code)]
    lang: Option<String>,
}

/// Queries and renders one page of the list (what the cache keeps).
async fn render_list(
    state: &AppState,
    ctx: &Ctx,
    q: &str,
    page: u32,
) -> Result<super::cache::ListPage, ApiError> {
    let search = Some(q).filter(|s| !s.is_empty());
    let total = tenders::count_public(&state.db, search).await?;
    let list = tenders::list_public(&state.db, search, PAGE_SIZE, (page - 1) * PAGE_SIZE).await?;
    let shown = u64::from(page) * u64::from(PAGE_SIZE);
    let q_enc = serde_urlencoded::to_string([("", q)]).unwrap_or_default();
    let fragment = PortalList {
        // The fragment is shared by every visitor: it must not carry a user or a token.
        base: Base {
            lang: ctx.lang,
            user: None,
            csrf: String::new(),
        },
        q_enc: q_enc.trim_start_matches('='),
        total,
        tenders: list,
        prev: (page > 1).then(|| page - 1),
        next: (shown < total).then_some(page + 1),
    };
    Ok(fragment
        .render()
        .map_err(|e| ApiError::internal(&e))?
        .into())
}

async fn portal(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> PageResult {
    let page = query.page.unwrap_or(1).clamp(1, 10_000);
    let q = query.q.trim().chars().take(100).collect::<String>();
    let list_html = match state.portal_cache.get(&q, page, ctx.lang) {
        Some(hit) => hit,
        None => {
            let fresh = render_list(&state, &ctx, &q, page).await.or_page(&ctx)?;
            state.portal_cache.put(&q, page, ctx.lang, fresh.clone());
            fresh
        }
    };
    let log = latest_checkpoint(&state).await.or_page(&ctx)?;
    Ok(render(&PortalPage {
        base: Base::new(&ctx),
        q: &q,
        list_html: &list_html,
        log,
    }))
}

/// The latest kept checkpoint of the audit log and who witnessed it, for the portal.
async fn latest_checkpoint(state: &AppState) -> Result<Option<(u64, Vec<String>)>, ApiError> {
    let mut tx = state.db.read().await?;
    let kept = crate::audit::kept::latest(&mut tx).await?;
    Ok(kept.map(|k| {
        (
            k.size,
            k.cosignatures.into_iter().map(|c| c.witness).collect(),
        )
    }))
}

#[derive(Template)]
#[template(path = "tender_public.html")]
struct TenderPage {
    base: Base,
    d: TenderDetail,
}

async fn tender_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let d = tenders::get_tender(&state.db, ctx.user.as_ref(), &code)
        .await
        .or_page(&ctx)?;
    Ok(render(&TenderPage {
        base: Base::new(&ctx),
        d,
    }))
}

async fn download(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, document_id)): Path<(String, String)>,
) -> PageResult {
    if ctx.user.is_none() {
        return Ok(Redirect::to("/login").into_response());
    }
    let caller = tenders::Caller::from_ctx(&ctx).or_page(&ctx)?;
    let (doc, bytes) = tenders::download_document(
        state.tender_documents(),
        state.clock.now(),
        &caller,
        &code,
        &document_id,
    )
    .await
    .or_page(&ctx)?;
    Ok(attachment(&doc.filename, &doc.content_type, bytes))
}

/// A download response with a filename safe for every browser (RFC 6266 `filename*`).
pub fn attachment(filename: &str, content_type: &str, bytes: bytes::Bytes) -> Response {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = serde_urlencoded::to_string([("", filename)]).unwrap_or_default();
    let disposition = format!(
        "attachment; filename=\"{ascii}\"; filename*=UTF-8''{}",
        encoded.trim_start_matches('=').replace('+', "%20")
    );
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}

#[derive(Deserialize)]
struct AskForm {
    #[allow(dead_code)]
    csrf: String,
    body: String,
}

async fn ask(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(f): ApiForm<AskForm>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    tenders::ask_question(
        &state.db,
        state.clock.now(),
        &caller,
        &code,
        &QuestionInput { body: f.body },
    )
    .await
    .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/tenders/{code}")).into_response())
}

#[derive(Template)]
#[template(path = "notices.html")]
struct NoticesPage {
    base: Base,
    notices: Vec<crate::tender::model::Notice>,
}

/// The logged-in user's notices, e.g. an amendment to documents they downloaded
/// (招标投标法 第23条: everyone who obtained the documents is told in writing).
async fn notices(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let user = ctx.user().or_page(&ctx)?;
    let notices = tenders::list_notices(&state.db, &user.user_id)
        .await
        .or_page(&ctx)?;
    Ok(render(&NoticesPage {
        base: Base::new(&ctx),
        notices,
    }))
}

struct FeedEntry {
    code: String,
    title: String,
    updated: String,
    summary: String,
}

#[derive(Template)]
#[template(path = "feed.xml")]
struct Feed {
    base_url: String,
    updated: String,
    entries: Vec<FeedEntry>,
}

async fn feed(State(state): State<AppState>) -> Result<Response, ApiError> {
    let list = tenders::list_public(&state.db, None, 50, 0).await?;
    let iso =
        |t: &chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let entries: Vec<FeedEntry> = list
        .iter()
        // Rows stored before the text rule (or written by other means) may hold characters
        // that XML 1.0 cannot carry even escaped; one of them would break the feed for every
        // subscriber, so they are replaced here whatever is stored.
        .map(|t| FeedEntry {
            code: xml_safe(&t.code).into_owned(),
            title: xml_safe(&t.title).into_owned(),
            updated: iso(&t.published_at.unwrap_or(t.bid_deadline_at)),
            summary: xml_safe(&format!(
                "{} · {} · 投标截止 {} (UTC+8)",
                t.tenderee_name,
                crate::http::page::yuan(t.estimated_price_fen),
                crate::http::page::cst(t.bid_deadline_at.timestamp_millis())
            ))
            .into_owned(),
        })
        .collect();
    let updated = entries
        .first()
        .map(|e| e.updated.clone())
        .unwrap_or_else(|| iso(&chrono::DateTime::UNIX_EPOCH));
    let body = Feed {
        base_url: state.config.public_url.trim_end_matches('/').to_string(),
        updated,
        entries,
    }
    .render()
    .map_err(|e| ApiError::internal(&e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/atom+xml; charset=utf-8")],
        body,
    )
        .into_response())
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(portal))
        .route("/tenders/{code}", get(tender_page))
        .route("/tenders/{code}/documents/{document_id}", get(download))
        .route("/tenders/{code}/questions", post(ask))
        .route("/feed.atom", get(feed))
        .route("/notices", get(notices))
}
