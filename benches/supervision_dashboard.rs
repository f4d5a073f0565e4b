//! The regulator's dashboard figures with 100,000 trades in a SQLite database (issue 13
//! target: < 200 ms): `supervision::stats::dashboard`, the function behind
//! `GET /api/v1/supervision/stats` and `/supervision`, over 100,000 published tenders
//! spread over 24 months and two categories, every third awarded (bids and awards, for
//! the savings), 10,000 award events in the log (the contract clocks of the on-time rates)
//! and 2,000 alerts. Figures: docs/BENCHMARKS.md.

// Benchmark harness: a failed setup step should stop the run loudly (crate-wide lints
// deny these in the platform's own code).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use sunbid::audit::{self, Actor};
use sunbid::identity::{Caller, Role, SessionUser};
use sunbid::store::Db;
use sunbid::supervision::stats;

const TRADES: usize = 100_000;
const AWARDED_EVERY: usize = 3;
const AWARD_EVENTS: usize = 10_000;
const ALERTS: usize = 2_000;

async fn build(db: &Db) {
    let now = chrono::Utc::now();
    let t0 = now.timestamp_millis() - 730 * 86_400_000;
    let mut tx = db.begin().await.unwrap();
    for sql in [
        "insert into organisation (org_id, kind, name, uscc, status, created_at)
         values ('buyer', 'tenderee', '建设单位', null, 'active', 0)",
        "insert into organisation (org_id, kind, name, uscc, status, created_at)
         values ('agency', 'agent', '招标代理', null, 'active', 0)",
        "insert into organisation (org_id, kind, name, uscc, status, created_at)
         values ('winner', 'bidder', '施工企业', null, 'active', 0)",
        "insert into app_user (user_id, username, display_name, role, org_id, password_hash,
            status, created_at) values ('u', 'agent', '代理', 'agent', 'agency', 'x', 'active', 0)",
    ] {
        sunbid::q_exec!(tx, sqlx::AssertSqlSafe(sql.to_string())).unwrap();
    }
    tx.commit().await.unwrap();
    for chunk in 0..TRADES / 1000 {
        let mut tx = db.begin().await.unwrap();
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let tid = format!("t{i:06}");
            let published = t0 + i64::try_from(i).unwrap() * 630_000;
            let category = if i % 2 == 0 {
                "construction"
            } else {
                "procurement"
            };
            let estimate = 100_000_000i64 + i64::try_from(i % 97).unwrap() * 1_000_000;
            sunbid::q_exec!(
                tx,
                "insert into tender (tender_id, code, title, description, category, procedure,
                    rulebook_id, tenderee_org_id, agent_org_id, created_by, state,
                    estimated_price_fen, bid_security_fen, documents_available_at,
                    clarification_cutoff_at, bid_deadline_at, opening_place, evaluation_method,
                    criteria_json, expert_quotas_json, published_at, created_at, updated_at)
                 values ($1, $1, '项目', '', $2, 'open', 'rb', 'buyer', 'agency', 'u', $3, $4, 0,
                    $5, $5, $5, '开标室', 'comprehensive', '[]', '[]', $5, $5, $5)",
                tid.clone(),
                category,
                if i % AWARDED_EVERY == 0 {
                    "awarded"
                } else {
                    "published"
                },
                estimate,
                published
            )
            .unwrap();
            if i % AWARDED_EVERY == 0 {
                let bid = format!("b{i:06}");
                sunbid::q_exec!(
                    tx,
                    "insert into bid (bid_id, tender_id, bidder_org_id, submitted_by, state,
                        receipt_json, signature, audit_seq, submitted_at)
                     values ($1, $2, 'winner', 'u', 'opened', '{}', 'x', 0, $3)",
                    bid.clone(),
                    tid.clone(),
                    published
                )
                .unwrap();
                sunbid::q_exec!(
                    tx,
                    "insert into award (tender_id, bid_id, winner_org_id, price_fen,
                        candidate_rank, awarded_by, awarded_at, contract_due_at)
                     values ($1, $2, 'winner', $3, 1, 'u', $4, $4)",
                    tid.clone(),
                    bid,
                    estimate * 95 / 100,
                    published
                )
                .unwrap();
            }
        }
        tx.commit().await.unwrap();
    }
    let actor = Actor::system();
    let mut tx = db.begin().await.unwrap();
    for i in 0..AWARD_EVENTS {
        let tid = format!("t{:06}", i * AWARDED_EVERY);
        let due = now - chrono::Duration::days(i64::try_from(i % 60).unwrap());
        audit::append(
            &mut tx,
            now,
            &actor,
            "result.award",
            Some(&tid),
            json!({"contract_due": audit::entry_time(due), "winner_org_id": "winner"}),
        )
        .await
        .unwrap();
    }
    for i in 0..ALERTS {
        sunbid::q_exec!(
            tx,
            "insert into supervision_alert (alert_id, kind, severity, tender_id, rule, article,
                summary, evidence, detail, dedup_key, status, audit_seq, raised_at)
             values ($1, $2, 'low', $3, 'r', 'a', 's', '[]', '{}', $1, $4, 1, 0)",
            format!("a{i}"),
            if i % 3 == 0 {
                "collusion"
            } else {
                "time_limit"
            },
            format!("t{i:06}"),
            if i % 2 == 0 { "open" } else { "closed" }
        )
        .unwrap();
    }
    tx.commit().await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = rt.block_on(async {
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("d.db").display()))
            .await
            .unwrap();
        db.migrate().await.unwrap();
        build(&db).await;
        db
    });
    let caller = Caller {
        user: SessionUser {
            user_id: "reg".into(),
            role: Role::Regulator,
            org_id: None,
            name: "监督".into(),
        },
        actor: Actor::system(),
        user_agent: None,
    };
    let mut group = c.benchmark_group("supervision_dashboard");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function(format!("stats_sqlite_{TRADES}_trades"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let d = stats::dashboard(&db, chrono::Utc::now(), &caller, None)
                    .await
                    .unwrap();
                assert_eq!(d.savings[0].awarded, (TRADES / AWARDED_EVERY) as i64 + 1);
                d
            })
        });
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
