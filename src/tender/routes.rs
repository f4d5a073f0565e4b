//! Tender JSON API under `/api/v1` (issue 2, section 4 "Tenders"). Handlers only parse,
//! call the service (which checks rights, rules and state) and shape the answer.

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_LENGTH, CONTENT_TYPE, ETAG};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::model::{AmendmentInput, AnswerInput, CancelInput, QuestionInput, TenderInput};
use super::service::{self, Caller, NewDocument, TenderError};
use crate::http::{ApiError, ApiJson, ApiQuery, ApiResult, AppState, Ctx};

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenders", get(list_tenders).post(create_tender))
        .route("/api/v1/tenders/{code}", get(get_tender).put(update_tender))
        .route(
            "/api/v1/tenders/{code}/documents",
            // The body is read by hand against the configured limit (see `upload_document`),
            // so the default 2 MB extractor limit must not apply here.
            post(upload_document).layer(DefaultBodyLimit::disable()),
        )
        .route(
            "/api/v1/tenders/{code}/documents/{document_id}",
            get(download_document),
        )
        .route("/api/v1/tenders/{code}/publish", post(publish_tender))
        .route("/api/v1/tenders/{code}/retender", post(retender_tender))
        .route(
            "/api/v1/tenders/{code}/invitations",
            get(get_invitations).put(set_invitations),
        )
        .route("/api/v1/tenders/{code}/my-invitation", get(my_invitation))
        .route("/api/v1/tenders/{code}/amendments", post(amend_tender))
        .route(
            "/api/v1/tenders/{code}/questions",
            get(list_questions).post(ask_question),
        )
        .route(
            "/api/v1/tenders/{code}/questions/{question_id}/answer",
            post(answer_question),
        )
        .route("/api/v1/tenders/{code}/cancel", post(cancel_tender))
        .route("/api/v1/agent/tenders", get(my_tenders))
        .route("/api/v1/notices", get(my_notices))
        .route("/api/v1/notices/{notice_id}/read", post(read_notice))
}

/// `GET /api/v1/tenders` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Substring searched in titles and descriptions.
    #[serde(default)]
    q: Option<String>,
    /// Page size (20 when absent; at most the service's page).
    #[serde(default)]
    #[param(minimum = 0, maximum = 4294967295.0)]
    limit: Option<u32>,
    /// How many to skip.
    #[serde(default)]
    #[param(minimum = 0, maximum = 4294967295.0)]
    offset: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders",
    tag = "tenders",
    summary = "Public tenders, newest first, with Chinese substring search",
    params(ListQuery),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::TenderPage),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn list_tenders(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let limit = query.limit.unwrap_or(20).clamp(1, service::MAX_PAGE);
    let offset = query.offset.unwrap_or(0);
    let q = query.q.as_deref();
    let items = service::list_public(&state.db, q, limit, offset).await?;
    let total = service::count_public(&state.db, q).await?;
    Ok(Json(
        json!({"items": items, "total": total, "limit": limit, "offset": offset}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders",
    tag = "tenders",
    summary = "Draft a tender (agent)",
    request_body = TenderInput,
    responses(
        (status = 201, description = "Created", body = crate::tender::model::Tender),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn create_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<TenderInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let tender = service::create_draft(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(tender)))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}",
    tag = "tenders",
    summary = "One tender with documents, amendments and answered questions",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::tender::model::TenderDetail),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn get_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        service::get_tender(&state.db, ctx.user.as_ref(), &code).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/tenders/{code}",
    tag = "tenders",
    summary = "Replace a draft (owning agent)",
    params(("code" = String, Path, description = "Project code")),
    request_body = TenderInput,
    responses(
        (status = 200, description = "OK", body = crate::tender::model::Tender),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn update_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<TenderInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let tender = service::update_draft(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &input,
    )
    .await?;
    Ok(Json(tender))
}

/// `POST …/documents` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UploadQuery {
    /// The file's name as bidders will download it.
    filename: String,
    /// The amendment the document comes with.
    #[serde(default)]
    amendment_id: Option<String>,
    /// The CSRF token, accepted here by the CSRF guard for cookie sessions.
    #[serde(default)]
    #[allow(dead_code)]
    #[param(ignore)]
    csrf: Option<String>,
}

/// Raw-body upload: `Content-Type` is kept, `?filename=` names the file. The body is read
/// chunk by chunk and refused as soon as it passes the configured limit, so an oversized
/// upload never sits in memory.
#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/documents",
    tag = "tenders",
    summary = "Upload a tender document as the raw body (owning agent); ?filename= and optional ?amendment_id=",
    params(("code" = String, Path, description = "Project code"), UploadQuery),
    request_body(content = crate::http::openapi::Binary, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Created", body = crate::tender::model::TenderDocument),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn upload_document(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiQuery(query): ApiQuery<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let limit = state.config.max_document_bytes;
    let too_large = || ApiError::from(TenderError::DocumentTooLarge { limit });
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            ApiError::bad_request("BAD_BODY", format!("could not read the upload: {e}"))
        })?;
        if u64::try_from(buf.len() + chunk.len()).unwrap_or(u64::MAX) > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    let doc = NewDocument {
        filename: query.filename,
        content_type: headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        amendment_id: query.amendment_id,
        bytes: buf.freeze(),
    };
    let stored = service::upload_document(
        state.tender_documents(),
        state.clock.now(),
        &caller,
        &code,
        doc,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// `attachment; filename="ascii"; filename*=UTF-8''percent-encoded` (RFC 6266 / RFC 8187).
fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/documents/{document_id}",
    tag = "tenders",
    summary = "Download a document (bidders of approved companies; recorded with IP and user agent)",
    params(("code" = String, Path, description = "Project code"), ("document_id" = String, Path, description = "Document id")),
    responses(
        (status = 200, description = "The document's bytes with its content type", body = crate::http::openapi::Binary, content_type = "*/*"),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn download_document(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, document_id)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let (doc, bytes) = service::download_document(
        state.tender_documents(),
        state.clock.now(),
        &caller,
        &code,
        &document_id,
    )
    .await?;
    let mut headers = HeaderMap::new();
    let header = |s: &str| {
        HeaderValue::from_str(s)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
    };
    headers.insert(CONTENT_TYPE, header(&doc.content_type));
    headers.insert(
        CONTENT_DISPOSITION,
        header(&content_disposition(&doc.filename)),
    );
    headers.insert(ETAG, header(&format!("\"{}\"", doc.sha256)));
    // Uploaded content is never rendered as our origin's page: no sniffing, sandboxed.
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        "content-security-policy",
        HeaderValue::from_static("sandbox; default-src 'none'"),
    );
    headers.insert("x-content-sha256", header(&doc.sha256));
    Ok((headers, bytes))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/publish",
    tag = "tenders",
    summary = "Publish a draft; refused with every broken rule and its article (422)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::tender::model::Tender),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn publish_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let tender = service::publish(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
    )
    .await?;
    Ok(Json(tender))
}

#[utoipa::path(
    put,
    path = "/api/v1/tenders/{code}/invitations",
    tag = "tenders",
    summary = "Invited tendering (邀请招标): replace the companies invited (owning agent, draft only; at least the rulebook's minimum)",
    params(("code" = String, Path, description = "Project code")),
    request_body = super::service::invitations::InvitationInput,
    responses(
        (status = 200, description = "OK", body = super::service::invitations::Invitations),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn set_invitations(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<super::service::invitations::InvitationInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::invitations::set_invitations(
            &state.db,
            &state.rulebooks,
            state.clock.now(),
            &caller,
            &code,
            &input,
        )
        .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/invitations",
    tag = "tenders",
    summary = "The companies invited (owning agent, regulators, operator; confidential until the opening)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::service::invitations::Invitations),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn get_invitations(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::invitations::get_invitations(&state.db, &state.rulebooks, &caller, &code).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/my-invitation",
    tag = "tenders",
    summary = "Whether the bidder's own company may take part (invited, or an open tender)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = super::service::invitations::MyInvitation),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_invitation(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::invitations::my_invitation(&state.db, &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/retender",
    tag = "tenders",
    summary = "Re-tender a failed tender (重新招标) as a new draft linked to it; 409 unless it failed",
    params(("code" = String, Path, description = "Project code of the failed tender")),
    request_body = super::service::retender::RetenderInput,
    responses(
        (status = 201, description = "Created", body = super::service::retender::RetenderOutcome),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn retender_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<super::service::retender::RetenderInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let outcome = service::retender::retender(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/amendments",
    tag = "tenders",
    summary = "Publish an amendment; the deadline moves when fewer than 15 days remain (招标投标法 第23条)",
    params(("code" = String, Path, description = "Project code")),
    request_body = AmendmentInput,
    responses(
        (status = 201, description = "Created", body = crate::tender::model::Amendment),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn amend_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<AmendmentInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let amendment = service::amend(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &input,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(amendment)))
}

#[utoipa::path(
    get,
    path = "/api/v1/tenders/{code}/questions",
    tag = "tenders",
    summary = "Questions as the caller may see them (askers never shown to other bidders)",
    params(("code" = String, Path, description = "Project code")),
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Questions),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn list_questions(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let questions = service::list_questions(&state.db, ctx.user.as_ref(), &code).await?;
    Ok(Json(json!({"questions": questions})))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/questions",
    tag = "tenders",
    summary = "Ask a question (bidder, before the clarification cut-off)",
    params(("code" = String, Path, description = "Project code")),
    request_body = QuestionInput,
    responses(
        (status = 201, description = "Created", body = crate::tender::model::QuestionView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn ask_question(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<QuestionInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let q = service::ask_question(&state.db, state.clock.now(), &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(q)))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/questions/{question_id}/answer",
    tag = "tenders",
    summary = "Answer a question publicly (owning agent)",
    params(("code" = String, Path, description = "Project code"), ("question_id" = String, Path, description = "Question id")),
    request_body = AnswerInput,
    responses(
        (status = 200, description = "OK", body = crate::tender::model::QuestionView),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn answer_question(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, question_id)): Path<(String, String)>,
    ApiJson(input): ApiJson<AnswerInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let q = service::answer_question(
        &state.db,
        state.clock.now(),
        &caller,
        &code,
        &question_id,
        &input,
    )
    .await?;
    Ok(Json(q))
}

#[utoipa::path(
    post,
    path = "/api/v1/tenders/{code}/cancel",
    tag = "tenders",
    summary = "Cancel a tender with a reason (owning agent)",
    params(("code" = String, Path, description = "Project code")),
    request_body = CancelInput,
    responses(
        (status = 200, description = "OK", body = crate::tender::model::Tender),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn cancel_tender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<CancelInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let tender = service::cancel(&state.db, state.clock.now(), &caller, &code, &input).await?;
    Ok(Json(tender))
}

#[utoipa::path(
    get,
    path = "/api/v1/agent/tenders",
    tag = "tenders",
    summary = "The caller's agent organisation's tenders in any state",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::MyTenders),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_tenders(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    Ok(Json(
        json!({"items": service::list_mine(&state.db, user).await?}),
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/notices",
    tag = "tenders",
    summary = "The caller's notices (e.g. amendments to documents they downloaded)",
    responses(
        (status = 200, description = "OK", body = crate::http::openapi::answers::Notices),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn my_notices(State(state): State<AppState>, ctx: Ctx) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    Ok(Json(
        json!({"notices": service::list_notices(&state.db, &user.user_id).await?}),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/notices/{notice_id}/read",
    tag = "tenders",
    summary = "Mark a notice read",
    params(("notice_id" = String, Path, description = "Notice id")),
    responses(
        (status = 204, description = "Marked read"),
        crate::http::openapi::AuthRefusals,
    ),
)]
async fn read_notice(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(notice_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let user = ctx.user()?;
    service::mark_notice_read(&state.db, state.clock.now(), &user.user_id, &notice_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

impl AppState {
    /// What the tender document operations work with, from the shared state.
    pub fn tender_documents(&self) -> service::Documents<'_> {
        service::Documents {
            db: &self.db,
            blobs: &self.blobs,
            books: &self.rulebooks,
            max_bytes: self.config.max_document_bytes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tender::service::Caller;
    use crate::tender::testkit::Kit;
    use axum::http::{Method, Request};
    use tower::ServiceExt;

    async fn token(kit: &Kit, c: &Caller) -> String {
        let u = &c.user;
        crate::identity::session_store::open_for(
            &kit.state.db,
            &kit.state.sessions,
            // Issued at the test clock's current time, against which it is checked.
            kit.state.clock.now(),
            &u.user_id,
            u.role.as_str(),
            u.org_id.as_deref(),
            &u.name,
        )
        .await
        .expect("token")
    }

    async fn call(
        kit: &Kit,
        method: Method,
        uri: &str,
        who: Option<&Caller>,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, HeaderMap, Vec<u8>) {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(c) = who {
            req = req.header("authorization", format!("Bearer {}", token(kit, c).await));
        }
        let req = req
            .header(CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request");
        let resp = crate::server::router(kit.state.clone())
            .oneshot(req)
            .await
            .expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, headers, bytes.to_vec())
    }

    fn code_of(body: &[u8]) -> String {
        serde_json::from_slice::<serde_json::Value>(body).unwrap_or_default()["code"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    #[tokio::test]
    async fn http_draft_upload_publish_download() {
        let kit = Kit::sqlite().await;
        let code = kit.code("H");
        let mut input = serde_json::to_value(kit.input(&code, 20)).expect("json");
        let json = "application/json";
        // Not logged in, then an unknown field.
        let (s, _, _) = call(
            &kit,
            Method::POST,
            "/api/v1/tenders",
            None,
            json,
            input.to_string().into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        input["colour"] = "red".into();
        let (s, _, b) = call(
            &kit,
            Method::POST,
            "/api/v1/tenders",
            Some(&kit.agent),
            json,
            input.to_string().into_bytes(),
        )
        .await;
        assert_eq!(
            (s, code_of(&b).as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "INVALID_FIELDS")
        );
        if let Some(o) = input.as_object_mut() {
            o.remove("colour");
        }
        let (s, _, b) = call(
            &kit,
            Method::POST,
            "/api/v1/tenders",
            Some(&kit.agent),
            json,
            input.to_string().into_bytes(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
        // Upload: over the limit (1024 in the kit), then a good one with a Chinese name.
        let uri = format!("/api/v1/tenders/{code}/documents?filename=%E6%8B%9B%E6%A0%87.pdf");
        let (s, _, b) = call(
            &kit,
            Method::POST,
            &uri,
            Some(&kit.agent),
            "application/pdf",
            vec![b'a'; 4096],
        )
        .await;
        assert_eq!(
            (s, code_of(&b).as_str()),
            (StatusCode::PAYLOAD_TOO_LARGE, "DOCUMENT_TOO_LARGE")
        );
        let (s, _, b) = call(
            &kit,
            Method::POST,
            &uri,
            Some(&kit.agent),
            "application/pdf",
            b"%PDF".to_vec(),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{}", String::from_utf8_lossy(&b));
        let doc: serde_json::Value = serde_json::from_slice(&b).expect("doc");
        assert_eq!(doc["filename"], "招标.pdf");
        // A bidder cannot publish; the owner can.
        let publish = format!("/api/v1/tenders/{code}/publish");
        let (s, _, _) = call(
            &kit,
            Method::POST,
            &publish,
            Some(&kit.bidder),
            json,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _, b) = call(&kit, Method::POST, &publish, Some(&kit.agent), json, vec![]).await;
        assert_eq!(s, StatusCode::OK, "{}", String::from_utf8_lossy(&b));
        // Public list and detail.
        let (s, _, b) = call(
            &kit,
            Method::GET,
            "/api/v1/tenders?q=%E6%B1%A1%E6%B0%B4&limit=5",
            None,
            json,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
        let list: serde_json::Value = serde_json::from_slice(&b).expect("list");
        assert_eq!(list["total"], 1);
        // Download as a bidder once the documents are available.
        kit.clock.set(kit.t0 + chrono::TimeDelta::hours(2));
        let dl = format!(
            "/api/v1/tenders/{code}/documents/{}",
            doc["document_id"].as_str().unwrap_or_default()
        );
        let (s, _, _) = call(&kit, Method::GET, &dl, None, json, vec![]).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, h, b) = call(&kit, Method::GET, &dl, Some(&kit.bidder), json, vec![]).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(b, b"%PDF");
        assert_eq!(
            h.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
            Some("application/pdf")
        );
        assert!(h.get(CONTENT_DISPOSITION).is_some());
        // Cancel without a reason: 422; notices need a login.
        let (s, _, b) = call(
            &kit,
            Method::POST,
            &format!("/api/v1/tenders/{code}/cancel"),
            Some(&kit.agent),
            json,
            b"{}".to_vec(),
        )
        .await;
        assert_eq!(
            (s, code_of(&b).as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, "REASON_REQUIRED")
        );
        let (s, _, _) = call(
            &kit,
            Method::GET,
            "/api/v1/notices",
            Some(&kit.bidder),
            json,
            vec![],
        )
        .await;
        assert_eq!(s, StatusCode::OK);
    }

    #[test]
    fn content_disposition_encodes_chinese_and_quotes() {
        let cd = content_disposition("招标文件 \"v2\".pdf");
        assert!(cd.starts_with("attachment; filename=\""), "{cd}");
        assert!(cd.contains("filename*=UTF-8''%E6%8B%9B"), "{cd}");
        assert!(!cd.contains("\"v2\""), "{cd}");
        assert!(HeaderValue::from_str(&cd).is_ok());
    }
}
