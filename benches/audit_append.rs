//! Audit append throughput with durable commits under concurrent writers, on SQLite (WAL,
//! synchronous=FULL) and, when `SUNBID_TEST_PG_URL` is set, PostgreSQL: one state change per
//! transaction through the group-commit writer (how every state change appends), the same
//! without it (each change its own transaction and flush: how it was), batches of 100 events
//! per transaction, and the reference: raw one-row inserts, one durable transaction each.
//! Figures: docs/BENCHMARKS.md.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sunbid::audit::{self, Actor};
use sunbid::store::{Db, Tx};

#[derive(Clone, Copy)]
enum Path {
    /// `Db::begin`: the group-commit writer.
    Grouped,
    /// A plain transaction of the pool per change (no group commit).
    Plain,
    /// A plain transaction per one-row insert into a bare table: the database's own rate.
    Raw,
}

async fn fresh_sqlite(dir: &std::path::Path) -> Db {
    let db = Db::connect(&format!("sqlite://{}", dir.join("bench.db").display()))
        .await
        .unwrap();
    prepare(&db).await;
    db
}

async fn prepare(db: &Db) {
    db.migrate().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    sunbid::q_exec!(
        tx,
        "create table bench_raw (id bigint primary key, body text not null)"
    )
    .unwrap();
    tx.commit().await.unwrap();
}

async fn plain(db: &Db) -> Tx {
    match db {
        Db::Sqlite(p, _) => Tx::SqliteRead(p.begin_with("BEGIN IMMEDIATE").await.unwrap()),
        Db::Postgres(p, _) => Tx::PostgresRead(p.begin().await.unwrap()),
    }
}

/// Appends `total` events from `writers` concurrent tasks, `per_tx` events per commit.
async fn run(db: &Db, path: Path, writers: u64, total: u64, per_tx: u64) -> Duration {
    static NEXT_RAW: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let mine = total / writers + u64::from(w < total % writers);
        tasks.push(tokio::spawn(async move {
            let actor = Actor {
                user_id: Some(format!("writer-{w}")),
                ..Actor::system()
            };
            let mut left = mine;
            while left > 0 {
                let n = left.min(per_tx);
                let mut tx = match path {
                    Path::Grouped => db.begin().await.unwrap(),
                    Path::Plain | Path::Raw => plain(&db).await,
                };
                for i in 0..n {
                    if let Path::Raw = path {
                        let id = NEXT_RAW.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let body = json!({"i": i}).to_string();
                        sunbid::q_exec!(
                            tx,
                            "insert into bench_raw (id, body) values ($1, $2)",
                            id,
                            body
                        )
                        .unwrap();
                    } else {
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

fn measure(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, db: &Db) {
    let mut group = c.benchmark_group(format!("audit_append_{name}_durable"));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    let cases: [(&str, Path, u64, u64); 6] = [
        ("raw_insert_8_writers_1_per_commit", Path::Raw, 8, 1),
        ("plain_8_writers_1_per_commit", Path::Plain, 8, 1),
        ("grouped_8_writers_1_per_commit", Path::Grouped, 8, 1),
        ("grouped_64_writers_1_per_commit", Path::Grouped, 64, 1),
        ("grouped_256_writers_1_per_commit", Path::Grouped, 256, 1),
        ("plain_8_writers_100_per_commit", Path::Plain, 8, 100),
    ];
    for (label, path, writers, per_tx) in cases {
        group.bench_function(label, |b| {
            b.iter_custom(|iters| rt.block_on(run(db, path, writers, iters.max(writers), per_tx)));
        });
    }
    group.finish();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = rt.block_on(fresh_sqlite(dir.path()));
    measure(c, &rt, "sqlite", &sqlite);

    if let Ok(admin) = std::env::var("SUNBID_TEST_PG_URL") {
        let name = format!("sunbid_bench_{}", std::process::id());
        let url = rt.block_on(async {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!("create database {name}")))
                .execute(&mut conn)
                .await
                .unwrap();
            match admin.rsplit_once('/') {
                Some((base, _)) => format!("{base}/{name}"),
                None => admin.clone(),
            }
        });
        let pg = rt.block_on(async {
            let db = Db::connect(&url).await.unwrap();
            prepare(&db).await;
            db
        });
        measure(c, &rt, "postgres", &pg);
        rt.block_on(async {
            pg.close().await;
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "drop database if exists {name} with (force)"
            )))
            .execute(&mut conn)
            .await;
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
