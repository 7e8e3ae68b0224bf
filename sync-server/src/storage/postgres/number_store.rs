//! [`NumberStore`] on PostgreSQL: the tables of migration 7. A reservation locks
//! `number_blocks` for writes first, so reservations from several server instances
//! serialise and never hand out overlapping blocks.

use super::*;
use crate::storage::numbers::{HeldBlock, NumberStore, TakenNumber};
use fieldcase_core::documents::number::NumberBlock;
use std::collections::BTreeMap;

fn block_of(r: &tokio_postgres::Row) -> Result<NumberBlock> {
    Ok(NumberBlock {
        series: r.try_get(0).map_err(db)?,
        year: r.try_get(1).map_err(db)?,
        first: r.try_get(2).map_err(db)?,
        last: r.try_get(3).map_err(db)?,
    })
}

#[async_trait]
impl NumberStore for PostgresStorage {
    async fn set_cert_no(&self, user_id: &str, cert_no: Option<&str>) -> Result<()> {
        let c = self.client().await?;
        match cert_no {
            Some(cert) => c
                .execute(
                    "INSERT INTO officer_certs(user_id, cert_no) VALUES ($1, $2)
                     ON CONFLICT(user_id) DO UPDATE SET cert_no = excluded.cert_no",
                    &[&user_id, &cert],
                )
                .await
                .map_err(db)?,
            None => c
                .execute("DELETE FROM officer_certs WHERE user_id = $1", &[&user_id])
                .await
                .map_err(db)?,
        };
        Ok(())
    }

    async fn cert_nos(&self) -> Result<BTreeMap<String, String>> {
        let c = self.client().await?;
        let rows = c
            .query("SELECT user_id, cert_no FROM officer_certs", &[])
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((r.try_get(0).map_err(db)?, r.try_get(1).map_err(db)?)))
            .collect()
    }

    async fn reserve_block(
        &self,
        device_id: &str,
        series: &str,
        year: i32,
        size: i64,
        at_ms: i64,
    ) -> Result<NumberBlock> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(db)?;
        tx.batch_execute("LOCK TABLE number_blocks IN SHARE ROW EXCLUSIVE MODE")
            .await
            .map_err(db)?;
        let row = tx
            .query_one(
                "SELECT COALESCE(MAX(last), 0)::BIGINT FROM number_blocks
                 WHERE series = $1 AND year = $2",
                &[&series, &year],
            )
            .await
            .map_err(db)?;
        let last: i64 = row.try_get(0).map_err(db)?;
        let b = NumberBlock {
            series: series.to_string(),
            year,
            first: last + 1,
            last: last + size.max(1),
        };
        tx.execute(
            "INSERT INTO number_blocks(series, year, first, last, device_id, reserved_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[&b.series, &b.year, &b.first, &b.last, &device_id, &at_ms],
        )
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(b)
    }

    async fn device_blocks(&self, device_id: &str) -> Result<Vec<(NumberBlock, i64)>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT b.series, b.year, b.first, b.last,
                    (SELECT COUNT(DISTINCT n.seq) FROM document_numbers n WHERE n.series = b.series
                     AND n.year = b.year AND n.seq BETWEEN b.first AND b.last)
                 FROM number_blocks b WHERE b.device_id = $1 ORDER BY b.series, b.year, b.first",
                &[&device_id],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| Ok((block_of(r)?, r.try_get(4).map_err(db)?)))
            .collect()
    }

    async fn number_holder(&self, series: &str, year: i32, seq: i64) -> Result<Option<String>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT device_id FROM number_blocks WHERE series = $1 AND year = $2
                 AND first <= $3 AND last >= $3",
                &[&series, &year, &seq],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(db)).transpose()
    }

    async fn number_used_by(&self, series: &str, year: i32, seq: i64) -> Result<Option<String>> {
        let c = self.client().await?;
        let row = c
            .query_opt(
                "SELECT document_id FROM document_numbers WHERE series = $1 AND year = $2
                 AND seq = $3 LIMIT 1",
                &[&series, &year, &seq],
            )
            .await
            .map_err(db)?;
        row.map(|r| r.try_get(0).map_err(db)).transpose()
    }

    async fn all_blocks(&self) -> Result<Vec<HeldBlock>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT series, year, first, last, device_id, reserved_at_ms FROM number_blocks",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(HeldBlock {
                    block: block_of(r)?,
                    device_id: r.try_get(4).map_err(db)?,
                    reserved_at_ms: r.try_get(5).map_err(db)?,
                })
            })
            .collect()
    }

    async fn taken_numbers(&self) -> Result<Vec<TakenNumber>> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT series, year, seq, document_id, case_id, device_id FROM document_numbers",
                &[],
            )
            .await
            .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(TakenNumber {
                    series: r.try_get(0).map_err(db)?,
                    year: r.try_get(1).map_err(db)?,
                    seq: r.try_get(2).map_err(db)?,
                    document_id: r.try_get(3).map_err(db)?,
                    case_id: r.try_get(4).map_err(db)?,
                    device_id: r.try_get(5).map_err(db)?,
                })
            })
            .collect()
    }
}
