//! The result page (`/tenders/{code}/result`): the candidate publicity, objections, the award
//! and the contract for everyone, with the owning agent's forms (deliver the report, publish,
//! answer, award, record the contract) and a bidder's objection form. Server-rendered forms
//! that post to the handlers below and come back here (post/redirect/get); the rules are in
//! [`super::service`].

use crate::evaluation::routes::env;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;

use super::service::{self, AwardInput, ContractInput, PublicityInput, ResultError, TextInput};
use super::view::{self, ResultView};
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiError, ApiForm, AppState, Ctx};
use crate::identity::Role;
use crate::tender::pages::{china_local_to_utc, parse_yuan};
use crate::tender::service::Caller;

#[derive(Template)]
#[template(path = "result_page.html")]
struct ResultPage {
    base: Base,
    r: ResultView,
    /// The viewer is an agent of the owning organisation.
    owner: bool,
    /// The viewer is a bidder (the server checks that it bid on this tender).
    bidder: bool,
    /// Suggested publicity end (CST, `datetime-local` format).
    suggested_end: String,
    /// Now in CST, `datetime-local` format (the contract's default signing time).
    now_local: String,
}

/// `datetime-local` value of an instant in China Standard Time.
fn local(t: DateTime<Utc>) -> String {
    (t + Duration::hours(8))
        .format("%Y-%m-%dT%H:%M")
        .to_string()
}

fn parse_time(field: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    let rfc = china_local_to_utc(field, raw)?;
    DateTime::parse_from_rfc3339(&rfc)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| ApiError::unprocessable("INVALID_TIME", format!("{field}: invalid time")))
}

async fn page(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    let caller = Caller::from_ctx(&ctx).ok();
    let r = view::view(env(&state), caller.as_ref(), &code)
        .await
        .or_page(&ctx)?;
    let owner = caller.as_ref().is_some_and(|c| {
        c.user.role == Role::Agent && r.agent_org_id.is_some() && c.user.org_id == r.agent_org_id
    });
    let bidder = caller.as_ref().is_some_and(|c| c.user.role == Role::Bidder);
    // Half an hour of margin, so the suggestion still passes after the agent has read the
    // page for a while (the publicity starts when the form is sent, not when it was shown).
    let suggested_end = r
        .publicity_earliest_end
        .map(|t| local(t + Duration::minutes(30)))
        .unwrap_or_default();
    Ok(render(&ResultPage {
        base: Base::new(&ctx),
        r,
        owner,
        bidder,
        suggested_end,
        now_local: local(state.clock.now()),
    }))
}

fn back(code: &str) -> axum::response::Response {
    Redirect::to(&format!("/tenders/{code}/result")).into_response()
}

fn caller(ctx: &Ctx) -> PageResult<Caller> {
    Caller::from_ctx(ctx)
        .map_err(|_| ResultError::forbidden("log in first / 请先登录"))
        .or_page(ctx)
}

async fn deliver(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    service::deliver_report(env(&state), &caller(&ctx)?, &code)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

#[derive(Deserialize)]
struct PublicityForm {
    ends_at: String,
}

async fn publish(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<PublicityForm>,
) -> PageResult {
    let ends_at = parse_time("ends_at", &form.ends_at).or_page(&ctx)?;
    let input = PublicityInput { ends_at };
    service::publish(env(&state), &caller(&ctx)?, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

#[derive(Deserialize)]
struct TextForm {
    text: String,
}

async fn object(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<TextForm>,
) -> PageResult {
    let input = TextInput { text: form.text };
    service::raise_objection(env(&state), &caller(&ctx)?, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
    ApiForm(form): ApiForm<TextForm>,
) -> PageResult {
    let input = TextInput { text: form.text };
    service::answer_objection(env(&state), &caller(&ctx)?, &code, &id, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

#[derive(Deserialize)]
struct AwardForm {
    #[serde(default)]
    bid_id: String,
    #[serde(default)]
    reason: String,
}

async fn award(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<AwardForm>,
) -> PageResult {
    let nonblank = |s: String| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    let input = AwardInput {
        bid_id: nonblank(form.bid_id),
        reason: nonblank(form.reason),
    };
    service::award(env(&state), &caller(&ctx)?, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

#[derive(Deserialize)]
struct ContractForm {
    signed_at: String,
    amount_yuan: String,
    #[serde(default)]
    document_sha256: String,
}

async fn contract(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<ContractForm>,
) -> PageResult {
    let signed_at = parse_time("signed_at", &form.signed_at).or_page(&ctx)?;
    let amount_fen = parse_yuan("amount_yuan", &form.amount_yuan).or_page(&ctx)?;
    let digest = form.document_sha256.trim();
    let input = ContractInput {
        signed_at,
        amount_fen,
        document_sha256: (!digest.is_empty()).then(|| digest.to_string()),
    };
    service::record_contract(env(&state), &caller(&ctx)?, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

/// The result page and its forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenders/{code}/result", get(page))
        .route("/tenders/{code}/result/deliver", post(deliver))
        .route("/tenders/{code}/result/publicity", post(publish))
        .route("/tenders/{code}/result/objections", post(object))
        .route(
            "/tenders/{code}/result/objections/{id}/answer",
            post(answer),
        )
        .route("/tenders/{code}/result/award", post(award))
        .route("/tenders/{code}/result/contract", post(contract))
}
