//! [`Settings`] on PostgreSQL.

use super::{PostgresStorage, col0};
use crate::storage::Settings;
use crate::storage::error::StorageResult;
use async_trait::async_trait;

#[async_trait]
impl Settings for PostgresStorage {
    async fn setting(&self, key: &str) -> StorageResult<Option<Vec<u8>>> {
        let c = self.client().await?;
        let row = c
            .query_opt("SELECT value FROM settings WHERE key = $1", &[&key])
            .await?;
        row.map(col0).transpose()
    }

    async fn setting_or_insert(&self, key: &str, value: Vec<u8>) -> StorageResult<Vec<u8>> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO settings(key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
            &[&key, &value],
        )
        .await?;
        col0(
            c.query_one("SELECT value FROM settings WHERE key = $1", &[&key])
                .await?,
        )
    }

    async fn delete_setting(&self, key: &str) -> StorageResult<bool> {
        let c = self.client().await?;
        let n = c
            .execute("DELETE FROM settings WHERE key = $1", &[&key])
            .await?;
        if n > 0 {
            // Dead tuples keep their bytes until the page is rewritten: rewrite the table.
            c.batch_execute("VACUUM FULL settings").await?;
        }
        Ok(n > 0)
    }
}
