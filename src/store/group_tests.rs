//! Group commit keeps each change atomic and durable on both databases: changes that arrive
//! together all land, a dropped or failed change leaves no trace and does not hold the
//! writer, and a batch whose shared commit fails reports the failure to every change in it.

use std::time::Duration;

use super::{Db, testdb};
use crate::{q_exec, q_one};

const SCHEMA: [&str; 2] = [
    "create table gc_parent (id bigint primary key)",
    "create table gc_child (id bigint primary key,
       parent bigint references gc_parent(id) deferrable initially deferred)",
];

async fn with_dbs(check: impl AsyncFn(&Db)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Db::connect(&format!("sqlite://{}", dir.path().join("gc.db").display()))
        .await
        .expect("sqlite");
    setup(&sqlite).await;
    check(&sqlite).await;
    if let Some(url) = testdb::fresh_postgres("sunbid_group").await {
        let pg = Db::connect(&url).await.expect("postgres");
        setup(&pg).await;
        check(&pg).await;
        pg.close().await;
        testdb::drop_postgres(&url).await;
    }
}

async fn setup(db: &Db) {
    let mut tx = db.begin().await.expect("begin");
    for sql in SCHEMA {
        q_exec!(tx, sql).expect("schema");
    }
    tx.commit().await.expect("commit");
}

async fn count(db: &Db, table: &str) -> i64 {
    let mut tx = db.read().await.expect("read");
    let sql = if table == "gc_parent" {
        "select count(*) from gc_parent"
    } else {
        "select count(*) from gc_child"
    };
    let (n,): (i64,) = q_one!(tx, (i64,), sql).expect("count");
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_arriving_together_all_land() {
    with_dbs(async |db| {
        let mut tasks = Vec::new();
        for i in 0..64i64 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = db.begin().await?;
                q_exec!(tx, "insert into gc_parent (id) values ($1)", i)?;
                tx.commit().await
            }));
        }
        for t in tasks {
            t.await.expect("join").expect("commit");
        }
        assert_eq!(count(db, "gc_parent").await, 64);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_or_failed_change_leaves_no_trace_and_frees_the_writer() {
    with_dbs(async |db| {
        let mut tx = db.begin().await.expect("begin");
        q_exec!(tx, "insert into gc_parent (id) values (1)").expect("insert");
        tx.commit().await.expect("commit");

        // Dropped without commit, while another change waits for the writer.
        let mut dropped = db.begin().await.expect("begin");
        q_exec!(dropped, "insert into gc_parent (id) values (2)").expect("insert");
        let waiter = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await?;
                q_exec!(tx, "insert into gc_parent (id) values (3)")?;
                tx.commit().await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(dropped);
        waiter
            .await
            .expect("join")
            .expect("the waiting change commits");

        // A statement fails inside a change (duplicate key); the change is dropped.
        let mut failing = db.begin().await.expect("begin");
        q_exec!(failing, "insert into gc_parent (id) values (4)").expect("insert");
        assert!(q_exec!(failing, "insert into gc_parent (id) values (1)").is_err());
        drop(failing);

        let mut tx = tokio::time::timeout(Duration::from_secs(5), db.begin())
            .await
            .expect("the writer is free again")
            .expect("begin");
        q_exec!(tx, "insert into gc_parent (id) values (5)").expect("insert");
        tx.commit().await.expect("commit");

        let mut tx = db.read().await.expect("read");
        let ids: Vec<(i64,)> =
            crate::q_all!(tx, (i64,), "select id from gc_parent order by id").expect("ids");
        assert_eq!(ids, vec![(1,), (3,), (5,)]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_shared_commit_fails_every_change_in_the_batch() {
    with_dbs(async |db| {
        // A valid change holds the writer while a second one queues behind it; the second
        // breaks a foreign key that is only checked at COMMIT, so the batch's commit fails.
        let mut first = db.begin().await.expect("begin");
        q_exec!(first, "insert into gc_parent (id) values (10)").expect("insert");
        let second = {
            let db = db.clone();
            tokio::spawn(async move {
                let mut tx = db.begin().await?;
                q_exec!(tx, "insert into gc_child (id, parent) values (1, 999)")?;
                tx.commit().await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let first = first.commit().await;
        let second = second.await.expect("join");
        assert!(first.is_err(), "the valid change shared the failed commit");
        assert!(second.is_err());
        assert_eq!(count(db, "gc_parent").await, 0);
        assert_eq!(count(db, "gc_child").await, 0);

        // The writer recovers: the next change lands.
        let mut tx = db.begin().await.expect("begin");
        q_exec!(tx, "insert into gc_parent (id) values (11)").expect("insert");
        tx.commit().await.expect("commit");
        assert_eq!(count(db, "gc_parent").await, 1);
    })
    .await;
}

/// The writers of two processes whose changes lock the same rows in opposite orders: a
/// change either commits or, when PostgreSQL breaks a deadlock, fails as "try again"
/// (`Unavailable`, 503 with Retry-After), never as an internal error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadlock_between_processes_is_a_retryable_failure() {
    let Some(url) = testdb::fresh_postgres("sunbid_group_two").await else {
        return;
    };
    let one = Db::connect(&url).await.expect("postgres");
    let two = Db::connect(&url).await.expect("postgres");
    setup(&one).await;
    let mut tx = one.begin().await.expect("begin");
    q_exec!(tx, "insert into gc_parent (id) values (1), (2)").expect("rows");
    tx.commit().await.expect("commit");
    let mut tasks = Vec::new();
    for i in 0..40i64 {
        let (db, first, second) = if i % 2 == 0 {
            (one.clone(), 1i64, 2i64)
        } else {
            (two.clone(), 2, 1)
        };
        tasks.push(tokio::spawn(async move {
            let mut tx = db.begin().await?;
            q_exec!(tx, "update gc_parent set id = id where id = $1", first)?;
            // Give the other process the time to lock its first row.
            tokio::time::sleep(Duration::from_millis(5)).await;
            q_exec!(tx, "update gc_parent set id = id where id = $1", second)?;
            tx.commit().await
        }));
    }
    let mut committed = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(()) => committed += 1,
            Err(super::StoreError::Unavailable(_)) => {}
            Err(e) => panic!("a change failed otherwise than as retryable: {e}"),
        }
    }
    assert!(committed > 0);
    one.close().await;
    two.close().await;
    testdb::drop_postgres(&url).await;
}
