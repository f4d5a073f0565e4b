//! The audit trail: a series of actions verifies against the signed checkpoint (in-process
//! and with the real `sunbid audit verify` binary); an event altered directly in the
//! database is named; the database itself refuses updates and deletes.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sunbid::audit::merkle::leaf_hash;
use sunbid::audit::verify::{Verdict, verify_server};

use crate::both;
use crate::harness::{Backend, Harness, PASSWORD, next_serial, run_cli, uscc};

/// Runs a series of audited actions and returns the checkpoint's (size, root hex).
async fn series_of_actions(h: &Harness) -> (u64, String) {
    let operator = h.operator().await;
    for i in 0..3 {
        let (status, body) = h
            .api_post(
                "/api/v1/companies",
                None,
                &json!({"company_name": format!("审计测试{i}有限公司"), "uscc": uscc(next_serial()),
                        "username": format!("audit{i}"), "display_name": "钱七", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let org = body["org_id"].as_str().expect("org");
        let decision = if i == 1 { "reject" } else { "approve" };
        let (status, _) = h
            .api_post(
                &format!("/api/v1/organisations/{org}/{decision}"),
                Some(&operator),
                &json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (status, cp) = h.api_get("/api/v1/audit/checkpoint", None).await;
    assert_eq!(status, StatusCode::OK);
    let size = cp["size"].as_u64().expect("size");
    // operator user + 3 × (org, user, decision)
    assert_eq!(size, 10, "one event per state change: {cp}");
    assert_eq!(h.count("audit_event").await, 10);
    (size, cp["root"].as_str().expect("root").to_string())
}

fn entry_json(entry: &str) -> Value {
    serde_json::from_str(entry).expect("entry is JSON")
}

/// The same entry with one payload field changed, still canonical and in its place.
fn altered(entry: &str) -> String {
    let mut v = entry_json(entry);
    v["payload"]["name"] = json!("被篡改的公司");
    serde_json_canonicalizer::to_string(&v).expect("canonical")
}

async fn log_verifies_after_actions(h: &Harness) {
    let (size, root) = series_of_actions(h).await;
    let (verdict, vkey) = verify_server(&h.base, None, None).await.expect("verify");
    match verdict {
        Verdict::Ok {
            size: s, root: r, ..
        } => {
            assert_eq!(s, size);
            assert_eq!(hex::encode(r), root);
        }
        other => panic!("expected OK, got {other:?}"),
    }
    // Pinning the key the server published works; pinning another key does not.
    assert_eq!(vkey, sunbid::audit::routes::vkey(h.state()));
    let (verdict, _) = verify_server(&h.base, Some(&vkey), None)
        .await
        .expect("pinned");
    assert!(matches!(verdict, Verdict::Ok { .. }));
    let other = sunbid::audit::checkpoint::verifier_key(
        &h.state().config.log_origin(),
        &sunbid::keys::SigningKey::generate().expect("key").public(),
    );
    assert!(
        verify_server(&h.base, Some(&other), None).await.is_err(),
        "a checkpoint signed by another key is refused"
    );

    // Each event carries what the format promises.
    let (_, page) = h
        .api_get("/api/v1/audit/events?from=0&limit=1000", None)
        .await;
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len() as u64, size);
    for (i, ev) in events.iter().enumerate() {
        let e = entry_json(ev["entry"].as_str().expect("entry"));
        assert_eq!(e["seq"], i as u64);
        assert_eq!(e["v"], 1);
        for key in [
            "time",
            "actor",
            "role",
            "action",
            "tender",
            "payload",
            "request_id",
            "client_ip",
        ] {
            assert!(e.get(key).is_some(), "event {i} lacks {key}: {e}");
        }
    }
    let approvals: Vec<&Value> = events
        .iter()
        .filter(|e| entry_json(e["entry"].as_str().unwrap_or("{}"))["action"] == "org.approve")
        .collect();
    assert_eq!(approvals.len(), 2);
    let a = entry_json(approvals[0]["entry"].as_str().expect("entry"));
    assert_eq!(a["role"], "operator", "the actor's role is recorded");
    assert!(a["actor"].is_string() && a["request_id"].is_string());

    // Inclusion proof of an event checks out against the root.
    let (status, proof) = h
        .api_get(
            &format!("/api/v1/audit/proof/inclusion?seq=3&size={size}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{proof}");
    assert!(!proof["proof"].as_array().expect("proof").is_empty());

    // The real binary agrees.
    let (ok, stdout, stderr) = run_cli(&["audit", "verify", "--server", &h.base]).await;
    assert!(ok, "stdout: {stdout}\nstderr: {stderr}");
    assert!(
        stdout.starts_with(&format!("OK {size} {root}")),
        "stdout: {stdout}"
    );
    let (ok, stdout, _) = run_cli(&["audit", "verify", "--server", &h.base, "--vkey", &vkey]).await;
    assert!(ok && stdout.starts_with(&format!("OK {size} ")), "{stdout}");
}
both!(verify_ok, log_verifies_after_actions);

async fn database_refuses_to_change_events(h: &Harness) {
    series_of_actions(h).await;
    let (entry, _) = h.audit_row(2).await;
    assert!(
        h.overwrite_audit_row(2, &altered(&entry), None)
            .await
            .is_err(),
        "UPDATE of an audit event must fail"
    );
    assert!(
        h.exec("delete from audit_event where seq = 9")
            .await
            .is_err()
    );
    assert!(h.exec("delete from audit_event").await.is_err());
    assert!(h.exec("update audit_node set hash = hash").await.is_err());
    assert!(h.exec("delete from audit_node").await.is_err());
    if h.backend == Backend::Postgres {
        assert!(h.exec("truncate audit_event").await.is_err());
    }
    assert_eq!(h.audit_row(2).await.0, entry, "unchanged");
    assert_eq!(h.count("audit_event").await, 10);
    let (verdict, _) = verify_server(&h.base, None, None).await.expect("verify");
    assert!(
        matches!(verdict, Verdict::Ok { size: 10, .. }),
        "{verdict:?}"
    );
}
both!(append_only, database_refuses_to_change_events);

/// Alters event `seq` directly in the database, with or without fixing its leaf hash,
/// and checks that both the library and the binary name exactly that event.
async fn tamper_and_verify(h: &Harness, seq: u64, fix_leaf_hash: bool) {
    let (size, _) = series_of_actions(h).await;
    assert!(seq < size);
    h.drop_audit_event_trigger().await;
    let (entry, old_leaf) = h.audit_row(seq as i64).await;
    assert!(
        entry_json(&entry)["payload"]["name"].is_string(),
        "event {seq} names a company: {entry}"
    );
    let forged = altered(&entry);
    let new_leaf = leaf_hash(forged.as_bytes());
    assert_ne!(old_leaf, new_leaf.to_vec());
    let changed = h
        .overwrite_audit_row(
            seq as i64,
            &forged,
            fix_leaf_hash.then_some(new_leaf.as_slice()),
        )
        .await
        .expect("the attacker's update");
    assert_eq!(changed, 1);

    let (verdict, _) = verify_server(&h.base, None, None)
        .await
        .expect("verify runs");
    match verdict {
        Verdict::BadEvent { seq: bad, reason } => {
            assert_eq!(bad, seq, "names the altered event ({reason})")
        }
        other => panic!("tampering went unnoticed: {other:?}"),
    }

    let (ok, stdout, stderr) = run_cli(&["audit", "verify", "--server", &h.base]).await;
    assert!(!ok, "exit status must be non-zero; stdout: {stdout}");
    assert!(
        stdout.contains(&format!("event {seq}:")),
        "names the event: {stdout} {stderr}"
    );
    assert!(!stdout.starts_with("OK"), "{stdout}");
}

async fn altered_entry_is_named(h: &Harness) {
    // Event 4 is the second company's org.create (operator user, then org/user/decision).
    tamper_and_verify(h, 4, false).await;
}
both!(tamper_entry, altered_entry_is_named);

async fn altered_entry_and_leaf_hash_is_named(h: &Harness) {
    tamper_and_verify(h, 7, true).await;
}
both!(tamper_entry_and_leaf, altered_entry_and_leaf_hash_is_named);

async fn altered_first_event_is_named(h: &Harness) {
    tamper_and_verify(h, 1, true).await;
}
both!(tamper_first_company, altered_first_event_is_named);

/// `sunbid audit export` and `sunbid audit verify --file` (issue 16): the export verifies
/// offline with the pinned key; a truncated file or one with an entry changed is refused.
async fn export_verifies_offline(h: &Harness) {
    use sunbid::audit::export::{FileVerdict, export, verify_export};
    series_of_actions(h).await;
    let vkey = sunbid::audit::routes::vkey(h.state());
    let file = export(&h.base, None).await.expect("export");
    assert!(
        matches!(verify_export(&file, Some(&vkey)), FileVerdict::Ok { size, .. } if size >= 10),
        "{file}"
    );
    let lines: Vec<&str> = file.split_terminator('\n').collect();
    let truncated = lines[..lines.len() - 1].join("\n") + "\n";
    let changed = file.replacen("审计测试1有限公司", "审计测试9有限公司", 1);
    assert_ne!(changed, file);
    for (what, bad) in [("truncated", truncated), ("changed", changed)] {
        assert!(
            matches!(verify_export(&bad, Some(&vkey)), FileVerdict::Refused(_)),
            "{what}"
        );
    }
    // The real command line, both ways.
    let dir = tempfile::tempdir().expect("dir");
    let out = dir.path().join("log.jsonl");
    let out_s = out.display().to_string();
    let (ok, stdout, stderr) =
        run_cli(&["audit", "export", "--server", &h.base, "--out", &out_s]).await;
    assert!(ok, "{stdout}{stderr}");
    let (ok, stdout, stderr) =
        run_cli(&["audit", "verify", "--file", &out_s, "--vkey", &vkey]).await;
    assert!(ok && stdout.starts_with("OK "), "{stdout}{stderr}");
    let text = std::fs::read_to_string(&out).expect("read");
    let lines: Vec<&str> = text.split_terminator('\n').collect();
    std::fs::write(&out, lines[..lines.len() - 2].join("\n") + "\n").expect("write");
    let (ok, stdout, _) = run_cli(&["audit", "verify", "--file", &out_s, "--vkey", &vkey]).await;
    assert!(!ok && stdout.starts_with("REFUSED"), "{stdout}");
}
both!(export_offline, export_verifies_offline);
