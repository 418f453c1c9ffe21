//! Ingest protection settings: rate limits, the trusted client address and velocity flags. Read
//! by the settings module at start-up; the defaults here are the catalogue's (a settings test
//! holds them equal).

use std::num::NonZeroU32;

use super::backpressure::BackpressureSettings;

/// Rate limit and velocity settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionSettings {
    /// `RATE_LIMIT_CLIENT_BURST`: tokens in each client's bucket (default 100).
    pub client_burst: NonZeroU32,
    /// `RATE_LIMIT_CLIENT_REFILL_PER_SECOND`: tokens added to a client's bucket per second
    /// (default 10; decimals allowed, e.g. `0.5`).
    pub client_refill_per_second: f64,
    /// `RATE_LIMIT_GLOBAL_PER_MINUTE`: requests per minute this instance admits in total
    /// (default 10000).
    pub global_per_minute: NonZeroU32,
    /// `RATE_LIMIT_GLOBAL_BURST`: how many of those may arrive at once (default: the per-minute
    /// rate, a one-minute window).
    pub global_burst: NonZeroU32,
    /// `CLIENT_IP_HOPS`: which `X-Forwarded-For` entry is the client, counted from the right
    /// (default 1: the entry the Azure front end appended; 2 when one more trusted proxy, such as
    /// Front Door or API Management, sits in front).
    pub client_ip_hops: usize,
    /// `VELOCITY_FLAG_PER_MINUTE`: a client sending more requests per minute than this has its jobs
    /// flagged as suspicious (default 10).
    pub velocity_per_minute: NonZeroU32,
    /// Backpressure by queue depth.
    pub backpressure: BackpressureSettings,
}

impl Default for ProtectionSettings {
    fn default() -> Self {
        Self {
            client_burst: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            client_refill_per_second: 10.0,
            global_per_minute: NonZeroU32::new(10_000).unwrap_or(NonZeroU32::MIN),
            global_burst: NonZeroU32::new(10_000).unwrap_or(NonZeroU32::MIN),
            client_ip_hops: 1,
            velocity_per_minute: NonZeroU32::new(10).unwrap_or(NonZeroU32::MIN),
            backpressure: BackpressureSettings::default(),
        }
    }
}
