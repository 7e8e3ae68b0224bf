//! [`QuarantineStore`] on SQLite.

use super::{SqliteStorage, all, first};
use crate::storage::error::StorageResult;
use crate::storage::quarantine::{
    NewQuarantine, QuarantineItem, QuarantineStatus, QuarantineStore,
};
use crate::storage::rows::{self, QUARANTINE_COLS};
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl QuarantineStore for SqliteStorage {
    async fn add_quarantine(&self, q: NewQuarantine) -> StorageResult<Option<i64>> {
        self.write(move |tx| {
            let dup: Option<i64> = tx
                .query_row(
                    "SELECT id FROM quarantine
                     WHERE doc_id = ?1 AND hashes = ?2 AND status = 'pending'",
                    params![q.doc_id, q.hashes],
                    |r| r.get(0),
                )
                .optional()?;
            if dup.is_some() {
                return Ok(None);
            }
            tx.execute(
                "INSERT INTO quarantine(doc_id, kind, sender_device, sender_user,
                     revoked_devices, received_at_ms, hashes, changes, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending')",
                params![
                    q.doc_id,
                    q.kind.as_str(),
                    q.sender_device,
                    q.sender_user,
                    q.revoked_devices,
                    q.received_at_ms,
                    q.hashes,
                    q.changes
                ],
            )?;
            Ok(Some(tx.last_insert_rowid()))
        })
        .await
    }

    async fn quarantine(&self, all_items: bool) -> StorageResult<Vec<QuarantineItem>> {
        self.read(move |c| {
            all(
                c,
                &format!(
                    "SELECT {QUARANTINE_COLS} FROM quarantine
                     WHERE ?1 OR status = 'pending' ORDER BY id"
                ),
                [all_items],
                |r| rows::quarantine_item(r),
            )
        })
        .await
    }

    async fn quarantine_item(&self, id: i64) -> StorageResult<Option<QuarantineItem>> {
        self.read(move |c| {
            first(
                c,
                &format!("SELECT {QUARANTINE_COLS} FROM quarantine WHERE id = ?1"),
                [id],
                |r| rows::quarantine_item(r),
            )
        })
        .await
    }

    async fn settle_quarantine(
        &self,
        id: i64,
        status: QuarantineStatus,
        at_ms: i64,
    ) -> StorageResult<bool> {
        self.write(move |tx| {
            let n = tx.execute(
                "UPDATE quarantine SET status = ?2, settled_at_ms = ?3
                 WHERE id = ?1 AND status = 'pending'",
                params![id, status.as_str(), at_ms],
            )?;
            Ok(n > 0)
        })
        .await
    }
}
