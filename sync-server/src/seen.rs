//! When each device was last seen, written to storage at most once a minute per device.
//!
//! Every sync request used to update `devices.last_seen_ms`: one write transaction, and on
//! SQLite one fsync, per request, for a value only the stale-device report reads (in days).
//! Each instance now remembers when it last wrote a device's time and skips the write within
//! [`TOUCH_EVERY_MS`]; with several instances each writes at most once a minute per device.

use std::collections::HashMap;
use std::sync::Mutex;

/// How stale a stored `last_seen_ms` may be.
pub const TOUCH_EVERY_MS: i64 = 60_000;

/// Devices' last written times on this instance.
#[derive(Debug, Default)]
pub struct LastSeen(Mutex<HashMap<String, i64>>);

impl LastSeen {
    /// Whether `device` should be written as seen at `now_ms`; when it should, its time is
    /// noted as written (a failed write is retried by the next request a minute later at
    /// worst).
    pub fn due(&self, device: &str, now_ms: i64) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(device) {
            Some(&t) if now_ms.saturating_sub(t) < TOUCH_EVERY_MS && now_ms >= t => false,
            _ => {
                map.insert(device.to_string(), now_ms);
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_written_once_a_minute() {
        let seen = LastSeen::default();
        assert!(seen.due("d1", 1_000));
        assert!(!seen.due("d1", 1_000 + TOUCH_EVERY_MS - 1));
        assert!(seen.due("d2", 1_001), "each device on its own");
        assert!(seen.due("d1", 1_000 + TOUCH_EVERY_MS));
        // A clock that went back is written, not trusted to be in the past.
        assert!(seen.due("d1", 10));
    }
}
