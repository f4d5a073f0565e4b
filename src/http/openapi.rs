//! The OpenAPI 3.1 document describing `/api/v1`, kept by hand in `openapi.json` beside
//! this file; a test checks that it parses and names every API route the router serves.

/// The document, served at `/api/openapi.json`.
pub const DOCUMENT: &str = include_str!("openapi.json");
