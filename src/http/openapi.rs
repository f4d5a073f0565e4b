//! The OpenAPI 3.1 document describing `/api/v1`, written by `tools/openapi.py` into `openapi.json` beside
//! this file; a test checks that it parses and documents every API route the code serves.

/// The document, served at `/api/openapi.json`.
pub const DOCUMENT: &str = include_str!("openapi.json");

#[cfg(test)]
mod tests {
    use super::DOCUMENT;

    /// The sources that declare API routes; a new routes file must be added here.
    const ROUTE_SOURCES: &[&str] = &[
        include_str!("../identity/routes.rs"),
        include_str!("../tender/routes.rs"),
        include_str!("../audit/routes.rs"),
        include_str!("../bid/routes.rs"),
        include_str!("../identity/passkey_routes.rs"),
        include_str!("../expert/routes.rs"),
        include_str!("../evaluation/routes.rs"),
        include_str!("../evaluation/report/routes.rs"),
        include_str!("../award/routes.rs"),
    ];

    fn declared_api_paths() -> Vec<String> {
        let mut out = Vec::new();
        for src in ROUTE_SOURCES {
            for piece in src.split('"').skip(1).step_by(2) {
                if piece.starts_with("/api/v1/") {
                    out.push(piece.to_string());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_api_route_is_documented() {
        let doc: serde_json::Value = serde_json::from_str(DOCUMENT).expect("openapi.json parses");
        let paths = doc["paths"].as_object().expect("paths");
        let declared = declared_api_paths();
        assert!(
            declared.len() > 20,
            "route scan found too little: {declared:?}"
        );
        for p in &declared {
            assert!(
                paths.contains_key(p),
                "{p} is served but not in openapi.json"
            );
        }
        for p in paths.keys() {
            assert!(declared.contains(p), "{p} is documented but not served");
        }
    }
}
