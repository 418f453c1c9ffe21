//! `--sb-config`: queues and their properties from a file in the format of Microsoft's Service
//! Bus emulator (`Config.json`: `UserConfig.Namespaces[].Queues[]` with `Name` and `Properties`;
//! Azure/azure-service-bus-emulator-installer, `ServiceBus-Emulator/Config/Config.json` and
//! `Schema/Config-schema.json`), so a user's emulator configuration works as is.
//!
//! Values are held to Service Bus's own limits, not the emulator's narrower ones, so what starts
//! here also deploys: `LockDuration` 5 s to 5 min, `DuplicateDetectionHistoryTimeWindow` 20 s to
//! 7 days (Microsoft's `QueueProperties.DuplicateDetectionHistoryTimeWindow` reference: "Max
//! value is 7 days and minimum is 20 seconds"; the emulator allows 5 s to 5 min),
//! `MaxDeliveryCount` 1 to 2000 and `DefaultMessageTimeToLive` at least 1 s (as the devhost's
//! flags). A property the file leaves out has the devhost's default (its `--max-delivery-count`,
//! `--lock-duration`, ... flags). Everything the broker does not implement (sessions,
//! forwarding, topics and subscriptions, any other property or key) stops start-up naming the
//! file, the queue and the property: never ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use broker::store::QueueOptions;
use serde_json::{Map, Value};

use super::{ConfigError, parse_duration, read_json};

/// What the devhost does not implement, in the refusal's words.
const UNSUPPORTED: &str = "not supported by the devhost";

/// The queues a `Config.json` declares, each with its options (`defaults` where it is silent).
pub fn load(
    path: &Path,
    defaults: QueueOptions,
) -> Result<BTreeMap<String, QueueOptions>, ConfigError> {
    parse(path, &read_json(path)?, defaults)
}

/// [`load`] over a parsed file.
pub fn parse(
    path: &Path,
    json: &Value,
    defaults: QueueOptions,
) -> Result<BTreeMap<String, QueueOptions>, ConfigError> {
    let at = At {
        path: path.to_path_buf(),
    };
    let root = at.object(json, "")?;
    at.only(root, "", &["UserConfig"])?;
    let user = at.object(at.required(root, "", "UserConfig")?, "UserConfig")?;
    at.only(user, "UserConfig", &["Namespaces", "Logging"])?;
    if user.contains_key("Logging") {
        tracing::warn!(
            file = %path.display(),
            "UserConfig.Logging is the emulator's log sink: the devhost logs to stderr"
        );
    }
    let namespaces = at.array(
        at.required(user, "UserConfig", "Namespaces")?,
        "UserConfig.Namespaces",
    )?;
    if namespaces.len() != 1 {
        return Err(at.field(
            "UserConfig.Namespaces",
            format!(
                "the devhost serves one namespace (as the emulator does), not {}",
                namespaces.len()
            ),
        ));
    }
    let ns_field = "UserConfig.Namespaces[0]";
    let namespace = at.object(&namespaces[0], ns_field)?;
    at.only(namespace, ns_field, &["Name", "Queues", "Topics"])?;
    if let Some(topics) = namespace.get("Topics") {
        let field = format!("{ns_field}.Topics");
        if let Some(first) = at.array(topics, &field)?.first() {
            let name = first.get("Name").and_then(Value::as_str).unwrap_or("?");
            return Err(at.field(
                &format!("{field}[0] ({name})"),
                format!("topics and subscriptions are {UNSUPPORTED}: only queues are"),
            ));
        }
    }
    let mut out = BTreeMap::new();
    let queues = match namespace.get("Queues") {
        Some(q) => at.array(q, &format!("{ns_field}.Queues"))?.as_slice(),
        None => &[],
    };
    for (i, queue) in queues.iter().enumerate() {
        let field = format!("{ns_field}.Queues[{i}]");
        let queue = at.object(queue, &field)?;
        at.only(queue, &field, &["Name", "Properties"])?;
        let name = at.required(queue, &field, "Name")?;
        let name = valid_name(name).ok_or_else(|| {
            at.field(
                &format!("{field}.Name"),
                "a queue name is letters, digits, `.`, `-`, `_` or `/`, starting and ending with a letter or digit".into(),
            )
        })?;
        let field = format!("{field} ({name})");
        let options = match queue.get("Properties") {
            Some(p) => properties(
                &at,
                &field,
                at.object(p, &format!("{field}.Properties"))?,
                defaults,
            )?,
            None => defaults,
        };
        if out.insert(name.to_owned(), options).is_some() {
            return Err(at.field(
                &format!("{field}.Name"),
                "a second queue of that name".into(),
            ));
        }
    }
    Ok(out)
}

/// A queue's `Properties`.
fn properties(
    at: &At,
    queue: &str,
    props: &Map<String, Value>,
    defaults: QueueOptions,
) -> Result<QueueOptions, ConfigError> {
    let mut o = defaults;
    // Left out, duplicate detection is the devhost's default (`--duplicate-detection-window`);
    // a window without one is Service Bus's default, 10 minutes.
    let mut requires_duplicate_detection = defaults.duplicate_detection.is_some();
    let mut window = defaults
        .duplicate_detection
        .unwrap_or(Duration::from_secs(600));
    for (key, value) in props {
        let field = format!("{queue}.Properties.{key}");
        match key.as_str() {
            "DeadLetteringOnMessageExpiration" => {
                o.dead_letter_on_expiration = at.bool(value, &field)?;
            }
            "DefaultMessageTimeToLive" => {
                o.time_to_live =
                    at.duration(value, &field, Duration::from_secs(1), Duration::MAX)?;
            }
            "DuplicateDetectionHistoryTimeWindow" => {
                window = at.duration(
                    value,
                    &field,
                    Duration::from_secs(20),
                    Duration::from_secs(7 * 24 * 3600),
                )?;
            }
            "LockDuration" => {
                o.lock_duration = at.duration(
                    value,
                    &field,
                    Duration::from_secs(5),
                    Duration::from_secs(300),
                )?;
            }
            "MaxDeliveryCount" => {
                o.max_delivery_count = value
                    .as_u64()
                    .filter(|n| (1..=2000).contains(n))
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| {
                        at.field(
                            &field,
                            format!("{value} is not a whole number from 1 to 2000"),
                        )
                    })?;
            }
            "RequiresDuplicateDetection" => {
                requires_duplicate_detection = at.bool(value, &field)?
            }
            "RequiresSession" => {
                if at.bool(value, &field)? {
                    return Err(at.field(&field, format!("sessions are {UNSUPPORTED}")));
                }
            }
            "ForwardTo" | "ForwardDeadLetteredMessagesTo" => {
                let target = value
                    .as_str()
                    .ok_or_else(|| at.field(&field, "expected a queue name (a string)".into()))?;
                if !target.is_empty() {
                    return Err(at.field(&field, format!("auto-forwarding is {UNSUPPORTED}")));
                }
            }
            _ => {
                return Err(at.field(&field, format!("this property is {UNSUPPORTED}")));
            }
        }
    }
    o.duplicate_detection = requires_duplicate_detection.then_some(window);
    Ok(o)
}

/// A queue name as the emulator's schema allows it; `None` otherwise.
fn valid_name(value: &Value) -> Option<&str> {
    let name = value.as_str()?;
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let inner = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/'));
    (inner && edge(name.chars().next()) && edge(name.chars().last())).then_some(name)
}

/// The file being read, for errors that name it.
struct At {
    path: PathBuf,
}

impl At {
    fn field(&self, field: &str, problem: String) -> ConfigError {
        ConfigError::Field {
            path: self.path.clone(),
            field: if field.is_empty() {
                "(root)".into()
            } else {
                field.into()
            },
            problem,
        }
    }

    fn object<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Map<String, Value>, ConfigError> {
        v.as_object()
            .ok_or_else(|| self.field(field, "expected an object".into()))
    }

    fn array<'v>(&self, v: &'v Value, field: &str) -> Result<&'v Vec<Value>, ConfigError> {
        v.as_array()
            .ok_or_else(|| self.field(field, "expected an array".into()))
    }

    fn bool(&self, v: &Value, field: &str) -> Result<bool, ConfigError> {
        v.as_bool()
            .ok_or_else(|| self.field(field, format!("{v} is not true or false")))
    }

    fn required<'v>(
        &self,
        m: &'v Map<String, Value>,
        field: &str,
        key: &str,
    ) -> Result<&'v Value, ConfigError> {
        m.get(key).ok_or_else(|| {
            let at = if field.is_empty() {
                key.to_owned()
            } else {
                format!("{field}.{key}")
            };
            self.field(&at, "missing".into())
        })
    }

    /// Refuse keys other than `known`.
    fn only(&self, m: &Map<String, Value>, field: &str, known: &[&str]) -> Result<(), ConfigError> {
        match m.keys().find(|k| !known.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => {
                let at = if field.is_empty() {
                    k.clone()
                } else {
                    format!("{field}.{k}")
                };
                Err(self.field(
                    &at,
                    format!("{UNSUPPORTED} (known here: {})", known.join(", ")),
                ))
            }
        }
    }

    fn duration(
        &self,
        v: &Value,
        field: &str,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let text = v.as_str().ok_or_else(|| {
            self.field(
                field,
                "expected an ISO 8601 duration such as \"PT1M\"".into(),
            )
        })?;
        let d = parse_duration(text).map_err(|e| self.field(field, e))?;
        if d < min || d > max {
            let bound = |d: Duration| humantime(d);
            let range = if max == Duration::MAX {
                format!("at least {}", bound(min))
            } else {
                format!("from {} to {}", bound(min), bound(max))
            };
            return Err(self.field(field, format!("{text}: Service Bus allows {range}")));
        }
        Ok(d)
    }
}

/// `20 seconds`, `5 minutes`, `7 days`.
fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn defaults() -> QueueOptions {
        QueueOptions::default()
    }

    fn parse_json(v: Value) -> Result<BTreeMap<String, QueueOptions>, String> {
        parse(Path::new("Config.json"), &v, defaults()).map_err(|e| e.to_string())
    }

    fn one_queue(props: Value) -> Value {
        json!({"UserConfig": {"Namespaces": [{"Name": "sbemulatorns", "Queues": [{"Name": "jobs", "Properties": props}]}]}})
    }

    #[test]
    fn the_emulator_sample_queue_is_read_with_its_properties() {
        let v = json!({"UserConfig": {
            "Namespaces": [{"Name": "sbemulatorns", "Queues": [{"Name": "queue.1", "Properties": {
                "DeadLetteringOnMessageExpiration": false,
                "DefaultMessageTimeToLive": "PT1H",
                "DuplicateDetectionHistoryTimeWindow": "PT20S",
                "ForwardDeadLetteredMessagesTo": "",
                "ForwardTo": "",
                "LockDuration": "PT1M",
                "MaxDeliveryCount": 3,
                "RequiresDuplicateDetection": true,
                "RequiresSession": false
            }}, {"Name": "plain"}], "Topics": []}],
            "Logging": {"Type": "File"}
        }});
        let queues = parse_json(v).unwrap();
        let q = queues["queue.1"];
        assert_eq!(q.max_delivery_count, 3);
        assert_eq!(q.lock_duration, Duration::from_secs(60));
        assert_eq!(q.time_to_live, Duration::from_secs(3600));
        assert!(!q.dead_letter_on_expiration);
        assert_eq!(q.duplicate_detection, Some(Duration::from_secs(20)));
        assert_eq!(queues["plain"], defaults());
    }

    #[test]
    fn the_window_defaults_to_ten_minutes_and_counts_only_with_requires_duplicate_detection() {
        let on = parse_json(one_queue(json!({"RequiresDuplicateDetection": true}))).unwrap();
        assert_eq!(
            on["jobs"].duplicate_detection,
            Some(Duration::from_secs(600))
        );
        let off = parse_json(one_queue(
            json!({"DuplicateDetectionHistoryTimeWindow": "PT1M"}),
        ))
        .unwrap();
        assert_eq!(off["jobs"].duplicate_detection, None);
        // Left out, the devhost's default holds; said, the file's word does.
        let on_by_default = QueueOptions {
            duplicate_detection: Some(Duration::from_secs(60)),
            ..defaults()
        };
        let read =
            |props: Value| parse(Path::new("c"), &one_queue(props), on_by_default).unwrap()["jobs"];
        assert_eq!(
            read(json!({})).duplicate_detection,
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            read(json!({"RequiresDuplicateDetection": false})).duplicate_detection,
            None
        );
        assert_eq!(
            read(json!({"DuplicateDetectionHistoryTimeWindow": "PT30S"})).duplicate_detection,
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn what_the_broker_does_not_implement_is_refused_naming_file_queue_and_property() {
        for (props, property, words) in [
            (
                json!({"RequiresSession": true}),
                "RequiresSession",
                "sessions are not supported by the devhost",
            ),
            (
                json!({"ForwardTo": "other"}),
                "ForwardTo",
                "auto-forwarding is not supported by the devhost",
            ),
            (
                json!({"ForwardDeadLetteredMessagesTo": "dlq"}),
                "ForwardDeadLetteredMessagesTo",
                "auto-forwarding",
            ),
            (
                json!({"MaxSizeInMegabytes": 1024}),
                "MaxSizeInMegabytes",
                "this property is not supported by the devhost",
            ),
            (
                json!({"EnablePartitioning": false}),
                "EnablePartitioning",
                "not supported by the devhost",
            ),
        ] {
            let e = parse_json(one_queue(props)).unwrap_err();
            assert!(
                e.starts_with(
                    "Config.json: field `UserConfig.Namespaces[0].Queues[0] (jobs).Properties."
                ),
                "{e}"
            );
            assert!(e.contains(property) && e.contains(words), "{e}");
        }
        let topics = json!({"UserConfig": {"Namespaces": [{"Name": "n", "Queues": [], "Topics": [{"Name": "topic.1"}]}]}});
        let e = parse_json(topics).unwrap_err();
        assert!(
            e.contains("Topics[0] (topic.1)")
                && e.contains("topics and subscriptions are not supported by the devhost"),
            "{e}"
        );
        let extra = json!({"UserConfig": {"Namespaces": [{"Name": "n", "Queues": [{"Name": "q", "Rules": []}]}]}});
        assert!(
            parse_json(extra)
                .unwrap_err()
                .contains("Queues[0].Rules`: not supported by the devhost")
        );
    }

    #[test]
    fn values_outside_service_bus_limits_are_refused_with_the_limit() {
        for (props, words) in [
            (
                json!({"DuplicateDetectionHistoryTimeWindow": "PT5S"}),
                "Service Bus allows from 20 seconds to 7 days",
            ),
            (
                json!({"DuplicateDetectionHistoryTimeWindow": "P8D"}),
                "from 20 seconds to 7 days",
            ),
            (
                json!({"LockDuration": "PT10M"}),
                "from 5 seconds to 5 minutes",
            ),
            (
                json!({"DefaultMessageTimeToLive": "PT0S"}),
                "at least 1 seconds",
            ),
            (
                json!({"MaxDeliveryCount": 0}),
                "not a whole number from 1 to 2000",
            ),
            (json!({"MaxDeliveryCount": "3"}), "not a whole number"),
            (
                json!({"RequiresDuplicateDetection": "yes"}),
                "is not true or false",
            ),
            (json!({"LockDuration": "soon"}), "LockDuration"),
        ] {
            let e = parse_json(one_queue(props)).unwrap_err();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn malformed_structure_is_refused_precisely() {
        assert!(
            parse_json(json!({}))
                .unwrap_err()
                .contains("`UserConfig`: missing")
        );
        assert!(
            parse_json(json!({"UserConfig": {"Namespaces": []}}))
                .unwrap_err()
                .contains("one namespace")
        );
        let two = json!({"UserConfig": {"Namespaces": [{"Name": "n", "Queues": [{"Name": "q"}, {"Name": "q"}]}]}});
        assert!(
            parse_json(two)
                .unwrap_err()
                .contains("a second queue of that name")
        );
        let bad =
            json!({"UserConfig": {"Namespaces": [{"Name": "n", "Queues": [{"Name": "-q"}]}]}});
        assert!(parse_json(bad).unwrap_err().contains("Queues[0].Name"));
    }
}
