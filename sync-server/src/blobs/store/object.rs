//! Blobs in S3-compatible object storage.
//!
//! Layout under the configured prefix, the same names as in the folder: a stored blob is the
//! object `<aa>/<sha>`; each accepted chunk of an unfinished upload is its own object
//! `partial/<sha>/<offset, 20 digits>`, written whole in one request before the reply, so
//! any server instance can continue the upload: the bytes held are those of the parts that
//! follow each other from offset 0. Object storage cannot append, and a part is never
//! rewritten by the same instance, so a chunk is either wholly stored or not at all.
//!
//! On the last chunk the parts are read back in order and hashed while they are copied into
//! the final object (one `PUT` for a small blob, a multipart upload for a large one, which
//! becomes visible only when completed); the final object is completed only when the content
//! matches its SHA-256, then the parts are deleted. On a mismatch the parts are deleted and
//! nothing is stored. So a stored blob is only ever complete and verified, even across
//! instances: the database lets only one device own an upload, but the same device may retry
//! a chunk through two instances at once; both write the same part name (the later write
//! wins whole, never a mix), a part that another overlaps is left out of the chain, and
//! whatever the parts then hold, the final hash check refuses anything but the named content.
//! Two instances completing the same blob write identical verified bytes.

use super::{ByteStream, StoredBlob};
use crate::blobs::{UploadLocks, UploadOutcome};
use crate::error::{Result, ServerError};
use axum::body::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Blobs up to this size are assembled in memory and written with one `PUT`; larger ones
/// with a multipart upload of [`MULTIPART_PART`] parts, so memory stays bounded.
const MULTIPART_ABOVE: u64 = 16 * 1024 * 1024;
/// Part size of a multipart upload (S3's minimum is 5 MiB).
const MULTIPART_PART: usize = 8 * 1024 * 1024;
/// Parts of a multipart upload in flight at once.
const MULTIPART_IN_FLIGHT: usize = 2;

/// The object-storage blob store (see the module docs).
#[derive(Debug)]
pub struct ObjectBlobs {
    store: Arc<dyn ObjectStore>,
    /// Prefix of every object, without leading or trailing `/` (may be empty).
    prefix: String,
    /// `s3://bucket/prefix`, for logs.
    label: String,
    locks: UploadLocks,
    max_bytes: u64,
}

/// One staged chunk.
#[derive(Debug, Clone, Copy)]
struct Part {
    offset: u64,
    size: u64,
    modified_ms: i64,
}

fn io_error(e: object_store::Error) -> std::io::Error {
    std::io::Error::other(e)
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// The bytes held from offset 0: the parts that follow each other, in order, and where they
/// end. A part starting inside the chain (a chunk retried through another instance with
/// another length) is left out; a gap ends the chain.
fn chain(mut parts: Vec<Part>) -> (u64, Vec<Part>) {
    parts.sort_by_key(|p| p.offset);
    let (mut end, mut out) = (0u64, Vec::new());
    for p in parts {
        if p.offset == end {
            end = end.saturating_add(p.size);
            out.push(p);
        } else if p.offset > end {
            break;
        }
    }
    (end, out)
}

impl ObjectBlobs {
    /// The store over `store`, every object under `prefix`; `label` names it in logs.
    pub fn new(store: Arc<dyn ObjectStore>, prefix: &str, label: &str, max_bytes: u64) -> Self {
        ObjectBlobs {
            store,
            prefix: prefix.trim_matches('/').to_string(),
            label: label.to_string(),
            locks: UploadLocks::default(),
            max_bytes,
        }
    }

    /// An S3 bucket as [`super::BlobStoreSettings`] describe it (credentials from the
    /// settings, else the standard AWS variables).
    pub(crate) fn s3(
        settings: &super::BlobStoreSettings,
        bucket: &str,
        prefix: &str,
        max_bytes: u64,
    ) -> Result<Self> {
        use object_store::aws::AmazonS3Builder;
        // The S3 client speaks TLS through rustls; ring is the server's one crypto provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .with_retry(object_store::RetryConfig {
                max_retries: 3,
                retry_timeout: std::time::Duration::from_secs(30),
                ..Default::default()
            });
        if let Some(e) = &settings.endpoint {
            b = b.with_endpoint(e);
        }
        if let Some(r) = &settings.region {
            b = b.with_region(r);
        }
        if settings.allow_http {
            b = b.with_allow_http(true);
        }
        if let Some(k) = &settings.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &settings.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        let s3 = b
            .build()
            .map_err(|e| ServerError::Config(format!("blob store s3://{bucket}: {e}")))?;
        let label = if prefix.is_empty() {
            format!("s3://{bucket}")
        } else {
            format!("s3://{bucket}/{prefix}")
        };
        Ok(ObjectBlobs::new(Arc::new(s3), prefix, &label, max_bytes))
    }

    pub(crate) fn label(&self) -> &str {
        &self.label
    }

    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub(crate) fn lock_for(&self, sha: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock_for(sha)
    }

    fn path(&self, rel: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(rel)
        } else {
            Path::from(format!("{}/{rel}", self.prefix))
        }
    }

    /// `rel` of an object's location (the part after the prefix).
    fn relative<'a>(&self, location: &'a Path) -> Option<&'a str> {
        let s = location.as_ref();
        if self.prefix.is_empty() {
            Some(s)
        } else {
            s.strip_prefix(self.prefix.as_str())?.strip_prefix('/')
        }
    }

    fn final_path(&self, sha: &str) -> Path {
        self.path(&format!("{}/{sha}", &sha[..2]))
    }

    fn part_path(&self, sha: &str, offset: u64) -> Path {
        self.path(&format!("partial/{sha}/{offset:020}"))
    }

    /// Every staged part, by blob.
    async fn all_parts(&self, under: &Path) -> Result<BTreeMap<String, Vec<(Path, Part)>>> {
        let mut out: BTreeMap<String, Vec<(Path, Part)>> = BTreeMap::new();
        let mut list = self.store.list(Some(under));
        while let Some(meta) = list.try_next().await? {
            let Some(rel) = self.relative(&meta.location) else {
                continue;
            };
            let mut it = rel.split('/');
            let (Some("partial"), Some(sha), Some(off), None) =
                (it.next(), it.next(), it.next(), it.next())
            else {
                continue;
            };
            let Ok(offset) = off.parse::<u64>() else {
                continue;
            };
            let part = Part {
                offset,
                size: meta.size,
                modified_ms: meta.last_modified.timestamp_millis(),
            };
            out.entry(sha.to_string())
                .or_default()
                .push((meta.location.clone(), part));
        }
        Ok(out)
    }

    async fn parts(&self, sha: &str) -> Result<Vec<(Path, Part)>> {
        let under = self.path(&format!("partial/{sha}"));
        Ok(self
            .all_parts(&under)
            .await?
            .remove(sha)
            .unwrap_or_default())
    }

    pub(crate) async fn received(&self, sha: &str) -> Result<u64> {
        let parts = self.parts(sha).await?;
        Ok(chain(parts.into_iter().map(|(_, p)| p).collect()).0)
    }

    async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        let input = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut out = self.store.delete_stream(input);
        while let Some(r) = out.next().await {
            match r {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub(crate) async fn discard_partial(&self, sha: &str) -> Result<()> {
        let parts = self.parts(sha).await?;
        self.delete_all(parts.into_iter().map(|(p, _)| p).collect())
            .await
    }

    pub(crate) async fn append(
        &self,
        sha: &str,
        offset: u64,
        total: u64,
        chunk: Bytes,
    ) -> Result<UploadOutcome> {
        let sha = crate::blobs::check_sha(sha)?;
        if total > self.max_bytes {
            return Err(ServerError::TooLarge(format!(
                "blobs are limited to {} bytes",
                self.max_bytes
            )));
        }
        let staged = self.parts(&sha).await?;
        let (have, mut parts) = chain(staged.iter().map(|(_, p)| *p).collect());
        if offset != have {
            return Err(ServerError::Conflict(format!("expected offset {have}")));
        }
        let end = offset.saturating_add(chunk.len() as u64);
        if end > total {
            return Err(ServerError::BadRequest(
                "chunk runs past the declared total".into(),
            ));
        }
        if !chunk.is_empty() {
            let size = chunk.len() as u64;
            self.store
                .put(&self.part_path(&sha, offset), chunk.into())
                .await?;
            parts.push(Part {
                offset,
                size,
                modified_ms: fieldcase_core::ids::now_ms(),
            });
        }
        if end < total {
            return Ok(UploadOutcome::Partial {
                received: end,
                total,
            });
        }
        let matched = self.assemble(&sha, &parts, total).await?;
        // Every staged part goes, those of the chain and any left out of it.
        let mut stale: Vec<Path> = staged.into_iter().map(|(p, _)| p).collect();
        stale.extend(parts.iter().map(|p| self.part_path(&sha, p.offset)));
        stale.sort();
        stale.dedup();
        if !matched {
            self.delete_all(stale).await?;
            return Err(ServerError::BadRequest(
                "content does not match its SHA-256; upload discarded".into(),
            ));
        }
        if let Err(e) = self.delete_all(stale).await {
            // The blob is stored; leftover parts are swept with abandoned uploads.
            tracing::warn!(blob = %sha, error = %e, "staged parts of a stored blob not deleted");
        }
        Ok(UploadOutcome::Complete { size: total })
    }

    /// Copies the chain of parts into the final object while hashing them, completing it
    /// only when the content is exactly `total` bytes with SHA-256 `sha`. Returns whether it
    /// matched; nothing is visible under the final name otherwise.
    async fn assemble(&self, sha: &str, parts: &[Part], total: u64) -> Result<bool> {
        let final_path = self.final_path(sha);
        let mut hasher = Sha256::new();
        let mut n = 0u64;
        if total <= MULTIPART_ABOVE {
            let mut buf = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
            for p in parts {
                let bytes = self
                    .store
                    .get(&self.part_path(sha, p.offset))
                    .await?
                    .bytes()
                    .await?;
                hasher.update(&bytes);
                n += bytes.len() as u64;
                buf.extend_from_slice(&bytes);
            }
            if n != total || hex::encode(hasher.finalize()) != sha {
                return Ok(false);
            }
            self.store.put(&final_path, buf.into()).await?;
            return Ok(true);
        }
        let upload = self.store.put_multipart(&final_path).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, MULTIPART_PART);
        let copied: Result<()> = async {
            for p in parts {
                let mut stream = self
                    .store
                    .get(&self.part_path(sha, p.offset))
                    .await?
                    .into_stream();
                while let Some(bytes) = stream.try_next().await? {
                    hasher.update(&bytes);
                    n += bytes.len() as u64;
                    writer.wait_for_capacity(MULTIPART_IN_FLIGHT).await?;
                    writer.put(bytes);
                }
            }
            Ok(())
        }
        .await;
        let matched = copied.is_ok() && n == total && hex::encode(hasher.finalize()) == sha;
        if !matched {
            if let Err(e) = writer.abort().await {
                tracing::warn!(blob = %sha, error = %e, "multipart upload not aborted");
            }
            copied?;
            return Ok(false);
        }
        writer.finish().await?;
        Ok(true)
    }

    pub(crate) async fn size(&self, sha: &str) -> Result<Option<u64>> {
        match self.store.head(&self.final_path(sha)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn read_range(
        &self,
        sha: &str,
        start: u64,
        count: u64,
    ) -> Result<Option<ByteStream>> {
        if count == 0 {
            // A zero-length range is not a valid HTTP range; the answer is known.
            return Ok(self
                .size(sha)
                .await?
                .map(|_| futures::stream::empty().boxed()));
        }
        let options = object_store::GetOptions {
            range: Some((start..start.saturating_add(count)).into()),
            ..Default::default()
        };
        match self.store.get_opts(&self.final_path(sha), options).await {
            Ok(r) => Ok(Some(r.into_stream().map_err(io_error).boxed())),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn list(&self) -> Result<Vec<StoredBlob>> {
        let under = self.path("");
        let mut out = Vec::new();
        let mut list = self.store.list((!self.prefix.is_empty()).then_some(&under));
        while let Some(meta) = list.try_next().await? {
            let Some((aa, name)) = self
                .relative(&meta.location)
                .and_then(|r| r.split_once('/'))
            else {
                continue;
            };
            if aa.len() == 2
                && name.len() == 64
                && name.starts_with(aa)
                && name
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                out.push(StoredBlob {
                    sha256: name.to_string(),
                    size: meta.size,
                });
            }
        }
        Ok(out)
    }

    /// Removes the parts of every upload whose newest part is older than `max_age` (an
    /// upload still arriving keeps its old parts) and that this process is not receiving.
    pub(crate) async fn prune_partials(&self, max_age: std::time::Duration) -> Result<usize> {
        let now = fieldcase_core::ids::now_ms();
        let max_age = i64::try_from(max_age.as_millis()).unwrap_or(i64::MAX);
        let mut removed = 0;
        for (sha, parts) in self.all_parts(&self.path("partial")).await? {
            let newest = parts.iter().map(|(_, p)| p.modified_ms).max();
            if newest.is_some_and(|t| now.saturating_sub(t) < max_age) {
                continue;
            }
            let lock = self.lock_for(&sha);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            self.delete_all(parts.into_iter().map(|(p, _)| p).collect())
                .await?;
            removed += 1;
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(offset: u64, size: u64) -> Part {
        Part {
            offset,
            size,
            modified_ms: 0,
        }
    }

    #[test]
    fn the_chain_is_the_parts_that_follow_each_other_from_zero() {
        let offsets = |c: &[Part]| c.iter().map(|p| p.offset).collect::<Vec<_>>();
        let (end, c) = chain(vec![part(10, 5), part(0, 10), part(15, 1)]);
        assert_eq!((end, offsets(&c)), (16, vec![0, 10, 15]));
        // A gap ends it; a part inside it is left out.
        let (end, c) = chain(vec![part(0, 10), part(20, 5)]);
        assert_eq!((end, offsets(&c)), (10, vec![0]));
        let (end, c) = chain(vec![part(0, 10), part(5, 20), part(10, 3)]);
        assert_eq!((end, offsets(&c)), (13, vec![0, 10]));
        assert_eq!(chain(vec![part(3, 3)]).0, 0);
    }
}
