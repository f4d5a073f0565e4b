//! Incremental verification and split-view reports (issue 16): `sunbid audit verify
//! --state` keeps the last verified checkpoint and fetches only the new entries and a
//! consistency proof; it refuses another log's checkpoint, a damaged state, a changed new
//! entry and a split view. A split view signed by a trusted witness raises one supervision
//! alert; reports from strangers, forged ones, checkpoints of another log and consistent
//! pairs are refused with `{code, message}`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::audit::checkpoint::Checkpoint;
use sunbid::audit::merkle::{self, Hash};
use sunbid::identity::{OrgKind, Role};
use sunbid::keys::SigningKey;
use sunbid::witness::Refusal;
use sunbid::witness::client::vkey_of;
use sunbid::witness::incremental::{IncrementalError, IncrementalOptions, run};
use sunbid::witness::report;

use crate::harness::{Backend, Harness, PASSWORD, next_serial, run_cli, run_with, uscc};

const WITNESS: &str = "auditor.example/witness";

async fn grow(h: &Harness, i: u64) {
    let (status, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &json!({"company_name": format!("增量核验{i}有限公司"), "uscc": uscc(next_serial()),
                    "username": format!("incr{i}"), "display_name": "周九", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn options(h: &Harness, state: &Path, dir: &Path) -> IncrementalOptions {
    IncrementalOptions {
        server: h.base.clone(),
        state_dir: state.to_path_buf(),
        vkey: None,
        token: None,
        report_as: Some((dir.join("witness.key"), WITNESS.into())),
    }
}

/// A checkpoint of `size` signed with the platform's key over a made-up tree, and the
/// frontier that gives its root (what a forked log would have shown a verifier).
fn forked(h: &Harness, size: u64) -> (String, Vec<Hash>) {
    let frontier: Vec<Hash> = (0..size.count_ones())
        .map(|i| merkle::leaf_hash(&[b'f', i as u8]))
        .collect();
    let origin = h.state().config.log_origin();
    let note = Checkpoint {
        origin: origin.clone(),
        size,
        root: merkle::root_from_frontier(&frontier),
    }
    .sign(&origin, &h.state().platform_key.pair);
    (note, frontier)
}

async fn log_integrity_alerts(h: &Harness) -> Vec<Value> {
    let n = next_serial();
    let org = h
        .create_org(OrgKind::Regulator, &format!("审计监督科{n}"))
        .await;
    let name = format!("reg{n}");
    h.create_user(&name, Role::Regulator, Some(&org)).await;
    let reg = h.login(&name, PASSWORD).await;
    let (status, list) = h
        .api_get("/api/v1/supervision/alerts?kind=log_integrity", Some(&reg))
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list["alerts"]
        .as_array()
        .or_else(|| list.as_array())
        .cloned()
        .unwrap_or_default()
}

async fn incremental_verify(h: &Harness, dir: &Path) {
    h.operator().await;
    grow(h, 0).await;
    let state = dir.join("verifier");
    let opts = options(h, &state, dir);

    // First run: everything; then only what was added.
    let first = run(&opts).await.expect("first run");
    assert_eq!(first.previous, 0);
    assert!(first.size >= 3);
    assert!(state.join("verified.json").exists());
    grow(h, 1).await;
    let second = run(&opts).await.expect("second run");
    assert_eq!(second.previous, first.size);
    assert!(second.size > first.size);
    let again = run(&opts).await.expect("nothing new");
    assert_eq!((again.previous, again.size), (second.size, second.size));

    // The real command line keeps its own state.
    let cli_state = dir.join("cli").display().to_string();
    let args = [
        "audit", "verify", "--server", &h.base, "--state", &cli_state,
    ];
    let (ok, stdout, stderr) = run_cli(&args).await;
    assert!(ok && stdout.starts_with("OK "), "{stdout}{stderr}");
    grow(h, 2).await;
    let (ok, stdout, stderr) = run_cli(&args).await;
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("since size"), "{stdout}");

    // Another log's key pinned on a fresh state: refused.
    let other = sunbid::audit::checkpoint::verifier_key(
        &h.state().config.log_origin(),
        &SigningKey::generate().unwrap().public(),
    );
    let fresh = IncrementalOptions {
        state_dir: dir.join("fresh"),
        vkey: Some(other.clone()),
        ..opts.clone()
    };
    let err = run(&fresh).await.unwrap_err();
    assert!(
        matches!(err, IncrementalError::Refused(Refusal::ForeignLog(_))),
        "{err}"
    );
    // A key other than the one the state follows: refused before anything is fetched.
    let err = run(&IncrementalOptions {
        vkey: Some(other),
        ..opts.clone()
    })
    .await
    .unwrap_err();
    assert!(matches!(err, IncrementalError::State(_)), "{err}");

    // A damaged state (one frontier hash changed, or not JSON) is refused, not trusted.
    let path = state.join("verified.json");
    let good = std::fs::read_to_string(&path).unwrap();
    let mut v: Value = serde_json::from_str(&good).unwrap();
    v["frontier"][0] = json!(hex::encode([7u8; 32]));
    std::fs::write(&path, v.to_string()).unwrap();
    assert!(matches!(
        run(&opts).await.unwrap_err(),
        IncrementalError::State(_)
    ));
    std::fs::write(&path, "{").unwrap();
    assert!(matches!(
        run(&opts).await.unwrap_err(),
        IncrementalError::State(_)
    ));
    std::fs::write(&path, &good).unwrap();
    run(&opts).await.expect("the good state again");

    // A new event changed in the database after it was logged: named, or (with its leaf
    // hash changed too) the new events do not give the signed root.
    let verified = run(&opts).await.unwrap().size;
    grow(h, 3).await;
    h.drop_audit_event_trigger().await;
    let seq = verified as i64;
    let (entry, _) = h.audit_row(seq).await;
    let mut e: Value = serde_json::from_str(&entry).unwrap();
    e["payload"]["tampered"] = json!(true);
    let forged = serde_json_canonicalizer::to_string(&e).unwrap();
    h.overwrite_audit_row(seq, &forged, None).await.unwrap();
    let err = run(&opts).await.unwrap_err();
    assert!(
        matches!(err, IncrementalError::BadEvent { seq: s, .. } if s == verified),
        "{err}"
    );
    let leaf = merkle::leaf_hash(forged.as_bytes());
    h.overwrite_audit_row(seq, &forged, Some(&leaf))
        .await
        .unwrap();
    let err = run(&opts).await.unwrap_err();
    assert!(matches!(err, IncrementalError::Root { .. }), "{err}");
    h.overwrite_audit_row(seq, &entry, Some(&merkle::leaf_hash(entry.as_bytes())))
        .await
        .unwrap();
    let now = run(&opts).await.expect("restored");

    // A split view: the state holds a checkpoint of the same log (its key) over another
    // tree. Refused, kept as evidence, reported once: one alert however often it is seen.
    let (note, frontier) = forked(h, now.size);
    v = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    v["checkpoint"] = json!(note);
    v["frontier"] = json!(frontier.iter().map(hex::encode).collect::<Vec<_>>());
    std::fs::write(&path, v.to_string()).unwrap();
    grow(h, 4).await;
    for _ in 0..2 {
        let err = run(&opts).await.unwrap_err();
        assert!(
            matches!(err, IncrementalError::Refused(Refusal::Inconsistent { .. })),
            "{err}"
        );
    }
    let reported: Vec<String> = std::fs::read_dir(&state)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("split-view-"))
        .collect();
    // The alert's own audit event grows the log between the runs: two offered sizes, each
    // with its evidence and the report's outcome, but one fork, so one alert.
    assert_eq!(
        reported.len(),
        4,
        "evidence and report outcome: {reported:?}"
    );
    let alerts = log_integrity_alerts(h).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0]["severity"], "high");
    assert_eq!(alerts[0]["rule"], "log.split_view");
}

async fn post_report(h: &Harness, body: &Value) -> (StatusCode, Value) {
    h.api_post("/api/v1/audit/split-views", None, body).await
}

async fn split_view_reports(h: &Harness, dir: &Path) {
    h.operator().await;
    grow(h, 10).await;
    let (_, old) = h.api_get("/api/v1/audit/checkpoint", None).await;
    let old = old["checkpoint"].as_str().unwrap().to_string();
    grow(h, 11).await;
    let (_, new) = h.api_get("/api/v1/audit/checkpoint", None).await;
    let new_size = new["size"].as_u64().unwrap();
    let new = new["checkpoint"].as_str().unwrap().to_string();
    let witness = SigningKey::load_or_create(&dir.join("witness.key")).unwrap();
    let stranger = SigningKey::generate().unwrap();
    let (fork, _) = forked(h, new_size);
    let sign = |a: &str, b: &str, name: &str, k: &SigningKey| {
        serde_json::to_value(report::sign(a, b, name, &k.pair, 1_800_000_000)).unwrap()
    };

    // Malformed bodies: not JSON (400), wrong or unknown fields (422).
    let (status, body) = h
        .api_post_raw("/api/v1/audit/split-views", None, "application/json", "{")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, body) = post_report(h, &json!({"accepted": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let mut extra = sign(&old, &fork, WITNESS, &witness);
    extra["more"] = json!(1);
    assert_eq!(
        post_report(h, &extra).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );

    // A stranger may not report; a forged signature under the trusted name is refused.
    let (status, body) = post_report(h, &sign(&old, &fork, "stranger.example/w", &stranger)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "UNKNOWN_WITNESS");
    let (status, body) = post_report(h, &sign(&old, &fork, WITNESS, &stranger)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "BAD_REPORT_SIGNATURE");
    let mut changed = sign(&old, &fork, WITNESS, &witness);
    changed["offered"] = json!(new);
    assert_eq!(
        post_report(h, &changed).await.1["code"],
        "BAD_REPORT_SIGNATURE"
    );

    // A checkpoint another log signed, or not a note at all.
    let origin = h.state().config.log_origin();
    let alien = Checkpoint {
        origin: origin.clone(),
        size: new_size,
        root: [3u8; 32],
    }
    .sign(&origin, &stranger.pair);
    for bad in [alien.as_str(), "hello"] {
        let (status, body) = post_report(h, &sign(&old, bad, WITNESS, &witness)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "NOT_THIS_LOG");
    }

    // Two real checkpoints of the log fit one history: not a split view, in either order.
    for (a, b) in [(&old, &new), (&new, &old), (&new, &new)] {
        let (status, body) = post_report(h, &sign(a, b, WITNESS, &witness)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "NOT_A_SPLIT_VIEW");
    }
    assert!(log_integrity_alerts(h).await.is_empty());

    // A real split view raises one alert, however often it is reported; a checkpoint
    // larger than the log is one too.
    let (status, body) = post_report(h, &sign(&old, &fork, WITNESS, &witness)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["raised"], true);
    let (status, body) = post_report(h, &sign(&fork, &old, WITNESS, &witness)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["raised"], false);
    // The same fork against another of the log's checkpoints is the same split view.
    let (status, body) = post_report(h, &sign(&new, &fork, WITNESS, &witness)).await;
    assert_eq!(
        (status, body["raised"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (beyond, _) = forked(h, new_size + 1000);
    let (status, body) = post_report(h, &sign(&new, &beyond, WITNESS, &witness)).await;
    assert_eq!(
        (status, body["raised"].clone()),
        (StatusCode::OK, json!(true))
    );
    let alerts = log_integrity_alerts(h).await;
    assert_eq!(alerts.len(), 2, "{alerts:?}");
    assert!(alerts.iter().all(|a| a["kind"] == "log_integrity"));
}

async fn with_witness(backend: Backend, body: impl AsyncFnOnce(&Harness, &Path)) {
    let dir = tempfile::tempdir().unwrap();
    let vkey = vkey_of(&dir.path().join("witness.key"), WITNESS).unwrap();
    let path = dir.path().to_path_buf();
    run_with(
        backend,
        |c| c.witness_keys = vec![vkey],
        async move |h: &Harness| body(h, &path).await,
    )
    .await;
}

mod incremental {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_witness(crate::harness::Backend::Sqlite, super::incremental_verify).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_witness(crate::harness::Backend::Postgres, super::incremental_verify).await;
    }
}

mod reports {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_witness(crate::harness::Backend::Sqlite, super::split_view_reports).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_witness(crate::harness::Backend::Postgres, super::split_view_reports).await;
    }
}
