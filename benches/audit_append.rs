//! Audit append throughput on SQLite with durable commits (WAL, synchronous=FULL) under
//! concurrent writers: one event per transaction (how state changes append today) and
//! batches of events per transaction (bulk appends under load). Figures: docs/BENCHMARKS.md.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sunbid::audit::{self, Actor};
use sunbid::store::Db;

const WRITERS: u64 = 8;

async fn fresh_db(dir: &std::path::Path) -> Db {
    let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// Appends `total` events from `WRITERS` concurrent tasks, `per_tx` events per commit.
async fn run(db: &Db, total: u64, per_tx: u64) -> Duration {
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = db.clone();
        let mine = total / WRITERS + u64::from(w < total % WRITERS);
        tasks.push(tokio::spawn(async move {
            let actor = Actor {
                user_id: Some(format!("writer-{w}")),
                ..Actor::system()
            };
            let mut left = mine;
            while left > 0 {
                let n = left.min(per_tx);
                let mut tx = db.begin().await.unwrap();
                for i in 0..n {
                    audit::append(
                        &mut tx,
                        chrono::Utc::now(),
                        &actor,
                        "bench.append",
                        None,
                        json!({"i": i}),
                    )
                    .await
                    .unwrap();
                }
                tx.commit().await.unwrap();
                left -= n;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(fresh_db(dir.path()));

    let mut group = c.benchmark_group("audit_append_sqlite_durable");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    for per_tx in [1u64, 10, 100] {
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("{WRITERS}_writers_{per_tx}_per_commit"), |b| {
            b.iter_custom(|iters| rt.block_on(run(&db, iters.max(WRITERS), per_tx)));
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
