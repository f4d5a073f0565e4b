//! The public portal: announcement list and detail pages, search, the Atom feed.

use axum::Router;

use crate::http::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
