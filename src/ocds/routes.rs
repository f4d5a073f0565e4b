//! Public OCDS API: the change feed of release packages and a record package per
//! contracting process. Anyone may read them.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::service::{self, Publisher, RecordPackage, ReleasePage};
// The API's own Path: a bad parameter is a `{code, message}` 400.
use crate::http::ApiPath as Path;
use crate::http::{ApiQuery, ApiResult, AppState};

fn publisher(state: &AppState) -> Publisher {
    let c = &state.config;
    Publisher {
        ocid_prefix: c.ocid_prefix.clone(),
        name: c.ocds_publisher.clone(),
        license: c.ocds_license.clone(),
        public_url: c.public_url.clone(),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// Where to go on from: the `next_cursor` of the previous page (from the start when
    /// absent).
    #[param(pattern = "^[0-9]{1,19}$")]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/ocds/releases",
    tag = "ocds",
    summary = "The OCDS change feed: a release package of the releases published from the cursor on, and the next cursor; a malformed cursor or one ahead of the log is a 400",
    params(FeedQuery),
    responses(
        (status = 200, description = "OK", body = ReleasePage),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn list_releases(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FeedQuery>,
) -> ApiResult<Json<ReleasePage>> {
    let page = service::release_page(
        &state.db,
        state.clock.now(),
        &publisher(&state),
        q.cursor.as_deref(),
    )
    .await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/v1/ocds/records/{ocid}",
    tag = "ocds",
    summary = "The OCDS record package of one contracting process: every release, the compiled release and the versioned release",
    params(("ocid" = String, Path, description = "The Open Contracting ID (prefix and tender id)")),
    responses(
        (status = 200, description = "OK", body = RecordPackage),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn get_record(
    State(state): State<AppState>,
    Path(ocid): Path<String>,
) -> ApiResult<Json<RecordPackage>> {
    let record = service::record(&state.db, state.clock.now(), &publisher(&state), &ocid).await?;
    Ok(Json(record))
}

#[utoipa::path(
    get,
    path = "/api/v1/ocds/bulk/{month}",
    tag = "ocds",
    summary = "The monthly bulk file: every release dated in the month (UTC), JSON lines, gzip",
    params(("month" = String, Path, description = "YYYY-MM", pattern = r"^[0-9]{4}-(0[1-9]|1[0-2])(\.jsonl\.gz)?$")),
    responses(
        (status = 200, description = "JSON lines, gzip", body = crate::http::openapi::Binary, content_type = "application/gzip"),
        crate::http::openapi::Refusals,
    ),
    security(),
)]
async fn bulk_file(
    State(state): State<AppState>,
    Path(month): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let month = month.strip_suffix(".jsonl.gz").unwrap_or(&month).to_owned();
    let bytes =
        service::bulk_month(&state.db, state.clock.now(), &publisher(&state), &month).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"ocds-releases-{month}.jsonl.gz\""),
            ),
        ],
        bytes,
    ))
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/ocds/releases", get(list_releases))
        .route("/api/v1/ocds/records/{ocid}", get(get_record))
        .route("/api/v1/ocds/bulk/{month}", get(bulk_file))
}
