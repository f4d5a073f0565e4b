//! The clarification pages (澄清, 招标投标法 第39条, 实施条例 第52条): server-rendered forms over
//! [`super`] that post and come back (post/redirect/get), like the result page.
//!
//! - `/tenders/{code}/evaluation/clarifications`: every clarification of the tender as
//!   [`clarification::list_for_tender`] lets the viewer see it (members and regulators with who
//!   asked, the owning agent without, a bidder only its own), and for a committee member while
//!   the committee reviews or scores, the form to ask the bidder of one bid.
//! - `/clarifications`: a bidder's requests across tenders ([`clarification::list_mine`]),
//!   pending ones first, each with the form to answer it once before its deadline. The in-app
//!   notice of kind `evaluation_clarification` links here.
//!
//! The page decides nothing: the service refuses what is not allowed and its message is shown
//! as the error page.

use crate::evaluation::routes::env;
use crate::lifecycle::evaluation::EvaluationState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::{
    self as clarification, AnswerInput, AskInput, ClarificationError, ClarificationView,
    DEFAULT_WINDOW_MINUTES, MAX_ANSWER_CHARS, MAX_QUESTION_CHARS, MAX_WINDOW_MINUTES,
    MIN_WINDOW_MINUTES, Status,
};
use crate::evaluation::pages::{BidLabel, bid_labels, state_label};
use crate::evaluation::service::{self, EvaluationError};
use crate::http::i18n::Lang;
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{ApiError, ApiForm, AppState, Ctx};
use crate::identity::Role;
use crate::q_opt;
use crate::tender::service::Caller;

/// The answer window typed in the ask form: blank means the service's default; anything but
/// a whole number of minutes is refused here with the service's own message (the range
/// itself is checked by [`clarification::ask`]).
pub fn parse_window(raw: &str) -> Result<Option<u32>, ClarificationError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<u32>().map(Some).map_err(|_| {
        ClarificationError::Evaluation(EvaluationError::Invalid(
            "CLARIFICATION_BAD_WINDOW",
            format!(
                "the answer window must be a whole number of minutes, {MIN_WINDOW_MINUTES} to {MAX_WINDOW_MINUTES} (got {:?}) / 答复期限须为{MIN_WINDOW_MINUTES}至{MAX_WINDOW_MINUTES}分钟的整数",
                raw.chars().take(20).collect::<String>()
            ),
        ))
    })
}

/// Pending requests first (they need an answer), then the rest; otherwise the service's order.
pub fn pending_first(mut items: Vec<ClarificationView>) -> Vec<ClarificationView> {
    items.sort_by_key(|c| c.status != Status::Pending);
    items
}

/// One clarification as a page row.
struct Row {
    c: ClarificationView,
    /// `pending`, `answered` or `expired` (CSS class and test hook).
    status: &'static str,
    status_label: &'static str,
    /// The bidder of the bid, as the opening record names it (tender page only).
    bidder: String,
    /// Who asked, by display name (only when the service showed who asked).
    asked_by: Option<String>,
}

fn status_of(lang: Lang, s: Status) -> (&'static str, &'static str) {
    match s {
        Status::Pending => ("pending", lang.t("clarify.status.pending")),
        Status::Answered => ("answered", lang.t("clarify.status.answered")),
        Status::Expired => ("expired", lang.t("clarify.status.expired")),
    }
}

#[derive(Template)]
#[template(path = "clarifications_tender.html")]
struct TenderPage {
    base: Base,
    code: String,
    /// The evaluation's state label.
    evaluation_state: &'static str,
    /// The viewer is a committee member and the committee reviews or scores.
    can_ask: bool,
    /// The opened bids (the ask form's choices).
    bids: Vec<BidLabel>,
    rows: Vec<Row>,
    bidder: bool,
    default_window: u32,
    min_window: u32,
    max_window: u32,
    max_question: usize,
}

#[derive(Template)]
#[template(path = "clarifications_mine.html")]
struct MinePage {
    base: Base,
    rows: Vec<Row>,
    max_answer: usize,
}

struct TenderFacts {
    evaluation_state: String,
    can_ask: bool,
    bids: Vec<BidLabel>,
    /// (user id, display name) of the members who asked.
    names: Vec<(String, String)>,
}

/// What the tender page needs beside the list: the evaluation's state, the ask form for a
/// committee member while the committee reviews or scores, the bidders' names and who asked.
async fn tender_facts(
    state: &AppState,
    caller: &Caller,
    code: &str,
    items: &[ClarificationView],
) -> Result<TenderFacts, ApiError> {
    let mut tx = state.db.read().await?;
    let ev = service::load(&mut tx, code).await?;
    let bids = bid_labels(&mut tx, &ev.tender.tender_id).await?;
    let can_ask = ev.member(&caller.user.user_id).is_some()
        && matches!(ev.state, EvaluationState::Review | EvaluationState::Scoring);
    let mut names = Vec::new();
    for id in items.iter().filter_map(|c| c.asked_by.as_ref()) {
        if names.iter().any(|(i, _)| i == id) {
            continue;
        }
        let name: Option<(String,)> = q_opt!(
            tx,
            (String,),
            "select display_name from app_user where user_id = $1",
            id.clone()
        )
        .map_err(|e| ApiError::from(EvaluationError::from(e)))?;
        names.push((id.clone(), name.map(|n| n.0).unwrap_or_else(|| id.clone())));
    }
    Ok(TenderFacts {
        evaluation_state: ev.row.state.clone(),
        can_ask,
        bids,
        names,
    })
}

async fn tender_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let items = clarification::list_for_tender(env(&state), &caller, &code)
        .await
        .or_page(&ctx)?;
    let f = tender_facts(&state, &caller, &code, &items)
        .await
        .or_page(&ctx)?;
    let rows = items
        .into_iter()
        .map(|c| {
            let (status, status_label) = status_of(ctx.lang, c.status);
            let bidder = f
                .bids
                .iter()
                .find(|b| b.bid_id == c.bid_id)
                .map(|b| b.bidder.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| c.bid_id.clone());
            let asked_by = c.asked_by.as_ref().map(|id| {
                f.names
                    .iter()
                    .find(|(i, _)| i == id)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_else(|| id.clone())
            });
            Row {
                c,
                status,
                status_label,
                bidder,
                asked_by,
            }
        })
        .collect();
    Ok(render(&TenderPage {
        base: Base::new(&ctx),
        evaluation_state: state_label(ctx.lang, &f.evaluation_state),
        code,
        can_ask: f.can_ask,
        bids: f.bids,
        rows,
        bidder: caller.user.role == Role::Bidder,
        default_window: DEFAULT_WINDOW_MINUTES,
        min_window: MIN_WINDOW_MINUTES,
        max_window: MAX_WINDOW_MINUTES,
        max_question: MAX_QUESTION_CHARS,
    }))
}

async fn mine_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let items = clarification::list_mine(env(&state), &caller)
        .await
        .or_page(&ctx)?;
    let rows = pending_first(items)
        .into_iter()
        .map(|c| {
            let (status, status_label) = status_of(ctx.lang, c.status);
            Row {
                c,
                status,
                status_label,
                bidder: String::new(),
                asked_by: None,
            }
        })
        .collect();
    Ok(render(&MinePage {
        base: Base::new(&ctx),
        rows,
        max_answer: MAX_ANSWER_CHARS,
    }))
}

/// The ask form. Fields default to empty so a missing one gets the service's message rather
/// than the form parser's.
#[derive(Deserialize)]
struct AskFields {
    #[serde(default)]
    bid_id: String,
    #[serde(default)]
    question: String,
    #[serde(default)]
    window_minutes: String,
}

async fn ask(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiForm(form): ApiForm<AskFields>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let input = AskInput {
        window_minutes: parse_window(&form.window_minutes).or_page(&ctx)?,
        bid_id: form.bid_id,
        question: form.question,
    };
    clarification::ask(env(&state), &caller, &code, &input)
        .await
        .or_page(&ctx)?;
    Ok(redirect(&format!(
        "/tenders/{code}/evaluation/clarifications"
    )))
}

#[derive(Deserialize)]
struct AnswerForm {
    #[serde(default)]
    answer: String,
}

async fn answer(
    State(state): State<AppState>,
    ctx: Ctx,
    Path((code, id)): Path<(String, String)>,
    ApiForm(form): ApiForm<AnswerForm>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    let input = AnswerInput {
        answer: form.answer,
    };
    clarification::answer(env(&state), &caller, &code, &id, &input)
        .await
        .or_page(&ctx)?;
    Ok(redirect("/clarifications"))
}

fn redirect(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// The clarification pages and their forms.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/tenders/{code}/evaluation/clarifications",
            get(tender_page).post(ask),
        )
        .route(
            "/tenders/{code}/evaluation/clarifications/{id}/answer",
            post(answer),
        )
        .route("/clarifications", get(mine_page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn window_blank_is_the_default_and_garbage_is_refused() {
        assert_eq!(parse_window("").ok(), Some(None));
        assert_eq!(parse_window("  ").ok(), Some(None));
        assert_eq!(parse_window(" 30 ").ok(), Some(Some(30)));
        // The range is the service's to judge; only the number is read here.
        assert_eq!(parse_window("5").ok(), Some(Some(5)));
        for bad in ["abc", "-1", "1.5", "99999999999", "三十"] {
            let e = ApiError::from(parse_window(bad).expect_err(bad));
            assert_eq!(e.status.as_u16(), 422, "{bad}");
            assert_eq!(e.code, "CLARIFICATION_BAD_WINDOW");
            assert!(e.message.contains("分钟") && e.message.contains("minutes"));
        }
    }

    fn item(id: &str, status: Status) -> ClarificationView {
        ClarificationView {
            clarification_id: id.into(),
            tender_code: "T".into(),
            bid_id: "b".into(),
            question: "q".into(),
            question_sha256: String::new(),
            asked_at: Utc::now(),
            answer_by: Utc::now(),
            status,
            answer: None,
            answer_sha256: None,
            answered_at: None,
            asked_by: None,
            answered_by: None,
        }
    }

    #[test]
    fn pending_requests_come_first_in_their_order() {
        let got = pending_first(vec![
            item("a", Status::Answered),
            item("b", Status::Pending),
            item("c", Status::Expired),
            item("d", Status::Pending),
        ]);
        let ids: Vec<&str> = got.iter().map(|c| c.clarification_id.as_str()).collect();
        assert_eq!(ids, ["b", "d", "a", "c"]);
    }

    #[test]
    fn status_labels_exist_in_both_languages() {
        for lang in [Lang::Zh, Lang::En] {
            for s in [Status::Pending, Status::Answered, Status::Expired] {
                assert!(!status_of(lang, s).1.starts_with("clarify."));
            }
        }
    }
}
