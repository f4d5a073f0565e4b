//! `sunbid audit verify`: download a server's log, recompute every leaf and the tree,
//! check the signed checkpoint, and name the first event that does not match.

use serde::Deserialize;

use super::checkpoint::Checkpoint;
use super::merkle::{self, Hash};

/// The outcome of a verification.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every event matches the signed checkpoint.
    Ok {
        /// Tree size.
        size: u64,
        /// Root hash.
        root: Hash,
        /// Entries the server withheld from this reader (checked by leaf hash only).
        withheld: u64,
    },
    /// The first event that does not match, and why.
    BadEvent {
        /// Its sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
}

/// Verification could not be carried out (network, signature, protocol).
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// HTTP failure.
    #[error("cannot fetch {0}")]
    Http(String),
    /// The checkpoint's signature or format is bad.
    #[error("checkpoint signature or format is invalid: {0}")]
    Checkpoint(String),
    /// The server answered something unexpected.
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

/// One event as the server serves it.
#[derive(Debug, Deserialize)]
pub struct ServedEvent {
    /// Leaf index.
    pub seq: u64,
    /// Canonical entry text (`None` while withheld from this reader).
    pub entry: Option<String>,
    /// Leaf hash (hex) recorded at append time.
    pub leaf_hash: String,
}

/// Recomputes one event's leaf hash, or says why the event is malformed. A withheld entry
/// contributes its served leaf hash; the tree root still binds it.
pub fn check_event(expected_seq: u64, ev: &ServedEvent) -> Result<Hash, String> {
    if ev.seq != expected_seq {
        return Err(format!(
            "expected event {expected_seq}, the server sent {}",
            ev.seq
        ));
    }
    let Some(entry) = &ev.entry else {
        let bytes = hex::decode(&ev.leaf_hash).map_err(|_| "leaf hash is not hex".to_string())?;
        return <Hash>::try_from(bytes.as_slice())
            .map_err(|_| "leaf hash is not 32 bytes".to_string());
    };
    let value: serde_json::Value =
        serde_json::from_str(entry).map_err(|e| format!("entry is not JSON: {e}"))?;
    if !is_canonical(&value, entry)? {
        return Err("entry is not in canonical form".into());
    }
    if value.get("seq").and_then(serde_json::Value::as_u64) != Some(ev.seq) {
        return Err("entry's seq field differs from its position".into());
    }
    if value.get("v").and_then(serde_json::Value::as_u64) != Some(1) {
        return Err("unknown entry version".into());
    }
    let leaf = merkle::leaf_hash(entry.as_bytes());
    let mut hex_leaf = [0u8; 64];
    if hex::encode_to_slice(leaf, &mut hex_leaf).is_err() || hex_leaf != ev.leaf_hash.as_bytes() {
        return Err(format!(
            "entry hashes to {} but the log recorded {}",
            hex::encode(leaf),
            ev.leaf_hash
        ));
    }
    Ok(leaf)
}

/// Whether `text` is the RFC 8785 (JCS) form of `value`, which it was parsed from.
///
/// Every entry the platform writes has ASCII keys and integers within ±2^53, and for such a
/// value JCS is exactly serde_json's compact output (keys in byte order, which is UTF-16
/// order for ASCII; the same string escapes; integers printed alike), which is several
/// times cheaper than the general canonicaliser: an offline check of a million events spends
/// most of its time here. Any other value takes the general path.
fn is_canonical(value: &serde_json::Value, text: &str) -> Result<bool, String> {
    use serde_json::Value;
    fn plain(v: &Value) -> bool {
        const EXACT: u64 = 1 << 53;
        match v {
            Value::Null | Value::Bool(_) | Value::String(_) => true,
            Value::Number(n) => n
                .as_u64()
                .map(|u| u <= EXACT)
                .or_else(|| n.as_i64().map(|i| i.unsigned_abs() <= EXACT))
                .unwrap_or(false),
            Value::Array(a) => a.iter().all(plain),
            // Keys must come out sorted whatever map serde_json was built with (a crate
            // enabling its `preserve_order` would otherwise echo the input's order).
            Value::Object(o) => {
                o.keys().zip(o.keys().skip(1)).all(|(a, b)| a < b)
                    && o.iter().all(|(k, v)| k.is_ascii() && plain(v))
            }
        }
    }
    let canonical = if plain(value) {
        serde_json::to_string(value).map_err(|e| e.to_string())?
    } else {
        serde_json_canonicalizer::to_string(value).map_err(|e| e.to_string())?
    };
    Ok(canonical == text)
}

/// Finds the first leaf whose recomputed hash disagrees with the tree the server stored,
/// walking down from the root in O(log n) node look-ups. `server_node` returns the
/// server's stored hash of a perfect subtree.
pub async fn locate_mismatch<F, Fut>(
    leaves: &[Hash],
    mut server_node: F,
) -> Result<Option<u64>, VerifyError>
where
    F: FnMut(u8, u64) -> Fut,
    Fut: std::future::Future<Output = Result<Hash, VerifyError>>,
{
    let (mut lo, mut hi) = (0usize, leaves.len());
    while hi - lo > 1 {
        let k = (hi - lo).next_power_of_two() / 2;
        // In an RFC 9162 tree the left child of [lo, hi) is the perfect, aligned subtree
        // [lo, lo + k); if it matches, the difference is on the right.
        let level = k.trailing_zeros() as u8;
        let theirs = server_node(level, (lo / k) as u64).await?;
        let ours = merkle::root(leaves.get(lo..lo + k).unwrap_or_default());
        if theirs != ours {
            hi = lo + k;
        } else {
            lo += k;
        }
    }
    if lo < leaves.len() {
        Ok(Some(lo as u64))
    } else {
        Ok(None)
    }
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    checkpoint: String,
    vkey: String,
}

#[derive(Deserialize)]
struct EventsAnswer {
    events: Vec<ServedEvent>,
}

#[derive(Deserialize)]
struct NodeAnswer {
    hash: String,
}

/// GETs `url` (with a Bearer `token` if given) and parses the JSON answer.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
) -> Result<T, VerifyError> {
    let mut req = client.get(url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .await
        .map_err(|e| VerifyError::Http(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(VerifyError::Http(format!("{url}: HTTP {}", resp.status())));
    }
    resp.json()
        .await
        .map_err(|e| VerifyError::Protocol(format!("{url}: {e}")))
}

/// Verifies the log of the server at `base`. With `pinned_vkey`, the checkpoint must be
/// signed by that key; otherwise the server's own published key is used (and printed by
/// the CLI so it can be pinned next time). A regulator's `token` makes the server show
/// withheld entries too, so every entry is recomputed.
pub async fn verify_server(
    base: &str,
    pinned_vkey: Option<&str>,
    token: Option<&str>,
) -> Result<(Verdict, String), VerifyError> {
    let base = base.trim_end_matches('/');
    let client = reqwest::Client::new();
    let cp: CheckpointAnswer =
        get_json(&client, &format!("{base}/api/v1/audit/checkpoint"), None).await?;
    let vkey = pinned_vkey.map(str::to_string).unwrap_or(cp.vkey);
    let checkpoint = Checkpoint::open(&cp.checkpoint, &vkey)
        .map_err(|e| VerifyError::Checkpoint(e.to_string()))?;

    let mut leaves = Vec::new();
    let mut withheld = 0u64;
    while (leaves.len() as u64) < checkpoint.size {
        let from = leaves.len() as u64;
        let limit = (checkpoint.size - from).min(1000);
        let page: EventsAnswer = get_json(
            &client,
            &format!("{base}/api/v1/audit/events?from={from}&limit={limit}"),
            token,
        )
        .await?;
        if page.events.is_empty() {
            return Err(VerifyError::Protocol(format!(
                "the log stops at {from}, the checkpoint says {}",
                checkpoint.size
            )));
        }
        for ev in page.events.iter().take(usize::try_from(limit).unwrap_or(0)) {
            let seq = leaves.len() as u64;
            withheld += u64::from(ev.entry.is_none());
            match check_event(seq, ev) {
                Ok(leaf) => leaves.push(leaf),
                Err(reason) => return Ok((Verdict::BadEvent { seq, reason }, vkey)),
            }
        }
    }

    let root = merkle::root(&leaves);
    if root == checkpoint.root {
        return Ok((
            Verdict::Ok {
                size: checkpoint.size,
                root,
                withheld,
            },
            vkey,
        ));
    }
    let found = locate_mismatch(&leaves, |level, index| {
        let client = client.clone();
        let url = format!("{base}/api/v1/audit/nodes/{level}/{index}");
        async move {
            let n: NodeAnswer = get_json(&client, &url, None).await?;
            let bytes = hex::decode(&n.hash).map_err(|e| VerifyError::Protocol(e.to_string()))?;
            <Hash>::try_from(bytes.as_slice())
                .map_err(|_| VerifyError::Protocol("node hash is not 32 bytes".into()))
        }
    })
    .await?;
    Ok((
        Verdict::BadEvent {
            seq: found.unwrap_or(0),
            reason: "the event does not match the signed tree (it was changed after it was logged)"
                .into(),
        },
        vkey,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the general canonicaliser says of `text`.
    fn jcs_says(text: &str) -> bool {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        serde_json_canonicalizer::to_string(&v).is_ok_and(|c| c == text)
    }

    #[test]
    fn the_fast_canonical_check_agrees_with_jcs() {
        for text in [
            r#"{"a":1,"b":[true,null,"x"]}"#,
            r#"{"b":1,"a":2}"#,
            r#"{"a":1,"a":2}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e21}"#,
            r#"{"a":1e+21}"#,
            r#"{"a":9007199254740993}"#,
            r#"{"a":-9007199254740992}"#,
            r#"{"a":"\u001f\n\"\\/é中"}"#,
            r#"{"a":"\u001F"}"#,
            r#"{"a":"\/"}"#,
            r#"{"é":1,"z":2}"#,
            r#"{"z":1,"é":2}"#,
            "{\"\u{e000}\":1,\"\u{1f600}\":2}",
            "{\"\u{1f600}\":1,\"\u{e000}\":2}",
            r#"{ "a":1}"#,
            r#"[1,2,{"b":{},"a":[]}]"#,
        ] {
            let v: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(is_canonical(&v, text), Ok(jcs_says(text)), "{text}");
        }
    }

    proptest! {
        #[test]
        fn the_fast_check_agrees_with_jcs_on_generated_objects(
            keys in proptest::collection::vec("[a-zé\u{e000}\u{1f600}\"\\\\\n]{0,3}", 0..5),
            ints in proptest::collection::vec(any::<i64>(), 5),
            s in "\\PC{0,6}",
            reverse in any::<bool>(),
        ) {
            let mut pairs: Vec<String> = keys
                .iter()
                .zip(ints.iter())
                .map(|(k, i)| format!("{}:{i}", serde_json::to_string(k).unwrap_or_default()))
                .collect();
            if reverse {
                pairs.reverse();
            }
            pairs.push(format!("\"~s\":{}", serde_json::to_string(&s).unwrap_or_default()));
            let text = format!("{{{}}}", pairs.join(","));
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
                prop_assert_eq!(is_canonical(&v, &text), Ok(jcs_says(&text)), "{}", text);
            }
        }
    }

    fn ev(seq: u64, entry: &str) -> ServedEvent {
        ServedEvent {
            seq,
            entry: Some(entry.into()),
            leaf_hash: hex::encode(merkle::leaf_hash(entry.as_bytes())),
        }
    }

    #[test]
    fn canonical_entry_passes_and_altered_fails() {
        let e = r#"{"action":"x","seq":0,"v":1}"#;
        assert!(check_event(0, &ev(0, e)).is_ok());
        let mut bad = ev(0, e);
        bad.entry = Some(r#"{"action":"y","seq":0,"v":1}"#.into());
        assert!(check_event(0, &bad).unwrap_err().contains("hashes to"));
        assert!(
            check_event(0, &ev(0, r#"{"seq":0, "v":1}"#))
                .unwrap_err()
                .contains("canonical")
        );
        assert!(check_event(1, &ev(0, e)).is_err());
        let withheld = ServedEvent {
            entry: None,
            ..ev(0, e)
        };
        assert_eq!(
            check_event(0, &withheld).unwrap(),
            merkle::leaf_hash(e.as_bytes())
        );
    }

    #[tokio::test]
    async fn locate_finds_the_changed_leaf() {
        let original: Vec<Hash> = (0..13u8).map(|i| merkle::leaf_hash(&[i])).collect();
        for bad in 0..13usize {
            let mut ours = original.clone();
            ours[bad] = merkle::leaf_hash(b"tampered");
            let found = locate_mismatch(&ours, |level, index| {
                let span = 1usize << level;
                let start = index as usize * span;
                let h = merkle::root(&original[start..start + span]);
                async move { Ok(h) }
            })
            .await
            .unwrap();
            assert_eq!(found, Some(bad as u64));
        }
    }
}
