//! The HTTP layer's own parts: the shared state handlers receive, the request context
//! extractor, CSRF, headers, the error mapping, page helpers and operations endpoints. The
//! router that merges every feature's routes is assembled above it, in `server`.

pub mod csrf;
pub mod ctx;
pub mod error;
pub mod headers;
pub mod i18n;
pub mod openapi;
pub mod ops;
pub mod page;

use std::sync::Arc;

use axum::http::HeaderName;

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
    /// Auction and listing rulebooks by category.
    pub auction_rulebooks: Arc<crate::auction::rulebook::AuctionRulebooks>,
    /// Login attempt limiter.
    pub login_limiter: Arc<LoginLimiter>,
    /// The public list page cache.
    pub portal_cache: Arc<crate::disclosure::cache::ListCache>,
    /// Opening ceremonies in progress: custodians' unlocked key shares, in this process's
    /// memory only (never in the database; see `bid::opening`).
    pub openings: Arc<crate::bid::opening::Ceremonies>,
    /// The outside channel to drawn experts (`notify_webhook`), built once at start-up.
    pub notifier: Arc<dyn crate::expert::notify::Notifier>,
}

/// The name of the correlation-id header.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
