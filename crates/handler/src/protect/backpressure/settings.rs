//! Backpressure settings: thresholds, refresh, `Retry-After` and job type priorities. Read by
//! the settings module at start-up; the queue depth is read from the Service Bus target.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Priority;

/// Backpressure settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BackpressureSettings {
    /// `BACKPRESSURE_LOW_THRESHOLD`: active messages above which low-priority jobs are shed
    /// (default 5000).
    pub low_threshold: u64,
    /// `BACKPRESSURE_NORMAL_THRESHOLD`: active messages above which normal-priority jobs are shed
    /// too (default 10000).
    pub normal_threshold: u64,
    /// `BACKPRESSURE_REFRESH_MS`: how often the depth is read (default 5000 ms).
    pub refresh: Duration,
    /// `BACKPRESSURE_RETRY_AFTER_SECS`: `Retry-After` of a shed request (default 10).
    pub retry_after_secs: u64,
    /// `JOB_TYPE_PRIORITIES`: `type=low|normal|high` pairs, comma-separated; unlisted types are
    /// normal.
    pub priorities: BTreeMap<String, Priority>,
}

impl Default for BackpressureSettings {
    fn default() -> Self {
        Self {
            low_threshold: 5_000,
            normal_threshold: 10_000,
            refresh: Duration::from_secs(5),
            retry_after_secs: 10,
            priorities: BTreeMap::new(),
        }
    }
}
