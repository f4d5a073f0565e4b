//! Identifiers: UUIDv7, so they sort by creation time and leak nothing else.

/// A fresh time-ordered identifier as text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Whether `s` is a well-formed identifier (checked before it reaches a query).
pub fn is_id(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok()
}

/// 128 random bits as hex: a salt that makes a digest over guessable data (who sits on a
/// committee, which entry a hidden leaf stands for) impossible to test guesses against.
pub fn new_salt() -> String {
    let mut bytes = [0u8; 16];
    // The OS generator fails only without an entropy source; a UUIDv7's random bits (74,
    // from the same source through another path) are then the fallback, never zeros.
    if ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).is_err() {
        return uuid::Uuid::now_v7().simple().to_string();
    }
    hex::encode(bytes)
}
