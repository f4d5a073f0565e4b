//! `POST /api/v1/audit/split-views`: a trusted witness reports two checkpoints of this log
//! that do not fit one history; the platform checks them against its own tree and raises a
//! supervision alert.

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};

use super::report::SplitViewReport;
use super::service::{self, ReportAnswer};
use crate::audit::checkpoint::parse_verifier_key;
use crate::audit::routes::{trusted_witnesses, vkey};
use crate::http::{ApiError, ApiJson, ApiResult, AppState};

#[utoipa::path(
    post,
    path = "/api/v1/audit/split-views",
    tag = "audit",
    summary = "A witness the platform trusts reports a split view: two checkpoints signed by this log that no single history holds; checked against the stored tree, it raises a supervision alert (once per signed checkpoint outside the tree)",
    request_body = SplitViewReport,
    responses(
        (status = 200, description = "Checked; the alert is raised (or was raised before)", body = ReportAnswer),
        (status = 403, description = "Not signed by a trusted witness key", body = crate::http::openapi::ErrorBody),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
pub(crate) async fn report_split_view(
    State(state): State<AppState>,
    ApiJson(report): ApiJson<SplitViewReport>,
) -> ApiResult<Json<ReportAnswer>> {
    let log_key = parse_verifier_key(&vkey(&state)).map_err(|e| ApiError::internal(&e))?;
    let answer = service::receive(
        &state.db,
        state.clock.now(),
        &log_key,
        &trusted_witnesses(&state),
        &report,
    )
    .await?;
    Ok(Json(answer))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/audit/split-views", post(report_split_view))
}
