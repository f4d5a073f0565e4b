//! Time-driven transitions from the job table (placeholder until the tender service lands).

use crate::http::{ApiError, AppState};

/// Runs every due job once; returns how many ran.
pub async fn run_due(_state: &AppState) -> Result<usize, ApiError> {
    Ok(0)
}
