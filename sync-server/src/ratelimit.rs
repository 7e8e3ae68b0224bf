//! Per-key request budgets (token buckets): per device for authenticated routes, per client
//! address for enrolment, public pages and requests with a bad bearer credential, so one
//! misbehaving phone cannot starve the fleet and codes or credentials cannot be guessed at
//! speed. The client address is the TCP peer, or what a configured trusted proxy forwards
//! ([`client_addr`]).
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
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
    /// Requests with an unknown or malformed bearer credential, per client address.
    pub const BAD_CREDENTIAL: Budget = Budget {
        burst: 30.0,
        per_second: 0.5,
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

/// Proxies whose `X-Forwarded-For` is believed: addresses or CIDR ranges (`10.0.0.0/8`,
/// `::1`). Empty by default: the TCP peer is the client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(std::net::IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `ADDR` or `ADDR/PREFIX` entries.
    pub fn parse(entries: &[String]) -> Result<Self> {
        let mut out = Vec::new();
        for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let bad =
                || ServerError::Config(format!("trusted proxy {e:?} is not ADDR or ADDR/PREFIX"));
            let (addr, prefix) = match e.split_once('/') {
                Some((a, p)) => (a, Some(p.parse::<u8>().map_err(|_| bad())?)),
                None => (e, None),
            };
            let ip: std::net::IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(max);
            if prefix > max {
                return Err(bad());
            }
            out.push((ip, prefix));
        }
        Ok(TrustedProxies(out))
    }

    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map_or(std::net::IpAddr::V6(v6), std::net::IpAddr::V4),
            v4 => v4,
        };
        self.0.iter().any(|(net, prefix)| match (net, ip) {
            (std::net::IpAddr::V4(n), std::net::IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(*prefix)).unwrap_or(0);
                u32::from(*n) & mask == u32::from(a) & mask
            }
            (std::net::IpAddr::V6(n), std::net::IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(*prefix)).unwrap_or(0);
                u128::from(*n) & mask == u128::from(a) & mask
            }
            _ => false,
        })
    }
}

/// The client's address: the TCP peer, or, when the peer is a trusted proxy, the right-most
/// address of `X-Forwarded-For` that is not itself a trusted proxy (what a client prepends
/// to the header cannot choose its budget). "unknown" without connection info.
pub fn client_addr(
    ext: &axum::http::Extensions,
    headers: &axum::http::HeaderMap,
    trusted: &TrustedProxies,
) -> String {
    let Some(peer) = ext
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip())
    else {
        return "unknown".into();
    };
    if !trusted.contains(peer) {
        return peer.to_string();
    }
    let mut client = peer;
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in hops.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) if trusted.contains(ip) => client = ip,
            Ok(ip) => return ip.to_string(),
            // Garbage the proxy passed on: stop at the last address known good.
            Err(_) => break,
        }
    }
    client.to_string()
}

/// The client address as an extractor (see [`client_addr`]).
#[derive(Debug, Clone)]
pub struct ClientAddr(pub String);

impl axum::extract::FromRequestParts<crate::AppState> for ClientAddr {
    type Rejection = ServerError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self> {
        Ok(ClientAddr(client_addr(
            &parts.extensions,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
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
    /// Refuses (as [`RateLimiter::check`] would) when `key` has no token left, without
    /// taking one.
    pub fn refuse_if_exhausted(&self, key: &str) -> Result<()> {
        let b = self.budget;
        let now = Instant::now();
        let map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        match map.get(key) {
            Some(bucket) => {
                let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
                let tokens = (bucket.tokens + elapsed * b.per_second).min(b.burst);
                if tokens >= 1.0 {
                    Ok(())
                } else {
                    let wait = if b.per_second > 0.0 {
                        ((1.0 - tokens) / b.per_second).ceil()
                    } else {
                        3600.0
                    };
                    Err(ServerError::RateLimited {
                        retry_after_s: wait.clamp(1.0, 3600.0) as u64,
                    })
                }
            }
            None => Ok(()),
        }
    }

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
    fn trusted_proxies_and_forwarded_addresses() -> Result<()> {
        let t = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into(), " ".into()])?;
        assert!(
            t.contains(
                "10.1.2.3"
                    .parse()
                    .map_err(|_| ServerError::Task("ip".into()))?
            )
        );
        assert!(
            !t.contains(
                "11.0.0.1"
                    .parse()
                    .map_err(|_| ServerError::Task("ip".into()))?
            )
        );
        assert!(t.contains("::1".parse().map_err(|_| ServerError::Task("ip".into()))?));
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example".into()]).is_err());
        let mut ext = axum::http::Extensions::new();
        let peer: std::net::SocketAddr = ([10, 0, 0, 5], 4000).into();
        ext.insert(axum::extract::ConnectInfo(peer));
        let xff = |v: &str| {
            let mut h = axum::http::HeaderMap::new();
            if let Ok(v) = v.parse() {
                h.insert("x-forwarded-for", v);
            }
            h
        };
        let none = TrustedProxies::default();
        assert_eq!(client_addr(&ext, &xff("203.0.113.9"), &none), "10.0.0.5");
        assert_eq!(client_addr(&ext, &xff("203.0.113.9"), &t), "203.0.113.9");
        assert_eq!(
            client_addr(&ext, &xff("1.2.3.4, 203.0.113.9, 10.0.0.7"), &t),
            "203.0.113.9",
            "the right-most untrusted hop, not what the client prepended"
        );
        assert_eq!(client_addr(&ext, &xff("junk"), &t), "10.0.0.5");
        assert_eq!(
            client_addr(&ext, &axum::http::HeaderMap::new(), &t),
            "10.0.0.5"
        );
        Ok(())
    }

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
