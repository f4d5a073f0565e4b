//! The bidder's command line against the real server: `sunbid bid submit` seals and uploads
//! a bid and verifies its receipt, `sunbid receipt verify` checks that receipt offline, a
//! bad bid form is refused before anything is uploaded, and server refusals come back as
//! their message with a non-zero exit.

use std::path::Path;
use std::process::{Output, Stdio};

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::both;
use crate::harness::{Harness, PASSWORD, next_serial};
use crate::tenders::World;

/// Runs the `sunbid` binary with `args`, `stdin` on its standard input.
async fn sunbid(args: &[&str], stdin: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sunbid"));
    cmd.args(args)
        .env_remove("SUNBID_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn sunbid");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    child.wait_with_output().await.expect("sunbid runs")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn write_form(dir: &Path, name: &str, form: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(form).expect("json")).expect("write form");
    path.display().to_string()
}

async fn cli_submits_and_verifies(h: &Harness) {
    let w = World::new(h).await;
    let code = format!("CLI-{}", next_serial());
    w.published(h, &code, "CLI 投标测试", 20).await;
    let dir = tempfile::tempdir().expect("tmp");
    let form = write_form(
        dir.path(),
        "bid.json",
        &json!({"price_fen": 11_800_000_000i64, "duration_days": 240, "quality": "合格",
                "project_manager": "张建国", "declarations": ["投标保证金已缴纳"]}),
    );
    // Three chunks and a bit, so the stream crosses chunk boundaries.
    let attachment = dir.path().join("技术方案.pdf");
    let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&attachment, &body).expect("attachment");
    let receipt = dir.path().join("receipt.json");
    let receipt_s = receipt.display().to_string();

    // A bad form is refused locally: nothing reaches the server.
    let bad = write_form(
        dir.path(),
        "bad.json",
        &json!({"price_fen": "118万", "duration_days": 0, "quality": "合格",
                "project_manager": "张建国", "declarations": []}),
    );
    let parts_before = h.count("bid_part").await;
    let out = sunbid(
        &[
            "bid",
            "submit",
            "--server",
            &h.base,
            "--tender",
            &code,
            "--form",
            &bad,
            "--username",
            "bidder1",
            "--out",
            &receipt_s,
        ],
        PASSWORD,
        &[],
    )
    .await;
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("price_fen") && err.contains("duration_days"),
        "{}",
        text(&out)
    );
    assert_eq!(h.count("bid_part").await, parts_before);
    assert!(!receipt.exists());

    // A server refusal is shown as the server's message: an unknown tender.
    let out = sunbid(
        &[
            "bid",
            "submit",
            "--server",
            &h.base,
            "--tender",
            "NO-SUCH-TENDER",
            "--form",
            &form,
            "--out",
            &receipt_s,
        ],
        "",
        &[("SUNBID_TOKEN", &w.bidder1)],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("error: "),
        "{}",
        text(&out)
    );
    assert!(!receipt.exists());

    // Log in with a password from standard input, seal, upload, submit, verify.
    let out = sunbid(
        &[
            "bid",
            "submit",
            "--server",
            &h.base,
            "--tender",
            &code,
            "--form",
            &form,
            "--attach",
            &attachment.display().to_string(),
            "--username",
            "bidder1",
            "--out",
            &receipt_s,
        ],
        &format!("{PASSWORD}\n"),
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("submitted bid"), "{}", text(&out));
    assert!(
        stdout(&out).contains("receipt signature OK"),
        "{}",
        text(&out)
    );
    let doc: Value =
        serde_json::from_slice(&std::fs::read(&receipt).expect("receipt")).expect("receipt json");
    let bid_id = doc["receipt"]["bid_id"]
        .as_str()
        .expect("bid id")
        .to_string();
    assert_eq!(doc["receipt"]["tender_code"], code.as_str());
    assert_eq!(doc["receipt"]["parts"].as_array().map(Vec::len), Some(2));
    assert_eq!(h.count("bid_part").await, parts_before + 2);

    // Offline check against the published key, then against a pinned key.
    let out = sunbid(
        &["receipt", "verify", &receipt_s, "--server", &h.base],
        "",
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out).trim(),
        format!("OK receipt {bid_id} tender {code} parts 2")
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/api/v1/platform-key"),
        "{}",
        text(&out)
    );
    let (_, pk) = h.api_get("/api/v1/platform-key", None).await;
    let vkey = pk["vkey"].as_str().expect("vkey").to_string();
    let out = sunbid(&["receipt", "verify", &receipt_s, "--vkey", &vkey], "", &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pinned"),
        "{}",
        text(&out)
    );

    // The receipt carries an inclusion proof (C2SP tlog-proof) of its submission that
    // verifies with no server at all; an altered proof or entry fails.
    assert!(
        doc["tlog_proof"]
            .as_str()
            .is_some_and(|p| p.starts_with("c2sp.org/tlog-proof@v1\n")),
        "{doc}"
    );
    let out = sunbid(
        &[
            "receipt",
            "verify",
            &receipt_s,
            "--offline",
            "--vkey",
            &vkey,
        ],
        "",
        &[],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("inclusion proof OK"),
        "{}",
        text(&out)
    );
    let out = sunbid(
        &[
            "receipt",
            "verify",
            &receipt_s,
            "--offline",
            "--server",
            &h.base,
            "--vkey",
            &vkey,
        ],
        "",
        &[],
    )
    .await;
    assert!(!out.status.success(), "--offline with --server is refused");
    for (what, edit) in [("entry", "audit_entry"), ("proof", "tlog_proof")] {
        let mut bad = doc.clone();
        let v = bad[edit].as_str().expect("text").to_string();
        bad[edit] = json!(if edit == "audit_entry" {
            v.replace("bid.submit", "bid.submix")
        } else {
            // Drop the first proof hash (the line after the index line).
            let mut lines: Vec<&str> = v.split('\n').collect();
            lines.remove(2);
            lines.join("\n")
        });
        let path = dir.path().join(format!("bad-{what}.json"));
        std::fs::write(&path, serde_json::to_vec(&bad).expect("json")).expect("write");
        let out = sunbid(
            &[
                "receipt",
                "verify",
                &path.display().to_string(),
                "--offline",
                "--vkey",
                &vkey,
            ],
            "",
            &[],
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out));
        assert!(
            stdout(&out).contains("INCLUSION PROOF"),
            "{what}: {}",
            text(&out)
        );
    }

    // An altered receipt fails, with a non-zero exit.
    let mut altered = doc.clone();
    altered["receipt"]["parts"][1]["size"] = json!(1);
    let altered_path = dir.path().join("altered.json");
    std::fs::write(&altered_path, serde_json::to_vec(&altered).expect("json")).expect("write");
    let out = sunbid(
        &[
            "receipt",
            "verify",
            &altered_path.display().to_string(),
            "--vkey",
            &vkey,
        ],
        "",
        &[],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(stdout(&out).starts_with("FAILED"), "{}", text(&out));

    // A replacement with a token from the environment and a pinned key: the last counts.
    let out = sunbid(
        &[
            "bid", "submit", "--server", &h.base, "--tender", &code, "--form", &form, "--vkey",
            &vkey, "--out", &receipt_s,
        ],
        "",
        &[("SUNBID_TOKEN", &w.bidder1)],
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    let out = sunbid(&["receipt", "verify", &receipt_s, "--vkey", &vkey], "", &[]).await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).ends_with("parts 1\n"), "{}", text(&out));
}
both!(cli_submits_and_verifies, cli_submits_and_verifies);
