//! Group commit: independent write transactions that arrive together share one durable
//! commit.
//!
//! Every state change appends an audit event, and every append takes the log's single head
//! (SQLite's write lock, PostgreSQL's `audit_head` row lock) until its commit is on disk. So
//! writers are serial and each pays a whole flush: about 2,500 changes/s on SQLite. Here the
//! writers of one process share one connection with one open transaction (a batch); each
//! change runs inside its own `SAVEPOINT`, so it still commits or fails together with its
//! audit event, and a failed change is rolled back to its savepoint without touching the
//! others. Writers that queued while the batch was being built are committed by one `COMMIT`,
//! and no caller hears "committed" before that commit is durable; if it fails, every change
//! of the batch reports the failure and none is stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Executor, Pool};
use tokio::sync::{Mutex, OwnedMappedMutexGuard, OwnedMutexGuard, watch};

use super::StoreError;

/// How long a writer waits for its turn before giving up (SQLite's busy timeout was 10 s; a
/// long opening on PostgreSQL may hold the writer a little longer).
const TURN_WAIT: Duration = Duration::from_secs(30);

/// The end of one batch, the same for all its changes: `None` while it is open.
type Outcome = Option<Result<(), Failure>>;

/// Why a batch did not commit, shared by its changes.
#[derive(Clone, Debug)]
struct Failure {
    why: Arc<str>,
    /// The database was unreachable (answered as 503, try again) rather than refusing.
    unavailable: bool,
}

/// One process's writer connection for one database.
pub struct Group<DB: Database> {
    shared: Arc<Shared<DB>>,
}

impl<DB: Database> Clone for Group<DB> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<DB: Database> std::fmt::Debug for Group<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("begin", &self.shared.begin_sql)
            .finish_non_exhaustive()
    }
}

struct Shared<DB: Database> {
    pool: Pool<DB>,
    /// `BEGIN IMMEDIATE` on SQLite (take the write lock up front), `BEGIN` on PostgreSQL.
    begin_sql: &'static str,
    slot: Arc<Mutex<Slot<DB>>>,
    /// A change was dropped without commit: the next holder of the slot rolls it back
    /// before doing anything else (a destructor cannot wait for the database).
    abandoned: AtomicBool,
}

struct Slot<DB: Database> {
    open: Option<Batch<DB>>,
}

struct Batch<DB: Database> {
    conn: PoolConnection<DB>,
    /// Committed changes subscribe before they let go of the slot, so the receiver count is
    /// the number of changes waiting for this batch's commit.
    done: Arc<watch::Sender<Outcome>>,
}

/// One change inside a batch: holds the writer until it commits or is dropped.
pub struct Unit<DB: Database>
where
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    conn: OwnedMappedMutexGuard<Slot<DB>, PoolConnection<DB>>,
    done: Arc<watch::Sender<Outcome>>,
    group: Group<DB>,
    committed: bool,
}

async fn exec<DB>(conn: &mut PoolConnection<DB>, sql: &'static str) -> Result<(), sqlx::Error>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    sqlx::raw_sql(sql).execute(&mut **conn).await.map(|_| ())
}

impl<DB> Group<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// A writer over `pool`, opening each batch with `begin_sql`.
    pub fn new(pool: Pool<DB>, begin_sql: &'static str) -> Self {
        Self {
            shared: Arc::new(Shared {
                pool,
                begin_sql,
                slot: Arc::new(Mutex::new(Slot { open: None })),
                abandoned: AtomicBool::new(false),
            }),
        }
    }

    /// Starts a change, joining the open batch or opening one.
    pub async fn begin(&self) -> Result<Unit<DB>, StoreError> {
        let mut slot = self.turn().await?;
        if slot.open.is_none() {
            let mut conn = self.shared.pool.acquire().await?;
            exec(&mut conn, self.shared.begin_sql).await?;
            slot.open = Some(Batch {
                conn,
                done: Arc::new(watch::channel(None).0),
            });
        }
        let mut started = Ok(());
        let mut done = None;
        if let Some(batch) = slot.open.as_mut() {
            started = exec(&mut batch.conn, "SAVEPOINT sunbid_change").await;
            done = Some(Arc::clone(&batch.done));
        }
        if let Err(e) = started {
            end(&mut slot, "ROLLBACK").await;
            return Err(e.into());
        }
        let conn = OwnedMutexGuard::try_map(slot, |s| s.open.as_mut().map(|b| &mut b.conn));
        match (conn, done) {
            (Ok(conn), Some(done)) => Ok(Unit {
                conn,
                done,
                group: self.clone(),
                committed: false,
            }),
            // Unreachable: the batch was opened above while the slot was held.
            _ => Err(StoreError::Sql(sqlx::Error::PoolClosed)),
        }
    }

    /// Waits (at most [`TURN_WAIT`]) for the slot, then settles an abandoned change.
    async fn turn(&self) -> Result<OwnedMutexGuard<Slot<DB>>, StoreError> {
        let lock = Arc::clone(&self.shared.slot).lock_owned();
        let slot = tokio::time::timeout(TURN_WAIT, lock)
            .await
            .map_err(|_| StoreError::Sql(sqlx::Error::PoolTimedOut))?;
        Ok(self.settle(slot).await)
    }

    /// Waits for the slot however long it takes, then settles an abandoned change: for the
    /// commit of a batch, whose changes must not hear "failed" while it may still commit.
    async fn last_turn(&self) -> OwnedMutexGuard<Slot<DB>> {
        let slot = Arc::clone(&self.shared.slot).lock_owned().await;
        self.settle(slot).await
    }

    /// Rolls back a change the previous holder of the slot dropped without commit.
    async fn settle(&self, mut slot: OwnedMutexGuard<Slot<DB>>) -> OwnedMutexGuard<Slot<DB>> {
        if self.shared.abandoned.swap(false, Ordering::SeqCst) {
            let undone = match slot.open.as_mut() {
                Some(batch) => Some(
                    exec(
                        &mut batch.conn,
                        "ROLLBACK TO SAVEPOINT sunbid_change; RELEASE SAVEPOINT sunbid_change",
                    )
                    .await,
                ),
                None => None,
            };
            let waiting = slot
                .open
                .as_ref()
                .map_or(0, |batch| batch.done.receiver_count());
            match undone {
                // The connection is unusable: the batch fails as a whole.
                Some(Err(_)) => end(&mut slot, "ROLLBACK").await,
                // Nothing committed in this batch is waiting: give the write lock back.
                Some(Ok(())) if waiting == 0 => end(&mut slot, "ROLLBACK").await,
                _ => {}
            }
        }
        slot
    }

    /// Commits the batch `done` belongs to, unless another change of it already did.
    async fn flush(&self, done: &Arc<watch::Sender<Outcome>>) {
        // Writers already queued for the slot go first and join this batch.
        tokio::task::yield_now().await;
        let mut slot = self.last_turn().await;
        let ours = slot
            .open
            .as_ref()
            .is_some_and(|batch| Arc::ptr_eq(&batch.done, done));
        if ours {
            end(&mut slot, "COMMIT").await;
        }
    }
}

/// Ends the open batch with `sql` (`COMMIT` or `ROLLBACK`) and tells its changes.
async fn end<DB>(slot: &mut Slot<DB>, sql: &'static str)
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    let Some(mut batch) = slot.open.take() else {
        return;
    };
    let result = exec(&mut batch.conn, sql).await;
    let outcome = match result {
        Ok(()) if sql == "COMMIT" => Ok(()),
        Ok(()) => Err(Failure {
            why: Arc::from("the batch was rolled back"),
            unavailable: false,
        }),
        Err(e) => {
            // Never hand a connection in an unknown transaction state back to the pool.
            if exec(&mut batch.conn, "ROLLBACK").await.is_err() {
                batch.conn.close_on_drop();
            }
            Err(Failure {
                why: Arc::from(e.to_string()),
                unavailable: super::is_unavailable(&e),
            })
        }
    };
    batch.done.send_replace(Some(outcome));
}

impl<DB> Unit<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    /// The connection to run this change's statements on.
    pub fn conn(&mut self) -> &mut DB::Connection {
        &mut self.conn
    }

    /// Ends the change and returns once the batch holding it is durably committed.
    pub async fn commit(mut self) -> Result<(), StoreError> {
        exec(&mut self.conn, "RELEASE SAVEPOINT sunbid_change").await?;
        self.committed = true;
        let mut outcome = self.done.subscribe();
        // The flusher counts as waiting too, so a caller that goes away cannot make its
        // committed change look abandoned.
        let waiting = self.done.subscribe();
        let done = Arc::clone(&self.done);
        let group = self.group.clone();
        // Lets the next writer in before the commit.
        drop(self);
        // A task, so the batch is committed even if this caller goes away.
        tokio::spawn(async move {
            group.flush(&done).await;
            drop(waiting);
        });
        let ended = outcome
            .wait_for(Option::is_some)
            .await
            .map_err(|_| StoreError::Batch(Arc::from("the writer went away")))?;
        match ended.as_ref() {
            Some(Err(f)) if f.unavailable => Err(StoreError::Unavailable(sqlx::Error::Io(
                std::io::Error::other(f.why.to_string()),
            ))),
            Some(Err(f)) => Err(StoreError::Batch(Arc::clone(&f.why))),
            _ => Ok(()),
        }
    }
}

impl<DB> Drop for Unit<DB>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
{
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Set while the slot is still held, so the next holder sees it.
        self.group.shared.abandoned.store(true, Ordering::SeqCst);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let group = self.group.clone();
            // Settles now rather than when the next writer comes, so the write lock is not
            // held idle.
            runtime.spawn(async move {
                let _settled = group.last_turn().await;
            });
        }
    }
}
