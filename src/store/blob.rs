//! Content-addressed blob storage: a blob's name is the SHA-256 of its bytes.
//!
//! Behind `object_store`, so the local directory used now can become any S3-compatible
//! store later without touching the callers.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

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
}

/// The blob store handle, cheap to clone.
#[derive(Clone, Debug)]
pub struct BlobStore {
    inner: Arc<dyn ObjectStore>,
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
        })
    }

    /// Stores `data` and returns its SHA-256 hex digest; storing the same bytes twice is a no-op.
    pub async fn put(&self, data: Bytes) -> Result<String, BlobError> {
        let digest = sha256_hex(&data);
        let path = object_path(&digest)?;
        if self.inner.head(&path).await.is_err() {
            self.inner.put(&path, PutPayload::from(data)).await?;
        }
        Ok(digest)
    }

    /// Reads a blob back and checks it still hashes to its name.
    pub async fn get(&self, digest: &str) -> Result<Bytes, BlobError> {
        let path = object_path(digest)?;
        let data = self.inner.get(&path).await?.bytes().await?;
        if sha256_hex(&data) != digest {
            return Err(BlobError::Corrupt(digest.to_string()));
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
