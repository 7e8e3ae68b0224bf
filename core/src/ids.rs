//! Record ids and clock readings.
//!
//! Ids are UUIDv7 so that they sort by creation time, which keeps SQLite's B-trees append-mostly
//! and makes a case list ordered by id already roughly chronological.

use std::time::{SystemTime, UNIX_EPOCH};

/// A new time-ordered record id, as its canonical hyphenated string.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Checks that `id` is a canonical UUID string.
pub fn is_valid_id(id: &str) -> bool {
    uuid::Uuid::parse_str(id).is_ok() && id.len() == 36
}

/// Wall-clock time in unix milliseconds.
///
/// Only used where the user did not give a time; evidence time handling lives in `evidence`.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Fills `buf` from the operating system's random source.
pub fn random_bytes(buf: &mut [u8]) -> crate::Result<()> {
    getrandom::fill(buf).map_err(|e| crate::CoreError::Io {
        path: "getrandom".into(),
        source: std::io::Error::other(e.to_string()),
    })
}
