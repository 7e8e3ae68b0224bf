//! [`AuditTrail`] on SQLite: appends run on the one writer, so they serialise there.

use super::{SqliteStorage, all, first};
use crate::audit::{AuditEntry, AuditEvent, AuditHead};
use crate::storage::audit::{AuditTrail, extend_chain};
use crate::storage::error::StorageResult;
use crate::storage::rows::{self, AUDIT_COLS, AUDIT_HEAD_COLS};
use async_trait::async_trait;
use ed25519_dalek::SigningKey;
use rusqlite::params;

#[async_trait]
impl AuditTrail for SqliteStorage {
    async fn append_audits(
        &self,
        events: Vec<AuditEvent>,
        key: &SigningKey,
    ) -> StorageResult<Vec<AuditEntry>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let key = key.clone();
        self.write(move |tx| {
            let (seq, hash): (i64, String) =
                tx.query_row("SELECT seq, hash FROM audit_head WHERE id = 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
            let (entries, head) = extend_chain(seq, hash, events, &key);
            let mut insert = tx.prepare_cached(&format!(
                "INSERT INTO audit_log({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ))?;
            for e in &entries {
                insert.execute(params![
                    e.seq,
                    e.event.at_ms,
                    e.event.actor,
                    e.event.action,
                    e.event.case_id,
                    e.event.detail,
                    e.prev_hash,
                    e.hash,
                    e.signature
                ])?;
            }
            if let Some(head) = head {
                tx.execute(
                    "UPDATE audit_head SET seq = ?1, hash = ?2, signature = ?3 WHERE id = 1",
                    params![head.seq, head.hash, head.signature],
                )?;
            }
            Ok(entries)
        })
        .await
    }

    async fn audit_entries(&self) -> StorageResult<Vec<AuditEntry>> {
        self.read(|c| {
            all(
                c,
                &format!("SELECT {AUDIT_COLS} FROM audit_log ORDER BY seq"),
                [],
                |r| rows::audit_entry(r),
            )
        })
        .await
    }

    async fn audit_head(&self) -> StorageResult<Option<AuditHead>> {
        self.read(|c| {
            let sql = format!("SELECT {AUDIT_HEAD_COLS} FROM audit_head WHERE id = 1");
            Ok(first(c, &sql, [], |r| rows::audit_head(r))?.flatten())
        })
        .await
    }
}
