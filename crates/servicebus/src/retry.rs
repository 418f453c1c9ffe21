//! Bounded retries for the client's own HTTP calls: a transport failure (connection refused,
//! timeout) or a throttling / server status (408, 429, 500, 502, 503, 504) is retried after an
//! exponential, jittered pause; anything else is final at once.
//!
//! This is the part of `azure_core`'s pipeline retry policy the client needs, kept next to
//! `reqwest` so a loopback stand-in over plain `http://` works the same way (see the README,
//! "Service Bus REST client").

use std::time::Duration;

/// How the client retries its own calls to the namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Total tries per call, the first included (at least 1).
    pub max_tries: u32,
    /// Pause before the second try; it doubles for each further try.
    pub initial_delay: Duration,
    /// Upper bound of one pause.
    pub max_delay: Duration,
    /// Timeout of one try (connect, send and read the answer).
    pub try_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_tries: 3,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            try_timeout: Duration::from_secs(10),
        }
    }
}

impl RetryOptions {
    /// The pause after failed try number `try_number` (1-based): half fixed, half random, so
    /// clients that failed together do not retry together.
    pub fn delay_after(&self, try_number: u32) -> Duration {
        let exp = try_number.saturating_sub(1).min(20);
        let full = self
            .initial_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay);
        let half = full / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(pseudo_random(jitter_ms))
    }
}

/// Whether an HTTP status is worth another try.
pub fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// A number in `0..=max` from the clock's nanoseconds: enough to spread retries, not crypto.
fn pseudo_random(max: u64) -> u64 {
    if max == 0 {
        return 0;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    nanos.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (max + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_and_stay_within_bounds() {
        let o = RetryOptions::default();
        for n in 1..10 {
            let d = o.delay_after(n);
            let full = (o.initial_delay * 2u32.pow(n - 1)).min(o.max_delay);
            assert!(d >= full / 2 && d <= full, "{n}: {d:?}");
        }
    }

    #[test]
    fn only_transient_statuses_retry() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(s));
        }
        for s in [200, 201, 204, 400, 401, 403, 404, 410] {
            assert!(!retryable_status(s));
        }
    }
}
