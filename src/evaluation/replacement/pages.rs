//! The member replacement page (更换评标委员会成员, 实施条例 第48条) at
//! `/tenders/{code}/evaluation/replacements`: server-rendered forms over
//! [`super`] that post and come back (post/redirect/get), like the result page.
//!
//! Everyone [`replacement::list`] admits (the owning agent, the committee, regulators) sees the
//! replacements and their status. The owning agent also gets the form to start one (the
//! member's anonymous number from the draw, a written reason, and the explicit choice to void a
//! report someone already signed) and, once the replacement expert has confirmed and checked
//! in, the button to complete it. The replacement draw itself — the supervisor's random input,
//! the expert's confirmation, the check-in — happens on the expert module's draw page
//! (`/draws/{id}`), which this page links to.

use crate::evaluation::routes::env;
use crate::lifecycle::evaluation::EvaluationState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    self as replacement, MAX_REASON_CHARS, MIN_REASON_CHARS, ReplacementError, StartInput,
};
use crate::evaluation::pages::state_label;
use crate::evaluation::service::{self, EvaluationError};
use crate::expert::checkin;
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiError, ApiForm, AppState, Ctx};
use crate::q_one;
use crate::tender::service::Caller;

/// The member number typed in the start form: a positive whole number, else a 422 with the
/// code the service gives for a number no member has (whether a member has it is the
/// service's to judge).
pub fn parse_member_no(raw: &str) -> Result<i64, ReplacementError> {
    let raw = raw.trim();
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(EvaluationError::Invalid(
            "REPLACEMENT_NOT_A_MEMBER",
            format!(
                "the member number must be a positive whole number as the draw shows it (got {:?}) / 成员编号须为抽取结果中的正整数",
                raw.chars().take(20).collect::<String>()
            ),
        )
        .into()),
    }
}

/// A checkbox is sent only when ticked; any value means yes.
pub fn ticked(field: Option<&str>) -> bool {
    field.is_some_and(|v| !v.trim().is_empty())
}

struct Row {
    r: replacement::ReplacementView,
    from_label: &'static str,
    to_label: Option<&'static str>,
}

/// A member the agent may name: the draw's anonymous number and whether they checked in.
struct Seat {
    member_no: i64,
    checked_in: bool,
}

#[derive(Template)]
#[template(path = "replacements_page.html")]
struct ReplacementsPage {
    base: Base,
    code: String,
    owner: bool,
    evaluation_state: String,
    evaluation_state_label: &'static str,
    /// The owning agent may start a replacement now.
    can_start: bool,
    /// Members who signed or dissented from the report (a replacement voids it).
    acted: i64,
    seats: Vec<Seat>,
    rows: Vec<Row>,
    min_reason: usize,
    max_reason: usize,
}

struct Facts {
    owner: bool,
    evaluation_state: String,
    acted: i64,
}

async fn facts(state: &AppState, caller: &Caller, code: &str) -> Result<Facts, ApiError> {
    let mut tx = state.db.read().await?;
    let ev = service::load(&mut tx, code).await?;
    let (acted,): (i64,) = q_one!(
        tx,
        (i64,),
        "select count(*) from evaluation_signature where tender_id = $1",
        ev.tender.tender_id.clone()
    )
    .map_err(|e| ApiError::from(EvaluationError::from(e)))?;
    Ok(Facts {
        owner: service::owns(caller, &ev.tender),
        evaluation_state: ev.row.state.clone(),
        acted,
    })
}

async fn page(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let list = replacement::list(env(&state), &caller, &code)
        .await
        .or_page(&ctx)?;
    let f = facts(&state, &caller, &code).await.or_page(&ctx)?;
    let can_start = f.owner
        && EvaluationState::parse(&f.evaluation_state).is_some_and(EvaluationState::under_way);
    // The agent names a member by the draw's number; the committee view gives the numbers
    // (never names to an agent) and records the look in the audit trail.
    let seats = if can_start {
        checkin::committee(&state.db, state.clock.now(), &caller, &code)
            .await
            .or_page(&ctx)?
            .members
            .into_iter()
            .filter(|m| m.role == "member" && m.state == "confirmed")
            .map(|m| Seat {
                member_no: m.member_no,
                checked_in: m.checkin.is_some(),
            })
            .collect()
    } else {
        Vec::new()
    };
    let rows = list
        .into_iter()
        .map(|r| Row {
            from_label: state_label(ctx.lang, &r.from_state),
            to_label: r.to_state.as_deref().map(|s| state_label(ctx.lang, s)),
            r,
        })
        .collect();
    Ok(render(&ReplacementsPage {
        base: Base::new(&ctx),
        code,
        owner: f.owner,
        evaluation_state_label: state_label(ctx.lang, &f.evaluation_state),
        evaluation_state: f.evaluation_state,
        can_start,
        acted: f.acted,
        seats,
        rows,
        min_reason: MIN_REASON_CHARS,
        max_reason: MAX_REASON_CHARS,
    }))
}

/// The start form. Fields default to empty so a missing one gets the service's message rather
/// than the form parser's.
#[derive(Deserialize)]
struct StartFields {
    #[serde(default)]
    member_no: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    void_signed_report: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<StartFields>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let input = StartInput {
        member_no: parse_member_no(&form.member_no).or_page(&ctx)?,
        reason: form.reason,
        void_signed_report: ticked(form.void_signed_report.as_deref()),
    };
    replacement::start(env(&state), &caller, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

async fn complete(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    replacement::complete(env(&state), &caller, &code, &id)
        .await
        .or_page(&ctx)?;
    Ok(back(&code))
}

fn back(code: &str) -> Response {
    Redirect::to(&format!("/tenders/{code}/evaluation/replacements")).into_response()
}

/// The replacement page and its forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tenders/{code}/evaluation/replacements",
            get(page).post(start),
        )
        .route(
            "/tenders/{code}/evaluation/replacements/{id}/complete",
            post(complete),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_numbers_are_positive_whole_numbers() {
        assert_eq!(parse_member_no("3").ok(), Some(3));
        assert_eq!(parse_member_no(" 12 ").ok(), Some(12));
        for bad in ["", "abc", "0", "-2", "1.5", "99999999999999999999", "三"] {
            let e = ApiError::from(parse_member_no(bad).expect_err(bad));
            assert_eq!(e.status.as_u16(), 422, "{bad}");
            assert_eq!(e.code, "REPLACEMENT_NOT_A_MEMBER");
        }
    }

    #[test]
    fn a_checkbox_counts_only_when_sent() {
        assert!(!ticked(None));
        assert!(!ticked(Some("")));
        assert!(ticked(Some("on")));
        assert!(ticked(Some("1")));
    }
}
