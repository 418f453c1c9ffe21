//! Handler settings: read once from the environment (app settings), validated, immutable.
//!
//! Every setting is named once, in [`catalogue`], and read through [`Reader`]: the configured
//! text, else the catalogue's default, parsed by one parser with its range in the error. Each
//! concern (protection, backoff, telemetry, the Service Bus target) defines its settings type;
//! [`sections`] fills them in, so no concern imports this module.

pub mod catalogue;
mod reader;
mod sections;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use reader::{Reader, Setting, SettingDefault, SettingsError};

use crate::namespace::ServiceBusTarget;
use crate::protect::ProtectionSettings;
use crate::retry::RetrySettings;
use crate::telemetry::TelemetryConfig;
use catalogue as c;

/// Every setting the handler reads, with its validated value.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// `FUNCTIONS_CUSTOMHANDLER_PORT`: loopback port to listen on (set by the Functions host).
    pub port: u16,
    /// `CHAOS_FAILURE_RATE`: fraction of processing attempts that fail on purpose (default 0.2).
    pub chaos_failure_rate: f64,
    /// `CHAOS_SEED`: makes chaos outcomes reproducible (unset: random).
    pub chaos_seed: Option<u64>,
    /// `PROCESSING_DELAY_MS`: simulated work per processing attempt (default 200 ms).
    pub processing_delay: Duration,
    /// `SERVICEBUS_MAX_DELIVERY_COUNT`: the `jobs` queue's `MaxDeliveryCount` (default 10, as
    /// Terraform's `max_delivery_count`): a failure on this delivery is counted as dead-lettered.
    pub max_delivery_count: u32,
    /// `JOB_TYPES_DIR`: folder of job type schemas (default `job-types`, relative to
    /// `FUNCTIONS_APP_ROOT_PATH` when the host sets it, else to the working directory).
    pub job_types_dir: PathBuf,
    /// `LOG_FORMAT`: `json`, `text`, or `auto` (JSON unless stdout is a terminal).
    pub log_format: LogFormat,
    /// `RUST_LOG`: the console log filter (`tracing` `EnvFilter` directives, default `info`).
    pub log_filter: String,
    /// `SHUTDOWN_GRACE_SECS`: how long in-flight invocations may drain after SIGTERM (default 25).
    pub shutdown_grace: Duration,
    /// Telemetry: `APPLICATIONINSIGHTS_CONNECTION_STRING`, the role name
    /// (`WEBSITE_CLOUD_ROLENAME`, else lower-case `WEBSITE_SITE_NAME`, as the host does), the role
    /// instance (`WEBSITE_INSTANCE_ID`) and `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000).
    pub telemetry: TelemetryConfig,
    /// Ingest protection: rate limits, the trusted client address, velocity flags, backpressure.
    pub protection: ProtectionSettings,
    /// Backoff mode: `RETRY_BACKOFF`, `RETRY_BASE_MS`, `RETRY_CAP_MS`, `RETRY_MAX_ATTEMPTS`.
    pub retry: RetrySettings,
    /// The namespace backpressure reads and backoff sends to (`SERVICEBUS_ENDPOINT`, else
    /// `ServiceBusConnection__fullyQualifiedNamespace`); `None` turns both off.
    pub service_bus: Option<ServiceBusTarget>,
}

/// Console log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON unless stdout is a terminal.
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

impl Settings {
    /// Read settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let r = Reader::new(&lookup);
        let port = r.number(&c::PORT, 1..=65535u16, "a TCP port")?;
        let dir = PathBuf::from(r.value(&c::JOB_TYPES_DIR, "a folder", |v| Some(v.to_owned()))?);
        let job_types_dir = match r.text(&c::APP_ROOT) {
            Some(root) if dir.is_relative() => Path::new(&root).join(dir),
            _ => dir,
        };
        Ok(Self {
            port,
            chaos_failure_rate: r.value(
                &c::CHAOS_FAILURE_RATE,
                "a number between 0 and 1 (0 disables chaos)",
                |v| v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
            )?,
            chaos_seed: r.parse(&c::CHAOS_SEED, "an unsigned 64-bit integer", |v| {
                v.parse::<u64>().ok()
            })?,
            processing_delay: Duration::from_millis(r.number(
                &c::PROCESSING_DELAY_MS,
                0..=240_000u64,
                "milliseconds (below the 5-minute function timeout)",
            )?),
            max_delivery_count: r.number(
                &c::MAX_DELIVERY_COUNT,
                1..=2000u32,
                "a delivery count",
            )?,
            job_types_dir,
            log_format: r.choice(
                &c::LOG_FORMAT,
                &[
                    ("auto", LogFormat::Auto),
                    ("json", LogFormat::Json),
                    ("text", LogFormat::Text),
                ],
            )?,
            log_filter: r.value(
                &c::RUST_LOG,
                "tracing filter directives, e.g. info or handler=debug,warn",
                |v| {
                    tracing_subscriber::EnvFilter::try_new(v)
                        .ok()
                        .map(|_| v.to_owned())
                },
            )?,
            shutdown_grace: Duration::from_secs(r.number(
                &c::SHUTDOWN_GRACE_SECS,
                0..=600u64,
                "seconds",
            )?),
            telemetry: sections::telemetry(&r)?,
            protection: sections::protection(&r)?,
            retry: sections::retry(&r)?,
            service_bus: sections::service_bus(&r)?,
        })
    }
}

#[cfg(test)]
mod tests;
