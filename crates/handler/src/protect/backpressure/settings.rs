//! Backpressure settings: thresholds, refresh, `Retry-After`, job type priorities, and where the
//! queue depth is read from (and with which credential).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Priority;
use crate::settings::{SettingsError, parse};

/// Where the queue depth is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DepthSource {
    /// Namespace endpoint: `SERVICEBUS_ENDPOINT`, else `https://` +
    /// `ServiceBusConnection__fullyQualifiedNamespace`.
    pub endpoint: String,
    /// `SERVICEBUS_QUEUE` (default `jobs`).
    pub queue: String,
    /// How requests are authorized.
    pub credential: CredentialKind,
}

/// Which credential authorizes the depth read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// None: a plain-`http` loopback endpoint (the devhost).
    None,
    /// The app's managed identity (in Azure: `IDENTITY_ENDPOINT` is set); user-assigned when
    /// `ServiceBusConnection__clientId` is set.
    ManagedIdentity {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// Azure CLI / Azure Developer CLI sign-in (a workstation).
    DeveloperTools,
}

/// Backpressure settings, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct BackpressureSettings {
    /// The depth source; `None` (no namespace configured) turns backpressure off.
    pub source: Option<DepthSource>,
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
            source: None,
            low_threshold: 5_000,
            normal_threshold: 10_000,
            refresh: Duration::from_secs(5),
            retry_after_secs: 10,
            priorities: BTreeMap::new(),
        }
    }
}

impl BackpressureSettings {
    /// Read the settings through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let threshold = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(v) => parse(name, &v, "a message count between 0 and 100000000", |v| {
                v.parse::<u64>().ok().filter(|n| *n <= 100_000_000)
            }),
        };
        let low_threshold = threshold("BACKPRESSURE_LOW_THRESHOLD", d.low_threshold)?;
        let normal_threshold = threshold("BACKPRESSURE_NORMAL_THRESHOLD", d.normal_threshold)?;
        if low_threshold > normal_threshold {
            return Err(SettingsError::Invalid {
                name: "BACKPRESSURE_LOW_THRESHOLD",
                value: low_threshold.to_string(),
                reason: format!(
                    "must not exceed BACKPRESSURE_NORMAL_THRESHOLD ({normal_threshold}): low-priority jobs are shed first"
                ),
            });
        }
        let refresh = match get("BACKPRESSURE_REFRESH_MS") {
            None => d.refresh,
            Some(v) => Duration::from_millis(parse(
                "BACKPRESSURE_REFRESH_MS",
                &v,
                "milliseconds between 100 and 300000",
                |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|ms| (100..=300_000).contains(ms))
                },
            )?),
        };
        let retry_after_secs = match get("BACKPRESSURE_RETRY_AFTER_SECS") {
            None => d.retry_after_secs,
            Some(v) => parse(
                "BACKPRESSURE_RETRY_AFTER_SECS",
                &v,
                "seconds between 1 and 3600",
                |v| v.parse::<u64>().ok().filter(|s| (1..=3600).contains(s)),
            )?,
        };
        let priorities = match get("JOB_TYPE_PRIORITIES") {
            None => BTreeMap::new(),
            Some(v) => parse(
                "JOB_TYPE_PRIORITIES",
                &v,
                "comma-separated type=low|normal|high pairs, e.g. thumbnail=low,report=high",
                parse_priorities,
            )?,
        };
        let endpoint = get("SERVICEBUS_ENDPOINT").or_else(|| {
            get("ServiceBusConnection__fullyQualifiedNamespace").map(|ns| format!("https://{ns}"))
        });
        let source = endpoint.map(|endpoint| {
            let credential = if endpoint.starts_with("http://") {
                CredentialKind::None
            } else if get("IDENTITY_ENDPOINT").is_some() {
                CredentialKind::ManagedIdentity {
                    client_id: get("ServiceBusConnection__clientId"),
                }
            } else {
                CredentialKind::DeveloperTools
            };
            DepthSource {
                endpoint,
                queue: get("SERVICEBUS_QUEUE").unwrap_or_else(|| "jobs".to_owned()),
                credential,
            }
        });
        Ok(Self {
            source,
            low_threshold,
            normal_threshold,
            refresh,
            retry_after_secs,
            priorities,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<BackpressureSettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BackpressureSettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn sources_and_credentials() {
        assert_eq!(settings(&[]).unwrap().source, None);
        let ns = (
            "ServiceBusConnection__fullyQualifiedNamespace",
            "sb1.servicebus.windows.net",
        );
        let s = settings(&[ns]).unwrap().source.unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.queue.as_str(), s.credential),
            (
                "https://sb1.servicebus.windows.net",
                "jobs",
                CredentialKind::DeveloperTools
            )
        );
        let s = settings(&[
            ns,
            ("IDENTITY_ENDPOINT", "http://x"),
            ("ServiceBusConnection__clientId", "c1"),
        ])
        .unwrap()
        .source
        .unwrap();
        assert_eq!(
            s.credential,
            CredentialKind::ManagedIdentity {
                client_id: Some("c1".into())
            }
        );
        let s = settings(&[
            ns,
            ("SERVICEBUS_ENDPOINT", "http://127.0.0.1:7071/servicebus"),
        ])
        .unwrap()
        .source
        .unwrap();
        assert_eq!(s.credential, CredentialKind::None);
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (name, value) in [
            ("BACKPRESSURE_LOW_THRESHOLD", "x"),
            ("BACKPRESSURE_LOW_THRESHOLD", "20000"),
            ("BACKPRESSURE_NORMAL_THRESHOLD", "-1"),
            ("BACKPRESSURE_REFRESH_MS", "10"),
            ("BACKPRESSURE_RETRY_AFTER_SECS", "0"),
            ("JOB_TYPE_PRIORITIES", "thumbnail=urgent"),
            ("JOB_TYPE_PRIORITIES", "thumbnail"),
        ] {
            let err = settings(&[(name, value)]).unwrap_err();
            assert!(err.to_string().starts_with(name), "{err}");
        }
    }
}
