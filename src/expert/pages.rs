pub fn router() -> axum::Router<crate::http::AppState> { axum::Router::new() }
