//! The retry policy of every request a sync sends, as decisions without I/O: which failures
//! are retried, how long to wait first, and when to give up.
//!
//! Every request of the protocol is idempotent, so resending the same bytes is always safe.
//! Transport failures and `5xx` replies wait a jittered exponential backoff; a `429` waits
//! what its `Retry-After` asks (capped); no wait follows the last attempt. A certificate
//! pin mismatch is never retried: the same key comes back every time.

use crate::CoreError;
use std::time::Duration;

/// First retry delay; each further retry doubles it, up to [`BACKOFF_MAX_MS`].
pub const BACKOFF_BASE_MS: u64 = 400;
/// Longest retry delay before jitter.
pub const BACKOFF_MAX_MS: u64 = 8_000;
/// Longest wait a `429` reply's `Retry-After` is honoured for.
pub const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);
/// Wait after a `429` without a usable `Retry-After`.
pub const RETRY_AFTER_DEFAULT: Duration = Duration::from_secs(1);

/// The delay before retry `attempt` (1-based): a random 50-100% of
/// `min(BACKOFF_BASE_MS * 2^(attempt-1), BACKOFF_MAX_MS)`, so phones that lost the network
/// together do not come back in step.
pub fn backoff(attempt: u32) -> Duration {
    let exp = BACKOFF_BASE_MS
        .saturating_mul(1u64 << attempt.saturating_sub(1).min(16))
        .min(BACKOFF_MAX_MS);
    let mut r = [0u8; 2];
    // Without randomness, the full delay: still bounded, just not spread.
    let frac = match getrandom::fill(&mut r) {
        Ok(()) => u64::from(u16::from_le_bytes(r)),
        Err(_) => u64::from(u16::MAX),
    };
    let half = exp / 2;
    Duration::from_millis(half + half * frac / u64::from(u16::MAX))
}

/// The wait a `429` reply asks for: `Retry-After` in seconds (an HTTP date is not used),
/// [`RETRY_AFTER_DEFAULT`] when missing or not a number, capped at [`RETRY_AFTER_MAX`].
pub fn retry_after(header: Option<&str>) -> Duration {
    header
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(RETRY_AFTER_DEFAULT, Duration::from_secs)
        .min(RETRY_AFTER_MAX)
}

/// What to do after a failed attempt.
#[derive(Debug)]
pub enum Retry {
    /// Wait this long, then send the same request again.
    After(Duration),
    /// Give up with this error.
    GiveUp(CoreError),
}

/// A failed attempt, as the policy sees it.
#[derive(Debug)]
pub enum Failure {
    /// No reply (connect, reset, timeout); a pin mismatch among them is final.
    Transport(CoreError),
    /// A `5xx` reply, as the error it maps to.
    ServerError(CoreError),
    /// A `429` reply with its `Retry-After`, as the error it maps to.
    Throttled(CoreError, Option<String>),
}

/// The attempts of one request.
#[derive(Debug, Clone)]
pub struct Attempts {
    max: u32,
    made: u32,
}

impl Attempts {
    /// A request allowed `max` attempts (at least 1).
    pub fn new(max: u32) -> Self {
        Attempts {
            max: max.max(1),
            made: 0,
        }
    }

    /// Attempts that failed so far.
    pub fn failed(&self) -> u32 {
        self.made
    }

    /// Decides after a failed attempt.
    pub fn on_failure(&mut self, f: Failure) -> Retry {
        self.made += 1;
        let (err, wait) = match f {
            Failure::Transport(e @ CoreError::CertificatePinMismatch) => return Retry::GiveUp(e),
            Failure::Transport(e) | Failure::ServerError(e) => (e, None),
            Failure::Throttled(e, asked) => {
                tracing::info!("server asked to slow down");
                (e, Some(retry_after(asked.as_deref())))
            }
        };
        if self.made >= self.max {
            return Retry::GiveUp(err);
        }
        Retry::After(wait.unwrap_or_else(|| backoff(self.made)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_is_jittered_and_bounded() {
        for attempt in 1..40 {
            let exp = (BACKOFF_BASE_MS << (attempt - 1).min(16)).min(BACKOFF_MAX_MS);
            let d = backoff(attempt).as_millis() as u64;
            assert!(
                d >= exp / 2 && d <= exp,
                "attempt {attempt}: {d} ms of {exp}"
            );
        }
        let spread: std::collections::HashSet<u128> =
            (0..50).map(|_| backoff(3).as_millis()).collect();
        assert!(spread.len() > 1, "no jitter");
    }

    #[test]
    fn retry_after_is_read_defaulted_and_capped() {
        assert_eq!(retry_after(Some("3")), Duration::from_secs(3));
        assert_eq!(retry_after(Some(" 2 ")), Duration::from_secs(2));
        assert_eq!(retry_after(None), RETRY_AFTER_DEFAULT);
        assert_eq!(
            retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            RETRY_AFTER_DEFAULT
        );
        assert_eq!(retry_after(Some("86400")), RETRY_AFTER_MAX);
    }

    fn net() -> CoreError {
        CoreError::Network {
            reason: "reset".into(),
        }
    }

    #[test]
    fn attempts_run_out_without_a_last_wait() {
        let mut a = Attempts::new(3);
        assert!(matches!(
            a.on_failure(Failure::Transport(net())),
            Retry::After(_)
        ));
        let throttled = CoreError::Server {
            status: 429,
            code: "rate_limited".into(),
            message: String::new(),
        };
        match a.on_failure(Failure::Throttled(throttled, Some("2".into()))) {
            Retry::After(d) => assert_eq!(d, Duration::from_secs(2)),
            other => panic!("{other:?}"),
        }
        let last = CoreError::Server {
            status: 429,
            code: "rate_limited".into(),
            message: String::new(),
        };
        match a.on_failure(Failure::Throttled(last, Some("2".into()))) {
            Retry::GiveUp(CoreError::Server { status: 429, .. }) => {}
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pin_mismatch_is_never_retried() {
        let mut a = Attempts::new(4);
        assert!(matches!(
            a.on_failure(Failure::Transport(CoreError::CertificatePinMismatch)),
            Retry::GiveUp(CoreError::CertificatePinMismatch)
        ));
    }
}
