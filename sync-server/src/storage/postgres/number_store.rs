//! [`NumberStore`] on PostgreSQL: the tables of migration 7. A reservation locks
//! `number_blocks` for writes first, so reservations from several server instances
//! serialise and never hand out overlapping blocks.

use super::{PostgresStorage, col0, map_all};
use crate::storage::error::StorageResult;
use crate::storage::numbers::{
    BLOCK_COLS, HeldBlock, NumberStore, TAKEN_COLS, TakenNumber, held_block, number_block,
    taken_number,
};
use async_trait::async_trait;
use fieldcase_core::documents::number::NumberBlock;
use std::collections::BTreeMap;

#[async_trait]
impl NumberStore for PostgresStorage {
    async fn set_cert_no(&self, user_id: &str, cert_no: Option<&str>) -> StorageResult<()> {
        let c = self.client().await?;
        match cert_no {
            Some(cert) => {
                c.execute(
                    "INSERT INTO officer_certs(user_id, cert_no) VALUES ($1, $2)
                     ON CONFLICT(user_id) DO UPDATE SET cert_no = excluded.cert_no",
                    &[&user_id, &cert],
                )
                .await?
            }
            None => {
                c.execute("DELETE FROM officer_certs WHERE user_id = $1", &[&user_id])
                    .await?
            }
        };
        Ok(())
    }

    async fn cert_nos(&self) -> StorageResult<BTreeMap<String, String>> {
        let c = self.client().await?;
        let found = c
            .query("SELECT user_id, cert_no FROM officer_certs", &[])
            .await?;
        Ok(map_all(&found, |r| Ok((r.try_get(0)?, r.try_get(1)?)))?
            .into_iter()
            .collect())
    }

    async fn reserve_block(
        &self,
        device_id: &str,
        series: &str,
        year: i32,
        size: i64,
        at_ms: i64,
    ) -> StorageResult<NumberBlock> {
        let mut c = self.client().await?;
        let tx = c.transaction().await?;
        tx.batch_execute("LOCK TABLE number_blocks IN SHARE ROW EXCLUSIVE MODE")
            .await?;
        let last: i64 = col0(
            tx.query_one(
                "SELECT COALESCE(MAX(last), 0)::BIGINT FROM number_blocks
                 WHERE series = $1 AND year = $2",
                &[&series, &year],
            )
            .await?,
        )?;
        let b = NumberBlock {
            series: series.to_string(),
            year,
            first: last + 1,
            last: last + size.max(1),
        };
        tx.execute(
            &format!("INSERT INTO number_blocks({BLOCK_COLS}) VALUES ($1, $2, $3, $4, $5, $6)"),
            &[&b.series, &b.year, &b.first, &b.last, &device_id, &at_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(b)
    }

    async fn device_blocks(&self, device_id: &str) -> StorageResult<Vec<(NumberBlock, i64)>> {
        let c = self.client().await?;
        let found = c
            .query(
                "SELECT b.series, b.year, b.first, b.last,
                    (SELECT COUNT(DISTINCT n.seq) FROM document_numbers n WHERE n.series = b.series
                     AND n.year = b.year AND n.seq BETWEEN b.first AND b.last)
                 FROM number_blocks b WHERE b.device_id = $1 ORDER BY b.series, b.year, b.first",
                &[&device_id],
            )
            .await?;
        map_all(&found, |r| Ok((number_block(r)?, r.try_get(4)?)))
    }

    async fn number_holder(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT device_id FROM number_blocks WHERE series = $1 AND year = $2
                 AND first <= $3 AND last >= $3",
                &[&series, &year, &seq],
            )
            .await?;
        row.map(col0).transpose()
    }

    async fn number_used_by(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT document_id FROM document_numbers WHERE series = $1 AND year = $2
                 AND seq = $3 LIMIT 1",
                &[&series, &year, &seq],
            )
            .await?;
        row.map(col0).transpose()
    }

    async fn all_blocks(&self) -> StorageResult<Vec<HeldBlock>> {
        let c = self.client().await?;
        let found = c
            .query(&format!("SELECT {BLOCK_COLS} FROM number_blocks"), &[])
            .await?;
        map_all(&found, held_block)
    }

    async fn taken_numbers(&self) -> StorageResult<Vec<TakenNumber>> {
        let c = self.client().await?;
        let found = c
            .query(&format!("SELECT {TAKEN_COLS} FROM document_numbers"), &[])
            .await?;
        map_all(&found, taken_number)
    }
}
