//! Database access for SQLite and PostgreSQL behind one type, plus the blob store.
//!
//! The same SQL text runs on both databases (`$1` placeholders, `RETURNING`, integers for
//! times and money); the `q_*!` macros dispatch it to whichever pool was chosen at start-up,
//! so every query is written once.

pub mod blob;
pub mod blob_s3;
#[cfg(test)]
mod parity_tests;
#[cfg(test)]
pub mod testdb;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgConnection, PgPool, Postgres, Sqlite, SqliteConnection, SqlitePool};

/// Storage-level failure; the HTTP layer turns it into a 500 without details.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database url (use sqlite://… or postgres://…)")]
    UnsupportedUrl,
    /// Any database error.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// A migration failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A connection pool to either database.
#[derive(Clone, Debug)]
pub enum Db {
    /// Embedded SQLite (WAL, durable commits).
    Sqlite(SqlitePool),
    /// PostgreSQL for scale-out deployments.
    Postgres(PgPool),
}

/// An open transaction on either database.
pub enum Tx {
    /// SQLite transaction (started with `BEGIN IMMEDIATE`).
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    /// PostgreSQL transaction.
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// A borrowed connection of either kind; what the `q_*!` macros run on.
pub enum Conn<'a> {
    /// SQLite connection.
    Sqlite(&'a mut SqliteConnection),
    /// PostgreSQL connection.
    Postgres(&'a mut PgConnection),
}

impl Db {
    /// Connects (creating the SQLite file if needed) without migrating.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the client hears about it.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Applies the migrations of this database's dialect.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Starts a write transaction.
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            // IMMEDIATE takes the write lock up front: a deferred transaction that read
            // first would fail with SQLITE_BUSY instead of waiting for another writer.
            Db::Sqlite(p) => Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Starts a read-only unit of work (a plain transaction, giving a consistent snapshot).
    pub async fn read(&self) -> Result<Tx, StoreError> {
        Ok(match self {
            Db::Sqlite(p) => Tx::Sqlite(p.begin().await?),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        match self {
            Db::Sqlite(p) => sqlx::query("select 1").execute(p).await.is_ok(),
            Db::Postgres(p) => sqlx::query("select 1").execute(p).await.is_ok(),
        }
    }

    /// Closes the pool (graceful shutdown).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// The dialect name, for logs.
    pub fn dialect(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }
}

impl Tx {
    /// The connection to run statements on.
    pub fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(t) => Conn::Sqlite(t),
            Tx::Postgres(t) => Conn::Postgres(t),
        }
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Runs a statement and returns the number of rows it touched.
#[macro_export]
macro_rules! q_exec {
    ($tx:expr, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $tx.conn() {
            $crate::store::Conn::Sqlite(c) => sqlx::query($sql)$(.bind($arg))*.execute(&mut *c).await.map(|r| r.rows_affected()),
            $crate::store::Conn::Postgres(c) => sqlx::query($sql)$(.bind($arg))*.execute(&mut *c).await.map(|r| r.rows_affected()),
        }
    };
}

/// Fetches all rows as `$ty` (a `#[derive(sqlx::FromRow)]` struct or a tuple).
#[macro_export]
macro_rules! q_all {
    ($tx:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $tx.conn() {
            $crate::store::Conn::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(&mut *c).await,
            $crate::store::Conn::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_all(&mut *c).await,
        }
    };
}

/// Fetches at most one row as `$ty`.
#[macro_export]
macro_rules! q_opt {
    ($tx:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $tx.conn() {
            $crate::store::Conn::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_optional(&mut *c).await,
            $crate::store::Conn::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_optional(&mut *c).await,
        }
    };
}

/// Fetches exactly one row as `$ty`.
#[macro_export]
macro_rules! q_one {
    ($tx:expr, $ty:ty, $sql:expr $(, $arg:expr)* $(,)?) => {
        match $tx.conn() {
            $crate::store::Conn::Sqlite(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_one(&mut *c).await,
            $crate::store::Conn::Postgres(c) => sqlx::query_as::<_, $ty>($sql)$(.bind($arg))*.fetch_one(&mut *c).await,
        }
    };
}

/// True when `err` is a unique-constraint violation (the caller maps it to a 409).
pub fn is_unique_violation(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Database(db) => db.is_unique_violation(),
        _ => false,
    }
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub fn like_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for ch in needle.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('%');
    out
}
