//! The final-minute burst over HTTP (issue 15 row 6, issue 14 "Speed"): N bidders (default
//! 1,000) each submit a sealed bid with a 1 MiB attachment through the public HTTP API in
//! the last minute before the deadline, against any running Sunbid (`--target URL`: one
//! process, or a proxy in front of several).
//!
//! Before the window, as bidders would: N companies register (`POST /api/v1/companies`),
//! the operator approves them, every bidder logs in; the agent drafts, documents and
//! publishes a tender whose deadline is a few minutes out; every bidder seals its form and
//! attachment to the tender's opening key (client work, outside the timing). At deadline −
//! `--window` the submissions start (all at once, or spread over `--spread` seconds); each
//! one's latency runs from its start to its receipt (form upload + attachment upload +
//! submit). After the deadline every bidder asks the server for its bid: a submission is
//! lost unless it was answered 2xx with a receipt that verifies against the platform key
//! *and* the server lists it as submitted with the same part digests.
//!
//! What the server under test must allow (`benches/burst.sh` starts it so): demo staff
//! (`--demo`: operator, agent, custodians, tenderee), `trust_proxy` so each bidder's
//! `X-Forwarded-For` address counts for the login limit (60 per minute per address), and a
//! rulebook folder (`rulebook_dir`) whose periods are 0 days, so a tender can close minutes
//! after publication (the statutory 20 days would otherwise stand between publication and
//! the burst). Nothing bench-only is compiled into the server.
//!
//! `--serve-reference ADDR` runs the reference instead: a bare axum server (same runtime,
//! `axum::serve`) whose upload route drains the body and answers its size, and whose submit
//! route answers `{}`; `--reference URL` bursts the same bytes at it.
//!
//! `cargo bench --bench burst -- --target http://127.0.0.1:8080 --bidders 50`.
//! Figures: docs/BENCHMARKS.md ("Final-minute burst over HTTP").

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use clap::Parser;
use futures_util::{StreamExt, stream};
use ring::digest;
use ring::rand::SystemRandom;
use serde_json::{Value, json};
use sunbid::audit::checkpoint::{VerifierKey, parse_verifier_key};
use sunbid::bidcli::receipt::{Receipt, SentPart, check_matches, verify_receipt};
use sunbid::seal::{PartInfo, PublicKey, seal_stream};

#[derive(Parser, Debug)]
#[command(about = "Final-minute burst of sealed bids over HTTP")]
struct Args {
    /// Base URL of the Sunbid under test (one process, or the proxy in front of several).
    #[arg(long)]
    target: Option<String>,
    /// Burst the same bytes at a bare axum reference server at this URL instead.
    #[arg(long)]
    reference: Option<String>,
    /// Run the bare axum reference server on this address (and nothing else).
    #[arg(long)]
    serve_reference: Option<SocketAddr>,
    /// Bidders, one sealed bid each.
    #[arg(long, default_value_t = 1000)]
    bidders: usize,
    /// Attachment size in bytes (plaintext).
    #[arg(long, default_value_t = 1 << 20)]
    size: usize,
    /// The burst starts this many seconds before the deadline.
    #[arg(long, default_value_t = 60)]
    window: u64,
    /// Spread the starts evenly over this many seconds (0: all at the same instant).
    #[arg(long, default_value_t = 0)]
    spread: u64,
    /// Seconds between publication and the start of the window (sealing happens there).
    #[arg(long, default_value_t = 60)]
    prep: u64,
    /// Requests in flight while preparing (registrations, logins).
    #[arg(long, default_value_t = 16)]
    prep_concurrency: usize,
    /// Password of the demo staff (admin, the operator; agent).
    #[arg(long, default_value = "sunbid-demo-2026")]
    staff_password: String,
    /// A name for this setup in the report.
    #[arg(long, default_value = "target")]
    label: String,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The password every bench bidder registers with.
const BIDDER_PASSWORD: &str = "burst-bench-口令-2026";

fn main() -> Result<()> {
    let args = Args::parse();
    let rt = tokio::runtime::Runtime::new()?;
    if let Some(addr) = args.serve_reference {
        return rt.block_on(serve_reference(addr));
    }
    rt.block_on(async {
        if let Some(url) = &args.reference {
            let bids = fake_bids(args.bidders, args.size);
            let outcome = burst_reference(url, &bids, &args).await?;
            report(&args.label, &args, &outcome);
            return Ok(());
        }
        let target = args
            .target
            .clone()
            .ok_or_else(|| anyhow!("give --target URL, --reference URL or --serve-reference"))?;
        run(&target, &args).await
    })
}

// ---- HTTP ---------------------------------------------------------------------------

/// A client that speaks as one address (`X-Forwarded-For`) with one token.
#[derive(Clone)]
struct Api {
    base: String,
    http: reqwest::Client,
    ip: String,
    token: Option<String>,
}

impl Api {
    fn as_ip(&self, ip: String) -> Api {
        Api {
            ip,
            token: None,
            ..self.clone()
        }
    }

    fn req(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-forwarded-for", &self.ip);
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Value> {
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!(
                "HTTP {status}: {}",
                text.chars().take(300).collect::<String>()
            );
        }
        Ok(serde_json::from_str(&text)?)
    }

    async fn get(&self, path: &str) -> Result<Value> {
        self.send(self.req(reqwest::Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.send(self.req(reqwest::Method::POST, path).json(body))
            .await
    }

    async fn login(&self, username: &str, password: &str) -> Result<Api> {
        let answer = self
            .post(
                "/api/v1/auth/login",
                &json!({"username": username, "password": password}),
            )
            .await
            .with_context(|| {
                format!("login {username} (a 429 means the server does not trust X-Forwarded-For: set trust_proxy)")
            })?;
        let token = answer["token"]
            .as_str()
            .ok_or_else(|| anyhow!("login {username}: no token in {answer}"))?;
        Ok(Api {
            token: Some(token.to_owned()),
            ..self.clone()
        })
    }
}

fn client() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(30))
        .read_timeout(Duration::from_secs(300))
        .pool_idle_timeout(Duration::from_secs(20))
        .build()?)
}

/// A distinct address per bidder (10.0.0.0/8), so each one's logins count on their own.
fn bidder_ip(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

// ---- The run ------------------------------------------------------------------------

/// One bidder, ready before the window.
struct Bidder {
    org_id: String,
    api: Api,
    form: Sealed,
    attachment: Sealed,
}

/// One sealed part: the envelope bytes and what the receipt must record.
#[derive(Clone)]
struct Sealed {
    bytes: Bytes,
    sent: SentPart,
}

async fn run(target: &str, args: &Args) -> Result<()> {
    let base = target.trim_end_matches('/').to_owned();
    let root = Api {
        base,
        http: client()?,
        ip: "10.255.0.1".into(),
        token: None,
    };
    let n = args.bidders;
    let t0 = Instant::now();
    let operator = root
        .as_ip("10.255.0.2".into())
        .login("admin", &args.staff_password)
        .await?;
    let agent = root
        .as_ip("10.255.0.3".into())
        .login("agent", &args.staff_password)
        .await?;
    let users = operator.get("/api/v1/users").await?;
    let custodians: Vec<String> = users["users"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|u| {
            ["custodian1", "custodian2", "custodian3"]
                .contains(&u["username"].as_str().unwrap_or(""))
        })
        .filter_map(|u| u["user_id"].as_str().map(str::to_owned))
        .collect();
    if custodians.len() != 3 {
        bail!("the demo custodians custodian1..3 are missing (start the server with --demo)");
    }
    let orgs = operator.get("/api/v1/organisations").await?;
    let tenderee = orgs["organisations"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|o| o["kind"] == "tenderee" && o["status"] == "active")
        .and_then(|o| o["org_id"].as_str())
        .ok_or_else(|| anyhow!("no active tenderee organisation (start the server with --demo)"))?
        .to_owned();

    // Bidders: register, approved by the operator, logged in.
    let run_id = Utc::now().timestamp();
    let registered: Vec<Result<(String, Api)>> = stream::iter(0..n)
        .map(|i| {
            let (root, operator) = (root.clone(), operator.clone());
            async move {
                let me = root.as_ip(bidder_ip(i));
                let username = format!("burst{run_id}x{i}");
                // Distinct across runs on one database (8 digits: see synthetic_uscc).
                let serial =
                    u32::try_from(run_id % 8_000 * 10_000 + (i % 10_000) as i64).unwrap_or(0);
                let uscc = sunbid::demo::synthetic_uscc(serial)
                    .ok_or_else(|| anyhow!("no credit code for {serial}"))?;
                let reg = me
                    .post(
                        "/api/v1/companies",
                        &json!({"company_name": format!("压测投标人{run_id}-{i}有限公司"),
                                "uscc": uscc, "username": username,
                                "display_name": format!("投标人{i}"), "password": BIDDER_PASSWORD}),
                    )
                    .await
                    .with_context(|| format!("register bidder {i}"))?;
                let org = reg["org_id"]
                    .as_str()
                    .ok_or_else(|| anyhow!("register: {reg}"))?
                    .to_owned();
                // Preparation is not what is measured: a refusal with 500 is reported and
                // tried again (seen on PostgreSQL under concurrent approvals).
                let path = format!("/api/v1/organisations/{org}/approve");
                let mut tries = 0;
                loop {
                    match operator.post(&path, &json!({})).await {
                        Ok(_) => break,
                        Err(e) if tries < 5 && e.to_string().contains("HTTP 500") => {
                            tries += 1;
                            eprintln!("approve {org}: {e}; trying again");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        Err(e) => return Err(e.context(format!("approve {org}"))),
                    }
                }
                let api = me.login(&username, BIDDER_PASSWORD).await?;
                Ok((org, api))
            }
        })
        .buffer_unordered(args.prep_concurrency)
        .collect()
        .await;
    let registered: Vec<(String, Api)> = registered.into_iter().collect::<Result<_>>()?;
    eprintln!(
        "{n} bidders registered, approved and logged in in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    // The tender: the deadline leaves `prep` seconds for sealing, then the window.
    let now = Utc::now();
    let deadline = now
        + TimeDelta::seconds(i64::try_from(args.prep + args.window).unwrap_or(i64::MAX / 2))
        + TimeDelta::seconds(5);
    let code = format!("BURST-{run_id}");
    let criterion = |name: &str, weight: u32| json!({"name": name, "weight": weight});
    agent
        .post(
            "/api/v1/tenders",
            &json!({
                "code": code, "title": "压测：最后一分钟投标", "description": "基准测试用招标项目",
                "category": "construction", "procedure": "open", "tenderee_org_id": tenderee,
                "estimated_price_fen": 1_000_000_000i64, "ceiling_price_fen": 1_020_000_000i64,
                "bid_security_fen": 10_000_000i64,
                "documents_available_at": rfc3339(now),
                "clarification_cutoff_at": rfc3339(now + TimeDelta::seconds(2)),
                "bid_deadline_at": rfc3339(deadline),
                "opening_place": "线上开标", "evaluation_method": "comprehensive",
                "criteria": [criterion("投标报价", 60), criterion("施工组织设计", 30), criterion("企业信誉", 10)],
                "expert_quotas": [{"specialty": "construction.building", "count": 5}],
                "custodians": custodians,
            }),
        )
        .await
        .context("create the tender (the server needs the 0-day bench rulebook)")?;
    agent
        .send(
            agent
                .req(
                    reqwest::Method::POST,
                    &format!("/api/v1/tenders/{code}/documents?filename=burst.txt"),
                )
                .header("content-type", "text/plain; charset=utf-8")
                .body("压测招标文件"),
        )
        .await
        .context("tender document")?;
    agent
        .post(&format!("/api/v1/tenders/{code}/publish"), &json!({}))
        .await
        .context("publish the tender")?;
    let key = root
        .get(&format!("/api/v1/tenders/{code}/opening-key"))
        .await?;
    let tender_id = key["tender_id"]
        .as_str()
        .ok_or_else(|| anyhow!("opening key: {key}"))?
        .to_owned();
    let pk_bytes = URL_SAFE_NO_PAD
        .decode(
            key["public_key"]
                .as_str()
                .unwrap_or_default()
                .trim_end_matches('='),
        )
        .context("opening key")?;
    let pk = PublicKey::from_bytes(&pk_bytes).map_err(|e| anyhow!("opening key: {e}"))?;
    let platform = root.get("/api/v1/platform-key").await?;
    let vkey = parse_verifier_key(platform["vkey"].as_str().unwrap_or_default())
        .map_err(|e| anyhow!("platform key: {e}"))?;

    // Sealing: the bidders' own work before the deadline, off the clock.
    let t_seal = Instant::now();
    let bidders = seal_all(registered, &pk, &tender_id, args.size)?;
    eprintln!(
        "{n} bids sealed ({} MiB) in {:.1} s",
        (n * args.size) >> 20,
        t_seal.elapsed().as_secs_f64()
    );

    let start_at = deadline - TimeDelta::seconds(i64::try_from(args.window).unwrap_or(60));
    let wait = (start_at - Utc::now())
        .to_std()
        .map_err(|_| anyhow!("preparation overran the window: raise --prep"))?;
    eprintln!(
        "tender {code}: deadline {}, burst at {} (in {:.1} s)",
        rfc3339(deadline),
        rfc3339(start_at),
        wait.as_secs_f64()
    );
    tokio::time::sleep(wait).await;
    let outcome = burst(&code, &bidders, args, &vkey, &tender_id).await;

    // After the deadline: what the server itself holds.
    let past = (deadline + TimeDelta::seconds(2) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(past).await;
    let held = server_side(&code, &tender_id, &bidders).await;
    let mut outcome = outcome;
    outcome.held = Some(held.iter().filter(|ok| **ok).count());
    outcome.lost = outcome
        .ok
        .iter()
        .zip(&held)
        .filter(|(answered, held)| !(**answered && **held))
        .count();
    outcome.before_deadline = Some(
        (deadline - outcome.last_receipt_at)
            .to_std()
            .map(|d| d.as_secs_f64())
            .unwrap_or(-1.0),
    );
    report(&args.label, args, &outcome);
    Ok(())
}

/// Seals every bidder's form and attachment on all cores.
fn seal_all(
    registered: Vec<(String, Api)>,
    pk: &PublicKey,
    tender_id: &str,
    size: usize,
) -> Result<Vec<Bidder>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = registered.len().div_ceil(threads).max(1);
    let mut chunks: Vec<Vec<(usize, String, Api)>> = Vec::new();
    for (i, (org, api)) in registered.into_iter().enumerate() {
        if i % per == 0 {
            chunks.push(Vec::new());
        }
        if let Some(last) = chunks.last_mut() {
            last.push((i, org, api));
        }
    }
    let sealed: Vec<Result<Vec<Bidder>>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    let rng = SystemRandom::new();
                    chunk
                        .into_iter()
                        .map(|(i, org_id, api)| {
                            let form = serde_json::to_vec(&json!({
                                "price_fen": 900_000_000i64 + (i as i64) * 7_919,
                                "duration_days": 180, "quality": "合格",
                                "project_manager": format!("项目经理{i}"),
                                "declarations": ["投标保证金已缴纳"],
                            }))?;
                            let mut attachment = vec![0u8; size];
                            for (j, b) in attachment.iter_mut().enumerate() {
                                *b = (j.wrapping_mul(31) ^ i) as u8;
                            }
                            let seal = |label: &str, name: &str, plain: &[u8]| -> Result<Sealed> {
                                let mut out =
                                    Vec::with_capacity(plain.len() + plain.len() / 32 + 1024);
                                let info = PartInfo {
                                    tender_id,
                                    bidder_id: &org_id,
                                    label: name,
                                    plaintext_len: plain.len() as u64,
                                };
                                seal_stream(&mut &plain[..], &mut out, pk, &info, &rng)
                                    .map_err(|e| anyhow!("seal: {e}"))?;
                                let mut sha = [0u8; 32];
                                sha.copy_from_slice(digest::digest(&digest::SHA256, &out).as_ref());
                                Ok(Sealed {
                                    sent: SentPart {
                                        label: label.into(),
                                        name: name.into(),
                                        sha256: sha,
                                        size: out.len() as u64,
                                    },
                                    bytes: Bytes::from(out),
                                })
                            };
                            Ok(Bidder {
                                form: seal("form", "bid-form.json", &form)?,
                                attachment: seal("attachment", "technical.pdf", &attachment)?,
                                org_id,
                                api,
                            })
                        })
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow!("a sealing thread failed")))
            })
            .collect()
    });
    let mut out = Vec::new();
    for chunk in sealed {
        out.extend(chunk?);
    }
    Ok(out)
}

/// What one burst gave.
struct Outcome {
    latencies_ms: Vec<f64>,
    ok: Vec<bool>,
    errors: Vec<String>,
    wall: Duration,
    last_receipt_at: DateTime<Utc>,
    held: Option<usize>,
    lost: usize,
    before_deadline: Option<f64>,
}

/// Delay of the `i`th of `n` starts spread over `spread` seconds.
fn offset(i: usize, n: usize, spread: u64) -> Duration {
    if spread == 0 || n == 0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(spread as f64 * i as f64 / n as f64)
}

/// Uploads one part; checks the server's digest against ours.
async fn upload(api: &Api, code: &str, part: &Sealed) -> Result<String> {
    let answer = api
        .send(
            api.req(
                reqwest::Method::POST,
                &format!("/api/v1/tenders/{code}/bid/parts"),
            )
            .query(&[("label", &part.sent.label), ("name", &part.sent.name)])
            .header("content-type", "application/octet-stream")
            .body(part.bytes.clone()),
        )
        .await?;
    if answer["sha256"].as_str() != Some(hex::encode(part.sent.sha256).as_str()) {
        bail!("the server recorded another digest: {answer}");
    }
    answer["part_id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("upload answer: {answer}"))
}

/// One bidder's submission: both uploads, the submit, the receipt checked (signature and
/// the parts it records).
async fn submit_one(b: &Bidder, code: &str, vkey: &VerifierKey, tender_id: &str) -> Result<()> {
    let form = upload(&b.api, code, &b.form).await?;
    let attachment = upload(&b.api, code, &b.attachment).await?;
    let resp = b
        .api
        .req(
            reqwest::Method::POST,
            &format!("/api/v1/tenders/{code}/bid/submit"),
        )
        .json(&json!({"parts": [form, attachment]}))
        .send()
        .await?;
    let status = resp.status();
    let text = resp.bytes().await?;
    if !status.is_success() {
        bail!("submit: HTTP {status}: {}", String::from_utf8_lossy(&text));
    }
    let signed = verify_receipt(&text, vkey)?;
    check_matches(
        &signed.receipt,
        code,
        tender_id,
        &b.org_id,
        &[b.form.sent.clone(), b.attachment.sent.clone()],
    )?;
    Ok(())
}

async fn burst(
    code: &str,
    bidders: &[Bidder],
    args: &Args,
    vkey: &VerifierKey,
    tender_id: &str,
) -> Outcome {
    let n = bidders.len();
    let start = Instant::now();
    let results: Vec<(usize, Duration, Result<()>, DateTime<Utc>)> =
        stream::iter(bidders.iter().enumerate())
            .map(|(i, b)| async move {
                tokio::time::sleep_until((start + offset(i, n, args.spread)).into()).await;
                let t = Instant::now();
                let r = submit_one(b, code, vkey, tender_id).await;
                (i, t.elapsed(), r, Utc::now())
            })
            .buffer_unordered(n.max(1))
            .collect()
            .await;
    collect(results, start.elapsed())
}

fn collect(
    mut results: Vec<(usize, Duration, Result<()>, DateTime<Utc>)>,
    wall: Duration,
) -> Outcome {
    results.sort_by_key(|r| r.0);
    let mut out = Outcome {
        latencies_ms: Vec::new(),
        ok: Vec::new(),
        errors: Vec::new(),
        wall,
        last_receipt_at: DateTime::<Utc>::MIN_UTC,
        held: None,
        lost: 0,
        before_deadline: None,
    };
    for (i, took, r, at) in results {
        out.latencies_ms.push(took.as_secs_f64() * 1000.0);
        out.ok.push(r.is_ok());
        out.last_receipt_at = out.last_receipt_at.max(at);
        if let Err(e) = r {
            out.errors.push(format!("bidder {i}: {e:#}"));
        }
    }
    out.lost = out.ok.iter().filter(|ok| !**ok).count();
    out
}

/// Asks the server, as each bidder, for its bid after the deadline: present, submitted,
/// with exactly the parts sent.
async fn server_side(code: &str, tender_id: &str, bidders: &[Bidder]) -> Vec<bool> {
    stream::iter(bidders)
        .map(|b| async move {
            let Ok(mine) = b.api.get(&format!("/api/v1/tenders/{code}/bid")).await else {
                return false;
            };
            let bid = &mine["bid"];
            // The stored receipt, or the signed document around it.
            let stored = match bid["receipt"].get("receipt") {
                Some(inner) => inner.clone(),
                None => bid["receipt"].clone(),
            };
            let Ok(receipt) = serde_json::from_value::<Receipt>(stored) else {
                return false;
            };
            bid["state"] == "submitted"
                && mine["submissions"] == 1
                && check_matches(
                    &receipt,
                    code,
                    tender_id,
                    &b.org_id,
                    &[b.form.sent.clone(), b.attachment.sent.clone()],
                )
                .is_ok()
        })
        .buffered(32)
        .collect()
        .await
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
        .unwrap_or(f64::NAN)
}

fn report(label: &str, args: &Args, o: &Outcome) {
    let mut sorted = o.latencies_ms.clone();
    sorted.sort_by(f64::total_cmp);
    let answered = o.ok.iter().filter(|ok| **ok).count();
    for e in o.errors.iter().take(10) {
        eprintln!("  {e}");
    }
    println!(
        "| {label} | {} × {} KiB, spread {} s | {:.2} s | {:.0} | {:.0} | {:.0} | {:.0} | {answered} | {} | {} | {} |",
        o.ok.len(),
        args.size / 1024,
        args.spread,
        o.wall.as_secs_f64(),
        percentile(&sorted, 50.0),
        percentile(&sorted, 95.0),
        percentile(&sorted, 99.0),
        sorted.last().copied().unwrap_or(f64::NAN),
        o.held.map_or("—".into(), |h| h.to_string()),
        o.lost,
        o.before_deadline
            .map_or("—".into(), |s| format!("{s:.1} s")),
    );
    println!(
        "  (columns: setup | bids | wall time | p50 | p95 | p99 | max (ms) | answered 2xx with a \
         valid receipt | held by the server after the deadline | lost | last receipt before the deadline)"
    );
}

// ---- The reference: a bare axum upload handler --------------------------------------

/// The same envelopes as the real burst, without a server to seal them for.
fn fake_bids(n: usize, size: usize) -> Vec<(Bytes, Bytes)> {
    let form = Bytes::from(vec![7u8; 400]);
    let attachment = Bytes::from(vec![9u8; size + size / 4096 * 16 + 300]);
    (0..n).map(|_| (form.clone(), attachment.clone())).collect()
}

async fn serve_reference(addr: SocketAddr) -> Result<()> {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post;
    async fn drain(body: Body) -> axum::Json<Value> {
        let mut stream = body.into_data_stream();
        let mut size = 0usize;
        while let Some(Ok(chunk)) = stream.next().await {
            size += chunk.len();
        }
        axum::Json(json!({ "size": size }))
    }
    let app = Router::new()
        .route("/upload", post(drain))
        .route("/submit", post(|| async { axum::Json(json!({})) }))
        .layer(axum::extract::DefaultBodyLimit::disable());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn burst_reference(url: &str, bids: &[(Bytes, Bytes)], args: &Args) -> Result<Outcome> {
    let http = client()?;
    let base = url.trim_end_matches('/').to_owned();
    let n = bids.len();
    let one = |body: Bytes, path: &'static str| {
        let req = http.post(format!("{base}{path}")).body(body);
        async move {
            let resp = req.send().await?;
            if !resp.status().is_success() {
                bail!("HTTP {}", resp.status());
            }
            resp.bytes().await?;
            Ok::<_, anyhow::Error>(())
        }
    };
    let start = Instant::now();
    let results = stream::iter(bids.iter().enumerate())
        .map(|(i, (form, attachment))| {
            let one = &one;
            async move {
                tokio::time::sleep_until((start + offset(i, n, args.spread)).into()).await;
                let t = Instant::now();
                let r = async {
                    one(form.clone(), "/upload").await?;
                    one(attachment.clone(), "/upload").await?;
                    one(Bytes::from_static(b"{\"parts\":[\"a\",\"b\"]}"), "/submit").await
                }
                .await;
                (i, t.elapsed(), r, Utc::now())
            }
        })
        .buffer_unordered(n.max(1))
        .collect()
        .await;
    Ok(collect(results, start.elapsed()))
}
