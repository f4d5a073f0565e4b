//! Kept checkpoints and witnesses (issue 16): the platform keeps every checkpoint it
//! signs and serves past ones by size; a witness (`sunbid witness`, here its library
//! entry) cosigns the newest one after a consistency proof, and the platform keeps and
//! shows cosignatures from the witness keys it trusts; a split view is refused with
//! evidence and reported (a supervision alert); bad cosignature posts are refused with `{code, message}`.

use std::path::Path;

use reqwest::StatusCode;
use serde_json::json;
use sunbid::audit::checkpoint::{Checkpoint, split_note};
use sunbid::audit::cosign::cosign;
use sunbid::audit::kept;
use sunbid::keys::SigningKey;
use sunbid::witness::Refusal;
use sunbid::witness::client::{WitnessError, WitnessOptions, run_once, vkey_of};

use crate::harness::{Backend, Harness, PASSWORD, next_serial, run_with, uscc};

const WITNESS: &str = "regulator.example/witness";

async fn register_company(h: &Harness, i: u64) {
    let (status, body) = h
        .api_post(
            "/api/v1/companies",
            None,
            &json!({"company_name": format!("见证测试{i}有限公司"), "uscc": uscc(next_serial()),
                    "username": format!("witness{i}"), "display_name": "孙八", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn post_note(h: &Harness, note: &str) -> (StatusCode, serde_json::Value) {
    h.api_post_raw("/api/v1/audit/cosignatures", None, "text/plain", note)
        .await
}

fn options(h: &Harness, dir: &Path) -> WitnessOptions {
    WitnessOptions {
        log: h.base.clone(),
        key_file: dir.join("witness.key"),
        state_dir: dir.join("state"),
        name: WITNESS.into(),
        log_vkey: None,
    }
}

async fn witness_round_trip(h: &Harness, dir: &Path) {
    h.operator().await;
    register_company(h, 0).await;
    let opts = options(h, dir);

    // First contact: the newest checkpoint is cosigned and the platform shows the witness.
    let first = run_once(&opts).await.expect("first round");
    assert_eq!(first.previous, 0);
    assert_eq!(first.witnesses, vec![WITNESS.to_string()]);
    let (status, cp) = h.api_get("/api/v1/audit/checkpoint", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cp["size"].as_u64(), Some(first.size));
    assert_eq!(cp["witnesses"][0]["witness"], WITNESS);
    let note = cp["checkpoint"].as_str().unwrap();
    assert!(note.contains(&format!("\u{2014} {WITNESS} ")), "{note}");
    // The cosigned note still opens with the log's key.
    let vkey = cp["vkey"].as_str().unwrap();
    assert_eq!(Checkpoint::open(note, vkey).unwrap().size, first.size);

    // The portal shows which witnesses signed the latest checkpoint.
    let portal = h
        .client
        .get(h.url("/?lang=en"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        portal.contains("witnessed by") && portal.contains(WITNESS),
        "{portal}"
    );

    // The log grows; the next round checks a consistency proof from the accepted size.
    register_company(h, 1).await;
    let second = run_once(&opts).await.expect("second round");
    assert_eq!(second.previous, first.size);
    assert!(second.size > first.size);

    // Every signed checkpoint is kept; a past one is served by size with its cosignature.
    let (status, past) = h
        .api_get(&format!("/api/v1/audit/checkpoints/{}", first.size), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{past}");
    assert_eq!(past["size"].as_u64(), Some(first.size));
    assert_eq!(past["witnesses"][0]["witness"], WITNESS);
    let (status, body) = h.api_get("/api/v1/audit/checkpoints/999999", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "NO_SUCH_CHECKPOINT");
    let (status, body) = h.api_get("/api/v1/audit/checkpoints/x", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // The database refuses a second checkpoint of a kept size, and any change.
    let size = first.size;
    assert!(
        h.exec(&format!(
            "insert into audit_checkpoint (size, root, note, created_at) \
             select size, root, 'other', created_at from audit_checkpoint where size = {size}"
        ))
        .await
        .is_err()
    );
    assert!(
        h.exec(&format!(
            "update audit_checkpoint set note = 'x' where size = {size}"
        ))
        .await
        .is_err()
    );
    assert!(
        h.exec("delete from audit_cosignature").await.is_err(),
        "cosignatures are append-only"
    );

    // A split view: the log (its key) shows the witness another tree of a larger size.
    // Here the witness's record is replaced by a forked checkpoint of the accepted size,
    // signed with the log's key, which the current tree does not extend.
    register_company(h, 2).await;
    let origin = h.state().config.log_origin();
    let forked = Checkpoint {
        origin: origin.clone(),
        size: second.size,
        root: [9u8; 32],
    }
    .sign(&origin, &h.state().platform_key.pair);
    std::fs::write(opts.state_dir.join("checkpoint"), &forked).unwrap();
    let err = run_once(&opts).await.unwrap_err();
    assert!(
        matches!(err, WitnessError::Refused(Refusal::Inconsistent { .. })),
        "{err}"
    );
    let evidence = std::fs::read_dir(&opts.state_dir)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("split-view-"));
    assert!(evidence, "the split view is kept as evidence");
    // The witness also reported it, and the platform raised a supervision alert.
    let reported = std::fs::read_dir(&opts.state_dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".reported"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect::<Vec<_>>();
    assert!(
        reported.len() == 1 && reported[0].starts_with("reported to "),
        "{reported:?}"
    );
    assert_eq!(
        h.exec("update supervision_alert set kind = kind where kind = 'log_integrity'")
            .await
            .unwrap(),
        1
    );
}

async fn bad_cosignatures_are_refused(h: &Harness, dir: &Path) {
    h.operator().await;
    let (_, cp) = h.api_get("/api/v1/audit/checkpoint", None).await;
    let note = cp["checkpoint"].as_str().unwrap().to_string();
    let (body, _) = split_note(&note).unwrap();
    let now = u64::try_from(h.now().timestamp()).unwrap();

    // Not a note at all.
    let (status, answer) = post_note(h, "hello").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "BAD_COSIGNATURE");
    // Not UTF-8.
    let resp = h
        .client
        .post(h.url("/api/v1/audit/cosignatures"))
        .body(vec![0xffu8, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // A witness the platform does not trust.
    let stranger = SigningKey::generate().unwrap();
    let line = cosign(body, "stranger.example/w", &stranger.pair, now);
    let (status, answer) = post_note(h, &format!("{note}{line}\n")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["code"], "UNKNOWN_WITNESS");

    // The trusted witness's name and key id with another key's signature: forged.
    let witness = SigningKey::load_or_create(&dir.join("witness.key")).unwrap();
    let good = cosign(body, WITNESS, &witness.pair, now);
    let forged_sig = cosign(body, WITNESS, &stranger.pair, now);
    // Key ids depend on the key: keep the witness's id in front of the other signature.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut blob = b64.decode(forged_sig.rsplit_once(' ').unwrap().1).unwrap();
    let id = b64.decode(good.rsplit_once(' ').unwrap().1).unwrap();
    blob[..4].copy_from_slice(&id[..4]);
    let forged = format!("\u{2014} {WITNESS} {}", b64.encode(blob));
    let (status, answer) = post_note(h, &format!("{note}{forged}\n")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["code"], "BAD_COSIGNATURE");

    // A checkpoint the platform never kept, signed by the trusted witness.
    let origin = h.state().config.log_origin();
    let unkept = Checkpoint {
        origin: origin.clone(),
        size: 424_242,
        root: [1u8; 32],
    }
    .sign(&origin, &h.state().platform_key.pair);
    let (ub, _) = split_note(&unkept).unwrap();
    let line = cosign(ub, WITNESS, &witness.pair, now);
    let (status, answer) = post_note(h, &format!("{unkept}{line}\n")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert_eq!(answer["code"], "NO_SUCH_CHECKPOINT");

    // Another root at a kept size: refused, and the kept checkpoint keeps no cosignature.
    let size = cp["size"].as_u64().unwrap();
    let other = Checkpoint {
        origin: origin.clone(),
        size,
        root: [2u8; 32],
    }
    .sign(&origin, &h.state().platform_key.pair);
    let (ob, _) = split_note(&other).unwrap();
    let line = cosign(ob, WITNESS, &witness.pair, now);
    let (status, answer) = post_note(h, &format!("{other}{line}\n")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["code"], "CHECKPOINT_MISMATCH");
    assert_eq!(h.count("audit_cosignature").await, 0);

    // The good one is kept, once, however often it is posted.
    for _ in 0..2 {
        let (status, answer) = post_note(h, &format!("{note}{good}\n")).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(h.count("audit_cosignature").await, 1);
}

async fn checkpoints_fall_due_after_n_events(h: &Harness) {
    h.operator().await;
    let now = h.now();
    let db = h.db();
    // Whatever the job loop signed so far, sign the head now: nothing is due after it.
    let origin = h.state().config.log_origin();
    kept::sign_head(db, now, &origin, &h.state().platform_key.pair)
        .await
        .unwrap();
    assert!(!kept::due(db, now, 3, 3600).await.unwrap());
    register_company(h, 10).await;
    // Two events (organisation, user) are fewer than 3 and the last one is fresh.
    assert!(!kept::due(db, now, 3, 3600).await.unwrap());
    assert!(kept::due(db, now, 2, 3600).await.unwrap());
    // The schedule: after the interval any growth is due.
    assert!(
        kept::due(db, now + chrono::Duration::hours(2), 3, 3600)
            .await
            .unwrap()
    );
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

mod round_trip {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_witness(crate::harness::Backend::Sqlite, super::witness_round_trip).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_witness(crate::harness::Backend::Postgres, super::witness_round_trip).await;
    }
}

mod bad_posts {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_witness(
            crate::harness::Backend::Sqlite,
            super::bad_cosignatures_are_refused,
        )
        .await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_witness(
            crate::harness::Backend::Postgres,
            super::bad_cosignatures_are_refused,
        )
        .await;
    }
}

crate::both!(due_after_n_events, checkpoints_fall_due_after_n_events);
