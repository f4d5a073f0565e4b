//! Backup and restore of a running platform: the database as one consistent snapshot taken
//! online (SQLite `VACUUM INTO`; PostgreSQL `pg_dump`, restored with `pg_restore`, both from
//! Debian's postgresql-client), then every blob, into one folder with a manifest. The audit
//! head (size and root) of the snapshot is in the manifest and checked again after a
//! restore, so a restored log is the one that was backed up.
//!
//! Blobs are copied after the snapshot: a blob is stored before the database row that
//! names it commits and is never changed (its name is its SHA-256), so every blob the
//! snapshot names is already there to copy. Signing keys are not in the backup: they are
//! secrets and are kept (and restored) the way they were provisioned (deploy/README.md).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Connection as _};

use super::blob::{BlobError, BlobStore};
use super::{Db, StoreError};
use crate::q_one;

/// The manifest's file name inside a backup folder.
pub const MANIFEST: &str = "manifest.json";
/// The SQLite snapshot's file name.
const SQLITE_FILE: &str = "sunbid.db";
/// The PostgreSQL dump's file name (`pg_dump --format=custom`).
const PG_FILE: &str = "sunbid.pgdump";
/// The folder of the blob copy (a local blob store).
const BLOB_DIR: &str = "blobs";
/// The manifest format this code writes and reads.
const FORMAT: &str = "sunbid-backup/1";

/// A backup or restore that could not be done; nothing is left half restored in a database
/// that was empty (a PostgreSQL restore runs in one transaction).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The output folder exists and is not empty.
    #[error("{0} exists and is not empty: back up into a new folder")]
    OutputNotEmpty(PathBuf),
    /// The database to restore into already holds data.
    #[error("the database to restore into is not empty: restore into a new, empty one")]
    TargetNotEmpty,
    /// The folder is not a backup this version can read.
    #[error("{0} is not a Sunbid backup ({1})")]
    NotABackup(PathBuf, String),
    /// The backup was taken from the other kind of database.
    #[error("the backup holds a {backup} database but the target is {target}")]
    WrongDialect {
        /// The backup's dialect.
        backup: String,
        /// The configured database's dialect.
        target: String,
    },
    /// `pg_dump` or `pg_restore` is missing or failed.
    #[error("{tool} failed: {detail}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// Its message (or why it could not run).
        detail: String,
    },
    /// The restored audit head differs from the one the backup recorded.
    #[error("the restored audit log ends at {got}, the backup recorded {want}")]
    HeadMismatch {
        /// Size:root hex recorded in the manifest.
        want: String,
        /// Size:root hex found after the restore.
        got: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blob could not be copied.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// Reading or writing the backup folder failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(StoreError::from(e))
    }
}

/// What a backup holds, written last (a folder without it is an unfinished backup).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sunbid-backup/1`.
    pub format: String,
    /// `sqlite` or `postgres`.
    pub dialect: String,
    /// When the backup was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// The audit log's size in the snapshot.
    pub audit_size: i64,
    /// The audit log's RFC 9162 root in the snapshot (hex).
    pub audit_root: String,
    /// Blobs copied.
    pub blobs: usize,
    /// Bytes of blobs copied.
    pub blob_bytes: u64,
}

/// Backs up `db` (reachable at `database_url`) and `blobs` into the new folder `out`.
pub async fn backup(
    db: &Db,
    database_url: &str,
    blobs: &BlobStore,
    out: &Path,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Manifest, BackupError> {
    if out.exists() && std::fs::read_dir(out)?.next().is_some() {
        return Err(BackupError::OutputNotEmpty(out.to_path_buf()));
    }
    std::fs::create_dir_all(out)?;
    let (audit_size, audit_root) = match db {
        Db::Sqlite(..) => {
            let file = out.join(SQLITE_FILE);
            snapshot_sqlite(db, &file).await?;
            audit_head_of_sqlite_file(&file).await?
        }
        Db::Postgres(pool, _) => {
            // The head is read in a snapshot that pg_dump then shares (`--snapshot`), so
            // the manifest describes exactly the dumped log.
            let mut tx = pool.begin().await?;
            sqlx::query("set transaction isolation level repeatable read, read only")
                .execute(&mut *tx)
                .await?;
            let (snapshot,): (String,) = sqlx::query_as("select pg_export_snapshot()")
                .fetch_one(&mut *tx)
                .await?;
            let head: (i64, Vec<u8>) =
                sqlx::query_as("select size, root from audit_head where id = 1")
                    .fetch_one(&mut *tx)
                    .await?;
            pg_dump(database_url, &snapshot, &out.join(PG_FILE)).await?;
            tx.rollback().await?;
            head
        }
    };
    let copy = BlobStore::local(&out.join(BLOB_DIR))?;
    let mut count = 0;
    let mut bytes = 0;
    for digest in blobs.list_digests().await? {
        bytes += blobs.copy_to(&digest, &copy).await?;
        count += 1;
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        dialect: db.dialect().into(),
        taken_at: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        audit_size,
        audit_root: hex::encode(audit_root),
        blobs: count,
        blob_bytes: bytes,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
    std::fs::write(out.join(MANIFEST), json)?;
    Ok(manifest)
}

/// Reads a backup folder's manifest.
pub fn read_manifest(from: &Path) -> Result<Manifest, BackupError> {
    let bad = |why: String| BackupError::NotABackup(from.to_path_buf(), why);
    let text = std::fs::read(from.join(MANIFEST)).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| bad(format!("{MANIFEST}: {e}")))?;
    if manifest.format != FORMAT {
        return Err(bad(format!("format {}", manifest.format)));
    }
    Ok(manifest)
}

/// Restores the backup in `from` into the empty database at `database_url` and the blob
/// store `blobs`, then checks that the restored audit head is the one the backup recorded.
pub async fn restore(
    from: &Path,
    database_url: &str,
    blobs: &BlobStore,
) -> Result<Manifest, BackupError> {
    let manifest = read_manifest(from)?;
    let target = Db::connect(database_url).await?;
    if manifest.dialect != target.dialect() {
        return Err(BackupError::WrongDialect {
            backup: manifest.dialect.clone(),
            target: target.dialect().into(),
        });
    }
    if !is_empty(&target).await? {
        return Err(BackupError::TargetNotEmpty);
    }
    match &target {
        Db::Sqlite(..) => {
            target.close().await;
            restore_sqlite(&from.join(SQLITE_FILE), database_url).await?;
        }
        Db::Postgres(..) => {
            target.close().await;
            pg_restore(&from.join(PG_FILE), database_url).await?;
        }
    }
    let copy = BlobStore::local(&from.join(BLOB_DIR))?;
    for digest in copy.list_digests().await? {
        copy.copy_to(&digest, blobs).await?;
    }
    let db = Db::connect(database_url).await?;
    let (size, root) = audit_head(&db).await?;
    db.close().await;
    let want_root = manifest.audit_root.as_str();
    if size != manifest.audit_size || hex::encode(&root) != want_root {
        return Err(BackupError::HeadMismatch {
            want: format!("{}:{want_root}", manifest.audit_size),
            got: format!("{size}:{}", hex::encode(&root)),
        });
    }
    Ok(manifest)
}

/// `VACUUM INTO`: SQLite writes a consistent copy of the live database (other connections
/// keep reading and writing) into a new file.
async fn snapshot_sqlite(db: &Db, file: &Path) -> Result<(), BackupError> {
    let Db::Sqlite(pool, _) = db else {
        return Ok(());
    };
    sqlx::query("vacuum into $1")
        .bind(file.display().to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// Copies the snapshot `file` into the (new or empty) SQLite database of `database_url`,
/// again with `VACUUM INTO`, so the backup file itself is never opened for writing.
async fn restore_sqlite(file: &Path, database_url: &str) -> Result<(), BackupError> {
    let target = SqliteConnectOptions::from_str(database_url)?;
    let path = target.get_filename().to_path_buf();
    // `VACUUM INTO` refuses a file that exists unless it is empty; the empty file the
    // emptiness check created is removed (with its WAL files) first.
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(suffix);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut src = SqliteConnectOptions::new().filename(file).connect().await?;
    sqlx::query("vacuum into $1")
        .bind(path.display().to_string())
        .execute(&mut src)
        .await?;
    src.close().await?;
    Ok(())
}

/// The audit head of a SQLite snapshot file, read-only.
async fn audit_head_of_sqlite_file(file: &Path) -> Result<(i64, Vec<u8>), BackupError> {
    let mut conn = SqliteConnectOptions::new()
        .filename(file)
        .read_only(true)
        .connect()
        .await?;
    let head: (i64, Vec<u8>) = sqlx::query_as("select size, root from audit_head where id = 1")
        .fetch_one(&mut conn)
        .await?;
    conn.close().await?;
    Ok(head)
}

async fn audit_head(db: &Db) -> Result<(i64, Vec<u8>), BackupError> {
    let mut tx = db.read().await?;
    let head: (i64, Vec<u8>) = q_one!(
        tx,
        (i64, Vec<u8>),
        "select size, root from audit_head where id = 1"
    )?;
    Ok(head)
}

/// Whether a database has no tables yet (a restore never mixes into existing data).
async fn is_empty(db: &Db) -> Result<bool, BackupError> {
    let mut tx = db.read().await?;
    let (n,): (i64,) = match db {
        Db::Sqlite(..) => q_one!(
            tx,
            (i64,),
            "select count(*) from sqlite_master where type = 'table'"
        )?,
        Db::Postgres(..) => q_one!(
            tx,
            (i64,),
            "select count(*) from information_schema.tables where table_schema = 'public'"
        )?,
    };
    Ok(n == 0)
}

/// The URL without its password, and the password (given to libpq in `PGPASSWORD`, so it
/// never shows in the process list).
fn split_password(database_url: &str) -> (String, Option<String>) {
    match reqwest::Url::parse(database_url) {
        Ok(mut url) => {
            let password = url.password().map(|p| {
                percent_encoding::percent_decode_str(p)
                    .decode_utf8_lossy()
                    .into_owned()
            });
            let _ = url.set_password(None);
            (url.to_string(), password)
        }
        Err(_) => (database_url.to_string(), None),
    }
}

async fn run_tool(
    tool: &'static str,
    database_url: &str,
    args: &[&std::ffi::OsStr],
) -> Result<(), BackupError> {
    let (url, password) = split_password(database_url);
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args)
        .arg("--dbname")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().await.map_err(|e| BackupError::Tool {
        tool,
        detail: format!("{e} (install Debian's postgresql-client)"),
    })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(BackupError::Tool {
            tool,
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// `pg_dump` in its custom format, of the exported `snapshot`, while the platform runs.
async fn pg_dump(database_url: &str, snapshot: &str, file: &Path) -> Result<(), BackupError> {
    let snapshot = format!("--snapshot={snapshot}");
    run_tool(
        "pg_dump",
        database_url,
        &[
            snapshot.as_ref(),
            "--format=custom".as_ref(),
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            "--file".as_ref(),
            file.as_os_str(),
        ],
    )
    .await
}

/// `pg_restore` in one transaction: a failure leaves the target database empty.
async fn pg_restore(file: &Path, database_url: &str) -> Result<(), BackupError> {
    run_tool(
        "pg_restore",
        database_url,
        &[
            "--no-owner".as_ref(),
            "--no-privileges".as_ref(),
            "--single-transaction".as_ref(),
            "--exit-on-error".as_ref(),
            file.as_os_str(),
        ],
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_stays_off_the_command_line() {
        let (url, pw) = split_password("postgres://app:s3cr%40t@db:5432/sunbid?sslmode=require");
        assert_eq!(url, "postgres://app@db:5432/sunbid?sslmode=require");
        assert_eq!(pw.as_deref(), Some("s3cr@t"));
        let (url, pw) = split_password("postgres://db/sunbid");
        assert_eq!(url, "postgres://db/sunbid");
        assert_eq!(pw, None);
    }
}
