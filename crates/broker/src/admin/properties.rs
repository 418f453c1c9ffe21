//! A `QueueDescription` in and out: each property the broker implements maps onto the queue's
//! [`EntityDescription`] within Service Bus's limits; each one it does not implement is refused
//! with `400` naming it (never ignored); the read-only ones an SDK echoes on update
//! (`SizeInBytes`, `CreatedAt`, `CountDetails`, ...) are skipped. Property names and order as in
//! the SDKs' serializers (`@azure/service-bus` `serializers/queueResourceSerializer.js`
//! `buildQueueOptions`, which cites the .NET SDK's `QueuePropertiesExtensions.cs` as the
//! authority on the order; azure-servicebus `management/_generated/models/_models.py`
//! `QueueDescription`).

use std::time::Duration;

use super::atom::{self, Field};
use super::xsd::{self, TIMESPAN_MAX};
use crate::store::{EntityDescription, EntityRuntime, QueueOptions};

/// Service Bus's defaults for a queue created without properties (the recorded answer to an
/// empty `QueueDescription`: `LockDuration` PT1M, `MaxDeliveryCount` 10,
/// `DefaultMessageTimeToLive` and `AutoDeleteOnIdle` `TimeSpan.MaxValue`, no dead-lettering on
/// expiry, duplicate detection off with a 10-minute window, 1024 MB, 256 KB messages).
pub fn service_bus_defaults() -> EntityDescription {
    EntityDescription::with_options(QueueOptions {
        max_delivery_count: 10,
        lock_duration: Duration::from_secs(60),
        time_to_live: TIMESPAN_MAX,
        dead_letter_on_expiration: false,
        duplicate_detection: None,
    })
}

/// The whole days of `TimeSpan.MaxValue`.
const NO_LIMIT: Duration = Duration::from_secs(10_675_199 * 86_400);

/// Service Bus's window when duplicate detection is off (shown, and used once it is turned on).
const DEFAULT_WINDOW: Duration = Duration::from_secs(600);

/// Why a description is refused (`400`).
#[derive(Debug, thiserror::Error)]
#[error("SubCode=40000. Bad Request. {0}")]
pub struct Refused(String);

fn refuse(property: &str, why: impl std::fmt::Display) -> Refused {
    Refused(format!("The property '{property}' {why}."))
}

fn duration(property: &str, f: &Field, min: Duration, max: Duration) -> Result<Duration, Refused> {
    let d = xsd::parse_duration(&f.text).ok_or_else(|| {
        refuse(
            property,
            format!(
                "has the value '{}', not an xs:duration such as PT1M",
                f.text
            ),
        )
    })?;
    // `TimeSpan.MaxValue` comes back a little off from clients that hold microseconds (Python's
    // `timedelta`): anything from its whole days on is that maximum.
    let d = if d >= NO_LIMIT { TIMESPAN_MAX } else { d };
    if d < min || d > max {
        return Err(refuse(
            property,
            format!(
                "is {}; it must be from {} to {}",
                f.text,
                xsd::duration(min),
                xsd::duration(max)
            ),
        ));
    }
    Ok(d)
}

fn boolean(property: &str, f: &Field) -> Result<bool, Refused> {
    xsd::parse_bool(&f.text).ok_or_else(|| {
        refuse(
            property,
            format!("has the value '{}', not true or false", f.text),
        )
    })
}

fn number(
    property: &str,
    f: &Field,
    ok: impl Fn(u32) -> bool,
    limit: &str,
) -> Result<u32, Refused> {
    f.text
        .trim()
        .parse::<u32>()
        .ok()
        .filter(|n| ok(*n))
        .ok_or_else(|| refuse(property, format!("is '{}'; {limit}", f.text)))
}

fn unsupported(property: &str, what: &str) -> Refused {
    refuse(
        property,
        format!("asks for {what}, which the local Service Bus does not implement"),
    )
}

/// Apply `fields` to `base` (a new queue's defaults, or the queue being updated). On update,
/// `RequiresDuplicateDetection` cannot change (Service Bus refuses it too: "can't be updated
/// after creating the queue", `@azure/service-bus` `updateQueue`).
pub fn apply(
    base: &EntityDescription,
    fields: &[(String, Field)],
    update: bool,
) -> Result<EntityDescription, Refused> {
    let mut e = base.clone();
    let mut requires_dd = base.options.duplicate_detection.is_some();
    let mut window = base.options.duplicate_detection.unwrap_or(DEFAULT_WINDOW);
    for (name, f) in fields {
        let p = name.as_str();
        match p {
            "LockDuration" => {
                e.options.lock_duration =
                    duration(p, f, Duration::from_secs(5), Duration::from_secs(300))?;
            }
            "MaxSizeInMegabytes" => {
                e.max_size_mb = number(
                    p,
                    f,
                    |n| (1024..=81_920).contains(&n) && n % 1024 == 0,
                    "it must be a multiple of 1024 from 1024 to 81920 (Standard: up to 5120)",
                )?;
            }
            "RequiresDuplicateDetection" => requires_dd = boolean(p, f)?,
            "DuplicateDetectionHistoryTimeWindow" => {
                window = duration(
                    p,
                    f,
                    Duration::from_secs(20),
                    Duration::from_secs(7 * 86_400),
                )?;
            }
            "RequiresSession" if boolean(p, f)? => return Err(unsupported(p, "sessions")),
            "DefaultMessageTimeToLive" => {
                e.options.time_to_live = duration(p, f, Duration::from_secs(1), TIMESPAN_MAX)?;
            }
            "DeadLetteringOnMessageExpiration" => {
                e.options.dead_letter_on_expiration = boolean(p, f)?
            }
            "MaxDeliveryCount" => {
                e.options.max_delivery_count = number(
                    p,
                    f,
                    |n| (1..=2000).contains(&n),
                    "it must be a whole number from 1 to 2000",
                )?;
            }
            "EnableBatchedOperations" => e.enable_batched_operations = boolean(p, f)?,
            "Status" if f.text != "Active" => {
                return Err(unsupported(
                    p,
                    &format!("status {} (only Active is implemented)", f.text),
                ));
            }
            "ForwardTo" | "ForwardDeadLetteredMessagesTo" if !f.text.is_empty() => {
                return Err(unsupported(p, "auto-forwarding"));
            }
            "UserMetadata" => {
                if f.text.chars().count() > 1024 {
                    return Err(refuse(p, "is longer than 1024 characters"));
                }
                e.user_metadata.clone_from(&f.text);
            }
            "AutoDeleteOnIdle"
                if duration(p, f, Duration::from_secs(300), TIMESPAN_MAX)? < TIMESPAN_MAX =>
            {
                return Err(unsupported(
                    p,
                    "deletion when idle (only the default, TimeSpan.MaxValue, is implemented)",
                ));
            }
            "EnablePartitioning" if boolean(p, f)? => return Err(unsupported(p, "partitioning")),
            "EnableExpress" if boolean(p, f)? => return Err(unsupported(p, "express entities")),
            "IsAnonymousAccessible" if boolean(p, f)? => {
                return Err(unsupported(p, "anonymous access"));
            }
            "AuthorizationRules" if f.nested => {
                return Err(unsupported(p, "per-queue authorization rules"));
            }
            "MaxMessageSizeInKilobytes" => {
                e.max_message_size_kb = number(
                    p,
                    f,
                    |n| n == 256 || (1024..=102_400).contains(&n),
                    "it must be 256 (Standard) or from 1024 to 102400 (Premium)",
                )?;
            }
            // Checked above where a value is not the default; the default is what is implemented.
            "RequiresSession"
            | "Status"
            | "ForwardTo"
            | "ForwardDeadLetteredMessagesTo"
            | "AutoDeleteOnIdle"
            | "EnablePartitioning"
            | "EnableExpress"
            | "IsAnonymousAccessible"
            | "AuthorizationRules" => {}
            "SupportOrdering" => {
                boolean(p, f)?;
            }
            // Read-only: what an SDK sends back on update from what it read.
            "SizeInBytes"
            | "MessageCount"
            | "CreatedAt"
            | "UpdatedAt"
            | "AccessedAt"
            | "CountDetails"
            | "EntityAvailabilityStatus" => {}
            other => {
                return Err(refuse(
                    other,
                    "is not a queue property the local Service Bus implements",
                ));
            }
        }
    }
    if update && requires_dd != base.options.duplicate_detection.is_some() {
        return Err(refuse(
            "RequiresDuplicateDetection",
            "cannot be changed after the queue is created",
        ));
    }
    e.options.duplicate_detection = requires_dd.then_some(window);
    Ok(e)
}

/// The `QueueDescription` children of `e` with its runtime counts, in Service Bus's order.
pub fn describe(e: &EntityDescription, rt: &EntityRuntime) -> String {
    let o = &e.options;
    let mut out = String::with_capacity(1500);
    atom::element(&mut out, "LockDuration", xsd::duration(o.lock_duration));
    atom::element(&mut out, "MaxSizeInMegabytes", e.max_size_mb);
    atom::element(
        &mut out,
        "RequiresDuplicateDetection",
        o.duplicate_detection.is_some(),
    );
    atom::element(&mut out, "RequiresSession", false);
    atom::element(
        &mut out,
        "DefaultMessageTimeToLive",
        xsd::duration(o.time_to_live),
    );
    atom::element(
        &mut out,
        "DeadLetteringOnMessageExpiration",
        o.dead_letter_on_expiration,
    );
    atom::element(
        &mut out,
        "DuplicateDetectionHistoryTimeWindow",
        xsd::duration(o.duplicate_detection.unwrap_or(DEFAULT_WINDOW)),
    );
    atom::element(&mut out, "MaxDeliveryCount", o.max_delivery_count);
    atom::element(
        &mut out,
        "EnableBatchedOperations",
        e.enable_batched_operations,
    );
    atom::element(&mut out, "SizeInBytes", rt.size_bytes);
    atom::element(
        &mut out,
        "MessageCount",
        rt.active + rt.dead_lettered + rt.scheduled,
    );
    atom::element(&mut out, "IsAnonymousAccessible", false);
    out.push_str("<AuthorizationRules></AuthorizationRules>");
    atom::element(&mut out, "Status", "Active");
    if !e.user_metadata.is_empty() {
        atom::element(&mut out, "UserMetadata", &e.user_metadata);
    }
    atom::element(&mut out, "CreatedAt", xsd::time(e.created_at));
    atom::element(&mut out, "UpdatedAt", xsd::time(e.updated_at));
    let accessed = rt
        .last_enqueued
        .map_or(e.updated_at, |t| t.max(e.updated_at));
    atom::element(&mut out, "AccessedAt", xsd::time(accessed));
    atom::element(&mut out, "SupportOrdering", true);
    out.push_str(&atom::count_details(
        rt.active,
        rt.dead_lettered,
        rt.scheduled,
    ));
    atom::element(&mut out, "AutoDeleteOnIdle", xsd::duration(TIMESPAN_MAX));
    atom::element(&mut out, "EnablePartitioning", false);
    atom::element(&mut out, "EntityAvailabilityStatus", "Available");
    atom::element(&mut out, "EnableExpress", false);
    atom::element(&mut out, "MaxMessageSizeInKilobytes", e.max_message_size_kb);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Vec<(String, Field)> {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    (*k).to_owned(),
                    Field {
                        text: (*v).to_owned(),
                        nested: false,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn implemented_properties_map_and_the_rest_are_refused_by_name() {
        let e = apply(
            &service_bus_defaults(),
            &fields(&[
                ("LockDuration", "PT30S"),
                ("MaxDeliveryCount", "3"),
                ("RequiresDuplicateDetection", "true"),
                ("DuplicateDetectionHistoryTimeWindow", "PT2M"),
                ("MaxMessageSizeInKilobytes", "1024"),
                ("Status", "Active"),
                ("EnablePartitioning", "false"),
                ("SizeInBytes", "12"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(e.options.lock_duration, Duration::from_secs(30));
        assert_eq!(e.options.max_delivery_count, 3);
        assert_eq!(
            e.options.duplicate_detection,
            Some(Duration::from_secs(120))
        );
        assert_eq!(e.max_message_size_kb, 1024);
        for (p, v) in [
            ("RequiresSession", "true"),
            ("EnablePartitioning", "true"),
            ("ForwardTo", "other"),
            ("AutoDeleteOnIdle", "PT10M"),
            ("LockDuration", "PT10M"),
            ("MaxDeliveryCount", "0"),
            ("MaxMessageSizeInKilobytes", "512"),
            ("Shiny", "1"),
        ] {
            let err = apply(&service_bus_defaults(), &fields(&[(p, v)]), false).unwrap_err();
            assert!(err.to_string().contains(&format!("'{p}'")), "{err}");
        }
        let err = apply(
            &e,
            &fields(&[("RequiresDuplicateDetection", "false")]),
            true,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("RequiresDuplicateDetection"),
            "{err}"
        );
    }
}
