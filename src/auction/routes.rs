//! JSON API of auctions and listings, and the live view as server-sent events.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use futures_util::stream::{self, Stream};
use serde::Deserialize;

use super::AuctionError;
use super::bidding::{self, Accepted, BidInput, BidView};
use super::confirm::{self, SignCeremony, SignFinish, WinnerSignature};
use super::jobs::{self, ResultView};
use super::live::{self, LiveUpdate};
use super::reserve::{self, ReserveView, SealedReserve, UnlockInput};
use super::service::{
    self, AdmitInput, ApplicationView, BidderView, CancelInput, DepositInput, DepositView,
    DraftInput, TradeView,
};
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use crate::http::{ApiJson, ApiQuery, ApiResult, AppState, Ctx};
use crate::identity::Caller;
use crate::identity::passkey;

#[utoipa::path(
    post,
    path = "/api/v1/auctions",
    tag = "auctions",
    summary = "The agent drafts an auction or listing of land use rights, state assets or equity",
    request_body = DraftInput,
    responses(
        (status = 201, description = "Created", body = TradeView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn draft_trade(
    State(state): State<AppState>,
    ctx: Ctx,
    ApiJson(input): ApiJson<DraftInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let v = service::draft(&state.db, &state.auction_rulebooks, now, &caller, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions",
    tag = "auctions",
    summary = "Announced auctions and listings (and drafts for their agent, operators, regulators)",
    responses(
        (status = 200, description = "OK", body = Vec<TradeView>),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn list_trades(
    State(state): State<AppState>,
    ctx: Ctx,
) -> ApiResult<impl IntoResponse> {
    let now = state.clock.now();
    Ok(Json(
        service::list(&state.db, now, ctx.user.as_ref()).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}",
    tag = "auctions",
    summary = "One trade: terms, state, current price and end, with the server time",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = TradeView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn get_trade(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let now = state.clock.now();
    Ok(Json(
        service::view(&state.db, now, ctx.user.as_ref(), &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/publish",
    tag = "auctions",
    summary = "The agent publishes the announcement; the periods must meet the rulebook (land: 20 days' announcement, 39号令 第10条; listing ≥ 10 days, 第20条)",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = TradeView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn publish_trade(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::publish(&state.db, &state.auction_rulebooks, now, &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/cancel",
    tag = "auctions",
    summary = "The agent terminates (终止) a trade that has not ended, with a published reason",
    params(("code" = String, Path, description = "Trade code")),
    request_body = CancelInput,
    responses(
        (status = 200, description = "OK", body = TradeView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn cancel_trade(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<CancelInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::cancel(&state.db, now, &caller, &code, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/applications",
    tag = "auctions",
    summary = "A bidder company applies (竞买申请) and gets the reference for its deposit transfer",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 201, description = "Created", body = ApplicationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn apply(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let v = service::apply(&state.db, now, &caller, &code).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/my-application",
    tag = "auctions",
    summary = "The caller's own application: deposit reference, state and bidder number (竞买号)",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = ApplicationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn my_application(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    Ok(Json(
        service::my_application(&state.db, &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/deposits",
    tag = "auctions",
    summary = "The operator confirms a deposit received, by its transfer reference and amount (who paid stays secret)",
    params(("code" = String, Path, description = "Trade code")),
    request_body = DepositInput,
    responses(
        (status = 200, description = "OK", body = DepositView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn confirm_deposit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<DepositInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::confirm_deposit(&state.db, now, &caller, &code, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/admissions",
    tag = "auctions",
    summary = "The operator admits the bidder behind a confirmed deposit; the bidder gets a random bidder number",
    params(("code" = String, Path, description = "Trade code")),
    request_body = AdmitInput,
    responses(
        (status = 200, description = "OK", body = DepositView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn admit(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<AdmitInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::admit(&state.db, now, &caller, &code, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/continue",
    tag = "auctions",
    summary = "An admitted bidder asks to go on to the timed auction at the end of the listing (39号令 第21条)",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = ApplicationView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn want_to_continue(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        service::want_to_continue(&state.db, now, &caller, &code).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/bids",
    tag = "auctions",
    summary = "An admitted bidder bids (or quotes during a listing): at least the current price plus the increment, before the end; a bid in the last minutes extends the end",
    params(("code" = String, Path, description = "Trade code")),
    request_body = BidInput,
    responses(
        (status = 201, description = "Accepted", body = Accepted),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn place_bid(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<BidInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    let v = bidding::place_bid(&state.db, now, &caller, &code, &input).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

/// Which bids a reader already has.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AfterQuery {
    /// Only bids with a greater `seq`.
    #[serde(default)]
    #[param(minimum = 0)]
    after: i64,
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/bids",
    tag = "auctions",
    summary = "The accepted bids in the database's order, by bidder number",
    params(("code" = String, Path, description = "Trade code"), AfterQuery),
    responses(
        (status = 200, description = "OK", body = Vec<BidView>),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn bid_history(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ApiQuery(q): ApiQuery<AfterQuery>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(bidding::history(&state.db, &code, q.after).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/bidders",
    tag = "auctions",
    summary = "Who the bidders were and what happens to their deposits: public after the end, regulators at any time",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = Vec<BidderView>),
        crate::http::openapi::AuthRefusals,
    ),
    security(),
)]
pub(crate) async fn bidders(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        service::bidders(&state.db, ctx.user.as_ref(), &code).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/result",
    tag = "auctions",
    summary = "The result of an ended trade: the deal confirmation (成交确认书) signed with the platform key",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = ResultView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn result(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        jobs::result_with_proof(
            &state.db,
            state.clock.now(),
            &code,
            &state.config.log_origin(),
            &state.platform_key.pair,
        )
        .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/reserve",
    tag = "auctions",
    summary = "The reserve price (底价): whether one is sealed, the key to seal it to, the custodians' progress; the amount only after the custodians opened it at the end",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = ReserveView),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn reserve_view(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    Ok(Json(
        reserve::view(&state.db, ctx.user.as_ref(), &code).await?,
    ))
}

/// Reads a small request body whole, refusing more than `max` bytes without reading on.
async fn read_capped(body: Body, max: usize) -> Result<axum::body::Bytes, AuctionError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| {
            AuctionError::BadRequest(
                "AUCTION_BAD_BODY",
                format!("the body could not be read: {e}"),
            )
        })?;
        if buf.len() + chunk.len() > max {
            return Err(AuctionError::Invalid(
                "AUCTION_RESERVE_INVALID",
                format!("a sealed reserve is at most {max} bytes / 底价密封文件过大"),
            ));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.into())
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/reserve",
    tag = "auctions",
    summary = "The agent seals the reserve price (底价) after publication and before bidding starts: an envelope to the trade's opening key with bidder_id reserve-price and a 64-byte plaintext {\"reserve_fen\": int} padded with spaces; replaces an earlier one",
    params(("code" = String, Path, description = "Trade code")),
    request_body(content = crate::http::openapi::Binary, content_type = "application/octet-stream"),
    responses(
        (status = 201, description = "Created", body = SealedReserve),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn seal_reserve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    body: Body,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let bytes = read_capped(body, reserve::MAX_RESERVE_ENVELOPE).await?;
    let now = state.clock.now();
    let v = reserve::seal_reserve(&state.db, &state.blobs, now, &caller, &code, bytes).await?;
    Ok((StatusCode::CREATED, Json(v)))
}

fn opening(state: &AppState) -> reserve::Opening<'_> {
    reserve::Opening {
        db: &state.db,
        blobs: &state.blobs,
        ceremonies: &state.openings,
        key: &state.platform_key,
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/reserve/unlock",
    tag = "auctions",
    summary = "A custodian unlocks their share of the reserve's key after bidding ended; the k-th unlock opens the reserve and decides: deal if the highest bid reaches it, else no deal",
    params(("code" = String, Path, description = "Trade code")),
    request_body = UnlockInput,
    responses(
        (status = 200, description = "OK", body = ReserveView),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn unlock_reserve(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<UnlockInput>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let now = state.clock.now();
    Ok(Json(
        reserve::unlock(&opening(&state), now, &caller, &code, &input).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/confirmation/sign/start",
    tag = "auctions",
    summary = "The winner starts a passkey signature over the deal confirmation (成交确认书); the challenge is the SHA-256 of its canonical JSON",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "OK", body = SignCeremony),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn sign_start(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    let c = confirm::challenge(&state.db, &caller, &code).await?;
    let (ceremony, options) =
        passkey::start_signature_for_user(&state, &caller.user.user_id, &c.digest)
            .await
            .map_err(AuctionError::Passkey)?;
    let options = serde_json::to_value(&options)
        .map_err(|e| AuctionError::from(crate::error::Common::Corrupt(e.to_string())))?;
    Ok(Json(SignCeremony {
        ceremony_id: ceremony,
        options,
        confirmation_sha256: c.confirmation_sha256,
    }))
}

#[utoipa::path(
    post,
    path = "/api/v1/auctions/{code}/confirmation/sign",
    tag = "auctions",
    summary = "The winner finishes the signature with a user-verified assertion over the confirmation's SHA-256",
    params(("code" = String, Path, description = "Trade code")),
    request_body = SignFinish,
    responses(
        (status = 200, description = "OK", body = WinnerSignature),
        crate::http::openapi::AuthRefusals,
    ),
)]
pub(crate) async fn sign_finish(
    State(state): State<AppState>,
    ctx: Ctx,
    Path(code): Path<String>,
    ApiJson(input): ApiJson<SignFinish>,
) -> ApiResult<impl IntoResponse> {
    let caller = Caller::from_ctx(&ctx)?;
    // Who may sign first, so that nobody else learns anything from the assertion's checks.
    let c = confirm::challenge(&state.db, &caller, &code).await?;
    let credential =
        passkey::parse_assertion(input.credential.clone()).map_err(AuctionError::Passkey)?;
    let verified = passkey::verify_signature(
        &state,
        &caller.actor,
        &caller.user.user_id,
        &input.ceremony_id,
        &credential,
        &c.digest,
    )
    .await
    .map_err(AuctionError::Passkey)?;
    let now = state.clock.now();
    Ok(Json(
        confirm::record_signature(
            &state.db,
            now,
            &caller,
            &c,
            &verified.credential_id,
            verified.counter,
            &input.credential,
        )
        .await?,
    ))
}

/// How often a watcher's stream reads the database.
const LIVE_POLL: Duration = Duration::from_millis(250);

/// A full update at least this often, so the countdown stays synced to the server's clock.
const LIVE_RESYNC_MS: i64 = 5_000;

#[utoipa::path(
    get,
    path = "/api/v1/auctions/{code}/live",
    tag = "auctions",
    summary = "The live view as server-sent events: price, end, server time and each new bid (event id = bid seq; Last-Event-ID resumes)",
    params(("code" = String, Path, description = "Trade code")),
    responses(
        (status = 200, description = "A stream of `update` events, each a LiveUpdate", content_type = "text/event-stream", body = LiveUpdate),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn live(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    // A reconnecting browser says which bid it saw last.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    // The first read answers 404 for an unknown trade before the stream starts.
    let first = live::update(&state.db, state.clock.now(), &code, after).await?;
    let init = (state, code, Some(first), None::<LiveUpdate>, false);
    let events = stream::unfold(init, |(state, code, pending, last, done)| async move {
        if done {
            return None;
        }
        let mut pending = pending;
        let mut last = last;
        loop {
            let update = match pending.take() {
                Some(u) => u,
                None => {
                    tokio::time::sleep(LIVE_POLL).await;
                    let after = last.as_ref().map_or(0, |l| l.bid_count);
                    match live::update(&state.db, state.clock.now(), &code, after).await {
                        Ok(u) => u,
                        // A database hiccup: try again at the next tick.
                        Err(e) => {
                            tracing::warn!(error = %e, "live view read");
                            continue;
                        }
                    }
                }
            };
            let stale = last
                .as_ref()
                .is_some_and(|l| update.server_time - l.server_time >= LIVE_RESYNC_MS);
            if last.as_ref().is_some_and(|l| update.same_as(l)) && !stale {
                continue;
            }
            let ended = update.ended();
            let event = Event::default()
                .event("update")
                .id(update.bid_count.to_string())
                .json_data(&update)
                .unwrap_or_else(|_| Event::default().comment("unserialisable"));
            last = Some(LiveUpdate {
                bids: Vec::new(),
                ..update
            });
            return Some((Ok(event), (state, code, None, last, ended)));
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The auction API's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auctions", post(draft_trade).get(list_trades))
        .route("/api/v1/auctions/{code}", get(get_trade))
        .route("/api/v1/auctions/{code}/publish", post(publish_trade))
        .route("/api/v1/auctions/{code}/cancel", post(cancel_trade))
        .route("/api/v1/auctions/{code}/applications", post(apply))
        .route(
            "/api/v1/auctions/{code}/my-application",
            get(my_application),
        )
        .route("/api/v1/auctions/{code}/deposits", post(confirm_deposit))
        .route("/api/v1/auctions/{code}/admissions", post(admit))
        .route("/api/v1/auctions/{code}/continue", post(want_to_continue))
        .route(
            "/api/v1/auctions/{code}/bids",
            post(place_bid).get(bid_history),
        )
        .route("/api/v1/auctions/{code}/bidders", get(bidders))
        .route("/api/v1/auctions/{code}/result", get(result))
        .route("/api/v1/auctions/{code}/live", get(live))
        .route(
            "/api/v1/auctions/{code}/reserve",
            get(reserve_view).post(seal_reserve),
        )
        .route(
            "/api/v1/auctions/{code}/reserve/unlock",
            post(unlock_reserve),
        )
        .route(
            "/api/v1/auctions/{code}/confirmation/sign/start",
            post(sign_start),
        )
        .route(
            "/api/v1/auctions/{code}/confirmation/sign",
            post(sign_finish),
        )
}
