//! Pages of sealed bidding (issue 3): the bidder's bid page, the custodian's key and unlock
//! pages, and the public opening page. They are server-rendered shells; `web/static/bid.js`
//! seals in the browser and talks to the JSON API of [`super::routes`] (the server never
//! sees a bid in clear before the opening, so sealing cannot happen here).
//!
//! These routes are merged next to the bid API, outside the global request time limit, like
//! the uploads the bid page starts.

use crate::error::Common;
use crate::lifecycle::tender::TenderState;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;

use super::BidError;
use super::service::{bidder_org, tender_ref};
use crate::clock::{from_millis, to_millis};
use crate::http::i18n::Lang;
use crate::http::page::{Base, OrPage, PageError, PageResult, render, require_page};
use crate::http::{AppState, Ctx};
use crate::identity::Role;
use crate::q_all;
use crate::q_opt;
use crate::tender::service::{self as tenders, Caller};

/// The strings `bid.js` shows, handed to it as JSON in the page (keys `bidjs.*`).
const JS_KEYS: &[&str] = &[
    "bidjs.sealing",
    "bidjs.uploading",
    "bidjs.uploaded",
    "bidjs.waiting",
    "bidjs.submitting",
    "bidjs.submitted",
    "bidjs.failed",
    "bidjs.bad_price",
    "bidjs.bad_duration",
    "bidjs.confirm_withdraw",
    "bidjs.withdrawn",
    "bidjs.no_bid",
    "bidjs.state.submitted",
    "bidjs.state.withdrawn",
    "bidjs.state.opened",
    "bidjs.state.revoked",
    "bidjs.state.replaced",
    "bidjs.passphrase_mismatch",
    "bidjs.passphrase_short",
    "bidjs.enrolled",
    "bidjs.unlocked",
    "bidjs.opening.not_started",
    "bidjs.opening.unlocking",
    "bidjs.opening.opened",
    "bidjs.opening.failed",
    "bidjs.opening.running",
    "bidjs.status.opened",
    "bidjs.status.revoked",
    "bidjs.status.withdrawn",
    "bidjs.fault.bidder",
    "bidjs.fault.platform",
    "bidjs.no_base_price",
    "bidjs.confirmed",
    "bidjs.answered",
    "bidjs.nobody_unlocked",
];

/// JSON of the `bid.js` strings in `lang`, safe inside `<script type="application/json">`.
fn js_strings(lang: Lang) -> String {
    let map: serde_json::Map<String, serde_json::Value> = JS_KEYS
        .iter()
        .map(|k| ((*k).to_string(), lang.t(k).into()))
        .collect();
    serde_json::Value::Object(map)
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

fn caller(ctx: &Ctx) -> PageResult<Caller> {
    Caller::from_ctx(ctx)
        .map_err(|_| Common::LoginRequired)
        .or_page(ctx)
}

// ---------------------------------------------------------------------------------------
// The bidder's page
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "bid_page.html")]
struct BidPage {
    base: Base,
    code: String,
    title: String,
    deadline: chrono::DateTime<chrono::Utc>,
    bidder_id: String,
    company: String,
    /// Why no bid can be submitted now (None: the form is open).
    closed_reason: Option<String>,
    strings: String,
}

async fn bid_page(State(state): State<AppState>, ctx: Ctx, Path(code): Path<String>) -> PageResult {
    let user = require_page(&ctx, &[Role::Bidder])?;
    let caller = caller(&ctx)?;
    let d = tenders::get_tender(&state.db, Some(user), &code)
        .await
        .or_page(&ctx)?;
    let (tender, org_id, company) = {
        let mut tx = state.db.read().await.or_page(&ctx)?;
        let tender = tender_ref(&mut tx, &code).await.or_page(&ctx)?;
        let org_id = bidder_org(&mut tx, &caller).await.or_page(&ctx)?;
        let company = q_opt!(
            tx,
            (String,),
            "select name from organisation where org_id = $1",
            org_id.clone()
        )
        .map_err(BidError::from)
        .or_page(&ctx)?
        .map(|r| r.0)
        .unwrap_or_default();
        (tender, org_id, company)
    };
    let now = to_millis(state.clock.now());
    let closed_reason = if tender.state != TenderState::Published {
        Some(format!(
            "{} ({})",
            ctx.lang.t("bid.closed_state"),
            Base::new(&ctx).state_label(tender.state.as_str())
        ))
    } else if tender.bid_deadline_at <= now {
        Some(ctx.lang.t("bid.closed_deadline").to_string())
    } else {
        None
    };
    Ok(render(&BidPage {
        base: Base::new(&ctx),
        code: tender.code,
        title: d.tender.title,
        deadline: from_millis(tender.bid_deadline_at),
        bidder_id: org_id,
        company,
        closed_reason,
        strings: js_strings(ctx.lang),
    }))
}

// ---------------------------------------------------------------------------------------
// Custodians
// ---------------------------------------------------------------------------------------

/// A tender the custodian holds a share of (or is appointed to, for drafts).
struct CustodianTender {
    code: String,
    title: String,
    state: String,
    deadline: chrono::DateTime<chrono::Utc>,
    /// The opening's state in the page language.
    opening_label: Option<String>,
    unlocked: bool,
}

/// The label of an opening state in `lang`.
fn opening_label(lang: Lang, state: &str) -> String {
    lang.t(match state {
        "unlocking" => "bidjs.opening.unlocking",
        "opened" => "bidjs.opening.opened",
        "failed" => "bidjs.opening.failed",
        _ => "bidjs.opening.not_started",
    })
    .to_string()
}

#[derive(Template)]
#[template(path = "custodian_list.html")]
struct CustodianList {
    base: Base,
    /// When the key was enrolled (None: not enrolled yet).
    enrolled_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The key is held by a passkey (else by a passphrase).
    passkey: bool,
    public_key: String,
    tenders: Vec<CustodianTender>,
    strings: String,
}

async fn custodian_list(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let user = require_page(&ctx, &[Role::Custodian])?;
    let mut tx = state.db.read().await.or_page(&ctx)?;
    let key = q_opt!(
        tx,
        (String, i64, String),
        "select public_key, created_at, locked_json from custodian_key where user_id = $1",
        user.user_id.clone()
    )
    .map_err(BidError::from)
    .or_page(&ctx)?;
    type Row = (String, String, String, i64, Option<String>, i64);
    let rows: Vec<Row> = q_all!(
        tx,
        Row,
        "select t.code, t.title, t.state, t.bid_deadline_at, o.state,
                (select count(*) from opening_unlock u where u.tender_id = t.tender_id and u.user_id = $1)
         from tender_custodian c
         join tender t on t.tender_id = c.tender_id
         left join opening o on o.tender_id = t.tender_id
         where c.user_id = $1
         order by t.bid_deadline_at, t.code",
        user.user_id.clone()
    )
    .map_err(BidError::from)
    .or_page(&ctx)?;
    let tenders = rows
        .into_iter()
        .map(
            |(code, title, state, deadline, opening_state, unlocked)| CustodianTender {
                code,
                title,
                state,
                deadline: from_millis(deadline),
                opening_label: opening_state.map(|o| opening_label(ctx.lang, &o)),
                unlocked: unlocked > 0,
            },
        )
        .collect();
    let (public_key, enrolled_at, passkey) = match key {
        Some((pk, at, locked)) => (pk, Some(from_millis(at)), held_by_passkey(&locked)),
        None => (String::new(), None, false),
    };
    Ok(render(&CustodianList {
        base: Base::new(&ctx),
        enrolled_at,
        passkey,
        public_key,
        tenders,
        strings: js_strings(ctx.lang),
    }))
}

#[derive(Template)]
#[template(path = "custodian_unlock.html")]
struct CustodianUnlock {
    base: Base,
    code: String,
    title: String,
    deadline: chrono::DateTime<chrono::Utc>,
    enrolled: bool,
    /// The key is held by a passkey (the page offers the passkey unlock).
    passkey: bool,
    strings: String,
}

/// Whether a stored key record (`custodian_key.locked_json`) is held by a passkey.
fn held_by_passkey(locked_json: &str) -> bool {
    serde_json::from_str::<crate::seal::LockedCustodianKey>(locked_json)
        .is_ok_and(|k| k.is_passkey())
}

async fn custodian_unlock(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let user = require_page(&ctx, &[Role::Custodian])?;
    let mut tx = state.db.read().await.or_page(&ctx)?;
    let tender = tender_ref(&mut tx, &code).await.or_page(&ctx)?;
    let row = q_opt!(
        tx,
        (String, Option<String>),
        "select t.title, (select k.locked_json from custodian_key k where k.user_id = c.user_id)
         from tender_custodian c join tender t on t.tender_id = c.tender_id
         where c.tender_id = $1 and c.user_id = $2",
        tender.tender_id.clone(),
        user.user_id.clone()
    )
    .map_err(BidError::from)
    .or_page(&ctx)?;
    let Some((title, enrolled)) = row else {
        return Err(PageError::new(&ctx, BidError::NotACustodian.into()));
    };
    Ok(render(&CustodianUnlock {
        base: Base::new(&ctx),
        code: tender.code,
        title,
        deadline: from_millis(tender.bid_deadline_at),
        enrolled: enrolled.is_some(),
        passkey: enrolled.as_deref().is_some_and(held_by_passkey),
        strings: js_strings(ctx.lang),
    }))
}

// ---------------------------------------------------------------------------------------
// The public opening page
// ---------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "opening_page.html")]
struct OpeningPage {
    base: Base,
    code: String,
    title: String,
    deadline: chrono::DateTime<chrono::Utc>,
    opening_place: String,
    /// The viewer is an agent of the owning organisation.
    owner: bool,
    /// The viewer's bidder organisation (confirm / object if it is in the record).
    bidder_id: String,
    strings: String,
}

async fn opening_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    // Public: drafts are "not found" for everybody here, as in the API.
    let d = tenders::get_tender(&state.db, None, &code)
        .await
        .or_page(&ctx)?;
    let owner = ctx.user.as_ref().is_some_and(|u| {
        crate::lifecycle::tender::user_is_owner(u, d.tender.agent_org_id.as_deref())
    });
    let bidder_id = match (&ctx.user, Caller::from_ctx(&ctx)) {
        (Some(u), Ok(c)) if u.role == Role::Bidder => {
            let mut tx = state.db.read().await.or_page(&ctx)?;
            bidder_org(&mut tx, &c).await.unwrap_or_default()
        }
        _ => String::new(),
    };
    Ok(render(&OpeningPage {
        base: Base::new(&ctx),
        code: d.tender.code,
        title: d.tender.title,
        deadline: d.tender.bid_deadline_at,
        opening_place: d.tender.opening_place,
        owner,
        bidder_id,
        strings: js_strings(ctx.lang),
    }))
}

/// Routes of this module (merged outside the request time limit, next to the bid API).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenders/{code}/bid", get(bid_page))
        .route("/tenders/{code}/opening", get(opening_page))
        .route("/custodian", get(custodian_list))
        .route("/custodian/tenders/{code}", get(custodian_unlock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_strings_exist_in_both_languages_and_cannot_close_the_script() {
        for lang in [Lang::Zh, Lang::En] {
            for k in JS_KEYS {
                assert_ne!(lang.t(k), *k, "missing translation {k}");
            }
            let s = js_strings(lang);
            assert!(!s.contains('<') && !s.contains('>'));
            assert!(serde_json::from_str::<serde_json::Value>(&s).is_ok());
        }
    }
}
