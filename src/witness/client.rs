//! The witness's I/O: its state folder, fetching the log's newest checkpoint and the
//! consistency proof from the one it accepted before, and posting the cosignature back.
//!
//! The state folder holds `log.vkey` (the log's verifier key, pinned on first contact or
//! given with `--log-vkey`) and `checkpoint` (the last accepted note). The new checkpoint
//! is written (atomically) before the cosignature leaves the witness, as C2SP tlog-witness
//! requires, so a crash can never make it cosign a smaller tree later. A refused split view
//! is kept as evidence in `split-view-<old>-<new>.txt` and reported to the log, signed with
//! the witness key (see [`super::report`]); what became of the report is kept next to it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::report::{self, SplitViewReport};
use super::{Refusal, check_extends, open_log_checkpoint};
use crate::audit::checkpoint::{Checkpoint, parse_verifier_key, split_note};
use crate::audit::cosign::{cosign, witness_vkey};
use crate::audit::merkle::Hash;
use crate::keys::SigningKey;

/// What `sunbid witness` needs.
#[derive(Debug, Clone)]
pub struct WitnessOptions {
    /// The log's base URL, e.g. `https://bid.example.cn`.
    pub log: String,
    /// The witness's Ed25519 key (PKCS#8); created on first use.
    pub key_file: PathBuf,
    /// The witness's state folder.
    pub state_dir: PathBuf,
    /// The witness's key name, e.g. `regulator.example.gov.cn/witness`.
    pub name: String,
    /// Pin the log's verifier key instead of trusting it on first contact.
    pub log_vkey: Option<String>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree size cosigned.
    pub size: u64,
    /// The size accepted before (0 on first contact).
    pub previous: u64,
    /// The witness's verifier key (the platform's configuration must list it).
    pub vkey: String,
    /// The witnesses the platform now shows for this checkpoint.
    pub witnesses: Vec<String>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The checkpoint was refused (the log misbehaved or the answer was forged).
    #[error("REFUSED: {0}")]
    Refused(#[from] Refusal),
    /// The log could not be reached or answered nonsense.
    #[error("talking to the log: {0}")]
    Http(String),
    /// The log did not accept the cosignature.
    #[error("the log did not accept the cosignature ({status}): {body}")]
    NotAccepted {
        /// HTTP status.
        status: u16,
        /// The log's answer.
        body: String,
    },
    /// The state folder or key could not be read or written.
    #[error("witness state: {0}")]
    State(String),
}

#[derive(Deserialize)]
struct CheckpointAnswer {
    checkpoint: String,
    vkey: String,
}

#[derive(Deserialize)]
struct ProofAnswer {
    proof: Vec<String>,
}

#[derive(Deserialize)]
struct Witnessed {
    witnesses: Vec<WitnessName>,
}

#[derive(Deserialize)]
struct WitnessName {
    witness: String,
}

fn state_err(what: &str, path: &Path, e: impl std::fmt::Display) -> WitnessError {
    WitnessError::State(format!("{what} {}: {e}", path.display()))
}

pub(crate) fn read_opt(path: &Path) -> Result<Option<String>, WitnessError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_err("reading", path, e)),
    }
}

/// Writes through a temporary file and a rename, so a crash leaves the old or the new
/// state, never half of one.
pub(crate) fn write_atomic(path: &Path, text: &str) -> Result<(), WitnessError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| state_err("writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state_err("writing", path, e))
}

async fn get_json<T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
) -> Result<T, WitnessError> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| WitnessError::Http(format!("{url}: {e}")))?;
    if !resp.status().is_success() {
        return Err(WitnessError::Http(format!("{url}: {}", resp.status())));
    }
    resp.json()
        .await
        .map_err(|e| WitnessError::Http(format!("{url}: {e}")))
}

pub(crate) fn decode_proof(hashes: &[String]) -> Result<Vec<Hash>, WitnessError> {
    hashes
        .iter()
        .map(|h| {
            hex::decode(h)
                .ok()
                .and_then(|b| <Hash>::try_from(b.as_slice()).ok())
                .ok_or_else(|| WitnessError::Http("a proof hash is not 32 bytes of hex".into()))
        })
        .collect()
}

/// Posts a split-view report to the log at `base`; says what became of it, in words
/// (kept next to the evidence: the report is a courtesy, the refusal is what matters).
pub async fn post_report(http: &reqwest::Client, base: &str, report: &SplitViewReport) -> String {
    let url = format!("{base}/api/v1/audit/split-views");
    match http.post(&url).json(report).send().await {
        Ok(resp) => {
            let status = resp.status();
            let body = resp.text().await.unwrap_or_default();
            if status.is_success() {
                format!("reported to {url}: {body}")
            } else {
                tracing::warn!(%status, %body, "the log did not take the split-view report");
                format!("report refused by {url} ({status}): {body}")
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot post the split-view report");
            format!("report not delivered to {url}: {e}")
        }
    }
}

/// One witnessing round: fetch, verify, persist, cosign, post.
pub async fn run_once(opts: &WitnessOptions) -> Result<Cosigned, WitnessError> {
    std::fs::create_dir_all(&opts.state_dir)
        .map_err(|e| state_err("creating", &opts.state_dir, e))?;
    let key = SigningKey::load_or_create(&opts.key_file)
        .map_err(|e| state_err("loading the key", &opts.key_file, e))?;
    let vkey = witness_vkey(&opts.name, &key.public());
    let base = opts.log.trim_end_matches('/');
    let http = reqwest::Client::new();

    let answer: CheckpointAnswer =
        get_json(&http, &format!("{base}/api/v1/audit/checkpoint")).await?;
    let vkey_path = opts.state_dir.join("log.vkey");
    let log_vkey = match (read_opt(&vkey_path)?, &opts.log_vkey) {
        (Some(kept), Some(pinned)) if kept.trim() != pinned => {
            return Err(WitnessError::State(format!(
                "the state folder follows log key {}, not {pinned}",
                kept.trim()
            )));
        }
        (Some(kept), _) => kept.trim().to_owned(),
        (None, Some(pinned)) => pinned.clone(),
        (None, None) => answer.vkey.clone(),
    };
    let log_key = parse_verifier_key(&log_vkey)
        .map_err(|e| WitnessError::State(format!("log key {log_vkey}: {e}")))?;
    write_atomic(&vkey_path, &format!("{log_vkey}\n"))?;

    let new = open_log_checkpoint(&answer.checkpoint, &log_key)?;
    let cp_path = opts.state_dir.join("checkpoint");
    let accepted: Option<(String, Checkpoint)> = match read_opt(&cp_path)? {
        Some(note) => {
            let cp = open_log_checkpoint(&note, &log_key)
                .map_err(|e| state_err("the accepted checkpoint in", &cp_path, e))?;
            Some((note, cp))
        }
        None => None,
    };
    let proof = match &accepted {
        Some((_, old)) if old.size > 0 && old.size < new.size => {
            let url = format!(
                "{base}/api/v1/audit/proof/consistency?old={}&new={}",
                old.size, new.size
            );
            decode_proof(&get_json::<ProofAnswer>(&http, &url).await?.proof)?
        }
        _ => Vec::new(),
    };
    if let Err(refusal) = check_extends(accepted.as_ref().map(|(_, c)| c), &new, &proof) {
        if let (Refusal::Inconsistent { old, new: size }, Some((old_note, _))) =
            (&refusal, &accepted)
        {
            let evidence = opts.state_dir.join(format!("split-view-{old}-{size}.txt"));
            let hashes: Vec<String> = proof.iter().map(hex::encode).collect();
            write_atomic(
                &evidence,
                &format!(
                    "accepted checkpoint:\n{old_note}\noffered checkpoint:\n{}\nconsistency proof (hex):\n{}\n",
                    answer.checkpoint,
                    hashes.join("\n")
                ),
            )?;
            // Tell the platform too: its supervision raises an alert for a report a
            // trusted witness signed. The refusal stands whatever the answer.
            let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
            let report = report::sign(old_note, &answer.checkpoint, &opts.name, &key.pair, now);
            let outcome = post_report(&http, base, &report).await;
            write_atomic(
                &evidence.with_extension("reported"),
                &format!("{outcome}\n"),
            )?;
        }
        return Err(refusal.into());
    }
    // Persist before cosigning: the witness never cosigns below what it has recorded.
    write_atomic(&cp_path, &answer.checkpoint)?;

    let (body, _) =
        split_note(&answer.checkpoint).map_err(|e| Refusal::Malformed(e.to_string()))?;
    let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
    let line = cosign(body, &opts.name, &key.pair, now);
    let cosigned = format!("{}{line}\n", answer.checkpoint);
    let resp = http
        .post(format!("{base}/api/v1/audit/cosignatures"))
        .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(cosigned)
        .send()
        .await
        .map_err(|e| WitnessError::Http(e.to_string()))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.text().await.unwrap_or_default();
        return Err(WitnessError::NotAccepted {
            status: status.as_u16(),
            body,
        });
    }
    let kept: Witnessed = resp
        .json()
        .await
        .map_err(|e| WitnessError::Http(e.to_string()))?;
    Ok(Cosigned {
        size: new.size,
        previous: accepted.map(|(_, c)| c.size).unwrap_or(0),
        vkey,
        witnesses: kept.witnesses.into_iter().map(|w| w.witness).collect(),
    })
}

/// The witness's verifier key for `name` and the key in `key_file` (created if missing).
pub fn vkey_of(key_file: &Path, name: &str) -> Result<String, WitnessError> {
    let key = SigningKey::load_or_create(key_file)
        .map_err(|e| state_err("loading the key", key_file, e))?;
    Ok(witness_vkey(name, &key.public()))
}
