//! Reading the settings of each concern into the type that concern defines: ingest protection,
//! backpressure, backoff, telemetry and the Service Bus target. The concerns themselves never read
//! settings, so nothing below imports this module back.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::time::Duration;

use jobs::Backoff;

use super::catalogue as c;
use super::reader::{Reader, SettingsError};
use crate::namespace::{CredentialKind, ServiceBusTarget};
use crate::protect::{BackpressureSettings, Priority, ProtectionSettings};
use crate::retry::RetrySettings;
use crate::telemetry::{ConnectionString, IngestionAuth, TelemetryConfig};

/// A request count of at least 1.
fn count(r: &Reader<'_>, setting: &super::Setting) -> Result<Option<NonZeroU32>, SettingsError> {
    let n = r.number_or_unset(setting, 1..=10_000_000u32, "a whole number")?;
    Ok(n.and_then(NonZeroU32::new))
}

fn required_count(r: &Reader<'_>, setting: &super::Setting) -> Result<NonZeroU32, SettingsError> {
    count(r, setting)?.ok_or(SettingsError::Missing {
        name: setting.name,
        hint: setting.about,
    })
}

/// Rate limits, the trusted client address, velocity flags and backpressure.
pub fn protection(r: &Reader<'_>) -> Result<ProtectionSettings, SettingsError> {
    let global_per_minute = required_count(r, &c::GLOBAL_PER_MINUTE)?;
    Ok(ProtectionSettings {
        client_burst: required_count(r, &c::CLIENT_BURST)?,
        client_refill_per_second: r.number(
            &c::CLIENT_REFILL,
            0.0001..=1_000_000.0,
            "tokens per second",
        )?,
        global_per_minute,
        global_burst: count(r, &c::GLOBAL_BURST)?.unwrap_or(global_per_minute),
        client_ip_hops: r.number(&c::CLIENT_IP_HOPS, 1..=10usize, "a whole number")?,
        velocity_per_minute: required_count(r, &c::VELOCITY)?,
        backpressure: backpressure(r)?,
    })
}

/// Thresholds, refresh, `Retry-After` and priorities.
pub fn backpressure(r: &Reader<'_>) -> Result<BackpressureSettings, SettingsError> {
    let depth = |s| r.number(s, 0..=100_000_000u64, "a message count");
    let low_threshold = depth(&c::LOW_THRESHOLD)?;
    let normal_threshold = depth(&c::NORMAL_THRESHOLD)?;
    if low_threshold > normal_threshold {
        return Err(SettingsError::Invalid {
            name: c::LOW_THRESHOLD.name,
            value: low_threshold.to_string(),
            reason: format!(
                "must not exceed {} ({normal_threshold}): low-priority jobs are shed first",
                c::NORMAL_THRESHOLD.name
            ),
        });
    }
    let priorities = r
        .parse(
            &c::PRIORITIES,
            "comma-separated type=low|normal|high pairs, e.g. thumbnail=low,report=high",
            parse_priorities,
        )?
        .unwrap_or_default();
    Ok(BackpressureSettings {
        low_threshold,
        normal_threshold,
        refresh: Duration::from_millis(r.number(&c::REFRESH, 100..=300_000u64, "milliseconds")?),
        retry_after_secs: r.number(&c::SHED_RETRY_AFTER, 1..=3600u64, "seconds")?,
        priorities,
    })
}

fn parse_priorities(text: &str) -> Option<BTreeMap<String, Priority>> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (name, priority) = pair.split_once('=')?;
            let priority = match priority.trim().to_ascii_lowercase().as_str() {
                "low" => Priority::Low,
                "normal" => Priority::Normal,
                "high" => Priority::High,
                _ => return None,
            };
            Some((name.trim().to_owned(), priority)).filter(|(n, _)| !n.is_empty())
        })
        .collect()
}

/// Backoff mode and its schedule.
pub fn retry(r: &Reader<'_>) -> Result<RetrySettings, SettingsError> {
    let enabled = r.choice(
        &c::RETRY_BACKOFF,
        &[
            ("on", true),
            ("off", false),
            ("true", true),
            ("false", false),
            ("1", true),
            ("0", false),
        ],
    )?;
    let millis = |s| r.number(s, 1..=86_400_000u64, "milliseconds");
    let base = millis(&c::RETRY_BASE_MS)?;
    let cap = millis(&c::RETRY_CAP_MS)?;
    let max_attempts = r.number(&c::RETRY_MAX_ATTEMPTS, 1..=100u32, "a number of attempts")?;
    let backoff = Backoff::new(
        Duration::from_millis(base),
        Duration::from_millis(cap),
        max_attempts,
    )
    .map_err(|e| SettingsError::Invalid {
        name: c::RETRY_CAP_MS.name,
        value: cap.to_string(),
        reason: e.to_string(),
    })?;
    Ok(RetrySettings { enabled, backoff })
}

/// Where telemetry goes and under which role.
pub fn telemetry(r: &Reader<'_>) -> Result<TelemetryConfig, SettingsError> {
    let connection = r
        .text(&c::CONNECTION_STRING)
        .map(|v| {
            ConnectionString::parse(&v).map_err(|e| SettingsError::Invalid {
                name: c::CONNECTION_STRING.name,
                value: "(hidden)".to_owned(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    // As the host names its own telemetry's role. Every setting is read, used or not, so the
    // reader asks for each name on every start (the configuration test relies on it).
    let (cloud_role, site) = (r.text(&c::CLOUD_ROLE_NAME), r.text(&c::SITE_NAME));
    let role_name = cloud_role
        .or_else(|| site.map(|s| s.to_lowercase()))
        .unwrap_or_else(|| "resilient-jobs-local".to_owned());
    let interval = r.number(
        &c::METRIC_EXPORT_INTERVAL,
        100..=3_600_000u64,
        "milliseconds",
    )?;
    // Entra ID ingestion: the managed identity where Azure provides one (IDENTITY_ENDPOINT).
    let in_azure = r.text(&c::IDENTITY_ENDPOINT).is_some();
    let authentication = r
        .text(&c::AUTHENTICATION_STRING)
        .map(|v| {
            IngestionAuth::parse(&v, in_azure).map_err(|e| SettingsError::Invalid {
                name: c::AUTHENTICATION_STRING.name,
                value: v.clone(),
                reason: e.to_string(),
            })
        })
        .transpose()?;
    Ok(TelemetryConfig {
        connection,
        role_name,
        role_instance: r.text(&c::INSTANCE_ID),
        metric_interval: Duration::from_millis(interval),
        authentication,
    })
}

/// The namespace the handler calls itself; `None` when none is configured.
pub fn service_bus(r: &Reader<'_>) -> Result<Option<ServiceBusTarget>, SettingsError> {
    let (endpoint, namespace) = (r.text(&c::SERVICEBUS_ENDPOINT), r.text(&c::NAMESPACE));
    let (identity, client_id) = (r.text(&c::IDENTITY_ENDPOINT), r.text(&c::CLIENT_ID));
    let queue = r.value(&c::QUEUE, "a queue name", |v| Some(v.to_owned()))?;
    let Some(endpoint) = endpoint.or_else(|| namespace.map(|ns| format!("https://{ns}"))) else {
        return Ok(None);
    };
    let credential = CredentialKind::choose(&endpoint, identity.is_some(), client_id);
    Ok(Some(ServiceBusTarget {
        endpoint,
        queue,
        credential,
    }))
}
