//! Handler settings: read once from the environment (app settings), validated, immutable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use thiserror::Error;

use crate::protect::ProtectionSettings;
use crate::retry::RetrySettings;
use crate::telemetry::{ConnectionString, IngestionAuth, TelemetryConfig};

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
    /// `SHUTDOWN_GRACE_SECS`: how long in-flight invocations may drain after SIGTERM (default 25).
    pub shutdown_grace: Duration,
    /// Telemetry: `APPLICATIONINSIGHTS_CONNECTION_STRING`, the role name
    /// (`WEBSITE_CLOUD_ROLENAME`, else lower-case `WEBSITE_SITE_NAME`, as the host does), the role
    /// instance (`WEBSITE_INSTANCE_ID`) and `OTEL_METRIC_EXPORT_INTERVAL` (ms, default 60000).
    pub telemetry: TelemetryConfig,
    /// Ingest protection: rate limits, the trusted client address, velocity flags (see
    /// [`ProtectionSettings`]).
    pub protection: ProtectionSettings,
    /// Backoff mode: `RETRY_BACKOFF`, `RETRY_BASE_MS`, `RETRY_CAP_MS`, `RETRY_MAX_ATTEMPTS` (see
    /// [`RetrySettings`]). It sends to the namespace backpressure reads (`SERVICEBUS_ENDPOINT`,
    /// else `ServiceBusConnection__fullyQualifiedNamespace`).
    pub retry: RetrySettings,
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

/// A setting is missing or has a value the handler cannot use. Names the setting.
#[derive(Debug, Error, PartialEq)]
pub enum SettingsError {
    /// A required setting is absent.
    #[error("{name} is not set: {hint}")]
    Missing {
        /// Setting name.
        name: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// A setting has an unusable value.
    #[error("{name}={value:?} is invalid: {reason}")]
    Invalid {
        /// Setting name.
        name: &'static str,
        /// The value found.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
}

impl Settings {
    /// Read settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Read settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let port = get(wire::PORT_ENV).ok_or(SettingsError::Missing {
            name: wire::PORT_ENV,
            hint: "the Functions host sets it; set it yourself to run the handler standalone",
        })?;
        let port = parse(
            wire::PORT_ENV,
            &port,
            "a TCP port between 1 and 65535",
            |v| v.parse::<u16>().ok().filter(|p| *p != 0),
        )?;

        let chaos_failure_rate = match get("CHAOS_FAILURE_RATE") {
            None => 0.2,
            Some(v) => parse(
                "CHAOS_FAILURE_RATE",
                &v,
                "a number between 0 and 1 (0 disables chaos)",
                |v| v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r)),
            )?,
        };
        let chaos_seed = get("CHAOS_SEED")
            .map(|v| {
                parse("CHAOS_SEED", &v, "an unsigned 64-bit integer", |v| {
                    v.parse().ok()
                })
            })
            .transpose()?;
        let processing_delay = match get("PROCESSING_DELAY_MS") {
            None => Duration::from_millis(200),
            Some(v) => Duration::from_millis(parse(
                "PROCESSING_DELAY_MS",
                &v,
                "milliseconds between 0 and 240000 (below the 5-minute function timeout)",
                |v| v.parse::<u64>().ok().filter(|ms| *ms <= 240_000),
            )?),
        };
        let max_delivery_count = match get("SERVICEBUS_MAX_DELIVERY_COUNT") {
            None => 10,
            Some(v) => parse(
                "SERVICEBUS_MAX_DELIVERY_COUNT",
                &v,
                "the queue's MaxDeliveryCount, between 1 and 2000",
                |v| v.parse::<u32>().ok().filter(|n| (1..=2000).contains(n)),
            )?,
        };
        let dir = PathBuf::from(get("JOB_TYPES_DIR").unwrap_or_else(|| "job-types".to_owned()));
        let job_types_dir = match get("FUNCTIONS_APP_ROOT_PATH") {
            Some(root) if dir.is_relative() => Path::new(&root).join(dir),
            _ => dir,
        };
        let log_format = match get("LOG_FORMAT")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => LogFormat::Auto,
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "LOG_FORMAT",
                    value: other.to_owned(),
                    reason: "one of auto, json, text".to_owned(),
                });
            }
        };
        let shutdown_grace = match get("SHUTDOWN_GRACE_SECS") {
            None => Duration::from_secs(25),
            Some(v) => Duration::from_secs(parse(
                "SHUTDOWN_GRACE_SECS",
                &v,
                "seconds between 0 and 600",
                |v| v.parse::<u64>().ok().filter(|s| *s <= 600),
            )?),
        };
        let connection = get("APPLICATIONINSIGHTS_CONNECTION_STRING")
            .map(|v| {
                ConnectionString::parse(&v).map_err(|e| SettingsError::Invalid {
                    name: "APPLICATIONINSIGHTS_CONNECTION_STRING",
                    value: "(hidden)".to_owned(),
                    reason: e.to_string(),
                })
            })
            .transpose()?;
        let role_name = get("WEBSITE_CLOUD_ROLENAME")
            .or_else(|| get("WEBSITE_SITE_NAME").map(|s| s.to_lowercase()))
            .unwrap_or_else(|| "resilient-jobs-local".to_owned());
        let metric_interval = match get("OTEL_METRIC_EXPORT_INTERVAL") {
            None => Duration::from_secs(60),
            Some(v) => Duration::from_millis(parse(
                "OTEL_METRIC_EXPORT_INTERVAL",
                &v,
                "milliseconds between 100 and 3600000",
                |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|ms| (100..=3_600_000).contains(ms))
                },
            )?),
        };
        let authentication =
            IngestionAuth::from_lookup(get).map_err(|e| SettingsError::Invalid {
                name: crate::telemetry::auth::AUTHENTICATION_STRING,
                value: get(crate::telemetry::auth::AUTHENTICATION_STRING).unwrap_or_default(),
                reason: e.to_string(),
            })?;
        let telemetry = TelemetryConfig {
            connection,
            role_name,
            role_instance: get("WEBSITE_INSTANCE_ID"),
            metric_interval,
            authentication,
        };
        let retry = RetrySettings::from_lookup(get)?;
        let protection = ProtectionSettings::from_lookup(get)?;
        Ok(Self {
            port,
            chaos_failure_rate,
            chaos_seed,
            processing_delay,
            max_delivery_count,
            job_types_dir,
            log_format,
            shutdown_grace,
            telemetry,
            protection,
            retry,
        })
    }
}

pub(crate) fn parse<T>(
    name: &'static str,
    value: &str,
    expected: &str,
    f: impl Fn(&str) -> Option<T>,
) -> Result<T, SettingsError> {
    f(value).ok_or_else(|| SettingsError::Invalid {
        name,
        value: value.to_owned(),
        reason: format!("expected {expected}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults() {
        let s = settings(&[("FUNCTIONS_CUSTOMHANDLER_PORT", "8080")]).unwrap();
        assert_eq!(s.port, 8080);
        assert_eq!(s.chaos_failure_rate, 0.2);
        assert_eq!(s.chaos_seed, None);
        assert_eq!(s.processing_delay, Duration::from_millis(200));
        assert_eq!(s.max_delivery_count, 10);
        assert_eq!(s.job_types_dir, PathBuf::from("job-types"));
        assert_eq!(s.log_format, LogFormat::Auto);
        assert_eq!(s.telemetry.connection, None);
        assert_eq!(s.telemetry.role_name, "resilient-jobs-local");
        assert_eq!(s.telemetry.metric_interval, Duration::from_secs(60));
        assert_eq!(s.protection, ProtectionSettings::default());
        assert_eq!(s.retry, RetrySettings::default());
        assert_eq!(
            (
                s.protection.client_burst.get(),
                s.protection.client_refill_per_second,
                s.protection.global_per_minute.get(),
                s.protection.velocity_per_minute.get()
            ),
            (100, 10.0, 10_000, 10)
        );
    }

    #[test]
    fn role_name_follows_the_host() {
        let port = ("FUNCTIONS_CUSTOMHANDLER_PORT", "1");
        let s = settings(&[port, ("WEBSITE_SITE_NAME", "Func-Jobs-Prod")]).unwrap();
        assert_eq!(s.telemetry.role_name, "func-jobs-prod");
        let s = settings(&[
            port,
            ("WEBSITE_SITE_NAME", "a"),
            ("WEBSITE_CLOUD_ROLENAME", "Jobs"),
        ])
        .unwrap();
        assert_eq!(s.telemetry.role_name, "Jobs");
    }

    #[test]
    fn a_bad_connection_string_is_named_but_not_echoed() {
        let err = settings(&[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", "secret"),
        ])
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("APPLICATIONINSIGHTS_CONNECTION_STRING") && !err.contains("secret"),
            "{err}"
        );
    }

    #[test]
    fn job_types_dir_is_relative_to_app_root() {
        let s = settings(&[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
            ("FUNCTIONS_APP_ROOT_PATH", "/home/site/wwwroot"),
        ])
        .unwrap();
        assert_eq!(
            s.job_types_dir,
            PathBuf::from("/home/site/wwwroot/job-types")
        );
        let s = settings(&[
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
            ("FUNCTIONS_APP_ROOT_PATH", "/x"),
            ("JOB_TYPES_DIR", "/abs"),
        ])
        .unwrap();
        assert_eq!(s.job_types_dir, PathBuf::from("/abs"));
    }

    #[test]
    fn bad_values_name_the_setting() {
        assert!(matches!(
            settings(&[]),
            Err(SettingsError::Missing {
                name: "FUNCTIONS_CUSTOMHANDLER_PORT",
                ..
            })
        ));
        for (name, value) in [
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "0"),
            ("FUNCTIONS_CUSTOMHANDLER_PORT", "http"),
            ("CHAOS_FAILURE_RATE", "1.5"),
            ("CHAOS_FAILURE_RATE", "20%"),
            ("CHAOS_SEED", "-1"),
            ("PROCESSING_DELAY_MS", "999999"),
            ("SERVICEBUS_MAX_DELIVERY_COUNT", "0"),
            ("LOG_FORMAT", "xml"),
            ("SHUTDOWN_GRACE_SECS", "x"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "5"),
            ("RATE_LIMIT_CLIENT_BURST", "0"),
            ("RATE_LIMIT_CLIENT_REFILL_PER_SECOND", "-1"),
            ("RATE_LIMIT_GLOBAL_PER_MINUTE", "lots"),
            ("RATE_LIMIT_GLOBAL_BURST", "0"),
            ("CLIENT_IP_HOPS", "0"),
            ("VELOCITY_FLAG_PER_MINUTE", "1.5"),
        ] {
            let mut pairs = vec![("FUNCTIONS_CUSTOMHANDLER_PORT", "8080")];
            pairs.retain(|(k, _)| *k != name);
            pairs.push((name, value));
            let err = settings(&pairs).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
