//! Evidence metadata: the stored blobs (their contents live in files, see `crate::blobs`),
//! unfinished uploads and which documents a blob is bound to (anchored) for reading.

use super::error::StorageResult;
use async_trait::async_trait;
use fieldcase_core::model::RecordKind;
use serde::{Deserialize, Serialize};

/// A stored, verified blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRecord {
    /// SHA-256, hex.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// When stored.
    pub stored_at_ms: i64,
    /// Device that uploaded it.
    pub device_id: String,
}

/// An unfinished upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    /// SHA-256, hex.
    pub sha256: String,
    /// Uploading device.
    pub device_id: String,
    /// Bytes received and synced to disk.
    pub received: u64,
    /// Declared total size.
    pub total: u64,
    /// Last activity.
    pub updated_at_ms: i64,
}

/// Blob rows, upload sessions and blob anchors.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// A stored blob.
    async fn blob(&self, sha256: &str) -> StorageResult<Option<BlobRecord>>;
    /// Records a verified blob (idempotent) and ends its upload session.
    async fn insert_blob(&self, blob: BlobRecord) -> StorageResult<()>;
    /// Every stored blob, by hash.
    async fn all_blobs(&self) -> StorageResult<Vec<BlobRecord>>;

    /// The unfinished upload of a blob.
    async fn upload_session(&self, sha256: &str) -> StorageResult<Option<UploadSession>>;
    /// One device's unfinished uploads, by hash (the per-device quota reads only these).
    async fn device_upload_sessions(&self, device_id: &str) -> StorageResult<Vec<UploadSession>>;
    /// Creates or updates an upload session.
    async fn put_upload_session(&self, session: UploadSession) -> StorageResult<()>;
    /// Claims the upload of `session.sha256` for `session.device_id` in one atomic step:
    /// writes `session` when the blob has no upload session, or when its session was last
    /// touched before `idle_before_ms`; otherwise changes nothing. Returns whether the claim
    /// took. Two servers (or requests) beginning the same upload at once cannot both own it,
    /// which a read followed by a write could not promise across server processes.
    async fn claim_upload_session(
        &self,
        session: UploadSession,
        idle_before_ms: i64,
    ) -> StorageResult<bool>;
    /// Ends `device_id`'s upload session of a blob (a claim whose first chunk failed), so it
    /// neither blocks colleagues nor counts as unfinished; another device's is left alone.
    async fn release_upload_session(&self, sha256: &str, device_id: &str) -> StorageResult<()>;
    /// Every unfinished upload, by hash.
    async fn upload_sessions(&self) -> StorageResult<Vec<UploadSession>>;

    /// Whether a document of one of `kinds` in one of `scopes` refers to the blob.
    async fn blob_referenced(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> StorageResult<bool>;
    /// Binds a stored blob to the documents that refer to it now and that are of one of
    /// `kinds` in one of `scopes` (the uploader's write rights), recording `device_id` as the
    /// uploader; documents bound already stay as they are. Returns how many were bound. Called
    /// when an upload completes: only a device that sent the bytes binds a blob to records.
    async fn anchor_blob(
        &self,
        sha256: &str,
        device_id: &str,
        scopes: &[String],
        kinds: &[RecordKind],
        at_ms: i64,
    ) -> StorageResult<u64>;
    /// Whether a document the blob is bound to ([`Blobs::anchor_blob`]), and that still
    /// refers to it, is of one of `kinds` in one of `scopes`: the test for reading a blob. A
    /// document that merely names the hash grants nothing.
    async fn blob_readable(
        &self,
        sha256: &str,
        scopes: &[String],
        kinds: &[RecordKind],
    ) -> StorageResult<bool>;
}
