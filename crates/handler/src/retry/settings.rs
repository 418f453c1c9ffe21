//! Backoff settings: `RETRY_BACKOFF`, `RETRY_BASE_MS`, `RETRY_CAP_MS`, `RETRY_MAX_ATTEMPTS`.
//! Read by the settings module at start-up; the defaults here are the catalogue's (a settings
//! test holds them equal).

use std::time::Duration;

use jobs::Backoff;

/// Backoff mode, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// `RETRY_BACKOFF`: `on` (default) reschedules a transiently failed job through the Service
    /// Bus REST API after a backoff delay; `off` leaves retries to the broker's immediate
    /// redelivery.
    pub enabled: bool,
    /// `RETRY_BASE_MS` (default 1000), `RETRY_CAP_MS` (default 60000) and `RETRY_MAX_ATTEMPTS`
    /// (default 5): the schedule.
    pub backoff: Backoff,
}

const DEFAULT_BASE_MS: u64 = 1_000;
const DEFAULT_CAP_MS: u64 = 60_000;
const DEFAULT_MAX_ATTEMPTS: u32 = 5;

impl Default for RetrySettings {
    fn default() -> Self {
        let backoff = Backoff::new(
            Duration::from_millis(DEFAULT_BASE_MS),
            Duration::from_millis(DEFAULT_CAP_MS),
            DEFAULT_MAX_ATTEMPTS,
        );
        Self {
            enabled: true,
            // The defaults are consistent; the fallback only satisfies the type.
            backoff: backoff.unwrap_or_else(|_| fallback()),
        }
    }
}

fn fallback() -> Backoff {
    match Backoff::new(Duration::from_secs(1), Duration::from_secs(1), 1) {
        Ok(b) => b,
        Err(_) => unreachable!("a 1 s base, 1 s cap and one attempt are valid"),
    }
}
