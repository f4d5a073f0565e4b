//! Pages of auctions and listings (zh and en): the list, and one page per trade that is the
//! public live view, the bidder's live room ("you are the highest bidder") and, after the
//! end, the result. The live parts are filled by `web/static/auction.js` from the
//! server-sent events of `routes::live`; bids go to the JSON API.

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};

use super::bidding::{self, BidView};
use super::jobs::{self, ResultView};
use super::reserve::{self, ReserveView};
use super::service::{self, ApplicationView, TradeView};
use crate::http::ApiPath as Path;
use crate::http::page::{Base, OrPage, PageResult, render};
use crate::http::{AppState, Ctx};
use crate::identity::{Caller, Role};

#[derive(Template)]
#[template(path = "auction_list.html")]
struct ListPage {
    base: Base,
    trades: Vec<TradeView>,
}

#[derive(Template)]
#[template(path = "auction_page.html")]
struct TradePage {
    base: Base,
    t: TradeView,
    bids: Vec<BidView>,
    /// The viewer is a bidder (may apply or bid).
    bidder: bool,
    /// The viewer's own application, if any.
    mine: Option<ApplicationView>,
    /// The result, after the end.
    result: Option<ResultView>,
    /// The reserve price's status (the amount only once opened).
    reserve: Option<ReserveView>,
    /// The viewer belongs to the winning company (may sign the confirmation).
    winner: bool,
}

impl TradePage {
    fn my_number(&self) -> &str {
        self.mine
            .as_ref()
            .and_then(|m| m.bidder_no.as_deref())
            .unwrap_or("")
    }

    fn when(&self, ms: &i64) -> String {
        crate::http::page::cst(*ms)
    }

    fn ended(&self) -> bool {
        matches!(
            self.t.state.as_str(),
            "ended" | "deal" | "no_deal" | "cancelled"
        )
    }
}

async fn list_page(State(state): State<AppState>, ctx: Ctx) -> PageResult {
    let trades = service::list(&state.db, state.clock.now(), ctx.user.as_ref())
        .await
        .or_page(&ctx)?;
    Ok(render(&ListPage {
        base: Base::new(&ctx),
        trades,
    }))
}

async fn trade_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let now = state.clock.now();
    let t = service::view(&state.db, now, ctx.user.as_ref(), &code)
        .await
        .or_page(&ctx)?;
    let bids = if t.state == "draft" {
        Vec::new()
    } else {
        bidding::history(&state.db, &code, 0).await.or_page(&ctx)?
    };
    let caller = Caller::from_ctx(&ctx).ok();
    let bidder = caller.as_ref().is_some_and(|c| c.is(Role::Bidder));
    let mine = match (&caller, bidder) {
        (Some(c), true) => service::my_application(&state.db, c, &code).await.ok(),
        _ => None,
    };
    let result = jobs::result(&state.db, &code).await.ok();
    let reserve = reserve::view(&state.db, ctx.user.as_ref(), &code)
        .await
        .ok();
    let winner = match (&caller, &result) {
        (Some(c), Some(r)) if bidder => r
            .confirmation
            .as_ref()
            .is_some_and(|conf| c.org_id() == Some(conf.winner_org_id.as_str())),
        _ => false,
    };
    Ok(render(&TradePage {
        base: Base::new(&ctx),
        t,
        bids,
        bidder,
        mine,
        result,
        reserve,
        winner,
    }))
}

async fn apply_page(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> PageResult {
    let caller = Caller::from_ctx(&ctx).or_page(&ctx)?;
    service::apply(&state.db, state.clock.now(), &caller, &code)
        .await
        .or_page(&ctx)?;
    Ok(Redirect::to(&format!("/auctions/{code}")).into_response())
}

/// The auction pages' routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auctions", get(list_page))
        .route("/auctions/{code}", get(trade_page))
        .route("/auctions/{code}/apply", post(apply_page))
}
