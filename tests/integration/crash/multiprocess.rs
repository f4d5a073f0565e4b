//! Several stateless processes (issue 14): three `sunbid serve` on one PostgreSQL database
//! and one S3 store (s3s-fs), behind nginx balancing round-robin, run the demo tender's
//! whole procedure with every request sent through the proxy. One process is killed with
//! SIGKILL while it opens the bids (another takes the opening over from the sealed shares
//! in the database), another in the middle of the evaluation (nginx sends the rest to the
//! one left). The procedure completes, the opening is recorded once, no time-driven job ran
//! twice, and `sunbid audit verify` accepts the log. Every process serves `/metrics` on
//! its own `--metrics-listen` address, and the live ones report the same domain figures
//! (bids, openings, audit size, alerts) at each step, moving as the procedure does.
//!
//! Needs nginx (`SUNBID_TEST_NGINX`, else `nginx` on the `PATH` or in /usr/sbin) and
//! s3s-fs; .ci/run installs both. Without them it is skipped loudly, or fails under `CI`.
//! Takes about a minute (the takeover waits for the dead process's 15-second lease).

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::s3::S3Server;

/// nginx in front of the processes; stopped on drop.
struct Proxy {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SUNBID_TEST_NGINX") {
        return Some(PathBuf::from(bin));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|d| d.join("nginx"))
        .find(|p| p.is_file())
}

impl Proxy {
    /// Round-robin on `port` over the `upstreams`; a refused connection goes to the next one.
    fn start(bin: &Path, port: u16, upstreams: &[u16]) -> Proxy {
        let dir = tempfile::tempdir().expect("temp dir");
        // nginx's workers run as another user when started by root: let them in.
        std::fs::set_permissions(
            dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .expect("chmod");
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;\n"))
            .collect();
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n\
             fastcgi_temp_path {d}/fcgi;\n uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             upstream sunbid {{\n{servers} keepalive 16;\n}}\n\
             server {{\n listen 127.0.0.1:{port};\n client_max_body_size 0;\n proxy_request_buffering off;\n\
             location / {{\n proxy_pass http://sunbid;\n proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n proxy_set_header Host $http_host;\n\
             proxy_next_upstream error timeout http_502;\n proxy_read_timeout 300s;\n }}\n }}\n}}\n"
        );
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("nginx.conf");
        let child = std::process::Command::new(bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        // Stopped (killed and reaped) by `Drop` whichever way this ends.
        let proxy = Proxy { child, _dir: dir };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return proxy;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "nginx did not start: {}",
            std::fs::read_to_string(proxy._dir.path().join("error.log")).unwrap_or_default()
        );
    }
}

impl Server {
    /// The proxy's address, used like a server (it starts and kills nothing).
    fn front(port: u16) -> Server {
        Server {
            child: None,
            data: PathBuf::new(),
            database_url: None,
            port,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(120))
                .build()
                .expect("client"),
            env: Vec::new(),
            public_port: port,
        }
    }
}

/// Counts the events of `action` per tender (the `tender` of each entry).
fn per_tender(events: &[Value]) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for e in events {
        let id = e["tender"].as_str().unwrap_or_default().to_string();
        *out.entry(id).or_default() += 1;
    }
    out
}

/// The domain figures on one process's `/metrics` page: every `sunbid_*` series but the
/// request metrics and the job figures, which move with the moment of the scrape.
async fn domain_figures(client: &reqwest::Client, port: u16) -> BTreeMap<String, f64> {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics page");
    text.lines()
        .filter(|l| l.starts_with("sunbid_") && !l.starts_with("sunbid_http_"))
        .filter(|l| !l.starts_with("sunbid_job"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// The figures the processes on `ports` agree on. Scrapes until they do: a background job
/// (a checkpoint, an alert) may land between two scrapes.
async fn agreed_figures(client: &reqwest::Client, ports: &[u16]) -> BTreeMap<String, f64> {
    let mut last = Vec::new();
    for _ in 0..50 {
        last.clear();
        for &p in ports {
            last.push(domain_figures(client, p).await);
        }
        if last.windows(2).all(|w| w[0] == w[1]) {
            let figures = last.swap_remove(0);
            assert_eq!(figures.get("sunbid_db_up"), Some(&1.0), "{figures:?}");
            return figures;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the processes report different domain figures: {last:#?}");
}

/// One figure (0 when the series is absent, as a counter with no label set yet is).
fn figure(figures: &BTreeMap<String, f64>, series: &str) -> f64 {
    figures.get(series).copied().unwrap_or(0.0)
}

/// The sum of a labelled family (`name{…}`).
fn family_sum(figures: &BTreeMap<String, f64>, name: &str) -> f64 {
    figures
        .iter()
        .filter(|(k, _)| k.starts_with(&format!("{name}{{")))
        .map(|(_, v)| v)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_behind_a_proxy_survive_kill9() {
    let Some(nginx) = nginx_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "nginx is required when CI is set"
        );
        eprintln!("\n!!!!!!!! SKIPPING the multi-process test: no nginx\n");
        return;
    };
    let Some(pg) = crate::harness::pg_database().await else {
        return;
    };
    let Some(s3) = S3Server::start() else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // Every process signs with the same keys, as a deployment's secret mount gives them.
    let keys = dir.path().join("keys");
    std::fs::create_dir(&keys).expect("keys dir");
    let (platform, session) = (keys.join("platform.pk8"), keys.join("session.pk8"));
    for k in [&platform, &session] {
        let (ok, out, err) =
            run_cli(&["keys", "generate", "--out", k.to_str().expect("path")]).await;
        assert!(ok, "keys generate: {out} {err}");
    }
    let mut config = sunbid::config::Config::default();
    s3.configure(&mut config, "multiprocess");
    let mut env: Vec<(String, String)> = vec![
        (
            "SUNBID_BLOB_URL".into(),
            config.blob_url.clone().expect("url"),
        ),
        ("SUNBID_S3_ENDPOINT".into(), s3.endpoint()),
        ("SUNBID_S3_REGION".into(), "us-east-1".into()),
        (
            "SUNBID_S3_ACCESS_KEY_ID".into(),
            config.s3_access_key_id.clone().expect("key"),
        ),
        (
            "SUNBID_S3_SECRET_ACCESS_KEY".into(),
            config.s3_secret_access_key.clone().expect("secret"),
        ),
        ("SUNBID_JOB_POLL_SECONDS".into(), "1".into()),
        // Several processes share the store: only old temporary objects are swept.
        ("SUNBID_UPLOAD_TMP_MAX_AGE_SECONDS".into(), "3600".into()),
    ];
    env.push((
        "SUNBID_PLATFORM_KEY_FILE".into(),
        platform.display().to_string(),
    ));
    env.push((
        "SUNBID_SESSION_KEY_FILE".into(),
        session.display().to_string(),
    ));

    let proxy_port = free_port();
    let mut procs = Vec::new();
    let metrics: Vec<u16> = (0..3).map(|_| free_port()).collect();
    // One after the other: the first loads the demo data, the others find it there.
    for (i, m) in metrics.iter().enumerate() {
        let data = dir.path().join(format!("p{i}"));
        let mut env = env.clone();
        env.push(("SUNBID_METRICS_LISTEN".into(), format!("127.0.0.1:{m}")));
        let p = Server::start_with(&data, Some(pg.url.clone()), env, free_port(), proxy_port).await;
        procs.push(p);
    }
    let scraper = procs[0].client.clone();
    // The demo's bids (three tenders of three), its opened tender and that tender's alerts
    // (prices in arithmetic progression), as every process sees them.
    let before = agreed_figures(&scraper, &metrics).await;
    assert!(
        figure(&before, "sunbid_bids_received_total") >= 9.0,
        "{before:?}"
    );
    assert!(
        family_sum(&before, "sunbid_alerts_raised_total") >= 1.0,
        "{before:?}"
    );
    assert!(figure(&before, "sunbid_audit_events") > 0.0, "{before:?}");
    let ports: Vec<u16> = procs.iter().map(|p| p.port).collect();
    let _proxy = Proxy::start(&nginx, proxy_port, &ports);
    let front = Server::front(proxy_port);

    // The opening, through the proxy; the quorum's last unlock goes to process 1, which
    // is killed while it decrypts.
    let code = "SZ2026-JS-000";
    let agent = front.login("agent").await;
    let opening = format!("/api/v1/tenders/{code}/opening");
    front
        .ok(&format!("{opening}/start"), &agent, json!({}))
        .await;
    let unlock = json!({"passphrase": DEMO_PASSWORD});
    let c1 = front.login("custodian1").await;
    front
        .ok(&format!("{opening}/unlock"), &c1, unlock.clone())
        .await;
    let c2 = front.login("custodian2").await;
    let url = procs[1].url(&format!("{opening}/unlock"));
    let client = procs[1].client.clone();
    let (c2_, unlock_) = (c2.clone(), unlock.clone());
    let in_flight = tokio::spawn(async move {
        client
            .post(url)
            .bearer_auth(c2_)
            .json(&unlock_)
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(30)).await;
    procs[1].kill9().await;
    let _ = in_flight.await.expect("task");
    let (_, view) = front.get(&opening, None).await;
    let held = view["shares_held"].as_u64().unwrap_or(0);
    eprintln!(
        "after kill -9 mid-opening: state {}, shares held {held}",
        view["state"]
    );
    if view["state"] != "opened" && held < 2 {
        // The kill came before the unlock was recorded: the custodian sends it again.
        let (status, body) = front
            .post(&format!("{opening}/unlock"), Some(&c2), &unlock)
            .await;
        assert!(
            status.is_success() || body["code"] == "ALREADY_UNLOCKED",
            "{status} {body}"
        );
    }
    // Otherwise another process takes the opening over from the sealed shares.
    let view = wait_opened(&front, &opening).await;
    let tender_id = view["tender_id"].as_str().expect("tender id").to_string();
    for price in ["845600000", "851230000", "839990000"] {
        assert!(view.to_string().contains(price), "bid at {price}: {view}");
    }
    assert_eq!(
        view["shares_held"], 0,
        "shares are wiped when the opening ends"
    );
    // The two live processes agree that one more opening started and finished opened, with
    // its three bids; nothing was submitted meanwhile; the log grew.
    let opened = agreed_figures(&scraper, &[metrics[0], metrics[2]]).await;
    for series in [
        "sunbid_openings_started_total",
        "sunbid_openings_finished_total{outcome=\"opened\"}",
    ] {
        assert_eq!(
            figure(&opened, series),
            figure(&before, series) + 1.0,
            "{series}: {before:?} → {opened:?}"
        );
    }
    assert_eq!(
        figure(&opened, "sunbid_bids{state=\"opened\"}"),
        figure(&before, "sunbid_bids{state=\"opened\"}") + 3.0,
        "{opened:?}"
    );
    assert_eq!(
        figure(&opened, "sunbid_bids_received_total"),
        figure(&before, "sunbid_bids_received_total")
    );
    assert!(
        figure(&opened, "sunbid_audit_events") > figure(&before, "sunbid_audit_events"),
        "{opened:?}"
    );
    assert!(
        family_sum(&opened, "sunbid_alerts_raised_total")
            >= family_sum(&before, "sunbid_alerts_raised_total")
    );

    // The evaluation, through the proxy; process 2 dies between the check-ins and the
    // review, and the last process carries on.
    let members = committee(&front, code, &agent).await;
    procs[2].kill9().await;
    evaluate(&front, code, &agent, &members).await;
    let regulator = front.login("regulator").await;
    let (status, ev) = front
        .get(
            &format!("/api/v1/tenders/{code}/evaluation"),
            Some(&regulator),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ev}");

    // Nothing ran twice: one record and one outcome per part of this tender; no
    // tender was closed (the deadline job) or published twice.
    let records = per_tender(&front.events("opening.record").await);
    assert_eq!(records.get(&tender_id), Some(&1), "{records:?}");
    let parts = front.events("opening.part").await;
    let mut seen = std::collections::HashSet::new();
    for p in parts.iter().filter(|p| p["tender"] == tender_id.as_str()) {
        let id = p["payload"]["part"]["part_id"].to_string();
        assert!(seen.insert(id.clone()), "part {id} opened twice");
    }
    assert!(!seen.is_empty());
    for action in ["tender.close", "tender.publish", "opening.start"] {
        let counts = per_tender(&front.events(action).await);
        assert!(
            counts.values().all(|&n| n == 1),
            "{action} twice for a tender: {counts:?}"
        );
    }
    front.audit_verifies().await;
    // The last process's figures: the evaluation added to the log, not to the bids; its
    // audit size is the log the verifier just checked (or more, as jobs append).
    let after = agreed_figures(&scraper, &metrics[..1]).await;
    assert!(figure(&after, "sunbid_audit_events") > figure(&opened, "sunbid_audit_events"));
    assert_eq!(
        figure(&after, "sunbid_bids_received_total"),
        figure(&before, "sunbid_bids_received_total")
    );
    let (_, checkpoint) = front.get("/api/v1/audit/checkpoint", None).await;
    let signed = checkpoint["size"].as_f64().expect("checkpoint size");
    assert!(
        figure(&after, "sunbid_audit_events") >= signed,
        "{checkpoint}"
    );
    // The files are in the bucket, none in the processes' own folders.
    assert!(!s3.objects("multiprocess/sha256").is_empty());
    for i in 0..3 {
        assert!(!dir.path().join(format!("p{i}/blobs/sha256")).exists());
    }
    for mut p in procs {
        p.kill9().await;
    }
}
