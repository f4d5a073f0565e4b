//! Proofs served from the stored tree nodes at a large tree size (SQLite and PostgreSQL),
//! compared in the same run with computing them from all leaves in memory; offline
//! verification of a large export; and the OCDS change feed's throughput in releases per
//! second. Figures: docs/BENCHMARKS.md.
//!
//! `SUNBID_BENCH_LEAVES` sets the tree size (default 2^20), `SUNBID_BENCH_EXPORT` the
//! export's events (default 1,000,000); PostgreSQL is measured when `SUNBID_TEST_PG_URL`
//! names a server where a scratch database may be created.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ring::signature::Ed25519KeyPair;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection as _};
use sunbid::audit::checkpoint::{Checkpoint, verifier_key};
use sunbid::audit::export::{FORMAT, FileVerdict, verify_export};
use sunbid::audit::kept::proof_from_nodes;
use sunbid::audit::merkle::{self, Hash};
use sunbid::audit::{self, Actor};
use sunbid::ocds::service::{Publisher, release_page};
use sunbid::store::{Conn, Db};

/// Leaves of the large tree (set `SUNBID_BENCH_LEAVES` to change it).
fn leaves_wanted() -> u64 {
    std::env::var("SUNBID_BENCH_LEAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20)
}

async fn fresh_db(dir: &std::path::Path, name: &str) -> Db {
    let db = Db::connect(&format!("sqlite://{}", dir.join(name).display()))
        .await
        .unwrap();
    db.migrate().await.unwrap();
    db
}

/// A scratch PostgreSQL database (dropped by [`drop_pg`]), if a server is configured.
async fn fresh_pg() -> Option<(Db, String, String)> {
    let admin = std::env::var("SUNBID_TEST_PG_URL").ok()?;
    let name = format!("sunbid_bench_{}", std::process::id());
    let mut c = sqlx::PgConnection::connect(&admin).await.ok()?;
    sqlx::query(AssertSqlSafe(format!("create database {name}")))
        .execute(&mut c)
        .await
        .unwrap();
    let url = match admin.rsplit_once('/') {
        Some((server, _)) => format!("{server}/{name}"),
        None => panic!("SUNBID_TEST_PG_URL has no database part"),
    };
    let db = Db::connect(&url).await.unwrap();
    db.migrate().await.unwrap();
    Some((db, admin, name))
}

async fn drop_pg(db: Db, admin: &str, name: &str) {
    db.close().await;
    let mut c = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query(AssertSqlSafe(format!("drop database if exists {name}")))
        .execute(&mut c)
        .await
        .unwrap();
}

/// Writes every perfect-subtree node of a tree of `leaves` into `audit_node`, as appends
/// would have: multi-row inserts in one transaction (SQLite), `COPY` (PostgreSQL).
async fn store_tree(db: &Db, leaves: &[Hash]) {
    let mut tx = db.begin().await.unwrap();
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut l = 0u8;
    while !level.is_empty() {
        match tx.conn() {
            Conn::Sqlite(c) => {
                for (chunk_no, chunk) in level.chunks(500).enumerate() {
                    let values: Vec<String> = chunk
                        .iter()
                        .enumerate()
                        .map(|(i, h)| {
                            format!("({l}, {}, x'{}')", chunk_no * 500 + i, hex::encode(h))
                        })
                        .collect();
                    let sql = format!(
                        "insert into audit_node (level, idx, hash) values {}",
                        values.join(",")
                    );
                    sqlx::query(AssertSqlSafe(sql))
                        .execute(&mut *c)
                        .await
                        .unwrap();
                }
            }
            Conn::Postgres(c) => {
                let mut copy = c
                    .copy_in_raw("copy audit_node (level, idx, hash) from stdin")
                    .await
                    .unwrap();
                for (chunk_no, chunk) in level.chunks(10_000).enumerate() {
                    let mut text = String::with_capacity(chunk.len() * 80);
                    for (i, h) in chunk.iter().enumerate() {
                        text.push_str(&format!(
                            "{l}\t{}\t\\\\x{}\n",
                            chunk_no * 10_000 + i,
                            hex::encode(h)
                        ));
                    }
                    copy.send(text.into_bytes()).await.unwrap();
                }
                copy.finish().await.unwrap();
            }
        }
        level = level
            .chunks_exact(2)
            .map(|p| merkle::node_hash(&p[0], &p[1]))
            .collect();
        l += 1;
    }
    tx.commit().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    if let Conn::Postgres(c) = tx.conn() {
        sqlx::query("analyze audit_node")
            .execute(&mut *c)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

fn proofs(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let n = leaves_wanted();
    let leaves: Vec<Hash> = (0..n)
        .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
        .collect();
    let root = merkle::root(&leaves);
    let mut dbs = vec![("sqlite", rt.block_on(fresh_db(dir.path(), "tree.db")), None)];
    if let Some((db, admin, name)) = rt.block_on(fresh_pg()) {
        dbs.push(("postgres", db, Some((admin, name))));
    }
    let mut group = c.benchmark_group(format!("proofs_{n}_leaves"));
    group
        .sample_size(100)
        .measurement_time(Duration::from_secs(5));
    for (engine, db, _) in &dbs {
        let started = Instant::now();
        rt.block_on(store_tree(db, &leaves));
        eprintln!(
            "{engine}: stored {n} leaves' nodes in {:?}",
            started.elapsed()
        );
        let mut i = 0u64;
        group.bench_function(
            BenchmarkId::new("inclusion", format!("stored_nodes_{engine}")),
            |b| {
                b.iter(|| {
                    i = (i * 7919 + 13) % n;
                    let plan = merkle::inclusion_proof_plan(i, n).unwrap();
                    let proof = rt.block_on(async {
                        let mut tx = db.read().await.unwrap();
                        proof_from_nodes(&mut tx, &plan).await.unwrap()
                    });
                    assert!(merkle::verify_inclusion(
                        &leaves[i as usize],
                        i,
                        n,
                        &proof,
                        &root
                    ));
                })
            },
        );
        group.bench_function(
            BenchmarkId::new("consistency", format!("stored_nodes_{engine}")),
            |b| {
                b.iter(|| {
                    i = (i * 7919 + 13) % (n - 1) + 1;
                    let plan = merkle::consistency_proof_plan(i, n).unwrap();
                    rt.block_on(async {
                        let mut tx = db.read().await.unwrap();
                        proof_from_nodes(&mut tx, &plan).await.unwrap()
                    })
                })
            },
        );
    }
    group.sample_size(10);
    let mut i = 0u64;
    group.bench_function(
        BenchmarkId::new("inclusion", "from_all_leaves_in_memory"),
        |b| {
            b.iter(|| {
                i = (i * 7919 + 13) % n;
                merkle::inclusion_proof(&leaves, i).unwrap()
            })
        },
    );
    group.finish();
    for (_, db, pg) in dbs {
        if let Some((admin, name)) = pg {
            rt.block_on(drop_pg(db, &admin, &name));
        }
    }
}

/// An export of `n` events shaped as the platform writes them, with its signed checkpoint,
/// and the log's verifier key.
fn export_text(n: u64) -> (String, String) {
    let key = Ed25519KeyPair::from_seed_unchecked(&[5u8; 32]).unwrap();
    let pk: [u8; 32] = ring::signature::KeyPair::public_key(&key)
        .as_ref()
        .try_into()
        .unwrap();
    let origin = "bid.example/sunbid-audit";
    let mut lines = Vec::with_capacity(n as usize);
    let mut leaves = Vec::with_capacity(n as usize);
    for seq in 0..n {
        let entry = json!({"v": 1, "seq": seq, "time": "2026-03-01T02:00:00.000Z",
            "action": "bid.submit", "tender": "01JTENDER0000000000000000",
            "actor": "01JACTOR00000000000000000", "role": "bidder",
            "request_id": "0193c0de-0000-7000-8000-000000000000", "client_ip": "10.0.0.1",
            "payload": {"bid_id": format!("B{seq:024}"), "manifest_sha256": "ab".repeat(32)}});
        let entry = serde_json_canonicalizer::to_string(&entry).unwrap();
        let leaf = merkle::leaf_hash(entry.as_bytes());
        lines.push(json!({"seq": seq, "entry": entry, "leaf_hash": hex::encode(leaf)}).to_string());
        leaves.push(leaf);
    }
    let cp = Checkpoint {
        origin: origin.into(),
        size: n,
        root: merkle::root(&leaves),
    };
    let vkey = verifier_key(origin, &pk);
    let mut out = json!({"format": FORMAT, "vkey": vkey, "size": n,
                         "checkpoint": cp.sign(origin, &key)})
    .to_string();
    out.push('\n');
    for l in lines {
        out.push_str(&l);
        out.push('\n');
    }
    (out, vkey)
}

fn offline_verify(c: &mut Criterion) {
    let n = std::env::var("SUNBID_BENCH_EXPORT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000u64);
    let (text, vkey) = export_text(n);
    eprintln!("export of {n} events: {} MB", text.len() / 1_000_000);
    let mut group = c.benchmark_group("audit_export_verify");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(n));
    group.bench_function(format!("verify_file_{n}_events"), |b| {
        b.iter(|| {
            assert!(matches!(
                verify_export(&text, Some(&vkey)),
                FileVerdict::Ok { .. }
            ))
        })
    });
    group.finish();
}

/// Appends `tenders` published tenders' `tender.publish` events (as the platform writes
/// them) and returns the database.
async fn feed_db(dir: &std::path::Path, tenders: u64) -> Db {
    let db = fresh_db(dir, "feed.db").await;
    let mut tx = db.begin().await.unwrap();
    let now = chrono::Utc::now();
    let t = |d: i64| audit::entry_time(now + chrono::Duration::days(d));
    for i in 0..tenders {
        let payload = json!({
            "code": format!("SZ-{i}"), "title": format!("道路工程 {i} 标段"), "procedure": "open",
            "currency": "CNY", "tenderee_org_id": "buyer", "agent_org_id": "agent",
            "estimated_price_fen": 123_456_700 + i, "evaluation_method": "comprehensive",
            "documents_available_at": t(0), "published_at": t(0),
            "clarification_cutoff_at": t(10), "bid_deadline_at": t(25),
            "opening_place": "开标三室",
            "documents": [{"document_id": format!("d{i}"), "filename": "招标文件.pdf",
                           "size_bytes": 10, "sha256": "ab"}],
        });
        audit::append(
            &mut tx,
            now,
            &Actor::system(),
            "tender.publish",
            Some(&format!("T{i:08}")),
            payload,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    db
}

fn feed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tenders = 10_000u64;
    let db = rt.block_on(feed_db(dir.path(), tenders));
    let p = Publisher {
        ocid_prefix: "ocds-bench".into(),
        name: "Sunbid".into(),
        license: "https://creativecommons.org/licenses/by/4.0/".into(),
        public_url: "https://bid.example".into(),
    };
    let mut group = c.benchmark_group("ocds_feed_sqlite");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(tenders));
    group.bench_function("walk_10000_releases", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut cursor = "0".to_string();
                let mut seen = 0u64;
                loop {
                    let page = release_page(&db, chrono::Utc::now(), &p, Some(&cursor))
                        .await
                        .unwrap();
                    let Some(pkg) = page.package else { break };
                    seen += pkg.releases.len() as u64;
                    cursor = page.next_cursor;
                }
                assert_eq!(seen, tenders);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, proofs, offline_verify, feed);
criterion_main!(benches);
