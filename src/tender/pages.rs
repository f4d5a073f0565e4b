//! The agent workspace: list own tenders, draft one, upload documents, publish (showing
//! each broken rule with its article), amend, answer questions, cancel.

use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{Multipart, Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use chrono::{Duration, NaiveDateTime};
use serde::Deserialize;
use serde_json::Value;

use super::model::{
    AmendmentInput, AnswerInput, CancelInput, Criterion, EvaluationMethod, ExpertQuota,
    QuestionView, TenderDetail, TenderInput, TenderSummary,
};
use super::service::{self, Caller, NewDocument};
use crate::http::page::{Base, OrPage, PageError, PageResult, render, require_page};
use crate::http::{ApiError, ApiForm, AppState, Ctx};
use crate::identity::Role;
use crate::identity::model::{OrgView, UserView};

/// Parses a yuan amount typed by a person ("1,234,567.89") into fen, exactly (no floats).
pub fn parse_yuan(field: &str, raw: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::unprocessable(
            "INVALID_MONEY",
            format!(
                "{field}: enter an amount in yuan such as 1234567.89 / 请输入以元为单位的金额，如 1234567.89"
            ),
        )
    };
    let s: String = raw
        .trim()
        .chars()
        .filter(|c| *c != ',' && *c != '，')
        .collect();
    let (whole, frac) = s.split_once('.').unwrap_or((&s, ""));
    if whole.is_empty()
        || whole.len() > 13
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)
}

/// Turns a `datetime-local` value typed in China time into RFC 3339 UTC.
pub fn china_local_to_utc(field: &str, raw: &str) -> Result<String, ApiError> {
    let naive = NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M").map_err(|_| {
        ApiError::unprocessable(
            "INVALID_TIME",
            format!("{field}: enter a date and time / 请输入日期和时间"),
        )
    })?;
    // China Standard Time is UTC+8 all year (no daylight saving).
    let utc = (naive - Duration::hours(8)).and_utc();
    Ok(utc.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Parses "name:number" lines (criteria weights, expert quotas).
fn parse_pairs(field: &str, raw: &str) -> Result<Vec<(String, u32)>, ApiError> {
    raw.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (name, n) = line.rsplit_once([':', '：']).ok_or_else(|| {
                ApiError::unprocessable(
                    "INVALID_LINE",
                    format!("{field}: each line is name:number / 每行格式为 名称:数字 — “{line}”"),
                )
            })?;
            let n = n.trim().parse::<u32>().map_err(|_| {
                ApiError::unprocessable(
                    "INVALID_LINE",
                    format!("{field}: “{line}” does not end in a whole number / 须以整数结尾"),
                )
            })?;
            Ok((name.trim().to_string(), n))
        })
        .collect()
}

#[derive(Template)]
#[template(path = "agent_list.html")]
struct AgentList {
    base: Base,
    tenders: Vec<TenderSummary>,
}

async fn workspace(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let user = require_page(&ctx, &[Role::Agent])?;
    let tenders = service::list_mine(&state.db, user).await.or_page(&ctx)?;
    Ok(render(&AgentList {
        base: Base::new(&ctx),
        tenders,
    }))
}

#[derive(Template)]
#[template(path = "agent_new.html")]
struct NewTenderPage {
    base: Base,
    error: Option<String>,
    tenderees: Vec<OrgView>,
    custodians: Vec<UserView>,
}

async fn choices(state: &AppState, ctx: &Ctx) -> PageResult<(Vec<OrgView>, Vec<UserView>)> {
    let orgs = crate::identity::service::list_orgs(&state.db)
        .await
        .or_page(ctx)?;
    let users = crate::identity::service::list_users(&state.db)
        .await
        .or_page(ctx)?;
    Ok((
        orgs.into_iter()
            .filter(|o| o.kind == "tenderee" && o.status == "active")
            .collect(),
        users
            .into_iter()
            .filter(|u| u.role == "custodian" && u.status == "active")
            .collect(),
    ))
}

async fn new_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    let (tenderees, custodians) = choices(&state, &ctx).await?;
    Ok(render(&NewTenderPage {
        base: Base::new(&ctx),
        error: None,
        tenderees,
        custodians,
    }))
}

/// The new-tender form; repeated `custodian` fields arrive as a list.
#[derive(Deserialize)]
struct NewTenderForm {
    code: String,
    title: String,
    description: String,
    category: String,
    procedure: String,
    tenderee_org_id: String,
    estimated_yuan: String,
    #[serde(default)]
    ceiling_yuan: String,
    bid_security_yuan: String,
    documents_available_at: String,
    clarification_cutoff_at: String,
    bid_deadline_at: String,
    opening_place: String,
    evaluation_method: EvaluationMethod,
    criteria: String,
    expert_quotas: String,
    #[serde(default)]
    custodian: Vec<String>,
}

fn form_to_input(f: NewTenderForm) -> Result<TenderInput, ApiError> {
    Ok(TenderInput {
        code: f.code.trim().to_string(),
        title: f.title,
        description: f.description,
        category: f.category,
        procedure: f.procedure,
        tenderee_org_id: f.tenderee_org_id,
        estimated_price_fen: parse_yuan("estimated price / 估算价", &f.estimated_yuan)?,
        ceiling_price_fen: match f.ceiling_yuan.trim() {
            "" => None,
            s => Some(parse_yuan("ceiling price / 最高投标限价", s)?),
        },
        bid_security_fen: parse_yuan("bid security / 投标保证金", &f.bid_security_yuan)?,
        documents_available_at: china_local_to_utc(
            "documents available / 文件获取时间",
            &f.documents_available_at,
        )?,
        documents_available_until: None,
        clarification_cutoff_at: china_local_to_utc(
            "clarification cut-off / 澄清截止",
            &f.clarification_cutoff_at,
        )?,
        bid_deadline_at: china_local_to_utc("bid deadline / 投标截止", &f.bid_deadline_at)?,
        opening_place: f.opening_place,
        evaluation_method: f.evaluation_method,
        criteria: parse_pairs("criteria / 评分因素", &f.criteria)?
            .into_iter()
            .map(|(name, weight)| Criterion { name, weight })
            .collect(),
        expert_quotas: parse_pairs("expert quotas / 专家专业", &f.expert_quotas)?
            .into_iter()
            .map(|(specialty, count)| ExpertQuota { specialty, count })
            .collect(),
        custodians: f.custodian,
    })
}

async fn create(State(state): State<AppState>, ctx: Ctx, body: axum::body::Bytes) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    // serde_html_form semantics: repeated keys become a Vec, so parse pairs by hand.
    let result = parse_new_form(&body).and_then(form_to_input);
    let created = match result {
        Ok(input) => {
            let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
            service::create_draft(
                &state.db,
                &state.rulebooks,
                state.clock.now(),
                &caller,
                &input,
            )
            .await
            .map_err(ApiError::from)
        }
        Err(e) => Err(e),
    };
    match created {
        Ok(t) => Ok(Redirect::to(&format!("/agent/tenders/{}", t.code)).into_response()),
        Err(e) => {
            let (tenderees, custodians) = choices(&state, &ctx).await?;
            let mut resp = render(&NewTenderPage {
                base: Base::new(&ctx),
                error: Some(e.message),
                tenderees,
                custodians,
            });
            *resp.status_mut() = e.status;
            Ok(resp)
        }
    }
}

fn parse_new_form(body: &[u8]) -> Result<NewTenderForm, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::unprocessable("INVALID_FORM", format!("the form is invalid: {e}"))
    })?;
    let mut map = serde_json::Map::new();
    let mut custodians = Vec::new();
    for (k, v) in pairs {
        match k.as_str() {
            "custodian" => custodians.push(Value::String(v)),
            "csrf" => {}
            _ => {
                map.insert(k, Value::String(v));
            }
        }
    }
    map.insert("custodian".into(), Value::Array(custodians));
    serde_json::from_value(Value::Object(map)).map_err(|e| {
        ApiError::unprocessable(
            "INVALID_FORM",
            format!("the form is incomplete: {e} / 表单不完整"),
        )
    })
}

#[derive(Template)]
#[template(path = "agent_tender.html")]
struct ManagePage {
    base: Base,
    d: TenderDetail,
    questions: Vec<QuestionView>,
    error: Option<String>,
    violations: Vec<String>,
    max_mib: u64,
    /// Invited tendering: the active bidder companies and whether each is invited.
    invitees: Vec<(OrgView, bool)>,
}

async fn manage_page(state: &AppState, ctx: &Ctx, code: &str, err: Option<ApiError>) -> PageResult {
    let user = require_page(ctx, &[Role::Agent])?;
    let d = service::get_tender(&state.db, Some(user), code)
        .await
        .or_page(ctx)?;
    if !crate::lifecycle::tender::user_is_owner(user, d.tender.agent_org_id.as_deref()) {
        return Err(PageError::new(
            ctx,
            ApiError::forbidden("only the owning agent / 仅该项目的代理可操作"),
        ));
    }
    let questions = service::list_questions(&state.db, Some(user), code)
        .await
        .or_page(ctx)?;
    let status = err.as_ref().map(|e| e.status);
    let violations = err
        .as_ref()
        .and_then(|e| e.details.as_ref())
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .map(|x| {
                    let key = if ctx.lang.is_en() {
                        "message_en"
                    } else {
                        "message_zh"
                    };
                    x.get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default();
    let invitees = if d.tender.procedure == "invited" {
        let caller = Caller::from_ctx(ctx).or_page(ctx)?;
        let invited =
            service::invitations::get_invitations(&state.db, &state.rulebooks, &caller, code)
                .await
                .or_page(ctx)?;
        crate::identity::service::list_orgs(&state.db)
            .await
            .or_page(ctx)?
            .into_iter()
            .filter(|o| o.kind == "bidder" && o.status == "active")
            .map(|o| {
                let on = invited.invitees.iter().any(|i| i.org_id == o.org_id);
                (o, on)
            })
            .collect()
    } else {
        Vec::new()
    };
    let page = ManagePage {
        base: Base::new(ctx),
        d,
        questions,
        error: err.map(|e| e.message),
        violations,
        max_mib: state.config.max_document_bytes / (1024 * 1024),
        invitees,
    };
    let mut resp = render(&page);
    if let Some(s) = status {
        *resp.status_mut() = s;
    }
    Ok(resp)
}

async fn manage(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    manage_page(&state, &ctx, &code, None).await
}

/// After an action: back to the tender page, showing the error there if it failed.
async fn after<T>(
    state: &AppState,
    ctx: &Ctx,
    code: &str,
    result: Result<T, service::TenderError>,
) -> PageResult {
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/agent/tenders/{code}")).into_response()),
        Err(e) => manage_page(state, ctx, code, Some(e.into())).await,
    }
}

async fn upload(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    mut multipart: Multipart,
) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let mut doc = None;
    let mut amendment_id = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        PageError::new(
            &ctx,
            ApiError::bad_request(
                "BAD_UPLOAD",
                format!("the upload was cut off or too large: {e}"),
            ),
        )
    })? {
        match field.name() {
            Some("file") => {
                let filename = field.file_name().unwrap_or("document").to_string();
                let content_type = field.content_type().map(str::to_string);
                let bytes = field.bytes().await.map_err(|e| {
                    PageError::new(
                        &ctx,
                        ApiError::new(
                            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
                            "DOCUMENT_TOO_LARGE",
                            format!("the document is larger than the limit: {e}"),
                        ),
                    )
                })?;
                doc = Some((filename, content_type, bytes));
            }
            Some("amendment_id") => {
                let v = field.text().await.unwrap_or_default();
                amendment_id = Some(v).filter(|s| !s.is_empty());
            }
            _ => {}
        }
    }
    let Some((filename, content_type, bytes)) = doc else {
        return manage_page(
            &state,
            &ctx,
            &code,
            Some(ApiError::unprocessable(
                "NO_FILE",
                "choose a file first / 请先选择文件",
            )),
        )
        .await;
    };
    let r = service::upload_document(
        state.tender_documents(),
        state.clock.now(),
        &caller,
        &code,
        NewDocument {
            filename,
            content_type,
            amendment_id,
            bytes,
        },
    )
    .await;
    after(&state, &ctx, &code, r).await
}

async fn publish(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let r = service::publish(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
    )
    .await;
    after(&state, &ctx, &code, r).await
}

#[derive(Deserialize)]
struct AmendForm {
    #[allow(dead_code)]
    csrf: String,
    summary: String,
    body: String,
}

async fn amend(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(f): ApiForm<AmendForm>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let r = service::amend(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &AmendmentInput {
            summary: f.summary,
            body: f.body,
        },
    )
    .await;
    after(&state, &ctx, &code, r).await
}

/// Invited tendering: the agent ticks the companies invited (repeated `org_ids` fields).
async fn invite(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: axum::body::Bytes,
) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| {
        PageError::new(
            &ctx,
            ApiError::bad_request(
                "MALFORMED_FORM",
                "the form could not be read / 表单无法解析",
            ),
        )
    })?;
    let org_ids = pairs
        .into_iter()
        .filter(|(k, _)| k == "org_ids")
        .map(|(_, v)| v)
        .collect();
    let r = service::invitations::set_invitations(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &service::invitations::InvitationInput { org_ids },
    )
    .await;
    after(&state, &ctx, &code, r).await
}

#[derive(Deserialize)]
struct RetenderForm {
    #[allow(dead_code)]
    csrf: String,
    code: String,
    documents_available_at: String,
    clarification_cutoff_at: String,
    bid_deadline_at: String,
}

/// Re-tenders a failed tender (重新招标) with its terms and new dates; the new draft opens.
async fn retender(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(f): ApiForm<RetenderForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Agent])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let dates = (|| {
        Ok::<_, ApiError>([
            china_local_to_utc("documents_available_at", &f.documents_available_at)?,
            china_local_to_utc("clarification_cutoff_at", &f.clarification_cutoff_at)?,
            china_local_to_utc("bid_deadline_at", &f.bid_deadline_at)?,
        ])
    })();
    let dates = match dates {
        Ok(d) => d,
        Err(e) => return manage_page(&state, &ctx, &code, Some(e)).await,
    };
    let input = service::retender::terms_for_retender(&state.db, &caller, &code, &f.code, dates)
        .await
        .or_page(&ctx)?;
    let r = service::retender::retender(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &code,
        &service::retender::RetenderInput {
            tender: input,
            approval_ref: None,
        },
    )
    .await;
    match r {
        Ok(out) => Ok(Redirect::to(&format!("/agent/tenders/{}", out.tender.code)).into_response()),
        Err(e) => manage_page(&state, &ctx, &code, Some(e.into())).await,
    }
}

#[derive(Deserialize)]
struct AnswerForm {
    #[allow(dead_code)]
    csrf: String,
    answer: String,
}

async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, qid)): Path<(String, String)>,
    ApiForm(f): ApiForm<AnswerForm>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let r = service::answer_question(
        &state.db,
        state.clock.now(),
        &caller,
        &code,
        &qid,
        &AnswerInput { answer: f.answer },
    )
    .await;
    after(&state, &ctx, &code, r).await
}

#[derive(Deserialize)]
struct CancelForm {
    #[allow(dead_code)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

async fn cancel(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(f): ApiForm<CancelForm>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let r = service::cancel(
        &state.db,
        state.clock.now(),
        &caller,
        &code,
        &CancelInput { reason: f.reason },
    )
    .await;
    after(&state, &ctx, &code, r).await
}

/// Routes of this module.
pub fn router(max_document_bytes: u64) -> Router<AppState> {
    let upload_limit = usize::try_from(max_document_bytes)
        .unwrap_or(usize::MAX)
        .saturating_add(64 * 1024);
    Router::new()
        .route("/agent", get(workspace))
        .route("/agent/tenders/new", get(new_page))
        .route("/agent/tenders", post(create))
        .route("/agent/tenders/{code}", get(manage))
        .route(
            "/agent/tenders/{code}/documents",
            post(upload).layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route("/agent/tenders/{code}/publish", post(publish))
        .route("/agent/tenders/{code}/amend", post(amend))
        .route(
            "/agent/tenders/{code}/questions/{question_id}/answer",
            post(answer),
        )
        .route("/agent/tenders/{code}/cancel", post(cancel))
        .route("/agent/tenders/{code}/retender", post(retender))
        .route("/agent/tenders/{code}/invitations", post(invite))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_parsed_exactly() {
        assert_eq!(parse_yuan("f", "1,234,567.89").unwrap(), 123_456_789);
        assert_eq!(parse_yuan("f", "12").unwrap(), 1200);
        assert_eq!(parse_yuan("f", "0.5").unwrap(), 50);
        for bad in ["", "-1", "1.234", "1e5", "abc", "99999999999999"] {
            assert!(parse_yuan("f", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn china_time_becomes_utc() {
        assert_eq!(
            china_local_to_utc("t", "2026-12-18T09:30").unwrap(),
            "2026-12-18T01:30:00Z"
        );
        assert!(china_local_to_utc("t", "18/12/2026").is_err());
    }

    #[test]
    fn pairs_need_a_number() {
        assert_eq!(
            parse_pairs("c", "报价:60\n技术：40\n").unwrap(),
            vec![("报价".into(), 60), ("技术".into(), 40)]
        );
        assert!(parse_pairs("c", "报价").is_err());
        assert!(parse_pairs("c", "报价:x").is_err());
    }
}
