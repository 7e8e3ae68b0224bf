//! Evidence blobs: resumable, content-addressed upload.
//!
//! `PUT /v1/blobs/{sha256}?offset=N&total=T` appends one chunk to the upload of that blob in
//! the blob store ([`store::BlobStore`]: the folder `DIR/blobs` by default, or S3-compatible
//! object storage). In the folder the chunk goes to `DIR/blobs/partial/<sha>` (written, then
//! fsynced, before the reply); when the file reaches `total` bytes its SHA-256 is checked; on
//! a match it is renamed to `DIR/blobs/<aa>/<sha>` and the directory synced, so a stored blob
//! is always complete and verified; on a mismatch the partial file is dropped. The object
//! store keeps the same promise with one object per chunk (see [`store::ObjectBlobs`]).
//! The server accepts only blobs that a document the device may write refers to.
//!
//! Who may read a blob: when an upload completes, the blob is bound (anchored) to the
//! documents that refer to it and that the uploading device may write (`Storage::anchor_blob`).
//! A reader needs one of those documents, still referring to the blob, in its read rights
//! (`access::can_read`: kind and unit scope). A record pushed later that merely names the hash
//! (a volunteer's demonstration naming a case photo's SHA-256) grants nothing: the bytes were
//! never proved by its author. A device that holds the bytes and refers to an already stored
//! blob from its own record uploads them again (the status tells it nothing is stored), which
//! binds its record too.
//!
//! `GET /v1/blobs/{sha256}` streams a stored blob back, with `Range: bytes=N-` (or `N-M`) for
//! a phone resuming a download, and appends a `blob_read` audit entry (device, hash prefix,
//! range). An unknown blob and a blob the caller may not read both answer 404; `GET
//! .../status` and `HEAD` answer "nothing stored, offset 0" for both, so no reply reveals
//! whether a blob exists. Refused reads are audited as `blob_read_refused`.
//!
//! An upload session belongs to the device that began it: another device's chunk for the same
//! blob is `409 upload_in_progress` (it cannot append to, shrink or discard a colleague's
//! upload) until the session has been idle for [`UPLOAD_TAKEOVER_AFTER_MS`], when
//! the partial bytes are dropped and the newcomer starts from 0. Its status answers as if
//! nothing were held. A device's unfinished uploads together may declare at most
//! [`MAX_PENDING_UPLOAD_BYTES`]; a new upload past that is `413 too_large`.
//!
//! An upload abandoned half way (the phone was wiped, or the record was rejected) leaves a
//! partial file. Partial files untouched for [`PARTIAL_MAX_AGE_MS`] are removed when the
//! server starts and, at most once an hour, while uploads arrive; a phone that comes back
//! later simply starts that upload again from offset 0.

mod download;
pub mod store;
mod upload;

pub use download::*;
pub use store::{BlobStore, BlobStoreSettings, ObjectBlobs, StoredBlob};
pub use upload::*;

use crate::error::{Result, ServerError};
use crate::storage::DeviceAuth;
use crate::{AppState, access};
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Age after which an untouched partial upload is removed (72 hours).
pub const PARTIAL_MAX_AGE_MS: u64 = 72 * 3_600_000;
/// How often uploads trigger a sweep of stale partial uploads.
const PRUNE_EVERY_MS: i64 = 3_600_000;
/// Bytes one device's unfinished uploads may declare together (2 GiB): two maximum-size
/// recordings in flight. Declared totals count, not bytes received, so a device cannot
/// reserve the server's disk with many sessions it never finishes.
pub const MAX_PENDING_UPLOAD_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Idle time after which another device may take over an upload of the same blob (an hour):
/// the owner's phone may have been wiped or lost; the newcomer restarts from offset 0.
pub const UPLOAD_TAKEOVER_AFTER_MS: i64 = 3_600_000;
/// Characters of a blob's hash written to the audit log (enough to find it, not a handle).
const AUDIT_SHA_PREFIX: usize = 16;

/// One lock per blob being uploaded in this process: calls for one blob never overlap here.
/// Other server instances have their own; the database's upload session and the final hash
/// check cover them (see [`store::BlobStore`]).
#[derive(Debug, Default)]
pub(crate) struct UploadLocks(std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl UploadLocks {
    /// The lock of `sha`; the map forgets locks nobody holds once it grows large.
    pub(crate) fn lock_for(&self, sha: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() > 10_000 {
            map.retain(|_, l| Arc::strong_count(l) > 1);
        }
        map.entry(sha.to_string()).or_default().clone()
    }
}

/// The blob folder and per-blob upload locks.
#[derive(Debug)]
pub struct BlobDir {
    root: PathBuf,
    locks: UploadLocks,
    /// Largest blob accepted, bytes.
    pub max_bytes: u64,
}

pub(crate) fn check_sha(sha: &str) -> Result<String> {
    if sha.len() == 64 && sha.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(sha.to_ascii_lowercase())
    } else {
        Err(ServerError::BadRequest(
            "blob id must be 64 hex characters".into(),
        ))
    }
}

fn sync_dir(dir: &std::path::Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

impl BlobDir {
    /// Opens (creating) the folder.
    pub fn open(root: PathBuf, max_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(root.join("partial"))?;
        let dir = BlobDir {
            root,
            locks: UploadLocks::default(),
            max_bytes,
        };
        let removed = dir.prune_partials(std::time::Duration::from_millis(PARTIAL_MAX_AGE_MS));
        if removed > 0 {
            tracing::info!(removed, "removed abandoned partial uploads");
        }
        Ok(dir)
    }

    /// Removes partial uploads not written to for `max_age` (skipping any upload in
    /// progress). Returns how many were removed.
    pub fn prune_partials(&self, max_age: std::time::Duration) -> usize {
        let Ok(rd) = std::fs::read_dir(self.root.join("partial")) else {
            return 0;
        };
        let now = std::time::SystemTime::now();
        let mut removed = 0;
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            let stale = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|age| age >= max_age);
            if !stale {
                continue;
            }
            let lock = self.lock_for(&name);
            let Ok(_guard) = lock.try_lock() else {
                continue;
            };
            if std::fs::remove_file(e.path()).is_ok() {
                removed += 1;
            }
        }
        removed
    }

    /// Drops the partial upload of `sha` (an upload taken over, or one with no session on
    /// record). Blocking; call with the blob's upload lock held.
    pub(crate) fn discard_partial(&self, sha: &str) -> Result<()> {
        match std::fs::remove_file(self.partial(sha)) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn partial(&self, sha: &str) -> PathBuf {
        self.root.join("partial").join(sha)
    }

    /// Where a stored blob lives.
    pub fn final_path(&self, sha: &str) -> PathBuf {
        self.root.join(&sha[..2]).join(sha)
    }

    pub(crate) fn lock_for(&self, sha: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.locks.lock_for(sha)
    }

    fn partial_len(&self, sha: &str) -> u64 {
        std::fs::metadata(self.partial(sha))
            .map(|m| m.len())
            .unwrap_or(0)
    }

    /// How many bytes of the upload of `sha` the server holds (the offset the next chunk
    /// must start at); 0 for an unknown or malformed id.
    pub fn received(&self, sha: &str) -> u64 {
        check_sha(sha).map_or(0, |sha| self.partial_len(&sha))
    }

    /// Refuses a declared blob size over [`BlobDir::max_bytes`] (`TooLarge`).
    pub fn check_total(&self, total: u64) -> Result<()> {
        if total > self.max_bytes {
            return Err(ServerError::TooLarge(format!(
                "blobs are limited to {} bytes",
                self.max_bytes
            )));
        }
        Ok(())
    }

    /// Appends one chunk of the upload of `sha` (64 hex characters, either case): the decision
    /// logic of `PUT /v1/blobs/{sha256}?offset=N&total=T`, without HTTP, authorisation or the
    /// database. Blocking (file writes and fsync); the handler runs it on the blocking pool
    /// while holding the blob's upload lock, so calls for one blob never overlap there. A
    /// caller outside the handler must not run two calls for one blob at once.
    ///
    /// Refused, with nothing changed: a malformed id (`BadRequest`), a `total` over the limit
    /// (`TooLarge`), an `offset` other than the bytes held (`Conflict`, the text names the
    /// expected offset), a chunk running past `total` (`BadRequest`), and a failed write or
    /// fsync (`Io`; the partial file is cut back to its previous length). When the upload
    /// reaches `total` bytes its SHA-256 is checked: on a match the file is moved into
    /// [`BlobDir::final_path`] (`Complete`); on a mismatch the whole partial upload is
    /// discarded (`BadRequest`), since its earlier chunks cannot be told from the bad one. A
    /// failure after a matching hash (creating the folder, the rename) is an `Io` error that
    /// leaves the complete partial file; an empty chunk at offset `total` finishes it.
    pub fn append(
        &self,
        sha: &str,
        offset: u64,
        total: u64,
        chunk: &[u8],
    ) -> Result<UploadOutcome> {
        let sha = check_sha(sha)?;
        self.check_total(total)?;
        let partial = self.partial(&sha);
        let existed = partial.exists();
        let have = self.partial_len(&sha);
        if offset != have {
            return Err(ServerError::Conflict(format!("expected offset {have}")));
        }
        let end = offset.saturating_add(chunk.len() as u64);
        if end > total {
            return Err(ServerError::BadRequest(
                "chunk runs past the declared total".into(),
            ));
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&partial)?;
        if let Err(e) = f.write_all(chunk).and_then(|()| f.sync_all()) {
            // Nothing of a refused chunk stays: cut the file back (or drop a file this call
            // created), so the next attempt resumes from the same offset.
            if existed {
                let _ = f.set_len(have).and_then(|()| f.sync_all());
            } else {
                drop(f);
                let _ = std::fs::remove_file(&partial);
            }
            return Err(e.into());
        }
        drop(f);
        if end < total {
            return Ok(UploadOutcome::Partial {
                received: end,
                total,
            });
        }
        let mut f = std::fs::File::open(&partial)?;
        let (actual, _) = fieldcase_core::evidence::blobs::hash_reader(&mut f)?;
        drop(f);
        if hex::encode(actual) != sha {
            std::fs::remove_file(&partial)?;
            return Err(ServerError::BadRequest(
                "content does not match its SHA-256; upload discarded".into(),
            ));
        }
        let final_path = self.final_path(&sha);
        if let Some(dir) = final_path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::rename(&partial, &final_path)?;
        if let Some(dir) = final_path.parent() {
            sync_dir(dir);
        }
        Ok(UploadOutcome::Complete { size: end })
    }
}

/// What one accepted chunk did ([`BlobDir::append`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadOutcome {
    /// Appended; `received` of `total` bytes are held.
    Partial {
        /// Bytes held after this chunk (the next chunk's offset).
        received: u64,
        /// The declared size of the blob.
        total: u64,
    },
    /// The last chunk: the content matched its SHA-256 and the blob is in place.
    Complete {
        /// The blob's size.
        size: u64,
    },
}

impl UploadOutcome {
    /// Bytes held after the chunk (the blob's size once complete).
    pub fn received(&self) -> u64 {
        match *self {
            UploadOutcome::Partial { received, .. } => received,
            UploadOutcome::Complete { size } => size,
        }
    }
}

/// Whether `auth`'s user may read the stored blob `sha` (see the module docs).
async fn may_read(state: &AppState, auth: &DeviceAuth, sha: &str) -> Result<bool> {
    let readable = access::readable_kinds(auth.user.role);
    if readable.is_empty() {
        return Ok(false);
    }
    Ok(state
        .storage
        .blob_readable(sha, &access::scopes(&auth.user), readable)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha_of(b: &[u8]) -> String {
        use sha2::{Digest, Sha256};
        hex::encode(Sha256::digest(b))
    }

    #[test]
    fn append_stores_a_chunked_upload_once_it_matches_its_hash() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = BlobDir::open(dir.path().join("blobs"), 1000)?;
        let content: Vec<u8> = (0..700u32).map(|i| (i * 7 + 3) as u8).collect();
        let sha = sha_of(&content);
        let upper = sha.to_ascii_uppercase();
        assert_eq!(
            blobs.append(&sha, 0, 700, &content[..300])?,
            UploadOutcome::Partial {
                received: 300,
                total: 700
            }
        );
        // Either case names the same upload.
        assert_eq!(blobs.received(&upper), 300);
        assert_eq!(
            blobs
                .append(&upper, 300, 700, &content[300..600])?
                .received(),
            600
        );
        assert_eq!(
            blobs.append(&sha, 600, 700, &content[600..])?,
            UploadOutcome::Complete { size: 700 }
        );
        assert_eq!(std::fs::read(blobs.final_path(&sha))?, content);
        assert_eq!(blobs.received(&sha), 0);
        assert!(!blobs.partial(&sha).exists());
        // The empty blob completes with its first, empty chunk.
        let empty = sha_of(b"");
        assert_eq!(
            blobs.append(&empty, 0, 0, b"")?,
            UploadOutcome::Complete { size: 0 }
        );
        Ok(())
    }

    #[test]
    fn append_refuses_bad_chunks_and_changes_nothing() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let blobs = BlobDir::open(dir.path().join("blobs"), 1000)?;
        let content = vec![42u8; 500];
        let sha = sha_of(&content);
        blobs.append(&sha, 0, 500, &content[..100])?;
        let held = || std::fs::read(blobs.partial(&sha)).unwrap_or_default();
        let before = held();
        let refused = [
            blobs.append("abc", 0, 500, b"x"),
            blobs.append("../../../../etc/passwd", 0, 500, b"x"),
            blobs.append(&"z".repeat(64), 0, 500, b"x"),
            blobs.append(&sha, 0, 1001, &content[..10]),
            blobs.append(&sha, 99, 500, &content[99..200]),
            blobs.append(&sha, 101, 500, &content[101..200]),
            blobs.append(&sha, u64::MAX, 500, b"x"),
            blobs.append(&sha, 100, 150, &content[100..200]),
            blobs.append(&sha, 100, u64::MAX, &content[100..200]),
        ];
        for r in &refused {
            assert!(
                matches!(
                    r,
                    Err(ServerError::BadRequest(_)
                        | ServerError::Conflict(_)
                        | ServerError::TooLarge(_))
                ),
                "{r:?}"
            );
        }
        assert!(matches!(&refused[4], Err(ServerError::Conflict(m)) if m.contains("100")));
        assert_eq!(held(), before);
        // A last chunk that does not match the hash discards the upload; no blob is stored.
        let mut bad = content[100..].to_vec();
        bad[0] ^= 1;
        let r = blobs.append(&sha, 100, 500, &bad);
        assert!(matches!(r, Err(ServerError::BadRequest(_))), "{r:?}");
        assert!(!blobs.partial(&sha).exists());
        assert!(!blobs.final_path(&sha).exists());
        Ok(())
    }
}
