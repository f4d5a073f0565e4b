//! Identifiers: UUIDv7, so they sort by creation time and leak nothing else.

/// A fresh time-ordered identifier as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is a well-formed identifier (checked before it reaches a query).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}
