//! [`NumberStore`] on SQLite: the tables of migration 7. Reservations run on the one writer
//! connection, so two reservations of a series serialise there.

use super::*;
use crate::storage::numbers::{HeldBlock, NumberStore, TakenNumber};
use fieldcase_core::documents::number::NumberBlock;
use std::collections::BTreeMap;

#[async_trait]
impl NumberStore for SqliteStorage {
    async fn set_cert_no(&self, user_id: &str, cert_no: Option<&str>) -> Result<()> {
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

    async fn cert_nos(&self) -> Result<BTreeMap<String, String>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached("SELECT user_id, cert_no FROM officer_certs")?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<BTreeMap<String, String>>>()?;
            Ok(rows)
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
    ) -> Result<NumberBlock> {
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
                "INSERT INTO number_blocks(series, year, first, last, device_id, reserved_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![b.series, b.year, b.first, b.last, device_id, at_ms],
            )?;
            Ok(b)
        })
        .await
    }

    async fn device_blocks(&self, device_id: &str) -> Result<Vec<(NumberBlock, i64)>> {
        let device_id = device_id.to_string();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT b.series, b.year, b.first, b.last,
                    (SELECT COUNT(DISTINCT n.seq) FROM document_numbers n WHERE n.series = b.series
                     AND n.year = b.year AND n.seq BETWEEN b.first AND b.last)
                 FROM number_blocks b WHERE b.device_id = ?1 ORDER BY b.series, b.year, b.first",
            )?;
            let rows = stmt
                .query_map([&device_id], |r| {
                    Ok((
                        NumberBlock {
                            series: r.get(0)?,
                            year: r.get(1)?,
                            first: r.get(2)?,
                            last: r.get(3)?,
                        },
                        r.get(4)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn number_holder(&self, series: &str, year: i32, seq: i64) -> Result<Option<String>> {
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

    async fn number_used_by(&self, series: &str, year: i32, seq: i64) -> Result<Option<String>> {
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

    async fn all_blocks(&self) -> Result<Vec<HeldBlock>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT series, year, first, last, device_id, reserved_at_ms FROM number_blocks",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(HeldBlock {
                        block: NumberBlock {
                            series: r.get(0)?,
                            year: r.get(1)?,
                            first: r.get(2)?,
                            last: r.get(3)?,
                        },
                        device_id: r.get(4)?,
                        reserved_at_ms: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }

    async fn taken_numbers(&self) -> Result<Vec<TakenNumber>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT series, year, seq, document_id, case_id, device_id FROM document_numbers",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok(TakenNumber {
                        series: r.get(0)?,
                        year: r.get(1)?,
                        seq: r.get(2)?,
                        document_id: r.get(3)?,
                        case_id: r.get(4)?,
                        device_id: r.get(5)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(rows)
        })
        .await
    }
}
