//! Backpressure: when the queue's active message count is over a threshold, `IngestJob` sheds
//! load with `503` + `Retry-After`, low-priority job types first.
//!
//! The depth is read off the request path (see [`super::depth`]) into a [`DepthGauge`]; a request
//! only reads the gauge. With no recent reading (no source configured, or reads failing) nothing is
//! shed: backpressure fails open.

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use crate::settings::{SettingsError, parse};

/// How important a job type is when the queue is deep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    /// Shed first, above the low threshold.
    Low,
    /// Shed above the normal threshold (the default).
    Normal,
    /// Never shed.
    High,
}

impl Priority {
    /// `low`, `normal`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

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

/// The latest queue depth, as the poller last read it.
#[derive(Debug)]
pub struct DepthGauge {
    reading: RwLock<Option<(u64, Instant)>>,
    max_age: Duration,
}

impl DepthGauge {
    /// A gauge whose readings count for `max_age`.
    pub fn new(max_age: Duration) -> Self {
        Self {
            reading: RwLock::new(None),
            max_age,
        }
    }

    /// Record a fresh reading.
    pub fn set(&self, active: u64) {
        *self
            .reading
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some((active, Instant::now()));
    }

    /// Forget the reading (the depth cannot be read).
    pub fn clear(&self) {
        *self
            .reading
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// The depth, if a reading is recent enough.
    pub fn current(&self) -> Option<u64> {
        self.reading
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .filter(|(_, at)| at.elapsed() <= self.max_age)
            .map(|(active, _)| active)
    }
}

/// A request shed by backpressure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// The depth read.
    pub depth: u64,
    /// The threshold it is over.
    pub threshold: u64,
    /// The job type's priority.
    pub priority: Priority,
    /// `Retry-After` seconds.
    pub retry_after_secs: u64,
}

/// The backpressure decision.
#[derive(Debug)]
pub struct Backpressure {
    settings: BackpressureSettings,
    gauge: DepthGauge,
}

impl Backpressure {
    /// Backpressure for the settings; readings count for three refresh intervals.
    pub fn new(settings: BackpressureSettings) -> Self {
        let gauge = DepthGauge::new(settings.refresh * 3);
        Self { settings, gauge }
    }

    /// The settings.
    pub fn settings(&self) -> &BackpressureSettings {
        &self.settings
    }

    /// The depth gauge the poller writes.
    pub fn gauge(&self) -> &DepthGauge {
        &self.gauge
    }

    /// The priority of a job type.
    pub fn priority(&self, job_type: &str) -> Priority {
        self.settings
            .priorities
            .get(job_type)
            .copied()
            .unwrap_or(Priority::Normal)
    }

    /// `Err` when a job of `job_type` is to be shed now.
    pub fn check(&self, job_type: &str) -> Result<(), Shed> {
        let Some(depth) = self.gauge.current() else {
            return Ok(()); // fail open
        };
        let priority = self.priority(job_type);
        let threshold = match priority {
            Priority::Low => self.settings.low_threshold,
            Priority::Normal => self.settings.normal_threshold,
            Priority::High => return Ok(()),
        };
        if depth > threshold {
            return Err(Shed {
                depth,
                threshold,
                priority,
                retry_after_secs: self.settings.retry_after_secs,
            });
        }
        Ok(())
    }
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

    #[test]
    fn low_priority_is_shed_first_and_high_never() {
        let s = settings(&[
            ("BACKPRESSURE_LOW_THRESHOLD", "10"),
            ("BACKPRESSURE_NORMAL_THRESHOLD", "20"),
            ("JOB_TYPE_PRIORITIES", "thumbnail=low, audit=high"),
        ])
        .unwrap();
        let b = Backpressure::new(s);
        // No reading: fail open.
        assert_eq!(b.check("thumbnail"), Ok(()));
        b.gauge().set(10);
        assert_eq!(b.check("thumbnail"), Ok(()));
        b.gauge().set(11);
        let shed = b.check("thumbnail").unwrap_err();
        assert_eq!(
            (shed.depth, shed.threshold, shed.priority),
            (11, 10, Priority::Low)
        );
        assert_eq!(b.check("report"), Ok(()));
        b.gauge().set(21);
        assert_eq!(b.check("report").unwrap_err().threshold, 20);
        assert_eq!(b.check("audit"), Ok(()));
        b.gauge().clear();
        assert_eq!(b.check("thumbnail"), Ok(()));
    }
}
