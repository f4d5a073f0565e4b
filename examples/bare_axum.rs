//! The reference for the portal benchmark: a bare axum route returning a fixed string,
//! served the same way as Sunbid (tokio multi-thread runtime, axum::serve).
//! `cargo run --release --example bare_axum -- 127.0.0.1:18181`

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18181".into());
    let app = Router::new().route("/", get(|| async { "Sunbid bare axum reference" }));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    axum::serve(listener, app).await
}
