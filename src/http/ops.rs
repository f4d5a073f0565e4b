//! Operations endpoints (`/healthz`, `/readyz`; `/metrics` on its own listener only),
//! request metrics with bounded labels, and the embedded static assets.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Path, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

static PROMETHEUS: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide metrics recorder once (several servers in one test process
/// share it).
pub fn metrics_handle() -> Option<&'static PrometheusHandle> {
    PROMETHEUS
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .as_ref()
}

/// The method as a metrics label: the standard ones by name, anything a client makes up
/// as `other`, so no request can add a label value.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Counts requests and their latency by route template (never by raw path) and bounded
/// method; statuses come from our own handlers, so their set is fixed by the code.
pub async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = method_label(req.method());
    let resp = next.run(req).await;
    let status = resp.status().as_str().to_string();
    metrics::counter!("sunbid_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("sunbid_http_request_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.db.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// The process's request metrics, then the domain figures read from the shared database
/// (a database that does not answer shows as `sunbid_db_up 0`, not as a failed scrape).
async fn metrics_page(State(state): State<AppState>) -> Response {
    let stats = match crate::ops::metrics::collect(&state.db, state.clock.now()).await {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "reading the domain metrics");
            None
        }
    };
    let domain = crate::ops::metrics::render(stats.as_ref());
    match metrics_handle() {
        Some(h) => (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            h.render() + &domain,
        )
            .into_response(),
        None => (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics recorder unavailable",
        )
            .into_response(),
    }
}

/// Static files, embedded so the binary runs from anywhere.
async fn static_file(Path(name): Path<String>) -> Response {
    let (body, mime): (&'static str, &str) = match name.as_str() {
        "style.css" => (
            include_str!("../../web/static/style.css"),
            "text/css; charset=utf-8",
        ),
        "app.js" => (
            include_str!("../../web/static/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "passkey.js" => (
            include_str!("../../web/static/passkey.js"),
            "text/javascript; charset=utf-8",
        ),
        "seal.js" => (
            include_str!("../../web/static/seal.js"),
            "text/javascript; charset=utf-8",
        ),
        "bid.js" => (
            include_str!("../../web/static/bid.js"),
            "text/javascript; charset=utf-8",
        ),
        "checkin.js" => (
            include_str!("../../web/static/checkin.js"),
            "text/javascript; charset=utf-8",
        ),
        "auction.js" => (
            include_str!("../../web/static/auction.js"),
            "text/javascript; charset=utf-8",
        ),
        "evaluation.js" => (
            include_str!("../../web/static/evaluation.js"),
            "text/javascript; charset=utf-8",
        ),
        "wall.js" => (
            include_str!("../../web/static/wall.js"),
            "text/javascript; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        body,
    )
        .into_response()
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
        .into_response()
}

/// The router of the separate metrics listener (`--metrics-listen`): `/metrics` only, so
/// scrapers reach it on an address the public never sees.
pub fn metrics_router(state: AppState) -> Router {
    // Install the recorder now: metrics recorded before it exists are dropped.
    metrics_handle();
    Router::new()
        .route("/metrics", get(metrics_page))
        .with_state(state)
}

/// Routes of this module.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/static/{name}", get(static_file))
        .route("/api/openapi.json", get(openapi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_labels_are_a_fixed_set() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::OPTIONS), "OPTIONS");
        for made_up in ["MADEUP", "get", "PROPFIND", "X-1"] {
            let m = Method::from_bytes(made_up.as_bytes()).expect("a token");
            assert_eq!(method_label(&m), "other", "{made_up}");
        }
        // CONNECT and TRACE are standard but never served: no label of their own either.
        assert_eq!(method_label(&Method::CONNECT), "other");
        assert_eq!(method_label(&Method::TRACE), "other");
    }
}
