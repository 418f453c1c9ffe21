//! Backoff settings: `RETRY_BACKOFF`, `RETRY_BASE_MS`, `RETRY_CAP_MS`, `RETRY_MAX_ATTEMPTS`.

use std::time::Duration;

use jobs::Backoff;

use crate::settings::{SettingsError, parse};

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

impl RetrySettings {
    /// Read the settings through `get`.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let enabled = match get("RETRY_BACKOFF")
            .map(|v| v.to_ascii_lowercase())
            .as_deref()
        {
            None | Some("on" | "true" | "1") => true,
            Some("off" | "false" | "0") => false,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "RETRY_BACKOFF",
                    value: other.to_owned(),
                    reason: "expected on or off".to_owned(),
                });
            }
        };
        let millis = |name: &'static str, default: u64| match get(name) {
            None => Ok(default),
            Some(v) => parse(
                name,
                &v,
                "milliseconds between 1 and 86400000 (one day)",
                |v| {
                    v.parse::<u64>()
                        .ok()
                        .filter(|ms| (1..=86_400_000).contains(ms))
                },
            ),
        };
        let base = millis("RETRY_BASE_MS", DEFAULT_BASE_MS)?;
        let cap = millis("RETRY_CAP_MS", DEFAULT_CAP_MS)?;
        let max_attempts = match get("RETRY_MAX_ATTEMPTS") {
            None => DEFAULT_MAX_ATTEMPTS,
            Some(v) => parse(
                "RETRY_MAX_ATTEMPTS",
                &v,
                "a number of attempts between 1 and 100",
                |v| v.parse::<u32>().ok().filter(|n| (1..=100).contains(n)),
            )?,
        };
        let backoff = Backoff::new(
            Duration::from_millis(base),
            Duration::from_millis(cap),
            max_attempts,
        )
        .map_err(|e| SettingsError::Invalid {
            name: "RETRY_CAP_MS",
            value: cap.to_string(),
            reason: e.to_string(),
        })?;
        Ok(Self { enabled, backoff })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<RetrySettings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RetrySettings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_on_one_second_to_a_minute_five_attempts() {
        let s = settings(&[]).unwrap();
        assert_eq!(s, RetrySettings::default());
        assert!(s.enabled);
        assert_eq!(
            (s.backoff.base(), s.backoff.cap(), s.backoff.max_attempts()),
            (Duration::from_secs(1), Duration::from_secs(60), 5)
        );
    }

    #[test]
    fn reads_every_setting() {
        let s = settings(&[
            ("RETRY_BACKOFF", "OFF"),
            ("RETRY_BASE_MS", "200"),
            ("RETRY_CAP_MS", "800"),
            ("RETRY_MAX_ATTEMPTS", "3"),
        ])
        .unwrap();
        assert!(!s.enabled);
        assert_eq!(
            (s.backoff.base(), s.backoff.cap(), s.backoff.max_attempts()),
            (Duration::from_millis(200), Duration::from_millis(800), 3)
        );
    }

    #[test]
    fn names_the_bad_setting() {
        for (pairs, name) in [
            (vec![("RETRY_BACKOFF", "maybe")], "RETRY_BACKOFF"),
            (vec![("RETRY_BASE_MS", "0")], "RETRY_BASE_MS"),
            (vec![("RETRY_BASE_MS", "1s")], "RETRY_BASE_MS"),
            (vec![("RETRY_CAP_MS", "99999999999")], "RETRY_CAP_MS"),
            (vec![("RETRY_MAX_ATTEMPTS", "0")], "RETRY_MAX_ATTEMPTS"),
            (
                vec![("RETRY_BASE_MS", "2000"), ("RETRY_CAP_MS", "1000")],
                "RETRY_CAP_MS",
            ),
        ] {
            match settings(&pairs) {
                Err(SettingsError::Invalid { name: n, .. }) => assert_eq!(n, name, "{pairs:?}"),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
    }
}
