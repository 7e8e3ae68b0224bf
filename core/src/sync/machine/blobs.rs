//! Evidence files in a sync session, without network I/O: the order blobs upload in, the
//! resumable upload of one blob as steps (ask the status, send the chunk at the server's
//! offset, ...), what each reply means, and which thumbnails of received documents to fetch.

use super::error_from;
use crate::evidence::blobs::BlobInfo;
use crate::evidence::sealed::BlobReader;
use crate::model::RecordKind;
use crate::store::FieldStore;
use crate::sync::wire::{BlobStatus, ErrorBody};
use crate::{CoreError, Result};
use std::io::{Read, Seek};

/// Bytes per blob upload request.
pub const BLOB_CHUNK: usize = 1024 * 1024;

/// The upload order: originals first (the evidence itself matters more than its previews),
/// then thumbnails and display copies, each oldest first; ties by hash so the order is total.
pub fn order_blobs(mut blobs: Vec<BlobInfo>) -> Vec<BlobInfo> {
    blobs.sort_by(|a, b| {
        (a.role != "original", a.created_at_ms, &a.sha256).cmp(&(
            b.role != "original",
            b.created_at_ms,
            &b.sha256,
        ))
    });
    blobs
}

/// A thumbnail to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// SHA-256, hex.
    pub sha256: String,
    /// MIME type the entry records.
    pub mime: String,
    /// Size the entry records (a larger body is refused).
    pub size: u64,
}

/// The thumbnails of evidence in `received` (cases and demonstrations that gained changes in
/// this session) that this phone does not hold, each once, in document and entry order.
/// Originals and display copies are fetched on demand, not here.
pub fn thumbnails_wanted(
    store: &FieldStore,
    received: &[(String, RecordKind)],
) -> Result<Vec<Thumbnail>> {
    let mut wanted: Vec<Thumbnail> = Vec::new();
    for (doc_id, kind) in received {
        if !matches!(kind, RecordKind::Case | RecordKind::Demonstration) {
            continue;
        }
        for e in store.evidence(doc_id)? {
            if let Some(t) = e.thumbnail
                && !wanted.iter().any(|w| w.sha256 == t.sha256)
                && !store.holds_blob(&t.sha256)?
            {
                wanted.push(Thumbnail {
                    sha256: t.sha256,
                    mime: t.mime,
                    size: t.size,
                });
            }
        }
    }
    Ok(wanted)
}

/// The next request of one blob's upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobStep {
    /// Ask how much the server holds (`GET /v1/blobs/{sha256}/status`).
    Status,
    /// Send `body` at `offset` of `total` (`PUT /v1/blobs/{sha256}?offset=&total=`).
    Chunk {
        /// Where the chunk starts.
        offset: u64,
        /// The blob's size.
        total: u64,
        /// The chunk.
        body: Vec<u8>,
    },
}

/// What a reply did to the upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobProgress {
    /// More steps follow.
    Continue,
    /// The server verified and stored the blob.
    Confirmed,
}

/// The resumable upload of one blob: status first, then chunks from the server's offset
/// until it reports the blob complete. Bounded: every pass either advances the offset or
/// re-reads it after a conflict, at most twice the chunk count plus a few.
#[derive(Debug)]
pub struct BlobUpload {
    sha256: String,
    file: BlobReader,
    len: u64,
    next: Option<u64>,
    passes: u64,
    max_passes: u64,
}

impl BlobUpload {
    /// An upload of `file` (read through its unsealing reader) as blob `sha256`.
    pub fn new(file: BlobReader, sha256: &str) -> Result<Self> {
        let sha = sha256.to_ascii_lowercase();
        if sha.len() != 64 || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(CoreError::invalid("sha256", "expected 64 hex characters"));
        }
        let len = file.len();
        Ok(BlobUpload {
            sha256: sha,
            file,
            len,
            next: None,
            passes: 0,
            max_passes: (len / BLOB_CHUNK as u64) * 2 + 8,
        })
    }

    /// The blob's hash (lowercase hex).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The next request. Reading the local file may fail ([`CoreError::Io`]).
    pub fn step(&mut self) -> Result<BlobStep> {
        let Some(offset) = self.next else {
            return Ok(BlobStep::Status);
        };
        self.passes += 1;
        if self.passes > self.max_passes {
            return Err(CoreError::Protocol {
                reason: "blob upload did not finish".into(),
            });
        }
        let offset = offset.min(self.len);
        let sha = &self.sha256;
        let io_err = |e| CoreError::io(format!("evidence file {sha}"), e);
        self.file
            .seek(std::io::SeekFrom::Start(offset))
            .map_err(io_err)?;
        let want =
            usize::try_from((self.len - offset).min(BLOB_CHUNK as u64)).unwrap_or(BLOB_CHUNK);
        let mut body = vec![0u8; want];
        self.file.read_exact(&mut body).map_err(io_err)?;
        Ok(BlobStep::Chunk {
            offset,
            total: self.len,
            body,
        })
    }

    /// Takes the reply to the last step (not a `5xx` or `429`: those are retried before).
    /// A `409` other than another device's upload in progress asks for the status again;
    /// any other failure is returned as the error it maps to, for the session to decide.
    pub fn on_reply(&mut self, status: u16, body: &[u8]) -> Result<BlobProgress> {
        if (200..300).contains(&status) {
            let st: BlobStatus = serde_json::from_slice(body).map_err(|e| CoreError::Protocol {
                reason: format!("blob status: {e}"),
            })?;
            if st.complete {
                return Ok(BlobProgress::Confirmed);
            }
            self.next = Some(st.offset);
            return Ok(BlobProgress::Continue);
        }
        if status == 409 && self.next.is_some() && !upload_in_progress(body) {
            self.next = None;
            return Ok(BlobProgress::Continue);
        }
        Err(error_from(status, body))
    }
}

/// Whether a `409` says another device's upload of the blob is in progress (the server binds
/// an upload to the device that began it): the blob stays pending for a later sync instead of
/// the upload asking for the status again.
pub fn upload_in_progress(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok_and(|b| b.error == "upload_in_progress")
}

/// Whether a blob that failed with `e` stays pending (the sync goes on) rather than failing
/// the sync: the server refused it for now with a `4xx` (its record was rejected, too large,
/// another device's upload in progress, still throttled after the retries), or the local file
/// cannot be read. A revoked device (`401`) and transport or server failures end the sync.
pub fn stays_pending(e: &CoreError) -> bool {
    match e {
        CoreError::Server { status, .. } => *status < 500,
        CoreError::Io { .. } | CoreError::NotFound { .. } => true,
        _ => false,
    }
}

/// Whether a thumbnail download that failed with `e` is skipped (the sync goes on): the
/// server does not have it yet (its phone has not uploaded it) or refuses it, or it arrived
/// damaged. Throttling after the retries, transport and server failures end the sync.
pub fn thumbnail_skipped(e: &CoreError) -> bool {
    match e {
        CoreError::Server { status, .. } => *status < 500 && *status != 429,
        CoreError::BlobHashMismatch { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(sha: &str, role: &str, at: i64) -> BlobInfo {
        BlobInfo {
            sha256: sha.into(),
            size: 1,
            mime: "image/jpeg".into(),
            role: role.into(),
            path: std::path::PathBuf::from(sha),
            created_at_ms: at,
            server_confirmed_at_ms: None,
        }
    }

    #[test]
    fn originals_upload_first_then_the_rest_oldest_first() {
        let order = order_blobs(vec![
            blob("t1", "thumbnail", 1),
            blob("o2", "original", 5),
            blob("d1", "display", 0),
            blob("o1", "original", 3),
            blob("o0", "original", 3),
        ]);
        let shas: Vec<&str> = order.iter().map(|b| b.sha256.as_str()).collect();
        assert_eq!(shas, ["o0", "o1", "o2", "d1", "t1"]);
    }

    #[test]
    fn what_stays_pending_and_what_fails_the_sync() {
        let server = |status| CoreError::Server {
            status,
            code: "x".into(),
            message: String::new(),
        };
        assert!(stays_pending(&server(403)));
        assert!(stays_pending(&server(409)));
        assert!(stays_pending(&server(413)));
        assert!(stays_pending(&server(429)));
        assert!(!stays_pending(&server(500)));
        assert!(!stays_pending(&CoreError::Unauthorized { wipe: None }));
        assert!(!stays_pending(&CoreError::Network { reason: "x".into() }));
        assert!(thumbnail_skipped(&server(404)));
        assert!(!thumbnail_skipped(&server(429)));
        assert!(!thumbnail_skipped(&server(503)));
        assert!(thumbnail_skipped(&CoreError::BlobHashMismatch {
            expected: "a".into(),
            actual: "b".into()
        }));
        assert!(!thumbnail_skipped(&CoreError::Cancelled));
    }
}
