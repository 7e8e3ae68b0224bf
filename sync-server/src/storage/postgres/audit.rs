//! [`AuditTrail`] on PostgreSQL: appends from every server process serialise on the head row
//! (`SELECT ... FOR UPDATE`).

use super::{PostgresStorage, map_all};
use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use crate::storage::audit::{AuditTrail, extend_chain};
use crate::storage::error::StorageResult;
use crate::storage::rows::{self, AUDIT_COLS, AUDIT_HEAD_COLS};
use async_trait::async_trait;
use ed25519_dalek::SigningKey;

#[async_trait]
impl AuditTrail for PostgresStorage {
    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> StorageResult<Vec<AuditEntry>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        let row = tx
            .query_one(
                "SELECT seq, hash FROM audit_head WHERE id = 1 FOR UPDATE",
                &[],
            )
            .await?;
        let (entries, head) = extend_chain(row.try_get(0)?, row.try_get(1)?, events, key);
        let insert = tx
            .prepare_cached(&format!(
                "INSERT INTO audit_log({AUDIT_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ))
            .await?;
        for e in &entries {
            tx.execute(
                &insert,
                &[
                    &e.seq,
                    &e.event.at_ms,
                    &e.event.actor,
                    &e.event.action,
                    &e.event.case_id,
                    &e.event.detail,
                    &e.prev_hash,
                    &e.hash,
                    &e.signature,
                ],
            )
            .await?;
        }
        if let Some(head) = head {
            tx.execute(
                "UPDATE audit_head SET seq = $1, hash = $2, signature = $3 WHERE id = 1",
                &[&head.seq, &head.hash, &head.signature],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(entries)
    }

    async fn audit_entries(&self) -> StorageResult<Vec<AuditEntry>> {
        let c = self.client().await?;
        let found = c
            .query(
                &format!("SELECT {AUDIT_COLS} FROM audit_log ORDER BY seq"),
                &[],
            )
            .await?;
        map_all(&found, rows::audit_entry)
    }

    async fn audit_head(&self) -> StorageResult<Option<AuditHead>> {
        let c = self.client().await?;
        let row = c
            .query_one(
                &format!("SELECT {AUDIT_HEAD_COLS} FROM audit_head WHERE id = 1"),
                &[],
            )
            .await?;
        rows::audit_head(&row)
    }
}
