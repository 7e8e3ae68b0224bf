//! [`Settings`] on SQLite.

use super::SqliteStorage;
use crate::storage::Settings;
use crate::storage::error::StorageResult;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, TransactionBehavior, params};

#[async_trait]
impl Settings for SqliteStorage {
    async fn setting(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        let key = key.to_string();
        self.read(move |c| {
            Ok(
                c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })
                .optional()?,
            )
        })
        .await
    }

    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> StorageResult<Vec<u8>> {
        let key = key.to_string();
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO settings(key, value) VALUES (?1, ?2) ON CONFLICT(key) DO NOTHING",
                params![key, value],
            )?;
            Ok(
                tx.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| {
                    r.get(0)
                })?,
            )
        })
        .await
    }

    async fn delete_setting(&self, key: &str) -> StorageResult<bool> {
        let key = key.to_string();
        self.with_writer(move |conn| {
            let exists: bool = conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM settings WHERE key = ?1)",
                [&key],
                |r| r.get(0),
            )?;
            if !exists {
                return Ok(false);
            }
            // Zero the freed cell in the page, then fold the WAL (which holds older images
            // of the page) into the file and cut it to nothing.
            conn.pragma_update(None, "secure_delete", true)?;
            let deleted = (|| -> StorageResult<()> {
                let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
                tx.execute("DELETE FROM settings WHERE key = ?1", [&key])?;
                tx.commit()?;
                Ok(())
            })();
            conn.pragma_update(None, "secure_delete", false)?;
            deleted?;
            let (busy, _, _): (i64, i64, i64) =
                conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?;
            if busy != 0 {
                tracing::warn!("WAL checkpoint after deleting a setting was blocked by a reader");
            }
            Ok(true)
        })
        .await
    }
}
