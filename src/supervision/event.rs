//! An audit event as the rules read it: the canonical entry (docs/audit-format.md) parsed
//! once. The rules see only what the log holds, so anyone with the log (the regulator with
//! the withheld entries) can recompute every alert.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

/// One audit event.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// Sequence number in the log.
    pub seq: u64,
    /// When it was appended.
    pub time: DateTime<Utc>,
    /// The acting user (or a per-tender pseudonym).
    #[serde(default)]
    pub actor: Option<String>,
    /// The role acted in.
    #[serde(default)]
    pub role: Option<String>,
    /// What happened (`bid.upload`, `opening.record` …).
    pub action: String,
    /// The tender concerned.
    #[serde(default)]
    pub tender: Option<String>,
    /// The event's payload.
    #[serde(default)]
    pub payload: Value,
    /// The client's IP address, when the actor was a request.
    #[serde(default)]
    pub client_ip: Option<String>,
}

impl Event {
    /// Parses a canonical entry; `None` for an entry this version cannot read (the rules
    /// skip it rather than stop the engine).
    pub fn parse(entry: &str) -> Option<Event> {
        serde_json::from_str(entry).ok()
    }

    /// A string field of the payload.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.payload.get(key).and_then(Value::as_str)
    }
}
