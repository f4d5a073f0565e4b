//! Backup and restore (issue 14, "Operations"): `sunbid backup` while the server runs,
//! `sunbid restore` into a new, empty database and blob folder, a server on the restored
//! data: `sunbid audit verify` accepts its log, a checkpoint signed before the backup is
//! consistent with the restored log (RFC 9162 consistency proof), and every stored bid part
//! is there with its bytes. Bad inputs: a non-empty output folder, a folder that is not a
//! backup, a database that is not empty.

use std::path::Path;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::Value;
use sunbid::audit::merkle::{Hash, verify_consistency};
use sunbid::config::Config;

use crate::both;
use crate::harness::{Backend, Harness, pg_database, run_cli};
use crate::opening_faults::{honest_bid, published};
use crate::s3::S3Server;

fn hash(hex_text: &str) -> Hash {
    let bytes = hex::decode(hex_text).expect("hex");
    bytes.try_into().expect("32 bytes")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy");
        }
    }
}

/// The `--data-dir`/`--database-url` arguments of a configuration.
fn place_args(data_dir: &Path, database_url: Option<&str>) -> Vec<String> {
    let mut args = vec!["--data-dir".to_string(), data_dir.display().to_string()];
    if let Some(url) = database_url {
        args.extend(["--database-url".to_string(), url.to_string()]);
    }
    args
}

/// The `sunbid` binary with more environment (the S3 settings of a configuration).
async fn cli_with(args: Vec<String>, env: &[(String, String)]) -> (bool, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_sunbid"))
        .args(&args)
        .envs(env.iter().cloned())
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("run sunbid binary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `SUNBID_*` variables for the blob store of `c` (none for the local folder).
fn blob_env(c: &Config) -> Vec<(String, String)> {
    let Some(url) = &c.blob_url else {
        return Vec::new();
    };
    let mut env = vec![("SUNBID_BLOB_URL".to_string(), url.clone())];
    for (key, value) in [
        ("SUNBID_S3_ENDPOINT", &c.s3_endpoint),
        ("SUNBID_S3_REGION", &c.s3_region),
        ("SUNBID_S3_ACCESS_KEY_ID", &c.s3_access_key_id),
        ("SUNBID_S3_SECRET_ACCESS_KEY", &c.s3_secret_access_key),
    ] {
        if let Some(v) = value {
            env.push((key.to_string(), v.clone()));
        }
    }
    env
}

async fn backup_then_restore(h: &Harness) {
    backup_then_restore_into(h, None).await;
}

/// Backs up `h` and restores it into a new database and, when `s3` is given, the bucket's
/// `restored` prefix (else a local folder).
async fn backup_then_restore_into(h: &Harness, s3: Option<&S3Server>) {
    let config = h.state().config.clone();
    let source_env = blob_env(&config);
    let pg_url = config.database_url.clone();
    let o = published(h).await;
    let (org_a, _, a) = h.bidder("backup_a").await;
    let (org_b, _, b) = h.bidder("backup_b").await;
    honest_bid(h, &o, &org_a, &a, 11_000_000_000).await;
    honest_bid(h, &o, &org_b, &b, 11_200_000_000).await;

    // The checkpoint a verifier (or witness) accepted before the backup.
    let (status, before) = h.api_get("/api/v1/audit/checkpoint", None).await;
    assert_eq!(status, StatusCode::OK, "{before}");

    // The backup, taken while the server runs.
    let work = tempfile::tempdir().expect("temp dir");
    let out = work.path().join("backup");
    let mut args = vec!["backup".to_string()];
    args.extend(place_args(&config.data_dir, pg_url.as_deref()));
    args.extend(["--out".to_string(), out.display().to_string()]);
    let (ok, stdout, stderr) = cli_with(args.clone(), &source_env).await;
    assert!(ok, "backup failed:\n{stdout}\n{stderr}");
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert!(
        manifest["blobs"].as_u64().is_some_and(|n| n >= 4),
        "{manifest}"
    );
    assert!(
        manifest["audit_size"].as_u64() >= before["size"].as_u64(),
        "{manifest} {before}"
    );

    // Bad input: the same folder again (not empty).
    let (ok, _, stderr) = cli_with(args, &source_env).await;
    assert!(!ok, "a second backup over the first was accepted");
    assert!(stderr.contains("not empty"), "{stderr}");

    // Life goes on after the backup: a bid the restore will not have.
    let (org_c, _, c) = h.bidder("backup_c").await;
    honest_bid(h, &o, &org_c, &c, 11_300_000_000).await;

    // Restore into a new place: an empty database, an empty data folder with the keys
    // restored from where they are kept (they are not in the backup).
    let target = work.path().join("restored");
    copy_dir(&config.key_dir(), &target.join("keys"));
    let guard = match h.backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some(pg_database().await.expect("a second database")),
    };
    let target_url = guard.as_ref().map(|g| g.url.clone());
    let mut restored_config = Config {
        data_dir: target.clone(),
        database_url: target_url.clone(),
        public_url: config.public_url.clone(),
        list_cache_ms: 0,
        ..Config::default()
    };
    if let Some(s3) = s3 {
        s3.configure(&mut restored_config, "restored");
    }
    let target_env = blob_env(&restored_config);
    let restore_args = |from: &Path| {
        let mut args = vec!["restore".to_string()];
        args.extend(place_args(&target, target_url.as_deref()));
        args.extend(["--from".to_string(), from.display().to_string()]);
        args
    };
    // Bad input: a folder that is not a backup.
    let (ok, _, stderr) = cli_with(restore_args(work.path()), &target_env).await;
    assert!(!ok, "restored from a folder that is not a backup");
    assert!(stderr.contains("not a Sunbid backup"), "{stderr}");
    let (ok, stdout, stderr) = cli_with(restore_args(&out), &target_env).await;
    assert!(ok, "restore failed:\n{stdout}\n{stderr}");
    // Bad input: restoring over the restored data.
    let (ok, _, stderr) = cli_with(restore_args(&out), &target_env).await;
    assert!(!ok, "restored into a database that is not empty");
    assert!(stderr.contains("not empty"), "{stderr}");

    // A server on the restored data, under the same public URL (the checkpoints' origin).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    restored_config.listen = listener.local_addr().expect("addr");
    let running = sunbid::server::start(
        restored_config,
        Arc::new(sunbid::clock::SystemClock),
        listener,
    )
    .await
    .expect("a server on the restored data");
    let base = format!("http://{}", running.addr);
    let get = async |path: &str| -> Value {
        let r = h
            .client
            .get(format!("{base}{path}"))
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        r.json().await.expect("JSON")
    };

    let vkey = before["vkey"].as_str().expect("vkey");
    let (ok, stdout, stderr) =
        run_cli(&["audit", "verify", "--server", &base, "--vkey", vkey]).await;
    assert!(ok, "the restored log does not verify:\n{stdout}\n{stderr}");

    // The checkpoint from before the backup is kept, and the restored log extends it.
    let old_size = before["size"].as_u64().expect("size");
    let kept = get(&format!("/api/v1/audit/checkpoints/{old_size}")).await;
    assert_eq!(
        kept["checkpoint"], before["checkpoint"],
        "the same signed note"
    );
    let after = get("/api/v1/audit/checkpoint").await;
    let new_size = after["size"].as_u64().expect("size");
    assert!(new_size >= old_size, "{after}");
    let proof = get(&format!(
        "/api/v1/audit/proof/consistency?old={old_size}&new={new_size}"
    ))
    .await;
    let proof: Vec<Hash> = proof["proof"]
        .as_array()
        .expect("proof")
        .iter()
        .map(|p| hash(p.as_str().expect("hex")))
        .collect();
    assert!(
        verify_consistency(
            old_size,
            new_size,
            &hash(before["root"].as_str().expect("root")),
            &hash(after["root"].as_str().expect("root")),
            &proof
        ),
        "a checkpoint signed before the backup is inconsistent with the restored log"
    );

    // Every stored part is back, byte for byte; the bid made after the backup is not.
    let state = &running.state;
    let mut tx = state.db.read().await.expect("read");
    let parts: Vec<(String,)> =
        sunbid::q_all!(tx, (String,), "select sha256 from bid_part").expect("parts");
    let bids: Vec<(String,)> =
        sunbid::q_all!(tx, (String,), "select bidder_org_id from bid").expect("bids");
    drop(tx);
    assert_eq!(parts.len(), 4, "two bids of two parts each");
    for (digest,) in &parts {
        state.blobs.get(digest).await.expect("the part's bytes");
    }
    assert!(bids.iter().all(|(org,)| *org != org_c), "{bids:?}");
    if let Some(s3) = s3 {
        assert!(state.blobs.is_remote());
        let restored = s3.objects("restored/sha256");
        assert!(restored.len() >= parts.len(), "{restored:?}");
    }
    running.stop().await.expect("stop");
    drop(guard);
}
both!(backup_and_restore, backup_then_restore);

/// The same with the blobs in S3: backed up from the bucket, restored into another prefix.
mod backup_and_restore_on_s3 {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let Some(s3) = crate::s3::S3Server::start() else {
            return;
        };
        let Some(h) = crate::harness::Harness::start_with(crate::harness::Backend::Postgres, |c| {
            s3.configure(c, "blobs")
        })
        .await
        else {
            return;
        };
        assert!(h.state().blobs.is_remote());
        super::backup_then_restore_into(&h, Some(&s3)).await;
        h.finish().await;
    }
}
