//! Where the server keeps evidence: the blob store.
//!
//! Two kinds, one contract. The folder ([`BlobDir`], the embedded default: `<data>/blobs`,
//! laid out as it always was, so existing data folders keep working) and S3-compatible object
//! storage ([`ObjectBlobs`], for several server instances sharing one store). Callers see only
//! [`BlobStore`]: bytes held of an unfinished upload, appending a chunk, discarding an upload,
//! the size of a stored blob, a ranged read as a byte stream (downloads are never loaded
//! whole), a whole read (case-file packages), the list of stored blobs (verification), and
//! the sweep of abandoned uploads.
//!
//! Whatever the kind, a stored blob is only ever complete and verified: its bytes hashed to
//! its name before it became visible under `<aa>/<sha>`. Upload ownership (which device may
//! append, takeover after an idle hour) lives in the database, so any instance can continue
//! an upload another began; the per-blob lock here is per process only.

mod folder;
mod object;
mod settings;

#[cfg(test)]
mod conformance;
#[cfg(test)]
#[path = "../../tests/it/moto.rs"]
pub(crate) mod moto;

pub use object::ObjectBlobs;
pub use settings::BlobStoreSettings;
pub(crate) use settings::parse_s3_url;

use super::{BlobDir, PARTIAL_MAX_AGE_MS, PRUNE_EVERY_MS, UploadOutcome};
use crate::error::{Result, ServerError};
use axum::body::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

/// A stored blob's content (or part of it), read as it is sent.
pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// One stored (complete, verified) blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBlob {
    /// Its SHA-256, lowercase hex.
    pub sha256: String,
    /// Its size in bytes.
    pub size: u64,
}

#[derive(Debug)]
enum Kind {
    Folder(Arc<BlobDir>),
    Object(Arc<ObjectBlobs>),
}

/// The server's blob store (see the module docs). Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct BlobStore {
    kind: Kind,
    /// When stale partial uploads were last swept (unix ms).
    last_prune_ms: AtomicI64,
    /// Age at which an untouched partial upload is swept, ms (`limits.partial_max_age_hours`).
    partial_max_age_ms: AtomicU64,
}

fn task_error(e: tokio::task::JoinError) -> ServerError {
    ServerError::Task(e.to_string())
}

/// `sha` as a stored blob's name, or `None` when it cannot name one (so it is absent).
fn valid_sha(sha: &str) -> Option<String> {
    super::check_sha(sha).ok()
}

impl BlobStore {
    /// Age at which untouched partial uploads are swept, ms.
    pub fn partial_max_age_ms(&self) -> u64 {
        self.partial_max_age_ms.load(Ordering::Relaxed)
    }

    /// Sets [`BlobStore::partial_max_age_ms`] (from the settings).
    pub fn set_partial_max_age_ms(&self, ms: u64) {
        self.partial_max_age_ms.store(ms, Ordering::Relaxed);
    }

    /// The folder store over an opened [`BlobDir`].
    pub fn folder(dir: BlobDir) -> Self {
        BlobStore::with_kind(Kind::Folder(Arc::new(dir)))
    }

    /// The object store over `blobs`.
    pub fn object(blobs: ObjectBlobs) -> Self {
        BlobStore::with_kind(Kind::Object(Arc::new(blobs)))
    }

    fn with_kind(kind: Kind) -> Self {
        BlobStore {
            kind,
            last_prune_ms: AtomicI64::new(fieldcase_core::ids::now_ms()),
            partial_max_age_ms: AtomicU64::new(PARTIAL_MAX_AGE_MS),
        }
    }

    /// The folder, when this store is one (tests and tools that look at files).
    pub fn as_folder(&self) -> Option<&BlobDir> {
        match &self.kind {
            Kind::Folder(d) => Some(d),
            Kind::Object(_) => None,
        }
    }

    /// Where the blobs are, for logs and reports (`s3://bucket/prefix` or the folder's path;
    /// never a credential).
    pub fn location(&self) -> String {
        match &self.kind {
            Kind::Folder(d) => d.root().display().to_string(),
            Kind::Object(o) => o.label().to_string(),
        }
    }

    /// Largest blob accepted, bytes.
    pub fn max_bytes(&self) -> u64 {
        match &self.kind {
            Kind::Folder(d) => d.max_bytes,
            Kind::Object(o) => o.max_bytes(),
        }
    }

    /// Refuses a declared blob size over [`BlobStore::max_bytes`] (`TooLarge`).
    pub fn check_total(&self, total: u64) -> Result<()> {
        if total > self.max_bytes() {
            return Err(ServerError::TooLarge(format!(
                "blobs are limited to {} bytes",
                self.max_bytes()
            )));
        }
        Ok(())
    }

    /// The in-process upload lock of `sha`.
    pub(crate) fn lock_for(&self, sha: &str) -> Arc<tokio::sync::Mutex<()>> {
        match &self.kind {
            Kind::Folder(d) => d.lock_for(sha),
            Kind::Object(o) => o.lock_for(sha),
        }
    }

    /// How many bytes of the upload of `sha` the store holds (the offset the next chunk must
    /// start at); 0 for an unknown or malformed id.
    pub async fn received(&self, sha: &str) -> Result<u64> {
        let Some(sha) = valid_sha(sha) else {
            return Ok(0);
        };
        match &self.kind {
            Kind::Folder(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.received(&sha))
                    .await
                    .map_err(task_error)
            }
            Kind::Object(o) => o.received(&sha).await,
        }
    }

    /// Appends one chunk of the upload of `sha`, with the contract of [`BlobDir::append`]:
    /// refused with nothing changed on a malformed id or a chunk past `total` (`BadRequest`),
    /// a `total` over the limit (`TooLarge`), an `offset` other than the bytes held
    /// (`Conflict` naming the expected offset); the last chunk is hashed with everything
    /// before it and a mismatch discards the whole upload (`BadRequest`). The caller holds
    /// [`BlobStore::lock_for`] so calls for one blob never overlap in this process.
    pub async fn append(
        &self,
        sha: &str,
        offset: u64,
        total: u64,
        chunk: Bytes,
    ) -> Result<UploadOutcome> {
        match &self.kind {
            Kind::Folder(d) => {
                let (d, sha) = (d.clone(), sha.to_string());
                tokio::task::spawn_blocking(move || d.append(&sha, offset, total, &chunk))
                    .await
                    .map_err(task_error)?
            }
            Kind::Object(o) => o.append(sha, offset, total, chunk).await,
        }
    }

    /// Drops the unfinished upload of `sha` (taken over, or held with no session on record).
    /// Call with the blob's upload lock held.
    pub async fn discard_partial(&self, sha: &str) -> Result<()> {
        let sha = super::check_sha(sha)?;
        match &self.kind {
            Kind::Folder(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.discard_partial(&sha))
                    .await
                    .map_err(task_error)?
            }
            Kind::Object(o) => o.discard_partial(&sha).await,
        }
    }

    /// The size of stored blob `sha`; `None` when it is not stored.
    pub async fn size(&self, sha: &str) -> Result<Option<u64>> {
        let Some(sha) = valid_sha(sha) else {
            return Ok(None);
        };
        match &self.kind {
            Kind::Folder(d) => Ok(d.stored_size(&sha).await?),
            Kind::Object(o) => o.size(&sha).await,
        }
    }

    /// Whether blob `sha` is stored.
    pub async fn exists(&self, sha: &str) -> Result<bool> {
        Ok(self.size(sha).await?.is_some())
    }

    /// Bytes `start..start + count` of stored blob `sha` as a stream (`count` within its
    /// size, see [`BlobStore::size`]); `None` when it is not stored.
    pub async fn read_range(
        &self,
        sha: &str,
        start: u64,
        count: u64,
    ) -> Result<Option<ByteStream>> {
        let Some(sha) = valid_sha(sha) else {
            return Ok(None);
        };
        match &self.kind {
            Kind::Folder(d) => Ok(d.read_range(&sha, start, count).await?),
            Kind::Object(o) => o.read_range(&sha, start, count).await,
        }
    }

    /// The whole content of stored blob `sha`, for callers that need it in memory (the
    /// pictures of a case file); `None` when it is not stored.
    pub async fn read_all(&self, sha: &str) -> Result<Option<Vec<u8>>> {
        let Some(size) = self.size(sha).await? else {
            return Ok(None);
        };
        let Some(mut stream) = self.read_range(sha, 0, size).await? else {
            return Ok(None);
        };
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        while let Some(b) = stream.next().await {
            out.extend_from_slice(&b?);
        }
        Ok(Some(out))
    }

    /// SHA-256 (lowercase hex) and length of what is stored as `sha`, streamed; `None` when
    /// it is not stored. An error means it could not be read to the end.
    pub async fn hash_stored(&self, sha: &str) -> Result<Option<(String, u64)>> {
        let Some(size) = self.size(sha).await? else {
            return Ok(None);
        };
        let Some(mut stream) = self.read_range(sha, 0, size).await? else {
            return Ok(None);
        };
        let (mut h, mut n) = (Sha256::new(), 0u64);
        while let Some(b) = stream.next().await {
            let b = b?;
            h.update(&b);
            n += b.len() as u64;
        }
        Ok(Some((hex::encode(h.finalize()), n)))
    }

    /// Every stored blob, in no particular order.
    pub async fn list(&self) -> Result<Vec<StoredBlob>> {
        match &self.kind {
            Kind::Folder(d) => {
                let d = d.clone();
                Ok(tokio::task::spawn_blocking(move || d.list_stored())
                    .await
                    .map_err(task_error)??)
            }
            Kind::Object(o) => o.list().await,
        }
    }

    /// Removes unfinished uploads not written to for `max_age` (skipping any upload this
    /// process is receiving). Returns how many uploads were removed.
    pub async fn prune_partials(&self, max_age: Duration) -> Result<usize> {
        match &self.kind {
            Kind::Folder(d) => {
                let d = d.clone();
                tokio::task::spawn_blocking(move || d.prune_partials(max_age))
                    .await
                    .map_err(task_error)
            }
            Kind::Object(o) => o.prune_partials(max_age).await,
        }
    }

    /// Runs [`BlobStore::prune_partials`] with the default age if the last sweep was more
    /// than an hour ago; a failed sweep is logged (the next one retries), never an upload's
    /// failure.
    pub(crate) async fn maybe_prune(&self) {
        let now = fieldcase_core::ids::now_ms();
        let last = self.last_prune_ms.load(Ordering::Relaxed);
        if now - last < PRUNE_EVERY_MS
            || self
                .last_prune_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match self
            .prune_partials(Duration::from_millis(self.partial_max_age_ms()))
            .await
        {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed abandoned partial uploads"),
            Err(e) => tracing::warn!(error = %e, "sweeping abandoned partial uploads failed"),
        }
    }
}
