//! The operator's rulebook pages: the rulebooks in force, one with its rules, articles,
//! TOML and versions, and the form that replaces it (refusals shown with file, key, reason).

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use serde::Deserialize;

use super::service::Caller;
use super::service::rulebooks::{self as service, RulebookDetail, RulebookSummary};
use crate::http::ApiPath as Path;
use crate::http::page::{Base, OrPage, PageResult, render, require_page};
use crate::http::{ApiForm, AppState, Ctx};
use crate::i18n::Lang;
use crate::identity::Role;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/operator/rulebooks", get(list_page))
        .route("/operator/rulebooks/{id}", get(rulebook_page).post(replace))
}

#[derive(Template)]
#[template(path = "rulebook_list.html")]
struct ListPage {
    base: Base,
    books: Vec<RulebookSummary>,
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let books = service::list_rulebooks(&state.db, &state.rulebooks)
        .await
        .or_page(&ctx)?;
    Ok(render(&ListPage {
        base: Base::new(&ctx),
        books,
    }))
}

/// One rule as the page lists it.
struct RuleLine {
    key: &'static str,
    value: String,
    article: String,
}

#[derive(Template)]
#[template(path = "rulebook_page.html")]
struct BookPage {
    base: Base,
    book: RulebookDetail,
    lines: Vec<RuleLine>,
    /// The refused upload's text, kept in the form so that it can be corrected.
    draft: String,
    /// Why the upload was refused.
    refusal: Option<Refusal>,
}

/// A refused upload, as the page shows it.
struct Refusal {
    code: &'static str,
    file: String,
    key: String,
    reason: String,
}

fn lines(book: &RulebookDetail, zh: bool) -> Vec<RuleLine> {
    let r = &book.rules;
    let mut out: Vec<RuleLine> = r
        .day_rules()
        .into_iter()
        .map(|(key, d)| RuleLine {
            key,
            value: if zh { d.describe_zh() } else { d.describe_en() },
            article: d.article.clone(),
        })
        .collect();
    for (key, value, article) in [
        (
            "min_valid_bids",
            r.min_valid_bids.value.to_string(),
            &r.min_valid_bids.article,
        ),
        (
            "committee_min_members",
            r.committee_min_members.value.to_string(),
            &r.committee_min_members.article,
        ),
        (
            "committee_odd",
            r.committee_odd.value.to_string(),
            &r.committee_odd.article,
        ),
        (
            "committee_experts_min_fraction",
            format!(
                "{}/{}",
                r.committee_experts_min_fraction.numerator,
                r.committee_experts_min_fraction.denominator
            ),
            &r.committee_experts_min_fraction.article,
        ),
        (
            "bid_security_max_bp",
            r.bid_security_max_bp.value.to_string(),
            &r.bid_security_max_bp.article,
        ),
        (
            "custodian_quorum",
            format!("{}/{}", r.custodian_quorum.k, r.custodian_quorum.n),
            &r.custodian_quorum.article,
        ),
    ] {
        out.push(RuleLine {
            key,
            value,
            article: article.clone(),
        });
    }
    if let Some(i) = &r.invitees_min {
        out.push(RuleLine {
            key: "invitees_min",
            value: i.value.to_string(),
            article: i.article.clone(),
        });
    }
    if let Some(f) = &r.second_failure {
        out.push(RuleLine {
            key: "second_failure",
            value: serde_json::to_value(f.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            article: f.article.clone(),
        });
    }
    out
}

async fn rulebook_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let book = service::get_rulebook(&state.db, &state.rulebooks, &id)
        .await
        .or_page(&ctx)?;
    let base = Base::new(&ctx);
    Ok(render(&BookPage {
        lines: lines(&book, base.lang == Lang::Zh),
        base,
        draft: book.toml.clone(),
        book,
        refusal: None,
    }))
}

#[derive(Deserialize)]
struct ReplaceForm {
    #[allow(dead_code)]
    csrf: String,
    toml: String,
}

async fn replace(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(id): Path<String>,
    ApiForm(f): ApiForm<ReplaceForm>,
) -> PageResult {
    require_page(&ctx, &[Role::Operator])?;
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let result = service::replace_rulebook(
        &state.db,
        &state.rulebooks,
        state.clock.now(),
        &caller,
        &id,
        &f.toml,
    )
    .await;
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/operator/rulebooks/{id}")).into_response()),
        Err(super::TenderError::RulebookFile(e)) => {
            // Shown beside the form with the text kept, so that the operator can fix it.
            let book = service::get_rulebook(&state.db, &state.rulebooks, &id)
                .await
                .or_page(&ctx)?;
            let refusal = Refusal {
                code: e.code(),
                file: e.file(),
                key: e.key().unwrap_or_default(),
                reason: e.reason(),
            };
            let base = Base::new(&ctx);
            let mut resp = render(&BookPage {
                lines: lines(&book, base.lang == Lang::Zh),
                base,
                book,
                draft: f.toml,
                refusal: Some(refusal),
            });
            *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
            Ok(resp)
        }
        Err(e) => Err(e).or_page(&ctx),
    }
}
