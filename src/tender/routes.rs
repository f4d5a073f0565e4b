//! Tender JSON API.

use axum::Router;

use crate::http::AppState;

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
}
