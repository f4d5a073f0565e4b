//! Proofs served from the stored tree nodes at a large tree size, compared in the same run
//! with computing them from all leaves in memory; and the OCDS change feed's throughput in
//! releases per second. SQLite. Figures: docs/BENCHMARKS.md.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use sqlx::AssertSqlSafe;
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

/// Writes every perfect-subtree node of a tree of `leaves` into `audit_node`, as appends
/// would have (level 0 = the leaves), in batches of multi-row inserts.
async fn store_tree(db: &Db, leaves: &[Hash]) {
    let mut level: Vec<Hash> = leaves.to_vec();
    let mut tx = db.begin().await.unwrap();
    let mut l = 0u8;
    while !level.is_empty() {
        for (chunk_no, chunk) in level.chunks(500).enumerate() {
            let values: Vec<String> = chunk
                .iter()
                .enumerate()
                .map(|(i, h)| format!("({l}, {}, x'{}')", chunk_no * 500 + i, hex::encode(h)))
                .collect();
            let sql = format!(
                "insert into audit_node (level, idx, hash) values {}",
                values.join(",")
            );
            if let Conn::Sqlite(c) = tx.conn() {
                sqlx::query(AssertSqlSafe(sql))
                    .execute(&mut *c)
                    .await
                    .unwrap();
            }
        }
        level = level
            .chunks_exact(2)
            .map(|p| merkle::node_hash(&p[0], &p[1]))
            .collect();
        l += 1;
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
    let db = rt.block_on(fresh_db(dir.path(), "tree.db"));
    let started = Instant::now();
    rt.block_on(store_tree(&db, &leaves));
    eprintln!("stored {n} leaves' nodes in {:?}", started.elapsed());
    let root = merkle::root(&leaves);

    let mut group = c.benchmark_group(format!("proofs_{n}_leaves"));
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(5));
    let mut i = 0u64;
    group.bench_function(BenchmarkId::new("inclusion", "stored_nodes_sqlite"), |b| {
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
    });
    group.bench_function(
        BenchmarkId::new("consistency", "stored_nodes_sqlite"),
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
    group.sample_size(10);
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

criterion_group!(benches, proofs, feed);
criterion_main!(benches);
