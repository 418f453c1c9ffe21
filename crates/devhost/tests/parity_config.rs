//! docs/PARITY.md, "Start-up and configuration" rows: what the Functions host validates or
//! honours in `host.json`, `function.json` and the app settings, and what the devhost refuses
//! loudly (start-up fails naming the file, the setting and "not supported by the devhost"). The
//! real devhost binary hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Devhost, add_pyhandler_variant, assert_start_refused, free_port, invocations, pyhandler_root,
    recorded, set_host_json,
};
use serde_json::{Value, json};

/// Stage a fresh copy, apply `edit`, and expect start-up to fail with every piece of `expected`.
fn refused(values: &[(&str, &str)], edit: impl FnOnce(&Path), expected: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), values);
    edit(&root);
    assert_start_refused(&root, &dir.path().join("data"), expected);
}

/// [`refused`] with the app's default settings and an edit of `host.json`.
fn host_json_refused(edit: impl FnOnce(&mut Value), expected: &[&str]) {
    refused(&[], |r| set_host_json(r, edit), expected);
}

#[test]
fn host_json_version_and_extension_bundle_are_checked_as_the_host_does() {
    host_json_refused(
        |h| {
            h.as_object_mut().unwrap().remove("version");
        },
        &[
            "host.json",
            "The host.json file is missing the required 'version' property.",
        ],
    );
    host_json_refused(
        |h| h["version"] = json!("3.0"),
        &["'3.0' is an invalid value for host.json 'version' property"],
    );
    host_json_refused(
        |h| h["extensionBundle"]["version"] = json!("not-a-range"),
        &[
            "extensionBundle.version",
            "The value of version property in extensionBundle section of host.json file is invalid or missing.",
        ],
    );
    host_json_refused(
        |h| h["extensionBundle"]["version"] = json!("[2.*, 3.0.0)"),
        &["extensionBundle.version", "not supported by the devhost"],
    );
}

#[test]
fn trigger_options_the_devhost_lacks_are_refused_naming_the_key() {
    for (variant, key) in [
        ("ReceiveSessions", "isSessionsEnabled"),
        ("ReceiveNoAutoComplete", "autoCompleteMessages"),
        ("Unknown", "type"),
    ] {
        refused(
            &[],
            |r| add_pyhandler_variant(r, variant),
            &[
                &format!("{variant}/function.json"),
                &format!("bindings[0].{key}"),
                "not supported by the devhost",
            ],
        );
    }
}

#[test]
fn data_type_stream_is_refused() {
    refused(
        &[],
        |r| {
            add_pyhandler_variant(r, "ReceiveBinary");
            let path = r.join("ReceiveBinary/function.json");
            let mut f: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            f["bindings"][0]["dataType"] = json!("stream");
            std::fs::write(path, f.to_string()).unwrap();
        },
        &[
            "ReceiveBinary/function.json",
            "bindings[0].dataType",
            "not supported by the devhost",
        ],
    );
}

#[test]
fn function_timeout_bounds_follow_the_plan() {
    refused(
        &[("WEBSITE_SKU", "Dynamic")],
        |r| set_host_json(r, |h| h["functionTimeout"] = json!("00:11:00")),
        &[
            "functionTimeout",
            "FunctionTimeout must be greater than 00:00:01 and less than 00:10:00.",
        ],
    );
    refused(
        &[("WEBSITE_SKU", "Dynamic")],
        |r| set_host_json(r, |h| h["functionTimeout"] = json!("-1")),
        &["functionTimeout", "not allowed on Consumption"],
    );
    host_json_refused(
        |h| h["functionTimeout"] = json!("00:00:00"),
        &["FunctionTimeout must be greater than 00:00:01."],
    );
}

#[tokio::test]
async fn unbounded_function_timeout_starts_outside_consumption() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    set_host_json(&root, |h| h["functionTimeout"] = json!("-1"));
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(d.status("/api/Echo").await, 200);
}

#[tokio::test]
async fn queue_name_setting_resolves_and_disabled_functions_do_not_run() {
    // Unresolved: start-up fails with the host's message, naming the file and field.
    refused(
        &[],
        |r| add_pyhandler_variant(r, "ReceiveFromSetting"),
        &[
            "ReceiveFromSetting/function.json",
            "bindings[0].queueName",
            "'%PYH_QUEUE%' does not resolve to a value.",
        ],
    );
    // Resolved (names ignore case), with `Receive` disabled so that only `ReceiveFromSetting`
    // listens on the queue, and `Echo` disabled in the other spelling of the setting.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(
        dir.path(),
        &[
            ("pyh_queue", "pyh-out"),
            ("AzureWebJobs.Receive.Disabled", "true"),
            ("AzureWebJobs_Echo_Disabled", "True"),
            ("AzureWebJobs.Keyed.Disabled", "true"),
        ],
    );
    add_pyhandler_variant(&root, "ReceiveFromSetting");
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(d.status("/api/Echo").await, 404, "a disabled HTTP function");
    // ... but to the Admin level, which `func start` gives every authenticated request: one with
    // a key, or to a function that is not anonymous.
    assert_eq!(d.status("/api/Echo?code=any").await, 200);
    assert_eq!(d.status("/api/Keyed").await, 200);
    let sent = d.post_status("/api/Send", r#"{"out": {"hello": 1}}"#).await;
    assert_eq!(sent, 202);
    recorded(&d, "ReceiveFromSetting", 1, Duration::from_secs(30)).await;
    let receive = invocations(&d, "Receive").await;
    assert!(receive.is_empty(), "{receive:?}");
}

#[tokio::test]
async fn route_prefix_may_be_empty_and_matches_ignoring_case() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(d.status("/API/Echo").await, 200);
    drop(d);
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    set_host_json(&root, |h| {
        h["extensions"]["http"]["routePrefix"] = json!("")
    });
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(d.status("/Echo").await, 200);
    assert_eq!(d.status("//Echo").await, 404);
    assert_eq!(d.status("/api/Echo").await, 404);
}

#[test]
fn route_template_features_the_devhost_lacks_are_refused() {
    for route in ["r/{x:regex(^a$)}", "r/{a}.{b}"] {
        refused(
            &[],
            |r| {
                std::fs::create_dir_all(r.join("Odd")).unwrap();
                let f = json!({"bindings": [
                    {"type": "httpTrigger", "direction": "in", "name": "req", "route": route},
                    {"type": "http", "direction": "out", "name": "res"}]});
                std::fs::write(r.join("Odd/function.json"), f.to_string()).unwrap();
            },
            &[
                "Odd/function.json",
                "bindings[0].route",
                "not supported by the devhost",
            ],
        );
    }
}
