//! Demo data for a first look: organisations, users and tenders.

use crate::http::AppState;

/// Loads demo data when the database has no users; returns the logins to print.
pub async fn load_if_empty(_state: &AppState) -> anyhow::Result<Option<String>> {
    Ok(None)
}
