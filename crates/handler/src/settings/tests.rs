//! Settings: defaults, every bad value named, and the README's configuration table.
#![allow(clippy::unwrap_used)]

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

#[test]
fn a_cap_below_the_base_names_the_cap() {
    let err = settings(&[
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
        ("RETRY_BASE_MS", "2000"),
        ("RETRY_CAP_MS", "1000"),
    ])
    .unwrap_err();
    assert!(err.to_string().starts_with("RETRY_CAP_MS"), "{err}");
}

#[test]
fn reads_backoff_and_priorities() {
    let s = settings(&[
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
        ("RETRY_BACKOFF", "OFF"),
        ("RETRY_BASE_MS", "200"),
        ("RETRY_CAP_MS", "800"),
        ("RETRY_MAX_ATTEMPTS", "3"),
        ("JOB_TYPE_PRIORITIES", "thumbnail=low, audit=HIGH"),
        ("RATE_LIMIT_GLOBAL_PER_MINUTE", "60"),
    ])
    .unwrap();
    assert!(!s.retry.enabled);
    let b = s.retry.backoff;
    assert_eq!(
        (b.base(), b.cap(), b.max_attempts()),
        (Duration::from_millis(200), Duration::from_millis(800), 3)
    );
    let p = &s.protection.backpressure.priorities;
    assert_eq!(
        (p["thumbnail"], p["audit"]),
        (
            crate::protect::Priority::Low,
            crate::protect::Priority::High
        )
    );
    // The global burst defaults to the per-minute rate.
    assert_eq!(s.protection.global_burst.get(), 60);
}

#[test]
fn service_bus_target_and_credential() {
    use crate::namespace::CredentialKind;
    let port = ("FUNCTIONS_CUSTOMHANDLER_PORT", "1");
    assert_eq!(settings(&[port]).unwrap().service_bus, None);
    let ns = (
        "ServiceBusConnection__fullyQualifiedNamespace",
        "sb1.servicebus.windows.net",
    );
    let t = settings(&[port, ns]).unwrap().service_bus.unwrap();
    assert_eq!(
        (t.endpoint.as_str(), t.queue.as_str(), t.credential),
        (
            "https://sb1.servicebus.windows.net",
            "jobs",
            CredentialKind::DeveloperTools
        )
    );
    let t = settings(&[
        port,
        ns,
        ("IDENTITY_ENDPOINT", "http://x"),
        ("ServiceBusConnection__clientId", "c1"),
        ("SERVICEBUS_QUEUE", "other"),
    ])
    .unwrap()
    .service_bus
    .unwrap();
    assert_eq!(
        (t.credential, t.queue.as_str()),
        (
            CredentialKind::ManagedIdentity {
                client_id: Some("c1".into())
            },
            "other"
        )
    );
    let t = settings(&[
        port,
        ns,
        ("SERVICEBUS_ENDPOINT", "http://127.0.0.1:7071/servicebus"),
    ])
    .unwrap()
    .service_bus
    .unwrap();
    assert_eq!(
        (t.endpoint.as_str(), t.credential),
        ("http://127.0.0.1:7071/servicebus", CredentialKind::None)
    );
}

/// The settings the handler asks the environment for, in one start with nothing set but the port.
fn names_read() -> std::collections::BTreeSet<String> {
    let asked = std::cell::RefCell::new(std::collections::BTreeSet::new());
    Settings::from_lookup(|name| {
        asked.borrow_mut().insert(name.to_owned());
        (name == c::PORT.name).then(|| "8080".to_owned())
    })
    .unwrap();
    asked.into_inner()
}

/// The first table under `## Configuration` in the README: each row's setting names (every
/// backticked name in the first cell) and its default cell.
fn readme_rows() -> Vec<(Vec<String>, String)> {
    let readme = include_str!("../../../../README.md");
    let rows = test_support::markdown_table(readme, "\n## Configuration\n", "| setting |");
    rows.into_iter()
        .map(|cells| {
            let names = cells[0]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect();
            (names, cells.get(1).copied().unwrap_or_default().to_owned())
        })
        .collect()
}

#[test]
fn the_catalogue_is_what_the_handler_reads() {
    let catalogue: std::collections::BTreeSet<String> =
        c::ALL.iter().map(|s| s.name.to_owned()).collect();
    assert_eq!(names_read(), catalogue);
    assert_eq!(c::ALL.len(), catalogue.len(), "a setting is listed twice");
}

#[test]
fn the_readme_configuration_table_matches_the_catalogue_both_ways() {
    let rows = readme_rows();
    let in_readme: std::collections::BTreeSet<String> =
        rows.iter().flat_map(|(names, _)| names.clone()).collect();
    let catalogue: std::collections::BTreeSet<String> =
        c::ALL.iter().map(|s| s.name.to_owned()).collect();
    let undocumented: Vec<_> = catalogue.difference(&in_readme).collect();
    let unread: Vec<_> = in_readme.difference(&catalogue).collect();
    assert!(
        undocumented.is_empty(),
        "read by the handler but missing from the README's configuration table: {undocumented:?}"
    );
    assert!(
        unread.is_empty(),
        "in the README's configuration table but never read by the handler: {unread:?}"
    );
    for setting in c::ALL {
        if let SettingDefault::Value(default) = setting.default {
            let (_, cell) = rows
                .iter()
                .find(|(names, _)| names.iter().any(|n| n == setting.name))
                .unwrap();
            assert!(
                cell.starts_with(&format!("`{default}`")),
                "{}: the README says the default is {cell}, the catalogue {default}",
                setting.name
            );
        }
    }
}
