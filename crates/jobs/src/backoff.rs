use std::time::Duration;

use thiserror::Error;

/// The retry schedule of a job whose processing failed transiently: exponential backoff with
/// full jitter. After failed attempt `n` (1-based) the next attempt waits a uniformly drawn delay
/// in `[0, min(cap, base * 2^(n-1))]`; after attempt `max_attempts` there is no next attempt.
///
/// Pure: the caller supplies the random draw, so the schedule is testable without a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_attempts: u32,
}

/// Inconsistent backoff settings.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BackoffError {
    /// The base delay is zero.
    #[error("the base delay must be positive")]
    ZeroBase,
    /// The cap is below the base.
    #[error("the cap ({cap:?}) must not be below the base delay ({base:?})")]
    CapBelowBase {
        /// Base delay.
        base: Duration,
        /// Cap.
        cap: Duration,
    },
    /// Fewer than one attempt.
    #[error("at least one attempt is needed")]
    NoAttempts,
}

impl Backoff {
    /// A schedule with this base delay, cap and number of attempts (the first included).
    pub fn new(base: Duration, cap: Duration, max_attempts: u32) -> Result<Self, BackoffError> {
        if base.is_zero() {
            return Err(BackoffError::ZeroBase);
        }
        if cap < base {
            return Err(BackoffError::CapBelowBase { base, cap });
        }
        if max_attempts == 0 {
            return Err(BackoffError::NoAttempts);
        }
        Ok(Self {
            base,
            cap,
            max_attempts,
        })
    }

    /// The base delay.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The cap of one delay.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// Attempts in all, the first included.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Whether failed attempt `attempt` was the last one allowed.
    pub fn exhausted(&self, attempt: u32) -> bool {
        attempt >= self.max_attempts
    }

    /// The largest delay after failed attempt `attempt`: `min(cap, base * 2^(attempt-1))`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.base
            .checked_mul(1u32 << doublings)
            .map_or(self.cap, |d| d.min(self.cap))
    }

    /// The delay after failed attempt `attempt` for a uniform `draw` in `[0, 1)` (clamped):
    /// `draw * ceiling(attempt)`, whole milliseconds.
    pub fn delay(&self, attempt: u32, draw: f64) -> Duration {
        let draw = if draw.is_finite() {
            draw.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let ceiling = self.ceiling(attempt).as_millis() as f64;
        Duration::from_millis((ceiling * draw).floor() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn ceilings_double_up_to_the_cap() {
        let b = Backoff::new(ms(1000), ms(6000), 6).unwrap();
        let ceilings: Vec<_> = (1..=6).map(|a| b.ceiling(a).as_millis()).collect();
        assert_eq!(ceilings, [1000, 2000, 4000, 6000, 6000, 6000]);
        assert_eq!(b.ceiling(0), ms(1000));
        assert_eq!(b.ceiling(u32::MAX), ms(6000));
    }

    #[test]
    fn full_jitter_spans_zero_to_the_ceiling() {
        let b = Backoff::new(ms(500), ms(60_000), 5).unwrap();
        assert_eq!(b.delay(3, 0.0), Duration::ZERO);
        assert_eq!(b.delay(3, 0.5), ms(1000));
        assert_eq!(b.delay(3, 0.999_999), ms(1999));
        assert_eq!(b.delay(3, 7.0), ms(2000), "clamped");
        assert_eq!(b.delay(3, f64::NAN), Duration::ZERO);
    }

    #[test]
    fn attempts_run_out() {
        let b = Backoff::new(ms(1), ms(1), 3).unwrap();
        assert!(!b.exhausted(2));
        assert!(b.exhausted(3) && b.exhausted(4));
    }

    #[test]
    fn rejects_inconsistent_settings() {
        assert_eq!(
            Backoff::new(Duration::ZERO, ms(1), 1),
            Err(BackoffError::ZeroBase)
        );
        assert!(matches!(
            Backoff::new(ms(2), ms(1), 1),
            Err(BackoffError::CapBelowBase { .. })
        ));
        assert_eq!(Backoff::new(ms(1), ms(1), 0), Err(BackoffError::NoAttempts));
    }
}
