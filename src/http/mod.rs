//! The HTTP surface: shared state, the request context extractor, CSRF and request-id
//! middleware, and the router that merges every feature's routes.

pub mod csrf;
pub mod ctx;
pub mod error;
pub mod headers;
pub mod i18n;
pub mod openapi;
pub mod ops;
pub mod page;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::clock::Clock;
use crate::config::Config;
use crate::identity::ratelimit::LoginLimiter;
use crate::identity::session::SessionKeys;
use crate::keys::SigningKey;
use crate::store::Db;
use crate::store::blob::BlobStore;
use crate::tender::rulebook::Rulebooks;

pub use ctx::{ApiForm, ApiJson, ApiPath, ApiQuery, Ctx};
pub use error::{ApiError, ApiResult};

/// Everything a handler may need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Database pool.
    pub db: Db,
    /// Blob store.
    pub blobs: BlobStore,
    /// Configuration.
    pub config: Arc<Config>,
    /// The clock (a fixed or offset one in tests).
    pub clock: Arc<dyn Clock>,
    /// The platform's signing key (audit checkpoints, receipts).
    pub platform_key: Arc<SigningKey>,
    /// Every platform key, active and retired, for the published key list.
    pub platform_keys: Arc<crate::keys::KeyRing>,
    /// Session token keys.
    pub sessions: Arc<SessionKeys>,
    /// Rulebooks by category and procedure.
    pub rulebooks: Arc<Rulebooks>,
    /// Login attempt limiter.
    pub login_limiter: Arc<LoginLimiter>,
    /// The public list page cache.
    pub portal_cache: Arc<crate::disclosure::cache::ListCache>,
    /// Opening ceremonies in progress: custodians' unlocked key shares, in this process's
    /// memory only (never in the database; see `bid::opening`).
    pub openings: Arc<crate::bid::opening::Ceremonies>,
}

/// The name of the correlation-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Request ids are UUIDv7 so they sort by time in logs and audit events.
#[derive(Clone, Copy, Default)]
struct MakeUuid7;

impl MakeRequestId for MakeUuid7 {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        uuid::Uuid::now_v7()
            .to_string()
            .parse()
            .ok()
            .map(RequestId::new)
    }
}

/// The full application router with its middleware.
pub fn router(state: AppState) -> Router {
    // Install the recorder now: metrics recorded before it exists are dropped.
    ops::metrics_handle();
    // Build the WebAuthn relying party now, so a public URL it cannot use is logged at start.
    crate::identity::passkey::init(&state.config);
    let api = Router::new()
        .merge(crate::audit::routes::router())
        .merge(crate::identity::routes::router())
        .merge(crate::identity::passkey_routes::router())
        .merge(crate::tender::routes::router())
        .merge(crate::expert::routes::router())
        .merge(crate::evaluation::routes::router())
        .merge(crate::evaluation::report_routes::router())
        .merge(crate::evaluation::result_routes::router());
    let pages = Router::new()
        .merge(crate::disclosure::router())
        .merge(crate::identity::pages::router())
        .merge(crate::identity::passkey_pages::router())
        .merge(crate::expert::pages::router())
        .merge(crate::evaluation::pages::router())
        .merge(crate::evaluation::result_pages::router())
        .merge(crate::evaluation::clarification_pages::router())
        .merge(crate::evaluation::replacement_pages::router())
        .merge(crate::tender::pages::router(
            state.config.max_document_bytes,
        ));

    // Every request gets a time limit except the bid routes: a multi-GiB sealed part over a
    // slow link, and an opening that decrypts every bid, may take longer than any fixed one.
    let timed = Router::new()
        .merge(api)
        .merge(pages)
        .merge(ops::router())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(300),
        ));

    let app = Router::new()
        .merge(timed)
        .merge(crate::bid::routes::router())
        .merge(crate::bid::pages::router())
        .fallback(error::not_found)
        // Only on a route and method that exist: an unknown address or method is the 404 or
        // 405 for everyone, never a 401 that would tell an anonymous caller to log in first.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            ctx::login_before_body,
        ))
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), csrf::guard))
        .layer(axum::middleware::from_fn(ops::track_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeUuid7));
    headers::add(app).with_state(state)
}
