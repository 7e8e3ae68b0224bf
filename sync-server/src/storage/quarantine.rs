//! The quarantine: changes held back from a document because a revoked device's actor authored
//! them (or they depend on such changes), kept for an operator to release or reject.

use super::error::StorageResult;
use async_trait::async_trait;
use fieldcase_core::model::RecordKind;
use serde::{Deserialize, Serialize};

/// Changes held back from a document because a revoked device authored them (or they depend
/// on such changes), as the ingest found them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQuarantine {
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The device that pushed them.
    pub sender_device: String,
    /// Its user.
    pub sender_user: String,
    /// The revoked devices whose actors authored them, comma-separated.
    pub revoked_devices: String,
    /// When they arrived.
    pub received_at_ms: i64,
    /// Their change hashes, hex, sorted, space-separated.
    pub hashes: String,
    /// The changes: Automerge change chunks, concatenated.
    pub changes: Vec<u8>,
}

/// What became of held changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineStatus {
    /// Awaiting an operator.
    Pending,
    /// Merged into the document by an operator.
    Released,
    /// Refused by an operator (kept for the record, never merged).
    Rejected,
}

impl QuarantineStatus {
    /// The identifier stored.
    pub fn as_str(self) -> &'static str {
        match self {
            QuarantineStatus::Pending => "pending",
            QuarantineStatus::Released => "released",
            QuarantineStatus::Rejected => "rejected",
        }
    }

    /// Parses the identifier.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Released, Self::Rejected]
            .into_iter()
            .find(|q| q.as_str() == s)
    }
}

/// Held changes as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineItem {
    /// Id for `admin quarantine release|reject`.
    pub id: i64,
    /// Record id.
    pub doc_id: String,
    /// Kind.
    pub kind: RecordKind,
    /// The device that pushed them.
    pub sender_device: String,
    /// Its user.
    pub sender_user: String,
    /// The revoked devices whose actors authored them, comma-separated.
    pub revoked_devices: String,
    /// When they arrived.
    pub received_at_ms: i64,
    /// Their change hashes, hex, sorted, space-separated.
    pub hashes: String,
    /// State.
    pub status: QuarantineStatus,
    /// When an operator released or rejected them.
    pub settled_at_ms: Option<i64>,
    /// The changes (not printed).
    #[serde(skip)]
    pub changes: Vec<u8>,
}

/// The quarantine table.
#[async_trait]
pub trait QuarantineStore: Send + Sync {
    /// Stores held changes; `None` if the same changes of the document already await review.
    async fn add_quarantine(&self, q: NewQuarantine) -> StorageResult<Option<i64>>;
    /// Held changes, oldest first; only pending ones unless `all`.
    async fn quarantine(&self, all: bool) -> StorageResult<Vec<QuarantineItem>>;
    /// One item of the quarantine.
    async fn quarantine_item(&self, id: i64) -> StorageResult<Option<QuarantineItem>>;
    /// Moves a pending item to `status`; false if it is not pending.
    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> StorageResult<bool>;
}
