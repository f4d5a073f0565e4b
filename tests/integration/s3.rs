//! Blobs in an S3-compatible store (`blob_url = s3://bucket/prefix`), against a real S3
//! server: `s3s-fs` from crates.io, which `.ci/run` installs (`SUNBID_TEST_S3_BIN`, else
//! `s3s-fs` on the `PATH`; without it these tests are skipped loudly, or fail under `CI`).
//! It checks signatures, so wrong credentials are really refused.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use sunbid::clock::OffsetClock;
use sunbid::config::Config;

use crate::harness::{Harness, assert_error};
use crate::opening_faults::{form, honest_bid, open_bids, published, record_of, seal, submit};

/// The bucket every test server has.
pub const BUCKET: &str = "sunbid-test";
const ACCESS_KEY: &str = "sunbid-test-key";
const SECRET_KEY: &str = "sunbid-test-secret-0123456789";

/// A running `s3s-fs` on a folder of its own; killed on drop.
pub struct S3Server {
    child: Option<Child>,
    bin: PathBuf,
    port: u16,
    /// The folder behind the store (the bucket is its sub-folder).
    pub root: tempfile::TempDir,
}

fn s3_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SUNBID_TEST_S3_BIN") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("s3s-fs"))
        .find(|p| p.is_file())
}

impl S3Server {
    /// Starts a server with one empty bucket, or `None` (loudly) without `s3s-fs` outside CI.
    pub fn start() -> Option<Self> {
        let Some(bin) = s3_bin() else {
            if std::env::var_os("CI").is_some() {
                panic!("s3s-fs is required when CI is set (.ci/run installs it)");
            }
            eprintln!("\n!!!!!!!! SKIPPING an S3 test: no s3s-fs (cargo install s3s-fs)\n");
            return None;
        };
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join(BUCKET)).expect("bucket folder");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut s = Self {
            child: None,
            bin,
            port,
            root,
        };
        s.restart();
        Some(s)
    }

    /// (Re)starts the server on the same port and folder, and waits until it answers.
    pub fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn s3s-fs");
        self.child = Some(child);
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("s3s-fs did not start on port {}", self.port);
    }

    /// Kills the server (SIGKILL): the store is down.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The endpoint URL.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Points `config` at this server's bucket under `prefix`.
    pub fn configure(&self, config: &mut Config, prefix: &str) {
        config.blob_url = Some(format!("s3://{BUCKET}/{prefix}"));
        config.s3_endpoint = Some(self.endpoint());
        config.s3_region = Some("us-east-1".into());
        config.s3_access_key_id = Some(ACCESS_KEY.into());
        config.s3_secret_access_key = Some(SECRET_KEY.into());
    }

    /// The files of the bucket under `prefix` (objects, not multipart scratch space).
    pub fn objects(&self, prefix: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.root.path().join(BUCKET).join(prefix), &mut out);
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

/// Runs `body` against a server whose blobs live in a fresh S3 server.
async fn with_s3(
    backend: crate::harness::Backend,
    body: impl AsyncFnOnce(&Harness, &mut S3Server),
) {
    let Some(mut s3) = S3Server::start() else {
        return;
    };
    let Some(h) = Harness::start_with(backend, |c| s3.configure(c, "blobs")).await else {
        return;
    };
    body(&h, &mut s3).await;
    h.finish().await;
}

/// Bids go to S3 (one part large enough to stream as a multipart upload), are opened from
/// there, and their plaintexts are kept there; nothing is written to the local blob folder.
async fn bids_round_trip_through_s3(h: &Harness, s3: &mut S3Server) {
    assert!(h.state().blobs.is_remote());
    let o = published(h).await;
    let (org_a, _, a) = h.bidder("s3_a").await;
    let (org_b, _, b) = h.bidder("s3_b").await;
    let (org_c, _, c) = h.bidder("s3_c").await;
    honest_bid(h, &o, &org_a, &a, 11_000_000_000).await;
    honest_bid(h, &o, &org_b, &b, 11_100_000_000).await;
    // 6 MiB: more than one 5 MiB part.
    let big: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let digests = submit(
        h,
        &o,
        &c,
        &seal(
            &o.pk,
            &o.tender_id,
            &org_c,
            "bid-form.json",
            &form(11_200_000_000),
        ),
        &seal(&o.pk, &o.tender_id, &org_c, "图纸.dwg", &big),
    )
    .await;
    let stored = s3.objects("blobs/sha256");
    assert!(
        stored.iter().any(|p| p.ends_with(&digests[1])),
        "the large envelope is in the bucket: {stored:?}"
    );
    let view = open_bids(h, &o).await;
    for org in [&org_a, &org_b, &org_c] {
        assert_eq!(record_of(&view, org)["status"], "opened", "{view}");
    }
    // Envelopes and plaintexts: 2 parts × 3 bids each, all in S3; no temporary object left.
    assert!(
        s3.objects("blobs/sha256").len() >= 12,
        "{:?}",
        s3.objects("blobs")
    );
    assert!(
        s3.objects("blobs/tmp").is_empty(),
        "{:?}",
        s3.objects("blobs/tmp")
    );
    let local = h.state().config.blob_dir();
    assert!(
        !local.join("sha256").exists(),
        "nothing in {}",
        local.display()
    );
}
mod s3_round_trip {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_s3(
            crate::harness::Backend::Postgres,
            super::bids_round_trip_through_s3,
        )
        .await;
    }
}

/// The store goes down during the bidding: the upload is refused with a clear 503 and
/// nothing is recorded; when the store is back, the same upload goes through.
async fn store_down_refuses_the_upload(h: &Harness, s3: &mut S3Server) {
    let o = published(h).await;
    let (org, _, token) = h.bidder("s3_down").await;
    let envelope = seal(
        &o.pk,
        &o.tender_id,
        &org,
        "bid-form.json",
        &form(9_000_000_000),
    );
    let parts_before = h.count("bid_part").await;
    s3.kill();
    let resp = h
        .client
        .post(h.url(&format!("/api/v1/tenders/{}/bid/parts", o.code)))
        .query(&[("label", "form"), ("name", "form.sealed")])
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(envelope.clone())
        .send()
        .await
        .expect("upload");
    let got = crate::harness::json_of(resp).await;
    assert_error(&got, StatusCode::SERVICE_UNAVAILABLE, "STORAGE_UNAVAILABLE");
    let message = got.1["message"].as_str().unwrap_or_default();
    assert!(message.contains("nothing was stored"), "{message}");
    assert_eq!(
        h.count("bid_part").await,
        parts_before,
        "no half bid recorded"
    );
    s3.restart();
    crate::opening_faults::upload(h, &o, &token, "form", &envelope).await;
    assert_eq!(h.count("bid_part").await, parts_before + 1);
}
mod s3_store_down {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::with_s3(
            crate::harness::Backend::Sqlite,
            super::store_down_refuses_the_upload,
        )
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::with_s3(
            crate::harness::Backend::Postgres,
            super::store_down_refuses_the_upload,
        )
        .await;
    }
}

/// Wrong settings stop the start-up with a message that says what to check, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_settings_fail_at_start() {
    let Some(s3) = S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    type Change = Box<dyn Fn(&mut Config)>;
    let cases: [(&str, Change); 4] = [
        (
            "wrong endpoint",
            Box::new(move |c| c.s3_endpoint = Some(format!("http://127.0.0.1:{closed_port}"))),
        ),
        (
            "wrong secret",
            Box::new(|c| c.s3_secret_access_key = Some("not-the-secret".into())),
        ),
        (
            "unknown access key",
            Box::new(|c| c.s3_access_key_id = Some("nobody".into())),
        ),
        (
            "not an s3 URL",
            Box::new(|c| c.blob_url = Some("ftp://x".into())),
        ),
    ];
    for (what, change) in cases {
        let mut config = Config {
            data_dir: dir.path().join(what.replace(' ', "-")),
            ..Config::default()
        };
        s3.configure(&mut config, "start");
        change(&mut config);
        let err =
            match sunbid::server::build_state(config, std::sync::Arc::new(OffsetClock::default()))
                .await
            {
                Ok(_) => panic!("{what}: the server started"),
                Err(e) => format!("{e:#}"),
            };
        assert!(err.contains("blob store"), "{what}: {err}");
        assert!(
            err.contains("test write") || err.contains("blob_url"),
            "{what}: {err}"
        );
    }
}
