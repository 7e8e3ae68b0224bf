//! Per-key request budgets (token buckets): per device for authenticated routes, per client
//! address for enrolment, so one misbehaving phone cannot starve the fleet and enrolment
//! codes cannot be guessed at speed.
//!
//! In memory and per server process: with several instances behind a balancer each enforces
//! its own budget, which bounds a device at N times the rate; that is enough to stop a
//! runaway client, which is the point.

use crate::error::{Result, ServerError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Entries beyond this are pruned (full buckets first), so keys cannot grow memory.
const MAX_KEYS: usize = 100_000;

/// A budget: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Bucket size.
    pub burst: f64,
    /// Tokens added per second.
    pub per_second: f64,
}

impl Budget {
    /// Per device: bursts of 240 requests (a large first sync), 40 per second sustained.
    pub const DEVICE: Budget = Budget {
        burst: 240.0,
        per_second: 40.0,
    };
    /// Per client address on public pages (disclosure) and dashboard login links: bursts of
    /// 60, then 2 per second.
    pub const PUBLIC: Budget = Budget {
        burst: 60.0,
        per_second: 2.0,
    };
    /// Per client address on enrolment: 10 attempts, then one every 6 seconds.
    pub const ENROL: Budget = Budget {
        burst: 10.0,
        per_second: 1.0 / 6.0,
    };
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// The client's address as the connection saw it (`unknown` when served without connection
/// info, as in router tests). Behind a reverse proxy this is the proxy.
pub fn client_ip(ext: &axum::http::Extensions) -> String {
    ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Token buckets by key.
#[derive(Debug)]
pub struct RateLimiter {
    budget: Budget,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    /// A limiter with one budget for every key.
    pub fn new(budget: Budget) -> Self {
        RateLimiter {
            budget,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key`, or fails with `RateLimited` and the seconds until one is
    /// available.
    pub fn check(&self, key: &str) -> Result<()> {
        self.check_at(key, Instant::now())
    }

    fn check_at(&self, key: &str, now: Instant) -> Result<()> {
        let b = self.budget;
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_KEYS && !map.contains_key(key) {
            map.retain(|_, v| {
                let refilled = v.tokens + now.duration_since(v.at).as_secs_f64() * b.per_second;
                refilled < b.burst
            });
        }
        let bucket = map.entry(key.to_string()).or_insert(Bucket {
            tokens: b.burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * b.per_second).min(b.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = if b.per_second > 0.0 {
                ((1.0 - bucket.tokens) / b.per_second).ceil()
            } else {
                3600.0
            };
            Err(ServerError::RateLimited {
                retry_after_s: wait.clamp(1.0, 3600.0) as u64,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_burst_is_allowed_then_refused_then_refilled() {
        let rl = RateLimiter::new(Budget {
            burst: 3.0,
            per_second: 1.0,
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(rl.check_at("a", t0).is_ok());
        }
        match rl.check_at("a", t0) {
            Err(ServerError::RateLimited { retry_after_s }) => assert_eq!(retry_after_s, 1),
            other => panic!("expected RateLimited, got {other:?}"),
        }
        // Another key has its own budget.
        assert!(rl.check_at("b", t0).is_ok());
        // One second later one token is back, not more.
        let t1 = t0 + Duration::from_secs(1);
        assert!(rl.check_at("a", t1).is_ok());
        assert!(rl.check_at("a", t1).is_err());
    }
}
