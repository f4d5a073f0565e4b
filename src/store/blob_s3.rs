//! The S3-compatible side of the blob store: the `s3://bucket/prefix` URL, a start-up probe,
//! and the blocking writer and reader the sealed-bid code uses from `spawn_blocking`.
//!
//! A blob is content-addressed, so its name is known only after its last byte. A blob
//! smaller than one multipart part ([`PART_BYTES`]) is kept in memory and stored with one
//! PUT under its final name. A larger one streams as a multipart upload to `tmp/<uuid>`,
//! one part in memory at a time (constant memory whatever its size), and is then copied
//! to its address and the temporary object deleted. Until the multipart upload completes
//! no object exists at all, so a process killed mid-upload leaves no half blob anybody can
//! read: S3 drops incomplete uploads by the bucket's lifecycle rule
//! (`AbortIncompleteMultipartUpload`, see deploy/README.md) and [`sweep_tmp`] removes a
//! completed `tmp/` object whose copy never happened.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart};
use tokio::runtime::Handle;

use super::blob::BlobError;

/// Size of one multipart part: S3's minimum for all parts but the last.
pub const PART_BYTES: usize = 5 * 1024 * 1024;

/// Parts of one upload in flight at once (memory per upload: this many parts plus one).
const PARTS_IN_FLIGHT: usize = 2;

/// Where an `s3://bucket/prefix` URL points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    /// The bucket.
    pub bucket: String,
    /// The key prefix inside it (may be empty).
    pub prefix: String,
}

impl S3Url {
    /// Parses `s3://bucket` or `s3://bucket/some/prefix`.
    pub fn parse(url: &str) -> Result<Self, BlobError> {
        let bad = |why: &str| BlobError::Config(format!("blob_url {url:?}: {why}"));
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| bad("only s3://bucket/prefix is understood"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let bucket_ok = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !bucket_ok {
            return Err(bad(
                "the bucket name must be 3–63 lowercase letters, digits, - or .",
            ));
        }
        let prefix = prefix.trim_matches('/').to_string();
        if prefix.split('/').any(|s| s == "." || s == "..") {
            return Err(bad("the prefix may not hold . or .. segments"));
        }
        Ok(Self {
            bucket: bucket.to_string(),
            prefix,
        })
    }
}

/// Endpoint, region and credentials of an S3-compatible store; each one left `None` comes
/// from the standard `AWS_*` environment variable (`AWS_ENDPOINT`, `AWS_REGION`,
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`) or the usual AWS sources.
#[derive(Clone, Default)]
pub struct S3Settings {
    /// `https://…` (or `http://…` for a store on the same private network).
    pub endpoint: Option<String>,
    /// The region (`us-east-1` when nothing says).
    pub region: Option<String>,
    /// The access key id.
    pub access_key_id: Option<String>,
    /// The secret access key (never logged).
    pub secret_access_key: Option<String>,
}

impl std::fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Settings")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl S3Settings {
    /// The endpoint in effect (the setting, else `AWS_ENDPOINT`), for messages.
    pub fn endpoint(&self) -> Option<String> {
        self.endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT").ok())
    }
}

/// Opens the bucket named by `url` with `settings`. A plain `http://` endpoint is allowed
/// only when one is configured explicitly (a store on the same private network).
pub fn open(
    url: &S3Url,
    settings: &S3Settings,
    retry_timeout: Duration,
) -> Result<Arc<dyn ObjectStore>, BlobError> {
    let mut builder = AmazonS3Builder::from_env()
        .with_bucket_name(&url.bucket)
        .with_retry(RetryConfig {
            max_retries: 3,
            retry_timeout,
            ..RetryConfig::default()
        });
    if let Some(e) = &settings.endpoint {
        builder = builder.with_endpoint(e);
    }
    if let Some(r) = &settings.region {
        builder = builder.with_region(r);
    }
    if let Some(k) = &settings.access_key_id {
        builder = builder.with_access_key_id(k);
    }
    if let Some(k) = &settings.secret_access_key {
        builder = builder.with_secret_access_key(k);
    }
    if settings
        .endpoint()
        .is_some_and(|e| e.starts_with("http://"))
    {
        // Path-style requests too: a local endpoint has no per-bucket host names.
        builder = builder
            .with_allow_http(true)
            .with_virtual_hosted_style_request(false);
    }
    let s3 = builder
        .build()
        .map_err(|e| BlobError::Config(e.to_string()))?;
    Ok(if url.prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, url.prefix.as_str()))
    })
}

/// Writes, reads back and deletes a small object, so that a wrong endpoint, bucket or
/// credentials stop the start-up with the store's own answer instead of failing the first
/// bid upload.
pub async fn probe(store: &dyn ObjectStore) -> Result<(), object_store::Error> {
    let path = ObjectPath::from(format!("tmp/probe-{}", uuid::Uuid::now_v7().simple()));
    store
        .put(&path, PutPayload::from_static(b"sunbid probe"))
        .await?;
    store.get(&path).await?.bytes().await?;
    store.delete(&path).await
}

/// Deletes `tmp/` objects older than `max_age`: a finished multipart upload whose process
/// died before copying it to its address. Returns (objects, bytes).
pub async fn sweep_tmp(
    store: &dyn ObjectStore,
    max_age: Duration,
) -> Result<(u64, u64), object_store::Error> {
    let cutoff =
        chrono::Utc::now() - chrono::Duration::from_std(max_age).unwrap_or(chrono::Duration::MAX);
    let mut listing = store.list(Some(&ObjectPath::from("tmp")));
    let (mut files, mut bytes) = (0, 0);
    while let Some(meta) = listing.next().await {
        let meta = meta?;
        if meta.last_modified < cutoff {
            match store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {
                    files += 1;
                    bytes += meta.size;
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok((files, bytes))
}

/// The blocking half of a blob being written to S3 (see the module comment).
pub struct RemoteSink {
    store: Arc<dyn ObjectStore>,
    handle: Handle,
    /// Bytes not yet handed to an upload (less than one part).
    buffer: Vec<u8>,
    /// The multipart upload to `tmp`, once the blob outgrew one part.
    upload: Option<WriteMultipart>,
    tmp: ObjectPath,
}

impl RemoteSink {
    /// A sink on `store`; must be created inside the tokio runtime (any thread of it).
    pub fn new(store: Arc<dyn ObjectStore>) -> Result<Self, BlobError> {
        let handle = Handle::try_current()
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
        Ok(Self {
            store,
            handle,
            buffer: Vec::new(),
            upload: None,
            tmp: ObjectPath::from(format!("tmp/{}", uuid::Uuid::now_v7().simple())),
        })
    }

    /// Takes `data`; full parts go up at once (blocking until at most [`PARTS_IN_FLIGHT`]
    /// are in flight). Runs on a blocking thread, never on an async worker.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), BlobError> {
        while !data.is_empty() {
            let take = (PART_BYTES - self.buffer.len()).min(data.len());
            let (now, rest) = data.split_at(take);
            self.buffer.extend_from_slice(now);
            data = rest;
            if self.buffer.len() == PART_BYTES {
                self.send_part()?;
            }
        }
        Ok(())
    }

    fn send_part(&mut self) -> Result<(), BlobError> {
        let part = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(PART_BYTES),
        ));
        let (store, tmp) = (Arc::clone(&self.store), self.tmp.clone());
        let upload = match self.upload.as_mut() {
            Some(u) => u,
            None => {
                let started = self
                    .handle
                    .block_on(async move { store.put_multipart(&tmp).await })
                    .map_err(BlobError::remote)?;
                self.upload
                    .insert(WriteMultipart::new_with_chunk_size(started, PART_BYTES))
            }
        };
        self.handle
            .block_on(upload.wait_for_capacity(PARTS_IN_FLIGHT))
            .map_err(BlobError::remote)?;
        upload.put(part);
        Ok(())
    }

    /// Stores the blob under `dest` (its content address, known now).
    pub fn finish(mut self, dest: &ObjectPath) -> Result<(), BlobError> {
        let store = Arc::clone(&self.store);
        let buffer = Bytes::from(std::mem::take(&mut self.buffer));
        let dest = dest.clone();
        let Some(mut upload) = self.upload.take() else {
            // Small: one PUT under the final name (the same bytes again change nothing).
            return self
                .handle
                .block_on(async move { store.put(&dest, PutPayload::from(buffer)).await })
                .map(drop)
                .map_err(BlobError::remote);
        };
        let tmp = self.tmp.clone();
        self.handle
            .block_on(async move {
                if !buffer.is_empty() {
                    upload.put(buffer);
                }
                upload.finish().await?;
                let copied = match store.head(&dest).await {
                    Ok(_) => Ok(()),
                    Err(object_store::Error::NotFound { .. }) => store.copy(&tmp, &dest).await,
                    Err(e) => Err(e),
                };
                // The temporary object goes whatever happened; a failure leaves it to the sweep.
                let _ = store.delete(&tmp).await;
                copied
            })
            .map_err(BlobError::remote)
    }
}

impl Drop for RemoteSink {
    fn drop(&mut self) {
        // Abandoned (refused, or the client went away): drop the uploaded parts.
        if let Some(upload) = self.upload.take() {
            self.handle.spawn(async move {
                let _ = upload.abort().await;
            });
        }
    }
}

/// A blob read from S3 through a blocking `Read` (for the opening, in `spawn_blocking`).
pub struct RemoteReader {
    handle: Handle,
    stream: BoxStream<'static, Result<Bytes, object_store::Error>>,
    chunk: Bytes,
}

impl RemoteReader {
    /// Starts reading `path` (blocking; inside the runtime's blocking pool).
    pub fn open(store: Arc<dyn ObjectStore>, path: ObjectPath) -> Result<Self, BlobError> {
        let handle = Handle::try_current()
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?;
        let got = handle
            .block_on(async move { store.get(&path).await })
            .map_err(BlobError::remote)?;
        Ok(Self {
            handle,
            stream: got.into_stream(),
            chunk: Bytes::new(),
        })
    }
}

impl std::io::Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(c)) => self.chunk = c,
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        let head = self.chunk.split_to(n);
        buf.get_mut(..n)
            .ok_or_else(|| std::io::Error::other("short buffer"))?
            .copy_from_slice(&head);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls_parse_and_bad_ones_say_why() {
        assert_eq!(
            S3Url::parse("s3://sunbid-blobs/prod/a/").unwrap(),
            S3Url {
                bucket: "sunbid-blobs".into(),
                prefix: "prod/a".into()
            }
        );
        assert_eq!(S3Url::parse("s3://bids").unwrap().prefix, "");
        for bad in [
            "http://bids/x",
            "s3://",
            "s3://B/x",
            "s3://ab",
            "s3://bids/../x",
            "/var/lib/sunbid",
        ] {
            let e = S3Url::parse(bad).unwrap_err().to_string();
            assert!(e.contains("blob_url"), "{bad}: {e}");
        }
    }
}
