//! A record's `compiledRelease` and `versionedRelease` from its releases, by the OCDS 1.1
//! merge rules: objects merge field by field, arrays of objects with an `id` merge item by
//! item on that id, any other value (arrays of strings included) is replaced whole. The
//! versioned release keeps each field's history as `{releaseID, releaseDate, releaseTag,
//! value}`, with the `id` of array items (the merge key) and `ocid` unversioned.

use serde_json::{Map, Value, json};

fn is_identified_array(items: &[Value]) -> bool {
    !items.is_empty() && items.iter().all(|i| i.get("id").is_some())
}

fn merge_into(target: &mut Map<String, Value>, source: &Map<String, Value>) {
    for (k, v) in source {
        if v.is_null() {
            continue;
        }
        match v {
            Value::Object(o) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(t) = slot {
                    merge_into(t, o);
                }
            }
            Value::Array(items) if is_identified_array(items) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if !slot.is_array() {
                    *slot = Value::Array(Vec::new());
                }
                if let Value::Array(existing) = slot {
                    for item in items {
                        let Value::Object(io) = item else { continue };
                        let pos = existing.iter().position(|e| e.get("id") == io.get("id"));
                        let at = match pos {
                            Some(p) => p,
                            None => {
                                existing.push(Value::Object(Map::new()));
                                existing.len() - 1
                            }
                        };
                        if let Some(Value::Object(t)) = existing.get_mut(at) {
                            merge_into(t, io);
                        }
                    }
                }
            }
            other => {
                target.insert(k.clone(), other.clone());
            }
        }
    }
}

/// The compiled release: every release merged in order, tagged `compiled`.
pub fn compiled(ocid: &str, releases: &[Value]) -> Value {
    let mut out = Map::new();
    for r in releases {
        if let Value::Object(o) = r {
            merge_into(&mut out, o);
        }
    }
    out.insert("ocid".into(), json!(ocid));
    out.insert("id".into(), json!(format!("{ocid}-compiled")));
    out.insert("tag".into(), json!(["compiled"]));
    if let Some(date) = releases.last().and_then(|r| r.get("date")) {
        out.insert("date".into(), date.clone());
    }
    Value::Object(out)
}

struct Meta<'a> {
    id: &'a Value,
    date: &'a Value,
    tag: &'a Value,
}

fn push_version(slot: &mut Value, value: &Value, meta: &Meta<'_>) {
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    if let Value::Array(history) = slot {
        if history.last().and_then(|h| h.get("value")) == Some(value) {
            return;
        }
        history.push(json!({"releaseID": meta.id, "releaseDate": meta.date,
                            "releaseTag": meta.tag, "value": value}));
    }
}

fn version_into(target: &mut Map<String, Value>, source: &Map<String, Value>, meta: &Meta<'_>) {
    for (k, v) in source {
        match v {
            Value::Object(o) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(t) = slot {
                    version_into(t, o, meta);
                }
            }
            Value::Array(items) if is_identified_array(items) => {
                let slot = target
                    .entry(k.clone())
                    .or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(existing) = slot {
                    for item in items {
                        let Value::Object(io) = item else { continue };
                        let id = io.get("id").cloned().unwrap_or(Value::Null);
                        let pos = existing.iter().position(|e| e.get("id") == Some(&id));
                        let at = match pos {
                            Some(p) => p,
                            None => {
                                existing.push(json!({"id": id}));
                                existing.len() - 1
                            }
                        };
                        let mut rest = io.clone();
                        rest.remove("id");
                        if let Some(Value::Object(t)) = existing.get_mut(at) {
                            version_into(t, &rest, meta);
                        }
                    }
                }
            }
            other => {
                let slot = target.entry(k.clone()).or_insert(Value::Null);
                push_version(slot, other, meta);
            }
        }
    }
}

/// The versioned release: each field's values over the releases, in order.
pub fn versioned(ocid: &str, releases: &[Value]) -> Value {
    let mut out = Map::new();
    let null = Value::Null;
    for r in releases {
        let Value::Object(o) = r else { continue };
        let meta = Meta {
            id: o.get("id").unwrap_or(&null),
            date: o.get("date").unwrap_or(&null),
            tag: o.get("tag").unwrap_or(&null),
        };
        let mut fields = o.clone();
        for k in ["ocid", "id", "date", "tag"] {
            fields.remove(k);
        }
        version_into(&mut out, &fields, &meta);
    }
    out.insert("ocid".into(), json!(ocid));
    Value::Object(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn releases() -> Vec<Value> {
        vec![
            json!({"ocid": "o", "id": "o-1", "date": "2026-01-01T00:00:00Z", "tag": ["tender"],
                   "initiationType": "tender",
                   "tender": {"id": "t", "status": "active", "tenderPeriod": {"endDate": "A"}},
                   "parties": [{"id": "b", "name": "Buyer", "roles": ["buyer"]}]}),
            json!({"ocid": "o", "id": "o-2", "date": "2026-01-02T00:00:00Z", "tag": ["tenderAmendment"],
                   "initiationType": "tender",
                   "tender": {"id": "t", "tenderPeriod": {"endDate": "B"}}}),
            json!({"ocid": "o", "id": "o-3", "date": "2026-01-03T00:00:00Z", "tag": ["award"],
                   "initiationType": "tender",
                   "tender": {"id": "t", "status": "complete"},
                   "parties": [{"id": "s", "name": "Supplier", "roles": ["supplier"]}]}),
        ]
    }

    #[test]
    fn compiled_merges_objects_and_identified_arrays() {
        let c = compiled("o", &releases());
        assert_eq!(c["tender"]["status"], "complete");
        assert_eq!(c["tender"]["tenderPeriod"]["endDate"], "B");
        assert_eq!(c["parties"].as_array().unwrap().len(), 2);
        assert_eq!(c["tag"], json!(["compiled"]));
        assert_eq!(c["date"], "2026-01-03T00:00:00Z");
    }

    #[test]
    fn versioned_keeps_each_change_once() {
        let v = versioned("o", &releases());
        let status = v["tender"]["status"].as_array().unwrap();
        assert_eq!(status.len(), 2);
        assert_eq!(status[1]["releaseID"], "o-3");
        // Unchanged values are recorded once; array item ids are plain.
        assert_eq!(v["tender"]["id"].as_array().unwrap().len(), 1);
        assert_eq!(v["parties"][1]["id"], "s");
        assert_eq!(v["ocid"], "o");
        assert!(v.get("tag").is_none());
    }
}
