//! [`QuarantineStore`] on PostgreSQL.

use super::{PostgresStorage, col0, map_all};
use crate::storage::error::StorageResult;
use crate::storage::quarantine::{
    NewQuarantine, QuarantineItem, QuarantineStatus, QuarantineStore,
};
use crate::storage::rows::{self, QUARANTINE_COLS};
use async_trait::async_trait;

#[async_trait]
impl QuarantineStore for PostgresStorage {
    async fn add_quarantine(&self, q: NewQuarantine) -> StorageResult<Option<i64>> {
        let c = self.client().await?;
        // One statement: the duplicate check and the insert cannot be split by another
        // instance's insert of the same changes.
        let row = c
            .query_opt(
                "INSERT INTO quarantine(doc_id, kind, sender_device, sender_user,
                     revoked_devices, received_at_ms, hashes, changes, status)
                 SELECT $1::text, $2::text, $3::text, $4::text, $5::text, $6::bigint, $7::text,
                        $8::bytea, 'pending'
                 WHERE NOT EXISTS (SELECT 1 FROM quarantine
                     WHERE doc_id = $1::text AND hashes = $7::text AND status = 'pending')
                 RETURNING id",
                &[
                    &q.doc_id,
                    &q.kind.as_str(),
                    &q.sender_device,
                    &q.sender_user,
                    &q.revoked_devices,
                    &q.received_at_ms,
                    &q.hashes,
                    &q.changes,
                ],
            )
            .await?;
        row.map(col0).transpose()
    }

    async fn quarantine(&self, all: bool) -> StorageResult<Vec<QuarantineItem>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!(
                    "SELECT {QUARANTINE_COLS} FROM quarantine
                     WHERE $1 OR status = 'pending' ORDER BY id"
                ),
                &[&all],
            )
            .await?;
        map_all(&found, rows::quarantine_item)
    }

    async fn quarantine_item(&self, id: i64) -> StorageResult<Option<QuarantineItem>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                &format!("SELECT {QUARANTINE_COLS} FROM quarantine WHERE id = $1"),
                &[&id],
            )
            .await?;
        row.as_ref().map(rows::quarantine_item).transpose()
    }

    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> StorageResult<bool> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE quarantine SET status = $2, settled_at_ms = $3
                 WHERE id = $1 AND status = 'pending'",
                &[&id, &status.as_str(), &at_ms],
            )
            .await?;
        Ok(n > 0)
    }
}
