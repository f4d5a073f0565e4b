//! `sunbid audit export` and `sunbid audit verify --file`: the log as one self-contained
//! file (JSON lines) that verifies with no server.
//!
//! The first line is the header `{"format": "sunbid-audit-export/v1", "vkey", "checkpoint",
//! "size"}` with the latest kept checkpoint (and its witness cosignatures); then one line
//! per event `{"seq", "entry", "leaf_hash"}` in order, exactly `size` of them. Verifying
//! recomputes every leaf and the root and compares it with the signed checkpoint, so a
//! truncated file, a dropped, reordered or altered entry is refused.

use serde::Deserialize;
use serde_json::json;

use super::checkpoint::Checkpoint;
use super::merkle;
use super::verify::{ServedEvent, VerifyError, check_event, get_json};

/// The header's format name.
pub const FORMAT: &str = "sunbid-audit-export/v1";

#[derive(Deserialize)]
struct Header {
    format: String,
    vkey: String,
    checkpoint: String,
    size: u64,
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    checkpoint: String,
    vkey: String,
    size: u64,
}

#[derive(Deserialize)]
struct EventsAnswer {
    events: Vec<serde_json::Value>,
}

/// What an export verification found.
#[derive(Debug, PartialEq, Eq)]
pub enum FileVerdict {
    /// Every event matches the signed checkpoint.
    Ok {
        /// Tree size.
        size: u64,
        /// Entries the file holds only as leaf hashes (withheld from the exporter).
        withheld: u64,
        /// The key the checkpoint verified with.
        vkey: String,
    },
    /// The file is refused, and why (the first bad event when one can be named).
    Refused(String),
}

/// Downloads the log of the server at `base` up to its latest kept checkpoint into the
/// export text. A regulator's `token` includes withheld entries.
pub async fn export(base: &str, token: Option<&str>) -> Result<String, VerifyError> {
    let base = base.trim_end_matches('/');
    let client = reqwest::Client::new();
    let cp: CheckpointAnswer =
        get_json(&client, &format!("{base}/api/v1/audit/checkpoint"), None).await?;
    let mut out = json!({"format": FORMAT, "vkey": cp.vkey, "checkpoint": cp.checkpoint,
                         "size": cp.size})
    .to_string();
    out.push('\n');
    let mut from = 0u64;
    while from < cp.size {
        let limit = (cp.size - from).min(1000);
        let page: EventsAnswer = get_json(
            &client,
            &format!("{base}/api/v1/audit/events?from={from}&limit={limit}"),
            token,
        )
        .await?;
        if page.events.is_empty() {
            return Err(VerifyError::Protocol(format!(
                "the log stops at {from}, the checkpoint says {}",
                cp.size
            )));
        }
        for ev in page.events.iter().take(usize::try_from(limit).unwrap_or(0)) {
            let line =
                json!({"seq": ev["seq"], "entry": ev["entry"], "leaf_hash": ev["leaf_hash"]});
            out.push_str(&line.to_string());
            out.push('\n');
            from += 1;
        }
    }
    Ok(out)
}

/// Verifies an export offline, with the pinned `vkey` or else the file's own (which only
/// proves the file is consistent with itself; the caller says so).
pub fn verify_export(text: &str, vkey: Option<&str>) -> FileVerdict {
    let refuse = |m: String| FileVerdict::Refused(m);
    let mut lines = text.split_terminator('\n');
    let Some(header) = lines.next() else {
        return refuse("the file is empty".into());
    };
    let header: Header = match serde_json::from_str(header) {
        Ok(h) => h,
        Err(e) => return refuse(format!("the header is not an export header: {e}")),
    };
    if header.format != FORMAT {
        return refuse(format!("unknown format {}", header.format));
    }
    let vkey = vkey.map_or(header.vkey, str::to_owned);
    let checkpoint = match Checkpoint::open(&header.checkpoint, &vkey) {
        Ok(c) => c,
        Err(e) => return refuse(format!("the checkpoint does not verify: {e}")),
    };
    if checkpoint.size != header.size {
        return refuse("the header's size differs from its checkpoint's".into());
    }
    let mut leaves = Vec::new();
    let mut withheld = 0u64;
    for line in lines {
        let seq = leaves.len() as u64;
        if seq >= checkpoint.size {
            return refuse(format!(
                "more events than the checkpoint's {} (event {seq})",
                checkpoint.size
            ));
        }
        let ev: ServedEvent = match serde_json::from_str(line) {
            Ok(e) => e,
            Err(e) => return refuse(format!("event {seq}: not an event line: {e}")),
        };
        withheld += u64::from(ev.entry.is_none());
        match check_event(seq, &ev) {
            Ok(leaf) => leaves.push(leaf),
            Err(reason) => return refuse(format!("event {seq}: {reason}")),
        }
    }
    if (leaves.len() as u64) < checkpoint.size {
        return refuse(format!(
            "truncated: {} events, the checkpoint covers {}",
            leaves.len(),
            checkpoint.size
        ));
    }
    if merkle::root(&leaves) != checkpoint.root {
        return refuse(
            "the events do not hash to the signed checkpoint's root (an entry and its leaf hash were changed together)"
                .into(),
        );
    }
    FileVerdict::Ok {
        size: checkpoint.size,
        withheld,
        vkey,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::verifier_key;
    use ring::signature::{Ed25519KeyPair, KeyPair as _};

    fn export_of(n: u64) -> (String, String) {
        let key = Ed25519KeyPair::from_seed_unchecked(&[5u8; 32]).unwrap();
        let pk: [u8; 32] = key.public_key().as_ref().try_into().unwrap();
        let entries: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"action":"a","seq":{i},"v":1}}"#))
            .collect();
        let leaves: Vec<_> = entries
            .iter()
            .map(|e| merkle::leaf_hash(e.as_bytes()))
            .collect();
        let cp = Checkpoint {
            origin: "o.example/log".into(),
            size: n,
            root: merkle::root(&leaves),
        };
        let vkey = verifier_key("o.example/log", &pk);
        let mut out = json!({"format": FORMAT, "vkey": vkey, "size": n,
                             "checkpoint": cp.sign("o.example/log", &key)})
        .to_string();
        out.push('\n');
        for (e, l) in entries.iter().zip(&leaves) {
            let seq = serde_json::from_str::<serde_json::Value>(e).unwrap()["seq"].clone();
            out.push_str(&json!({"seq": seq, "entry": e, "leaf_hash": hex::encode(l)}).to_string());
            out.push('\n');
        }
        (out, vkey)
    }

    #[test]
    fn a_whole_export_verifies_and_a_damaged_one_is_refused() {
        let (good, vkey) = export_of(9);
        assert!(matches!(
            verify_export(&good, Some(&vkey)),
            FileVerdict::Ok { size: 9, .. }
        ));
        let lines: Vec<&str> = good.split_terminator('\n').collect();
        let truncated = lines[..lines.len() - 1].join("\n") + "\n";
        let altered = good.replacen(
            r#"\"action\":\"a\",\"seq\":3"#,
            r#"\"action\":\"b\",\"seq\":3"#,
            1,
        );
        assert_ne!(altered, good);
        let mut swapped = lines.clone();
        swapped.swap(2, 3);
        let swapped = swapped.join("\n") + "\n";
        let extra = format!("{good}{}\n", lines[1]);
        for (what, bad) in [
            ("truncated", truncated),
            ("altered", altered),
            ("swapped", swapped),
            ("extra", extra),
            ("empty", String::new()),
            ("garbage", "{not json\n".into()),
        ] {
            assert!(
                matches!(verify_export(&bad, Some(&vkey)), FileVerdict::Refused(_)),
                "{what}"
            );
        }
        // Another key pinned: refused.
        let other = verifier_key(
            "o.example/log",
            &Ed25519KeyPair::from_seed_unchecked(&[6u8; 32])
                .unwrap()
                .public_key()
                .as_ref()
                .try_into()
                .unwrap(),
        );
        assert!(matches!(
            verify_export(&good, Some(&other)),
            FileVerdict::Refused(_)
        ));
    }
}
