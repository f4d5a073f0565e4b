//! Content-addressed blob storage: a blob's name is the SHA-256 of its bytes.
//!
//! Behind `object_store`: a local directory by default, or any S3-compatible store
//! (`blob_url = s3://bucket/prefix`, see [`super::blob_s3`]); callers see the same
//! streaming writer and reader either way.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

use super::blob_s3::{self, RemoteReader, RemoteSink, S3Settings, S3Url};

/// Blob storage failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The store itself failed.
    #[error(transparent)]
    Store(#[from] object_store::Error),
    /// The stored bytes no longer match their name.
    #[error("blob {0} is corrupt")]
    Corrupt(String),
    /// Not a SHA-256 hex digest.
    #[error("not a blob id")]
    BadId,
    /// Creating the directory failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Streaming writes need a local directory (not yet an object store).
    #[error("streaming writes need a local blob directory")]
    NotLocal,
    /// The remote object store failed or did not answer; nothing was stored.
    #[error(
        "the file store is not available; nothing was stored, please try again later / 文件存储暂不可用，未保存任何内容，请稍后重试"
    )]
    Remote(#[source] object_store::Error),
    /// The blob store settings are wrong (start-up).
    #[error("blob store settings: {0}")]
    Config(String),
}

impl BlobError {
    /// A remote store's failure, logged here because the answer to the client hides it.
    pub fn remote(e: object_store::Error) -> Self {
        tracing::warn!(error = %e, "object store request failed");
        BlobError::Remote(e)
    }

    /// Recovers the blob error carried through `std::io` by the writer's `Write` impl.
    pub fn from_io(e: std::io::Error) -> Self {
        if e.get_ref().is_some_and(|inner| inner.is::<BlobError>()) {
            match e.into_inner().map(|inner| inner.downcast::<BlobError>()) {
                Some(Ok(b)) => *b,
                Some(Err(other)) => BlobError::Io(std::io::Error::other(other)),
                None => BlobError::Io(std::io::Error::other("blob write failed")),
            }
        } else {
            BlobError::Io(e)
        }
    }
}

/// What a sweep of upload temp files removed (for the log: counts, never contents).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Files removed.
    pub files: u64,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// A file being created is named `*.new` until its writer holds the lock, then renamed to
/// `*.part`; a sweep leaves `*.new` files alone for at least this long, so it can never
/// take a file in the instant between its creation and its lock.
const NEW_FILE_GRACE: Duration = Duration::from_secs(60);

/// The blob store handle, cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
    /// The local root directory, for streaming writes and reads (`None` for remote stores).
    root: Option<PathBuf>,
    /// Where a remote store points (`s3://bucket/prefix`), for messages.
    remote: Option<String>,
}

/// Hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(ring::digest::digest(&ring::digest::SHA256, data))
}

fn object_path(digest: &str) -> Result<ObjectPath, BlobError> {
    if digest.len() != 64
        || !digest
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return Err(BlobError::BadId);
    }
    // Two levels of fan-out keep directories small.
    Ok(ObjectPath::from(format!(
        "sha256/{}/{}/{}",
        &digest[..2],
        &digest[2..4],
        digest
    )))
}

impl BlobStore {
    /// A store rooted at a local directory (created if missing).
    pub fn local(dir: &Path) -> Result<Self, BlobError> {
        std::fs::create_dir_all(dir)?;
        Ok(Self {
            inner: Arc::new(LocalFileSystem::new_with_prefix(dir)?),
            root: Some(dir.to_path_buf()),
            remote: None,
        })
    }

    /// A store in the S3-compatible bucket named by `url` (`s3://bucket/prefix`), checked
    /// with a small write and read so that a wrong endpoint, bucket or credentials fail
    /// here, at start-up, with the store's answer.
    pub async fn s3(
        url: &str,
        settings: &S3Settings,
        retry_timeout: Duration,
    ) -> Result<Self, BlobError> {
        let parsed = S3Url::parse(url)?;
        let inner = blob_s3::open(&parsed, settings, retry_timeout)?;
        blob_s3::probe(inner.as_ref()).await.map_err(|e| {
            let endpoint = settings.endpoint().unwrap_or_else(|| "AWS".into());
            BlobError::Config(format!(
                "the object store {url} at {endpoint} refused a test write or did not answer \
                 (check the endpoint, the bucket and the access key and secret): {e}"
            ))
        })?;
        Ok(Self {
            inner,
            root: None,
            remote: Some(url.to_string()),
        })
    }

    /// Whether blobs live in a remote object store.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Opens a blob for a blocking, streaming read (run it on a blocking thread); the
    /// caller checks the digest while reading.
    pub fn reader(&self, digest: &str) -> Result<Box<dyn std::io::Read + Send>, BlobError> {
        let path = object_path(digest)?;
        match &self.root {
            Some(root) => Ok(Box::new(std::io::BufReader::new(std::fs::File::open(
                root.join(path.as_ref()),
            )?))),
            None => Ok(Box::new(RemoteReader::open(Arc::clone(&self.inner), path)?)),
        }
    }

    /// Starts a streaming write: the bytes go to a temporary file inside the blob directory
    /// (`tmp/`, same file system, so the final rename is atomic) and are hashed on the way;
    /// [`BlobWriter::finish`] renames the file to its content address. Nothing is ever held
    /// whole in memory, and a reader never sees a partial blob.
    ///
    /// The writer holds an exclusive advisory lock on its temp file until it is done, so a
    /// sweep ([`Self::sweep_tmp`]) in any process on this host can tell a live upload from
    /// one whose process died (the kernel drops the lock of a killed process).
    pub fn writer(&self) -> Result<BlobWriter, BlobError> {
        let Some(root) = self.root.clone() else {
            return Ok(BlobWriter {
                sink: Sink::Remote(Some(RemoteSink::new(Arc::clone(&self.inner))?)),
                ctx: ring::digest::Context::new(&ring::digest::SHA256),
                size: 0,
            });
        };
        let tmp_dir = root.join("tmp");
        std::fs::create_dir_all(&tmp_dir)?;
        let stem = uuid::Uuid::now_v7().simple().to_string();
        let new = tmp_dir.join(format!("{stem}.new"));
        let tmp = tmp_dir.join(format!("{stem}.part"));
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&new)?;
        let locked = match file.try_lock() {
            Ok(()) => Ok(()),
            // A file system without locks: the sweep falls back on the file's age alone.
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
                Ok(())
            }
            Err(e) => Err(std::io::Error::from(e)),
        };
        if let Err(e) = locked.and_then(|()| std::fs::rename(&new, &tmp)) {
            let _ = std::fs::remove_file(&new);
            return Err(e.into());
        }
        Ok(BlobWriter {
            sink: Sink::Local {
                file: Some(file),
                tmp,
                root,
            },
            ctx: ring::digest::Context::new(&ring::digest::SHA256),
            size: 0,
        })
    }

    /// The local file holding a blob, for streaming reads (`None` for remote stores).
    /// The caller checks the digest while reading (see `get` for the whole-blob check).
    pub fn local_path(&self, digest: &str) -> Result<PathBuf, BlobError> {
        let root = self.root.as_ref().ok_or(BlobError::NotLocal)?;
        let path = object_path(digest)?;
        Ok(root.join(path.as_ref()))
    }

    /// Removes upload temp files (`tmp/*.part`) that no live writer holds and that were not
    /// written to for `max_age`: what a crash (kill -9, power loss) leaves behind. Files of
    /// uploads in progress in any process on this host are locked and kept whatever their
    /// age; `max_age` also protects writers on other hosts of a shared file system whose
    /// locks this host cannot see.
    pub async fn sweep_tmp(&self, max_age: Duration) -> Result<Sweep, BlobError> {
        let Some(root) = self.root.clone() else {
            let (files, bytes) = blob_s3::sweep_tmp(self.inner.as_ref(), max_age)
                .await
                .map_err(BlobError::remote)?;
            return Ok(Sweep { files, bytes });
        };
        tokio::task::spawn_blocking(move || {
            sweep_dir(&root.join("tmp"), max_age, SystemTime::now())
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }

    /// Stores `data` and returns its SHA-256 hex digest; storing the same bytes twice is a no-op.
    pub async fn put(&self, data: Bytes) -> Result<String, BlobError> {
        let digest = sha256_hex(&data);
        let path = object_path(&digest)?;
        if self.inner.head(&path).await.is_err() {
            self.inner
                .put(&path, PutPayload::from(data))
                .await
                .map_err(|e| self.store_error(e))?;
        }
        Ok(digest)
    }

    /// Reads a blob back and checks it still hashes to its name.
    pub async fn get(&self, digest: &str) -> Result<Bytes, BlobError> {
        let path = object_path(digest)?;
        let data = async { self.inner.get(&path).await?.bytes().await }
            .await
            .map_err(|e| self.store_error(e))?;
        if sha256_hex(&data) != digest {
            return Err(BlobError::Corrupt(digest.to_string()));
        }
        Ok(data)
    }
}

// ---- backup and restore (src/store/backup.rs) --------------------------------------------

impl BlobStore {
    /// The digests of every blob stored (upload temp files are not blobs).
    pub async fn list_digests(&self) -> Result<Vec<String>, BlobError> {
        use futures_util::TryStreamExt as _;
        let prefix = ObjectPath::from("sha256");
        let metas: Vec<_> = self
            .inner
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| self.store_error(e))?;
        let mut digests: Vec<String> = metas
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_string))
            .filter(|name| object_path(name).is_ok())
            .collect();
        digests.sort();
        Ok(digests)
    }

    /// Whether a blob is stored.
    pub async fn contains(&self, digest: &str) -> Result<bool, BlobError> {
        let path = object_path(digest)?;
        match self.inner.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.store_error(e)),
        }
    }

    /// Streams one blob into `dest` (in constant memory), checking on the way that its bytes
    /// still hash to its name; returns its size. A blob `dest` already has is not copied.
    pub async fn copy_to(&self, digest: &str, dest: &BlobStore) -> Result<u64, BlobError> {
        if dest.contains(digest).await? {
            return Ok(0);
        }
        let (src, dst, digest) = (self.clone(), dest.clone(), digest.to_string());
        tokio::task::spawn_blocking(move || {
            use std::io::Read as _;
            let mut reader = src.reader(&digest)?;
            let mut writer = dst.writer()?;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = reader.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                writer.write_chunk(buf.get(..n).unwrap_or_default())?;
            }
            let (got, size) = writer.finish()?;
            if got == digest {
                Ok(size)
            } else {
                Err(BlobError::Corrupt(digest))
            }
        })
        .await
        .map_err(|e| BlobError::Io(std::io::Error::other(e)))?
    }
}

impl BlobStore {
    fn store_error(&self, e: object_store::Error) -> BlobError {
        match (&self.remote, e) {
            (_, e @ object_store::Error::NotFound { .. }) | (None, e) => BlobError::Store(e),
            (Some(_), e) => BlobError::remote(e),
        }
    }
}

fn sweep_dir(dir: &Path, max_age: Duration, now: SystemTime) -> Result<Sweep, BlobError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Sweep::default()),
        Err(e) => return Err(e.into()),
    };
    let mut swept = Sweep::default();
    for entry in entries {
        let entry = entry?;
        let path = entry.path();
        let min_age = match path.extension().and_then(|e| e.to_str()) {
            Some("part") => max_age,
            Some("new") => max_age.max(NEW_FILE_GRACE),
            _ => continue,
        };
        // Symbolic links and folders are not ours to remove.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        let age = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .unwrap_or(Duration::ZERO);
        if age < min_age {
            continue;
        }
        let Ok(file) = std::fs::File::open(&path) else {
            continue;
        };
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => continue,
            Err(std::fs::TryLockError::Error(e)) if e.kind() == std::io::ErrorKind::Unsupported => {
            }
            Err(std::fs::TryLockError::Error(_)) => continue,
        }
        match std::fs::remove_file(&path) {
            Ok(()) => {
                swept.files += 1;
                swept.bytes += meta.len();
            }
            // Another process's sweep got there first.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(swept)
}

/// A blob being written (see [`BlobStore::writer`]). Blocking I/O: async callers write
/// from `spawn_blocking` or accept a short blocking write per chunk. Dropping it without
/// [`finish`](Self::finish) deletes the temporary file.
pub struct BlobWriter {
    sink: Sink,
    ctx: ring::digest::Context,
    size: u64,
}

/// Where a writer's bytes go.
enum Sink {
    /// A locked temporary file in the blob directory.
    Local {
        file: Option<std::fs::File>,
        tmp: PathBuf,
        root: PathBuf,
    },
    /// An S3 upload (`None` once finished).
    Remote(Option<RemoteSink>),
}

impl std::fmt::Debug for BlobWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.sink {
            Sink::Local { tmp, .. } => {
                write!(f, "BlobWriter({}, {} bytes)", tmp.display(), self.size)
            }
            Sink::Remote(_) => write!(f, "BlobWriter(remote, {} bytes)", self.size),
        }
    }
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Flushes to disk, then renames the file to `sha256/ab/cd/<hex>`; returns the hex
    /// digest and the size. An existing blob with the same digest is kept (same bytes).
    pub fn finish(mut self) -> Result<(String, u64), BlobError> {
        let digest = hex::encode(self.ctx.clone().finish());
        let path = object_path(&digest)?;
        match &mut self.sink {
            Sink::Local { file, tmp, root } => {
                let file = file.take().ok_or(BlobError::NotLocal)?;
                file.sync_all()?;
                drop(file);
                let dest = root.join(path.as_ref());
                if let Some(dir) = dest.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                if dest.exists() {
                    std::fs::remove_file(&*tmp)?;
                } else {
                    std::fs::rename(&*tmp, &dest)?;
                }
            }
            Sink::Remote(sink) => sink.take().ok_or(BlobError::NotLocal)?.finish(&path)?,
        }
        Ok((digest, self.size))
    }

    /// Writes all of `data`; a remote store's failure comes back as [`BlobError::Remote`]
    /// (blocking: call it from a blocking thread).
    pub fn write_chunk(&mut self, data: &[u8]) -> Result<(), BlobError> {
        std::io::Write::write_all(self, data).map_err(BlobError::from_io)
    }
}

impl std::io::Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = match &mut self.sink {
            Sink::Local { file, .. } => file
                .as_mut()
                .ok_or_else(|| std::io::Error::other("blob writer finished"))?
                .write(buf)?,
            Sink::Remote(sink) => {
                sink.as_mut()
                    .ok_or_else(|| std::io::Error::other("blob writer finished"))?
                    .write(buf)
                    .map_err(std::io::Error::other)?;
                buf.len()
            }
        };
        let written = buf.get(..n).unwrap_or_default();
        self.ctx.update(written);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Local { file: Some(f), .. } => f.flush(),
            _ => Ok(()),
        }
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if let Sink::Local { file, tmp, .. } = &mut self.sink
            && file.take().is_some()
        {
            let _ = std::fs::remove_file(&*tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[tokio::test]
    async fn put_get_round_trip_and_reject_bad_ids() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let id = store.put(Bytes::from_static(b"hello")).await.unwrap();
        assert_eq!(id, sha256_hex(b"hello"));
        assert_eq!(store.get(&id).await.unwrap(), Bytes::from_static(b"hello"));
        assert!(matches!(
            store.get("../etc/passwd").await,
            Err(BlobError::BadId)
        ));
    }

    #[tokio::test]
    async fn streamed_blobs_land_where_get_reads_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let mut w = store.writer().unwrap();
        w.write_all(b"hel").unwrap();
        w.write_all(b"lo").unwrap();
        let (id, size) = w.finish().unwrap();
        assert_eq!((id.as_str(), size), (sha256_hex(b"hello").as_str(), 5));
        assert_eq!(store.get(&id).await.unwrap(), Bytes::from_static(b"hello"));
        assert!(store.local_path(&id).unwrap().ends_with(format!(
            "sha256/{}/{}/{}",
            &id[..2],
            &id[2..4],
            id
        )));
        // The same bytes again, and an abandoned write, leave no temporary file behind.
        let mut again = store.writer().unwrap();
        again.write_all(b"hello").unwrap();
        again.finish().unwrap();
        let mut dropped = store.writer().unwrap();
        dropped.write_all(b"partial").unwrap();
        drop(dropped);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    impl BlobWriter {
        fn local_tmp(&self) -> &Path {
            match &self.sink {
                Sink::Local { tmp, .. } => tmp,
                Sink::Remote(_) => panic!("not a local writer"),
            }
        }
    }

    fn backdate(path: &Path, secs: u64) {
        let f = std::fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(secs))
            .unwrap();
    }

    #[tokio::test]
    async fn sweep_removes_stale_temp_files_and_keeps_fresh_and_live_ones() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::local(dir.path()).unwrap();
        let tmp = dir.path().join("tmp");
        std::fs::create_dir_all(&tmp).unwrap();
        // Left by a crash two hours ago, and one just now (maybe another process's).
        let stale = tmp.join("0001.part");
        std::fs::write(&stale, vec![1u8; 1000]).unwrap();
        backdate(&stale, 7200);
        let fresh = tmp.join("0002.part");
        std::fs::write(&fresh, b"fresh").unwrap();
        // A live upload that has been silent for two hours: its writer holds the lock.
        let mut live = store.writer().unwrap();
        live.write_all(b"still coming").unwrap();
        backdate(live.local_tmp(), 7200);
        // Not ours: other names, folders.
        let other = tmp.join("notes.txt");
        std::fs::write(&other, b"x").unwrap();
        backdate(&other, 7200);
        std::fs::create_dir(tmp.join("old.part")).unwrap();

        let hour = Duration::from_secs(3600);
        let swept = store.sweep_tmp(hour).await.unwrap();
        assert_eq!(
            swept,
            Sweep {
                files: 1,
                bytes: 1000
            }
        );
        assert!(!stale.exists());
        assert!(fresh.exists() && other.exists() && live.local_tmp().exists());
        // With no minimum age, only the locked live upload survives among the .part files.
        let swept = store.sweep_tmp(Duration::ZERO).await.unwrap();
        assert_eq!(swept, Sweep { files: 1, bytes: 5 });
        assert!(!fresh.exists() && live.local_tmp().exists());
        let (id, _) = live.finish().unwrap();
        assert_eq!(
            store.get(&id).await.unwrap(),
            Bytes::from_static(b"still coming")
        );
        // A fresh `.new` (a writer between creation and lock) is kept even at age zero.
        let new = tmp.join("0003.new");
        std::fs::write(&new, b"").unwrap();
        assert_eq!(store.sweep_tmp(Duration::ZERO).await.unwrap().files, 0);
        backdate(&new, 120);
        assert_eq!(store.sweep_tmp(Duration::ZERO).await.unwrap().files, 1);
    }
}
