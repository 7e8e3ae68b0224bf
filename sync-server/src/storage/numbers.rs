//! Document numbers (文号) on the server: the blocks reserved per device, the numbers
//! documents took, officers' certificate numbers, and the ledger supervisors read to see
//! gaps and duplicates. Blocks of one series and year never overlap (each backend reserves
//! under a lock), so two phones can never be handed one number.

use super::error::StorageResult;
use super::rows::Cells;
use async_trait::async_trait;
use fieldcase_core::documents::number::NumberBlock;
use std::collections::{BTreeMap, BTreeSet};

/// A number a document took, recorded with the document's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsedNumber {
    /// Series.
    pub series: String,
    /// Year.
    pub year: i32,
    /// Sequence number.
    pub seq: i64,
    /// The document entry's id.
    pub document_id: String,
    /// The device that issued it.
    pub device_id: String,
}

/// A reserved block and whom it was reserved for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldBlock {
    /// The block.
    pub block: NumberBlock,
    /// The device.
    pub device_id: String,
    /// When reserved (server clock).
    pub reserved_at_ms: i64,
}

/// A number taken, as the ledger lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenNumber {
    /// Series.
    pub series: String,
    /// Year.
    pub year: i32,
    /// Sequence number.
    pub seq: i64,
    /// Document entry id.
    pub document_id: String,
    /// Case id.
    pub case_id: String,
    /// Issuing device.
    pub device_id: String,
}

/// Storage of numbers and certificates.
#[async_trait]
pub trait NumberStore: Send + Sync {
    /// Sets (or with `None` clears) an officer's certificate number.
    async fn set_cert_no(&self, user_id: &str, cert_no: Option<&str>) -> StorageResult<()>;
    /// Every certificate number, by user id.
    async fn cert_nos(&self) -> StorageResult<BTreeMap<String, String>>;
    /// Reserves the next `size` numbers of `series` in `year` for `device_id`.
    async fn reserve_block(
        &self,
        device_id: &str,
        series: &str,
        year: i32,
        size: i64,
        at_ms: i64,
    ) -> StorageResult<NumberBlock>;
    /// The blocks reserved for a device, with how many of each were taken.
    async fn device_blocks(&self, device_id: &str) -> StorageResult<Vec<(NumberBlock, i64)>>;
    /// The device holding number `seq` of `series` in `year`, if any block holds it.
    async fn number_holder(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>>;
    /// A document that took the number, if any.
    async fn number_used_by(
        &self,
        series: &str,
        year: i32,
        seq: i64,
    ) -> StorageResult<Option<String>>;
    /// Every block (for the ledger).
    async fn all_blocks(&self) -> StorageResult<Vec<HeldBlock>>;
    /// Every number taken (for the ledger).
    async fn taken_numbers(&self) -> StorageResult<Vec<TakenNumber>>;
}

/// Columns of [`held_block`], from `number_blocks`.
pub(crate) const BLOCK_COLS: &str = "series, year, first, last, device_id, reserved_at_ms";
/// Columns of [`taken_number`], from `document_numbers`.
pub(crate) const TAKEN_COLS: &str = "series, year, seq, document_id, case_id, device_id";

/// Series, year, first and last from column 0.
pub(crate) fn number_block(r: &impl Cells) -> StorageResult<NumberBlock> {
    Ok(NumberBlock {
        series: r.text(0)?,
        year: r.int32(1)?,
        first: r.int(2)?,
        last: r.int(3)?,
    })
}

/// [`BLOCK_COLS`].
pub(crate) fn held_block(r: &impl Cells) -> StorageResult<HeldBlock> {
    Ok(HeldBlock {
        block: number_block(r)?,
        device_id: r.text(4)?,
        reserved_at_ms: r.int(5)?,
    })
}

/// [`TAKEN_COLS`].
pub(crate) fn taken_number(r: &impl Cells) -> StorageResult<TakenNumber> {
    Ok(TakenNumber {
        series: r.text(0)?,
        year: r.int32(1)?,
        seq: r.int(2)?,
        document_id: r.text(3)?,
        case_id: r.text(4)?,
        device_id: r.text(5)?,
    })
}

/// One series and year of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SeriesLedger {
    /// Series.
    pub series: String,
    /// Year.
    pub year: i32,
    /// Numbers reserved.
    pub reserved: i64,
    /// Numbers taken by documents.
    pub taken: i64,
    /// Numbers still held by devices in their newest block (not gaps yet).
    pub held: i64,
    /// Numbers skipped for good: reserved in a block its device moved past (or of a past
    /// year, or of a revoked device) and never taken.
    pub gaps: Vec<i64>,
    /// Numbers two documents took.
    pub duplicates: Vec<i64>,
    /// Numbers taken that no block of the issuing device holds.
    pub unreserved: Vec<i64>,
}

/// The ledger: per series and year, what was reserved, taken, skipped or doubled.
/// `closed_device` says whether a device can no longer take numbers (revoked).
pub fn ledger(
    blocks: &[HeldBlock],
    taken: &[TakenNumber],
    current_year: i32,
    closed_device: &dyn Fn(&str) -> bool,
) -> Vec<SeriesLedger> {
    let mut keys: BTreeSet<(String, i32)> = BTreeSet::new();
    keys.extend(
        blocks
            .iter()
            .map(|b| (b.block.series.clone(), b.block.year)),
    );
    keys.extend(taken.iter().map(|t| (t.series.clone(), t.year)));
    let mut out = Vec::new();
    for (series, year) in keys {
        let bs: Vec<&HeldBlock> = blocks
            .iter()
            .filter(|b| b.block.series == series && b.block.year == year)
            .collect();
        let mut docs_by_seq: BTreeMap<i64, BTreeSet<&str>> = BTreeMap::new();
        for t in taken
            .iter()
            .filter(|t| t.series == series && t.year == year)
        {
            docs_by_seq.entry(t.seq).or_default().insert(&t.document_id);
        }
        let mut l = SeriesLedger {
            series: series.clone(),
            year,
            reserved: 0,
            taken: docs_by_seq.len() as i64,
            held: 0,
            gaps: vec![],
            duplicates: docs_by_seq
                .iter()
                .filter(|(_, d)| d.len() > 1)
                .map(|(s, _)| *s)
                .collect(),
            unreserved: vec![],
        };
        for b in &bs {
            l.reserved += b.block.last - b.block.first + 1;
            let newest = bs
                .iter()
                .filter(|o| o.device_id == b.device_id)
                .all(|o| o.block.first <= b.block.first);
            let open = newest && year >= current_year && !closed_device(&b.device_id);
            for n in b.block.first..=b.block.last {
                if docs_by_seq.contains_key(&n) {
                    continue;
                }
                if open {
                    l.held += 1;
                } else {
                    l.gaps.push(n);
                }
            }
        }
        for t in taken
            .iter()
            .filter(|t| t.series == series && t.year == year)
        {
            let held = bs
                .iter()
                .any(|b| b.device_id == t.device_id && b.block.holds(&series, year, t.seq));
            if !held && !l.unreserved.contains(&t.seq) {
                l.unreserved.push(t.seq);
            }
        }
        l.gaps.sort_unstable();
        out.push(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(series: &str, first: i64, last: i64, dev: &str) -> HeldBlock {
        HeldBlock {
            block: NumberBlock {
                series: series.into(),
                year: 2026,
                first,
                last,
            },
            device_id: dev.into(),
            reserved_at_ms: 0,
        }
    }

    fn took(seq: i64, doc: &str, dev: &str) -> TakenNumber {
        TakenNumber {
            series: "罚".into(),
            year: 2026,
            seq,
            document_id: doc.into(),
            case_id: "c".into(),
            device_id: dev.into(),
        }
    }

    #[test]
    fn gaps_are_numbers_a_device_moved_past() {
        let blocks = vec![
            block("罚", 1, 3, "a"),
            block("罚", 4, 6, "b"),
            block("罚", 7, 9, "a"),
        ];
        let taken = vec![took(1, "d1", "a"), took(7, "d2", "a"), took(4, "d3", "b")];
        let l = ledger(&blocks, &taken, 2026, &|_| false);
        assert_eq!(l.len(), 1);
        let l = &l[0];
        assert_eq!(l.reserved, 9);
        assert_eq!(l.taken, 3);
        // a's first block is closed: 2 and 3 are gaps; a's 8, 9 and b's 5, 6 are held.
        assert_eq!(l.gaps, vec![2, 3]);
        assert_eq!(l.held, 4);
        assert!(l.duplicates.is_empty() && l.unreserved.is_empty());
        // A revoked device's open block turns into gaps; a past year too.
        let l = ledger(&blocks, &taken, 2026, &|d| d == "b");
        assert_eq!(l[0].gaps, vec![2, 3, 5, 6]);
        let l = ledger(&blocks, &taken, 2027, &|_| false);
        assert_eq!(l[0].gaps, vec![2, 3, 5, 6, 8, 9]);
    }

    #[test]
    fn duplicates_and_unreserved_numbers_are_reported() {
        let blocks = vec![block("罚", 1, 3, "a")];
        let taken = vec![took(1, "d1", "a"), took(1, "d2", "a"), took(2, "d3", "x")];
        let l = &ledger(&blocks, &taken, 2026, &|_| false)[0];
        assert_eq!(l.duplicates, vec![1]);
        assert_eq!(l.unreserved, vec![2]);
    }
}
