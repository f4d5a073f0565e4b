//! Time-driven transitions from the job table, exactly once with any number of servers.
//!
//! A job is first claimed with a short lease (so two servers rarely work on the same job),
//! then performed in one transaction that makes the transition with a guard on the old
//! state, marks the job done with a guard on `state = 'pending'`, and appends the audit
//! event. Whatever the lease does, only one transaction can pass both guards: on SQLite
//! writers are serialised (`BEGIN IMMEDIATE`); on PostgreSQL the second `update` waits for
//! the first one's row lock and then re-checks its `where` clause, finding nothing. A server
//! that dies mid-job leaves the job pending; the lease expires and another server runs it.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::json;

use super::service::TenderError;
use crate::audit::Actor;
use crate::clock::to_millis;
use crate::lifecycle::MoveError;
use crate::lifecycle::tender::{self as lifecycle, FactsError, Move, TenderState};
use crate::store::Db;
use crate::{q_all, q_exec};

/// How long a claimed job is reserved for the server that claimed it.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// Largest number of jobs taken in one poll.
const BATCH: i64 = 50;

/// A due job.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DueJob {
    /// Identifier.
    pub job_id: String,
    /// `deadline` (more kinds come with later features).
    pub kind: String,
    /// The tender it concerns.
    pub tender_id: Option<String>,
}

/// Runs every job due at `now` once; returns how many transitions were performed. The time
/// is passed in (the server's clock; tests use a fixed one).
pub async fn run_due_at(db: &Db, now: DateTime<Utc>) -> Result<usize, TenderError> {
    let due = {
        let mut tx = db.read().await?;
        q_all!(
            tx,
            DueJob,
            "select job_id, kind, tender_id from job
             where state = 'pending' and run_at <= $1 and (locked_until is null or locked_until < $1)
             order by run_at, job_id limit $2",
            to_millis(now),
            BATCH
        )?
    };
    let mut performed = 0;
    for job in due {
        if !claim(db, now, &job.job_id).await? {
            continue; // another server has it
        }
        // One failing job must not stop the others; its lease expires and it is retried.
        match perform(db, now, &job).await {
            Ok(true) => performed += 1,
            Ok(false) => {}
            Err(e) => {
                tracing::error!(job_id = %job.job_id, kind = %job.kind, error = %e, "job failed")
            }
        }
    }
    Ok(performed)
}

/// Takes the lease on a job; false when another server holds it or it is no longer pending.
async fn claim(db: &Db, now: DateTime<Utc>, job_id: &str) -> Result<bool, TenderError> {
    let until = now.checked_add_signed(LEASE).unwrap_or(now);
    let mut tx = db.begin().await?;
    let n = q_exec!(
        tx,
        "update job set locked_until = $1, attempts = attempts + 1
         where job_id = $2 and state = 'pending' and (locked_until is null or locked_until < $3)",
        to_millis(until),
        job_id.to_string(),
        to_millis(now)
    )?;
    tx.commit().await?;
    Ok(n == 1)
}

/// Performs one job in one transaction; true when its transition happened here.
pub(crate) async fn perform(
    db: &Db,
    now: DateTime<Utc>,
    job: &DueJob,
) -> Result<bool, TenderError> {
    match (job.kind.as_str(), job.tender_id.as_deref()) {
        ("deadline", Some(tender_id)) => close_at_deadline(db, now, &job.job_id, tender_id).await,
        // A drawn expert who did not answer in time is replaced by a new verifiable draw.
        ("draw_confirm_timeout", Some(tender_id)) => Ok(
            crate::expert::service::confirm_timeout_job(db, now, &job.job_id, tender_id).await?,
        ),
        _ => {
            // A kind this version does not know (a newer server's job): leave it pending;
            // the lease keeps it from being retried in a tight loop.
            tracing::warn!(job_id = %job.job_id, kind = %job.kind, "unknown job kind");
            Ok(false)
        }
    }
}

/// The deadline passes: published → closed (招标投标法 第34条: the opening follows at the
/// deadline). Guarded by the state and by the stored deadline, which an amendment may have
/// moved after this job was claimed.
async fn close_at_deadline(
    db: &Db,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<bool, TenderError> {
    let mut tx = db.begin().await?;
    let payload = json!({"job_id": job_id, "reason": "bid deadline reached / 投标截止时间已到"});
    let moved = lifecycle::transition(
        &mut tx,
        now,
        tender_id,
        TenderState::Published,
        TenderState::Closed,
        Move::new(&Actor::system(), "tender.close", payload),
    )
    .await;
    match moved {
        Ok(_) => {}
        Err(MoveError::Moved) => {
            release_or_retire(&mut tx, now, job_id, tender_id).await?;
            tx.commit().await?;
            return Ok(false);
        }
        Err(e) => return Err(e.into()),
    }
    let done = q_exec!(
        tx,
        "update job set state = 'done', done_at = $1, locked_until = null
         where job_id = $2 and state = 'pending'",
        to_millis(now),
        job_id.to_string()
    )?;
    if done == 0 {
        // Someone else finished this job: dropping the transaction rolls our close (and its
        // audit event) back.
        return Ok(false);
    }
    tx.commit().await?;
    Ok(true)
}

/// The deadline job found the tender not closable: not due (the deadline moved: the job's
/// run_at moved with it) or no longer published (cancel cancels the job in its own
/// transaction, so this is a job row left behind by hand). Releases the lease, or retires
/// the job if it can never apply.
async fn release_or_retire(
    tx: &mut crate::store::Tx,
    now: DateTime<Utc>,
    job_id: &str,
    tender_id: &str,
) -> Result<(), TenderError> {
    let still_published = match lifecycle::by_id(tx, tender_id).await {
        // A suspended tender may be resumed to published: its deadline job waits.
        Ok(t) => matches!(t.state, TenderState::Published | TenderState::Suspended),
        Err(FactsError::NotFound | FactsError::Corrupt(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if still_published {
        q_exec!(
            tx,
            "update job set locked_until = null where job_id = $1 and state = 'pending'",
            job_id.to_string()
        )?;
    } else {
        q_exec!(
            tx,
            "update job set state = 'cancelled', done_at = $1, locked_until = null
             where job_id = $2 and state = 'pending'",
            to_millis(now),
            job_id.to_string()
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tender::model::TenderState;
    use crate::tender::service::{self, NewDocument};
    use crate::tender::testkit::Kit;
    use crate::{q_one, q_opt};

    async fn published(kit: &Kit) -> crate::tender::model::Tender {
        let code = kit.code("J");
        service::create_draft(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &kit.input(&code, 20),
        )
        .await
        .expect("draft");
        let doc = NewDocument {
            filename: "a.pdf".into(),
            content_type: None,
            amendment_id: None,
            bytes: bytes::Bytes::from_static(b"a"),
        };
        service::upload_document(
            kit.state.tender_documents(),
            kit.now(),
            &kit.agent,
            &code,
            doc,
        )
        .await
        .expect("doc");
        service::publish(kit.db(), kit.books(), kit.now(), &kit.agent, &code)
            .await
            .expect("publish")
    }

    async fn close_events(kit: &Kit, tender_id: &str) -> i64 {
        let mut tx = kit.db().read().await.expect("read");
        q_one!(
            tx,
            (i64,),
            "select count(*) from audit_event where tender_id = $1 and action = 'tender.close'",
            tender_id.to_string()
        )
        .expect("count")
        .0
    }

    async fn state_of(kit: &Kit, code: &str) -> TenderState {
        service::get_tender(kit.db(), Some(&kit.regulator.user), code)
            .await
            .expect("get")
            .tender
            .state
    }

    pub(crate) async fn scenario_exactly_once(kit: &Kit) {
        let t = published(kit).await;
        // Not due yet: nothing happens.
        kit.clock.set(t.bid_deadline_at - TimeDelta::seconds(1));
        run_due_at(kit.db(), kit.now()).await.expect("run");
        assert_eq!(state_of(kit, &t.code).await, TenderState::Published);

        // Due: eight "servers" poll at once.
        kit.clock.set(t.bid_deadline_at);
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let state = kit.state.clone();
            tasks.push(tokio::spawn(async move {
                run_due_at(&state.db, state.clock.now()).await
            }));
        }
        let mut total = 0;
        for task in tasks {
            total += task.await.expect("join").expect("run_due");
        }
        if kit.fresh {
            assert_eq!(total, 1, "exactly one transition");
        }
        assert_eq!(state_of(kit, &t.code).await, TenderState::Closed);
        assert_eq!(close_events(kit, &t.tender_id).await, 1);
        let mut tx = kit.db().read().await.expect("read");
        let job = q_opt!(
            tx,
            DueJob,
            "select job_id, kind, tender_id from job where tender_id = $1",
            t.tender_id.clone()
        )
        .expect("job")
        .expect("a job");
        let (st,): (String,) = q_one!(
            tx,
            (String,),
            "select state from job where job_id = $1",
            job.job_id.clone()
        )
        .expect("state");
        drop(tx);
        assert_eq!(st, "done");

        // Even ignoring the lease (a lease that expired mid-job), the transaction guards let
        // nobody perform a finished job again.
        let mut tasks = Vec::new();
        for _ in 0..4 {
            let db = kit.db().clone();
            let job = job.clone();
            let now = kit.now();
            tasks.push(tokio::spawn(async move { perform(&db, now, &job).await }));
        }
        for task in tasks {
            assert!(!task.await.expect("join").expect("perform"));
        }
        assert_eq!(close_events(kit, &t.tender_id).await, 1);
        kit.clock.set(kit.t0);
    }

    pub(crate) async fn scenario_racing_performers(kit: &Kit) {
        // Several performers on the same pending job at once, past any lease.
        let t = published(kit).await;
        kit.clock.set(t.bid_deadline_at + TimeDelta::minutes(1));
        let mut tx = kit.db().read().await.expect("read");
        let job = q_one!(
            tx,
            DueJob,
            "select job_id, kind, tender_id from job where tender_id = $1",
            t.tender_id.clone()
        )
        .expect("job");
        drop(tx);
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let db = kit.db().clone();
            let job = job.clone();
            let now = kit.now();
            tasks.push(tokio::spawn(async move { perform(&db, now, &job).await }));
        }
        let mut ran = 0;
        for task in tasks {
            if task.await.expect("join").expect("perform") {
                ran += 1;
            }
        }
        assert_eq!(ran, 1);
        assert_eq!(close_events(kit, &t.tender_id).await, 1);
        assert_eq!(state_of(kit, &t.code).await, TenderState::Closed);
        kit.clock.set(kit.t0);
    }

    pub(crate) async fn scenario_moved_and_cancelled(kit: &Kit) {
        // A job claimed with the old deadline does not close a tender whose deadline moved.
        let t = published(kit).await;
        kit.clock.set(t.bid_deadline_at - TimeDelta::days(1));
        service::amend(
            kit.db(),
            kit.books(),
            kit.now(),
            &kit.agent,
            &t.code,
            &crate::tender::model::AmendmentInput {
                summary: "改".into(),
                body: "改".into(),
            },
        )
        .await
        .expect("amend");
        let stale = DueJob {
            job_id: {
                let mut tx = kit.db().read().await.expect("read");
                q_one!(
                    tx,
                    (String,),
                    "select job_id from job where tender_id = $1",
                    t.tender_id.clone()
                )
                .expect("job")
                .0
            },
            kind: "deadline".into(),
            tender_id: Some(t.tender_id.clone()),
        };
        kit.clock.set(t.bid_deadline_at);
        assert!(!perform(kit.db(), kit.now(), &stale).await.expect("perform"));
        run_due_at(kit.db(), kit.now()).await.expect("run");
        assert_eq!(state_of(kit, &t.code).await, TenderState::Published);
        // A cancelled tender's job never runs.
        service::cancel(
            kit.db(),
            kit.now(),
            &kit.agent,
            &t.code,
            &crate::tender::model::CancelInput {
                reason: "终止".into(),
            },
        )
        .await
        .expect("cancel");
        kit.clock.set(t.bid_deadline_at + TimeDelta::days(30));
        run_due_at(kit.db(), kit.now()).await.expect("run");
        assert_eq!(state_of(kit, &t.code).await, TenderState::Cancelled);
        assert_eq!(close_events(kit, &t.tender_id).await, 0);
        kit.clock.set(kit.t0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn exactly_once_sqlite() {
        scenario_exactly_once(&Kit::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_performers_sqlite() {
        scenario_racing_performers(&Kit::sqlite().await).await;
    }

    #[tokio::test]
    async fn moved_and_cancelled_sqlite() {
        scenario_moved_and_cancelled(&Kit::sqlite().await).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn jobs_postgres() {
        let Some(kit) = Kit::postgres().await else {
            eprintln!("SUNBID_TEST_PG_URL not set: skipping the PostgreSQL job tests");
            return;
        };
        scenario_exactly_once(&kit).await;
        scenario_racing_performers(&kit).await;
        scenario_moved_and_cancelled(&kit).await;
    }
}
