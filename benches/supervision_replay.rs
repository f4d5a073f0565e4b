//! The alert engine replaying an audit log on SQLite (issue 13 target: ≥ 10,000 events/s):
//! a log of 200 tenders with 100 events each (publication, downloads, uploads from shared
//! and distinct addresses, submissions, the opening record with its prices) is consumed from
//! a fresh cursor by `supervision::engine::consume`, the same path the server's job loop
//! runs (batches of 1,000 events per transaction, history reads at each opening, alerts
//! stored with their audit events). Also the rules alone over the same log in memory.
//! Figures: docs/BENCHMARKS.md.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sunbid::audit::{self, Actor};
use sunbid::store::Db;
use sunbid::supervision::config::{Calendar, Rules};
use sunbid::supervision::engine;
use sunbid::supervision::event::Event;
use sunbid::supervision::rules::{self, Context};

const TENDERS: usize = 200;
const EVENTS_PER_TENDER: usize = 100;
const BIDDERS: usize = 10;

async fn connect(path: &Path) -> Db {
    Db::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap()
}

/// Writes the log: per tender one publication, 78 downloads, 10 uploads, 10 submissions
/// and the opening record.
async fn build_log(db: &Db) -> usize {
    let now = chrono::Utc::now();
    let actor = Actor::system();
    let mut n = 0;
    for t in 0..TENDERS {
        let tid = format!("tender-{t:04}");
        let mut tx = db.begin().await.unwrap();
        let mut add = async |action: &str, payload| {
            audit::append(&mut tx, now, &actor, action, Some(&tid), payload)
                .await
                .unwrap();
        };
        add(
            "tender.publish",
            json!({"ceiling_price_fen": 2_000_000_000i64}),
        )
        .await;
        for d in 0..(EVENTS_PER_TENDER - 2 - 2 * BIDDERS) {
            add(
                "tender.document.download",
                json!({"download_id": format!("d{d}")}),
            )
            .await;
        }
        for b in 0..BIDDERS {
            // Every tenth tender has two bidders on one address.
            let ip = if t % 10 == 0 && b < 2 {
                "10.0.0.1".to_string()
            } else {
                format!("10.{t}.{b}.9")
            };
            add(
                "bid.upload",
                json!({"bidder_id": format!("org-{b}"), "client_ip": ip,
                "user_agent": format!("UA {b}"), "device_id": format!("dev-{t}-{b}"),
                "sha256": format!("{t:032}{b:032}")}),
            )
            .await;
        }
        for b in 0..BIDDERS {
            add("bid.submit", json!({"bidder_id": format!("org-{b}")})).await;
        }
        let bids: Vec<_> = (0..BIDDERS)
            .map(|b| json!({"bidder_id": format!("org-{b}"), "status": "opened",
                            "price_fen": 1_000_000_000i64 + (b as i64) * 37_000_011 + (b as i64 * b as i64) * 1_234}))
            .collect();
        add("opening.record", json!({"record": {"bids": bids}})).await;
        tx.commit().await.unwrap();
        n += EVENTS_PER_TENDER;
    }
    n
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("log.db");
    let events = rt.block_on(async {
        let db = connect(&source).await;
        db.migrate().await.unwrap();
        let n = build_log(&db).await;
        // Closing checkpoints the WAL, so the copies below are whole.
        db.close().await;
        n
    });
    let (rules_cfg, calendar) = (Rules::builtin().unwrap(), Calendar::builtin().unwrap());
    let ctx = Context {
        rules: &rules_cfg,
        calendar: &calendar,
    };

    let mut group = c.benchmark_group("supervision_replay");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.throughput(Throughput::Elements(events as u64));
    group.bench_function(format!("engine_sqlite_{events}_events"), |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                // Each run starts from a copy of the log with the cursor at 0.
                let copy = dir.path().join(format!("run-{i}.db"));
                for ext in ["", "-wal", "-shm"] {
                    let from = format!("{}{ext}", source.display());
                    if Path::new(&from).exists() {
                        std::fs::copy(&from, format!("{}{ext}", copy.display())).unwrap();
                    }
                }
                total += rt.block_on(async {
                    let db = connect(&copy).await;
                    let start = Instant::now();
                    let run = engine::consume(&db, chrono::Utc::now(), &ctx)
                        .await
                        .unwrap();
                    let took = start.elapsed();
                    // The engine also consumes the alert events it appended itself.
                    assert!(run.events >= events, "{run:?}");
                    assert!(run.alerts >= TENDERS / 10, "{run:?}");
                    took
                });
                for ext in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{ext}", copy.display()));
                }
            }
            total
        });
    });

    let log: Vec<Event> = rt.block_on(async {
        let db = connect(&source).await;
        let mut tx = db.read().await.unwrap();
        let rows: Vec<(String,)> =
            sunbid::q_all!(tx, (String,), "select entry from audit_event order by seq").unwrap();
        rows.iter().filter_map(|(e,)| Event::parse(e)).collect()
    });
    group.bench_function(format!("rules_in_memory_{events}_events"), |b| {
        b.iter(|| rules::replay(&ctx, &log, chrono::Utc::now()).len());
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
