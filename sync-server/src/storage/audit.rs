//! The audit trail's storage: the chained, signed entries and the signed head (see
//! `crate::audit` for the chain itself). Both backends append the same way: lock the head row,
//! extend the chain with [`extend_chain`], insert the entries, move the head, in one
//! transaction.

use super::error::{StorageError, StorageResult};
use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use async_trait::async_trait;
use ed25519_dalek::SigningKey;

/// The audit log and its head.
#[async_trait]
pub trait AuditTrail: Send + Sync {
    /// Appends events to the audit chain in order, in one transaction, signing each entry and
    /// the new head with `key`; concurrent appends (across processes, for PostgreSQL)
    /// serialise on the head row. One call per request keeps a large sync to one write.
    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> StorageResult<Vec<AuditEntry>>;
    /// Appends one event (see [`AuditTrail::append_audits`]).
    async fn append_audit(&self, event: AuditEvent, key: &SigningKey) -> StorageResult<AuditEntry> {
        self.append_audits(vec![event], key)
            .await?
            .pop()
            .ok_or_else(|| StorageError::Database("audit append wrote nothing".into()))
    }
    /// Every audit entry, by sequence number.
    async fn audit_entries(&self) -> StorageResult<Vec<AuditEntry>>;
    /// The signed head of the audit chain (`None` while the chain is empty).
    async fn audit_head(&self) -> StorageResult<Option<AuditHead>>;
}

/// The entries that follow the stored head `(seq, hash)` for `events`, in order, and the new
/// signed head (`None` for no events). Pure, so the two backends chain identically.
pub(crate) fn extend_chain(
    mut seq: i64,
    mut hash: String,
    events: Vec<AuditEvent>,
    key: &SigningKey,
) -> (Vec<AuditEntry>, Option<AuditHead>) {
    let mut written = Vec::with_capacity(events.len());
    for event in events {
        let entry = crate::audit::entry_after(seq, &hash, event, key);
        seq = entry.seq;
        hash.clone_from(&entry.hash);
        written.push(entry);
    }
    let head = written.last().map(|last| crate::audit::head_for(last, key));
    (written, head)
}
