//! Document numbers (文号) issued offline from blocks the server reserves per device.
//!
//! The server hands each officer's device, at sync, a block of consecutive numbers per series
//! and year; the device numbers its documents from its blocks with no network, and the server
//! refuses a number the pushing device does not hold or another document took. Blocks never
//! overlap, so two phones can never print one number; numbers a device never used stay
//! visible to supervisors as gaps.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Numbers `first..=last` of `series` in `year`, reserved for one device.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct NumberBlock {
    /// The series (`罚`).
    pub series: String,
    /// The year (China Standard Time).
    pub year: i32,
    /// First number of the block.
    pub first: i64,
    /// Last number of the block (inclusive).
    pub last: i64,
}

impl NumberBlock {
    /// Whether `seq` lies in the block.
    pub fn holds(&self, series: &str, year: i32, seq: i64) -> bool {
        self.series == series && self.year == year && (self.first..=self.last).contains(&seq)
    }
}

/// How many numbers a block holds.
pub const BLOCK_SIZE: i64 = 20;

/// A device whose unused numbers of a series fall below this gets a new block at sync.
pub const REFILL_BELOW: i64 = 10;

/// The lowest number of `series` in `year` in `blocks` not in `used`.
pub fn next_free(
    blocks: &[NumberBlock],
    used: &HashSet<(String, i32, i64)>,
    series: &str,
    year: i32,
) -> Option<i64> {
    let mut held: Vec<&NumberBlock> = blocks
        .iter()
        .filter(|b| b.series == series && b.year == year)
        .collect();
    held.sort_by_key(|b| b.first);
    held.into_iter()
        .flat_map(|b| b.first..=b.last)
        .find(|n| !used.contains(&(series.to_string(), year, *n)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_the_lowest_free_number_across_blocks() {
        let blocks = vec![
            NumberBlock {
                series: "罚".into(),
                year: 2026,
                first: 41,
                last: 42,
            },
            NumberBlock {
                series: "罚".into(),
                year: 2026,
                first: 1,
                last: 2,
            },
            NumberBlock {
                series: "告".into(),
                year: 2026,
                first: 3,
                last: 4,
            },
        ];
        let mut used = HashSet::new();
        assert_eq!(next_free(&blocks, &used, "罚", 2026), Some(1));
        used.insert(("罚".to_string(), 2026, 1));
        used.insert(("罚".to_string(), 2026, 2));
        assert_eq!(next_free(&blocks, &used, "罚", 2026), Some(41));
        used.insert(("罚".to_string(), 2026, 41));
        used.insert(("罚".to_string(), 2026, 42));
        assert_eq!(next_free(&blocks, &used, "罚", 2026), None);
        assert_eq!(next_free(&blocks, &used, "罚", 2027), None);
        assert_eq!(next_free(&blocks, &used, "告", 2026), Some(3));
    }
}
