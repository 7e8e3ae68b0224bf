//! [`NumberStore`] on SQLite: the tables of migration 7. Reservations run on the one writer
//! connection, so two reservations of a series serialise there.

use super::{SqliteStorage, all};
use crate::storage::error::StorageResult;
use crate::storage::numbers::{
    BLOCK_COLS, HeldBlock, NumberStore, TAKEN_COLS, TakenNumber, held_block, number_block,
    taken_number,
};
use async_trait::async_trait;
use fieldcase_core::documents::number::NumberBlock;
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeMap;

#[async_trait]
impl NumberStore for SqliteStorage {
    async fn set_cert_no(&self, user_id: &str, cert_no: Option<&str>) -> StorageResult<()> {
        let (user_id, cert_no) = (user_id.to_string(), cert_no.map(str::to_string));
        self.write(move |tx| {
            match cert_no {
                Some(c) => tx.execute(
                    "INSERT INTO officer_certs(user_id, cert_no) VALUES (?1, ?2)
                     ON CONFLICT(user_id) DO UPDATE SET cert_no = excluded.cert_no",
                    params![user_id, c],
                )?,
                None => tx.execute("DELETE FROM officer_certs WHERE user_id = ?1", [&user_id])?,
            };
            Ok(())
        })
        .await
    }

    async fn cert_nos(&self) -> StorageResult<BTreeMap<String, String>> {
        self.read(|c| {
            let pairs = all(c, "SELECT user_id, cert_no FROM officer_certs", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            Ok(pairs.into_iter().collect())
        })
        .await
    }

    async fn reserve_block(
        &self,
        device_id: &str,
        series: &str,
        year: i32,
        size: i64,
        at_ms: i64,
    ) -> StorageResult<NumberBlock> {
        let (device_id, series) = (device_id.to_string(), series.to_string());
        self.write(move |tx| {
            let last: i64 = tx.query_row(
                "SELECT COALESCE(MAX(last), 0) FROM number_blocks WHERE series = ?1 AND year = ?2",
                params![series, year],
                |r| r.get(0),
            )?;
            let b = NumberBlock {
                series,
                year,
                first: last + 1,
                last: last + size.max(1),
            };
            tx.execute(
                &format!("INSERT INTO number_blocks({BLOCK_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
                params![b.series, b.year, b.first, b.last, device_id, at_ms],
            )?;
            Ok(b)
        })
        .await
    }

    async fn device_blocks(&self, device_id: &str) -> StorageResult<Vec<(NumberBlock, i64)>> {
        let device_id = device_id.to_string();
        self.read(move |c| {
            all(
                c,
                "SELECT b.series, b.year, b.first, b.last,
                    (SELECT COUNT(DISTINCT n.seq) FROM document_numbers n WHERE n.series = b.series
                     AND n.year = b.year AND n.seq BETWEEN b.first AND b.last)
                 FROM number_blocks b WHERE b.device_id = ?1 ORDER BY b.series, b.year, b.first",
                [&device_id],
                |r| Ok((number_block(r)?, r.get(4)?)),
            )
        })
        .await
    }

    async fn number_holder(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>> {
        let series = series.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT device_id FROM number_blocks WHERE series = ?1 AND year = ?2
                 AND first <= ?3 AND last >= ?3",
                params![series, year, seq],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn number_used_by(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>> {
        let series = series.to_string();
        self.read(move |c| {
            Ok(c.query_row(
                "SELECT document_id FROM document_numbers WHERE series = ?1 AND year = ?2
                 AND seq = ?3 LIMIT 1",
                params![series, year, seq],
                |r| r.get(0),
            )
            .optional()?)
        })
        .await
    }

    async fn all_blocks(&self) -> StorageResult<Vec<HeldBlock>> {
        self.read(|c| {
            let sql = format!("SELECT {BLOCK_COLS} FROM number_blocks");
            all(c, &sql, [], |r| held_block(r))
        })
        .await
    }

    async fn taken_numbers(&self) -> StorageResult<Vec<TakenNumber>> {
        self.read(|c| {
            let sql = format!("SELECT {TAKEN_COLS} FROM document_numbers");
            all(c, &sql, [], |r| taken_number(r))
        })
        .await
    }
}
