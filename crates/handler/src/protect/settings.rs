//! Ingest protection settings: rate limits, the trusted client address and velocity flags.

use std::num::NonZeroU32;

use super::backpressure::BackpressureSettings;
use crate::settings::{SettingsError, parse};

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

const MAX_COUNT: u32 = 10_000_000;

fn count(
    name: &'static str,
    value: Option<String>,
    default: NonZeroU32,
) -> Result<NonZeroU32, SettingsError> {
    match value {
        None => Ok(default),
        Some(v) => parse(name, &v, "a whole number between 1 and 10000000", |v| {
            v.parse::<u32>()
                .ok()
                .filter(|n| *n <= MAX_COUNT)
                .and_then(NonZeroU32::new)
        }),
    }
}

impl ProtectionSettings {
    /// Read the settings through `get` (trimmed, empty values already dropped).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let client_burst = count(
            "RATE_LIMIT_CLIENT_BURST",
            get("RATE_LIMIT_CLIENT_BURST"),
            d.client_burst,
        )?;
        let client_refill_per_second = match get("RATE_LIMIT_CLIENT_REFILL_PER_SECOND") {
            None => d.client_refill_per_second,
            Some(v) => parse(
                "RATE_LIMIT_CLIENT_REFILL_PER_SECOND",
                &v,
                "tokens per second between 0.0001 and 1000000",
                |v| {
                    v.parse::<f64>()
                        .ok()
                        .filter(|r| (0.0001..=1_000_000.0).contains(r))
                },
            )?,
        };
        let global_per_minute = count(
            "RATE_LIMIT_GLOBAL_PER_MINUTE",
            get("RATE_LIMIT_GLOBAL_PER_MINUTE"),
            d.global_per_minute,
        )?;
        let global_burst = count(
            "RATE_LIMIT_GLOBAL_BURST",
            get("RATE_LIMIT_GLOBAL_BURST"),
            global_per_minute,
        )?;
        let client_ip_hops = match get("CLIENT_IP_HOPS") {
            None => d.client_ip_hops,
            Some(v) => parse(
                "CLIENT_IP_HOPS",
                &v,
                "a whole number between 1 and 10",
                |v| v.parse::<usize>().ok().filter(|n| (1..=10).contains(n)),
            )?,
        };
        let velocity_per_minute = count(
            "VELOCITY_FLAG_PER_MINUTE",
            get("VELOCITY_FLAG_PER_MINUTE"),
            d.velocity_per_minute,
        )?;
        let backpressure = BackpressureSettings::from_lookup(&get)?;
        Ok(Self {
            client_burst,
            client_refill_per_second,
            global_per_minute,
            global_burst,
            client_ip_hops,
            velocity_per_minute,
            backpressure,
        })
    }
}
