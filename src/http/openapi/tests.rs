use serde_json::Value;

use super::document;

/// The sources that declare API routes; a new routes file must be added here.
const ROUTE_SOURCES: &[&str] = &[
    include_str!("../../identity/routes.rs"),
    include_str!("../../tender/routes.rs"),
    include_str!("../../tender/rulebook_routes.rs"),
    include_str!("../../audit/routes.rs"),
    include_str!("../../ocds/routes.rs"),
    include_str!("../../bid/routes.rs"),
    include_str!("../../identity/passkey_routes.rs"),
    include_str!("../../expert/routes.rs"),
    include_str!("../../evaluation/routes.rs"),
    include_str!("../../evaluation/report/routes.rs"),
    include_str!("../../award/routes.rs"),
    include_str!("../../supervision/routes.rs"),
    include_str!("../../complaint/routes.rs"),
    include_str!("../../auction/routes.rs"),
    include_str!("../../witness/routes.rs"),
];

/// The `/api/v1` operations the routers serve as `METHOD path`, read from their
/// `.route("…", get(…).post(…))` calls (the `#[utoipa::path]` attributes name paths too,
/// so only what follows `.route(` counts, up to the end of the router function).
fn declared_api_operations() -> Vec<String> {
    let mut out = Vec::new();
    for src in ROUTE_SOURCES {
        for piece in src.split(".route(").skip(1) {
            let Some(path) = piece.split('"').nth(1) else {
                continue;
            };
            if !path.starts_with("/api/v1/") {
                continue;
            }
            let call = piece.split("\n}").next().unwrap_or_default();
            for method in ["get", "post", "put", "delete", "patch"] {
                let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                    call[..i]
                        .chars()
                        .next_back()
                        .is_some_and(|c| !c.is_alphanumeric() && c != '_')
                });
                if called {
                    out.push(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn doc() -> Value {
    serde_json::from_str(document()).expect("the OpenAPI document parses")
}

/// Every operation of the document as (`METHOD path`, operation).
fn operations(doc: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            out.push((format!("{} {path}", method.to_uppercase()), op.clone()));
        }
    }
    out
}

#[test]
fn every_api_route_is_documented() {
    let doc = doc();
    let documented: Vec<String> = operations(&doc).into_iter().map(|(k, _)| k).collect();
    let declared = declared_api_operations();
    assert!(
        declared.len() > 90,
        "route scan found too little: {declared:?}"
    );
    for op in &declared {
        assert!(
            documented.contains(op),
            "{op} is served but not in the OpenAPI document"
        );
    }
    for op in &documented {
        assert!(declared.contains(op), "{op} is documented but not served");
    }
}

#[test]
fn the_document_keeps_its_header() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Sunbid API");
    assert_eq!(doc["servers"][0]["url"], "/");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

/// A response documents what it answers: a JSON schema, or a non-JSON content type (a PDF,
/// a blob, HTML), or nothing at all for a 204.
fn documents_body(status: &str, response: &Value) -> bool {
    if status == "204" {
        return response.get("content").is_none();
    }
    let Some(content) = response["content"].as_object() else {
        return false;
    };
    !content.is_empty()
        && content
            .iter()
            .all(|(media, c)| !media.starts_with("application/json") || c["schema"].is_object())
}

#[test]
fn every_operation_documents_its_answer_and_its_errors() {
    let doc = doc();
    let ops = operations(&doc);
    assert!(ops.len() > 90, "only {} operations", ops.len());
    let mut problems = Vec::new();
    for (key, op) in &ops {
        let responses = op["responses"].as_object().expect("responses");
        let success: Vec<_> = responses
            .iter()
            .filter(|(s, _)| s.starts_with('2'))
            .collect();
        if success.is_empty() {
            problems.push(format!("{key}: no success response"));
        }
        for (status, r) in success {
            if !documents_body(status, r) {
                problems.push(format!("{key}: {status} has no schema or content type"));
            }
        }
        let errors: Vec<_> = responses
            .iter()
            .filter(|(s, _)| s.starts_with('4'))
            .collect();
        if !errors.iter().any(|(s, _)| s.as_str() == "4XX") {
            problems.push(format!("{key}: no 4XX response"));
        }
        for (status, r) in errors {
            if r["content"]["application/json"]["schema"]["$ref"] != "#/components/schemas/Error" {
                problems.push(format!("{key}: {status} is not the error schema"));
            }
        }
        let public = op["security"] == serde_json::json!([]);
        if !public && !responses.contains_key("401") {
            problems.push(format!("{key}: needs a login but documents no 401"));
        }
        if op["summary"].as_str().is_none_or(str::is_empty) {
            problems.push(format!("{key}: no summary"));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

/// utoipa names a schema after its type and keeps the last of two types with one name, so
/// a second `BidView` silently replaced the first in the document (and every response that
/// used it). Every type that derives `ToSchema` must have a name of its own.
#[test]
fn every_schema_reference_resolves() {
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|v| refs(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc = doc();
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    let mut dangling: Vec<String> = all
        .into_iter()
        .filter(|r| {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or(r);
            doc["components"]["schemas"].get(name).is_none()
        })
        .collect();
    dangling.sort();
    dangling.dedup();
    assert!(
        dangling.is_empty(),
        "references that do not resolve: {dangling:?}"
    );
}

#[test]
fn schema_names_are_unique() {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut seen: std::collections::BTreeMap<String, String> = Default::default();
    let mut twice = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let trimmed = line.trim_start();
            if !(trimmed.starts_with("#[derive(") && trimmed.contains("ToSchema")) {
                continue;
            }
            // The attributes up to the item, then the item's name (or its `as` rename).
            let mut renamed = None;
            for next in lines.iter().skip(i + 1).take(12) {
                let next = next.trim_start();
                if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                    renamed = rest.split(')').next().map(str::to_owned);
                }
                let item = ["pub struct ", "pub enum ", "struct ", "enum "]
                    .iter()
                    .find_map(|k| next.split_once(k).map(|(_, r)| r))
                    .filter(|_| !next.starts_with("//") && !next.starts_with("#["));
                if let Some(rest) = item {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    let name = renamed.take().unwrap_or(name);
                    let at = format!("{}:{}", file.display(), i + 1);
                    if let Some(first) = seen.insert(name.clone(), at.clone()) {
                        twice.push(format!("{name}: {first} and {at}"));
                    }
                    break;
                }
            }
        }
    }
    assert!(twice.is_empty(), "schemas sharing a name: {twice:#?}");
    assert!(seen.len() > 50, "schema scan found too little: {seen:?}");
}
