//! docs/PARITY.md, "Service Bus trigger" rows: the bindings' `connection` setting, the
//! `maxConcurrentCalls` default and the `extensions.serviceBus` keys, as the Service Bus extension
//! 5.x treats them. The real devhost binary hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    Devhost, Method, add_pyhandler_variant, assert_start_refused, counts, eventually, free_port,
    invocations, pyhandler_root, recorded,
};
use serde_json::{Map, Value, json};

fn edit_json(path: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut v);
    std::fs::write(path, v.to_string()).unwrap();
}

fn values(root: &Path, edit: impl FnOnce(&mut Map<String, Value>)) {
    edit_json(&root.join("local.settings.json"), |s| {
        edit(s["Values"].as_object_mut().unwrap());
    });
}

/// Set (or with `None` remove) `connection` on every Service Bus binding of the app.
fn connection(root: &Path, name: Option<&str>) {
    for f in ["Send", "Receive"] {
        edit_json(&root.join(f).join("function.json"), |j| {
            for b in j["bindings"].as_array_mut().unwrap() {
                if b["type"].as_str().unwrap().starts_with("serviceBus") {
                    let b = b.as_object_mut().unwrap();
                    match name {
                        Some(n) => b.insert("connection".into(), json!(n)),
                        None => b.remove("connection"),
                    };
                }
            }
        });
    }
}

fn refused(root: &Path, expected: &[&str]) {
    assert_start_refused(root, &root.join("../data"), expected);
}

/// Send one message through `Send` and wait for `Receive` to get it.
async fn round_trip(d: &Devhost) {
    let sent = d.post_status("/api/Send", r#"{"out": {"hello": 1}}"#).await;
    assert_eq!(sent, 202);
    recorded(d, "Receive", 1, Duration::from_secs(30)).await;
}

#[tokio::test]
async fn connection_must_name_a_setting_as_the_extension_resolves_it() {
    // A name no setting has: the extension's message, naming the file and the binding.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    connection(&root, Some("Missing"));
    refused(
        &root,
        &[
            "Receive/function.json",
            "bindings[0].connection",
            "Service Bus account connection string 'Missing' does not exist. Make sure that it is a defined App Setting.",
        ],
    );
    // No `connection`: the default name `ServiceBus` (then `AzureWebJobsServiceBus`).
    connection(&root, None);
    refused(
        &root,
        &["Service Bus account connection string 'ServiceBus' does not exist."],
    );
    // An empty value exists (Core Tools sets an empty variable) but is no connection string, and
    // neither is a section without `fullyQualifiedNamespace`: the extension's other error.
    connection(&root, Some("PyhServiceBus"));
    values(&root, |v| {
        v.insert("PyhServiceBus".into(), json!(""));
    });
    refused(
        &root,
        &[
            "Connection should have an 'fullyQualifiedNamespace' property or be a string representing a connection string.",
        ],
    );
    values(&root, |v| {
        v.remove("PyhServiceBus");
        v.insert("PyhServiceBus__clientId".into(), json!("c1"));
    });
    refused(
        &root,
        &[
            "Connection should have an 'fullyQualifiedNamespace' property or be a string representing a connection string.",
        ],
    );
    // `%setting%` in `connection` resolves first, with the host's message when it cannot.
    connection(&root, Some("%PYH_CONNECTION_NAME%"));
    refused(
        &root,
        &[
            "bindings[0].connection",
            "'%PYH_CONNECTION_NAME%' does not resolve to a value.",
        ],
    );

    // The identity form `<name>__fullyQualifiedNamespace`, the name from a `%setting%`:
    // starts, and the local Service Bus serves the bindings.
    values(&root, |v| {
        v.remove("PyhServiceBus__clientId");
        v.insert(
            "PyhServiceBus__fullyQualifiedNamespace".into(),
            json!("pyh.servicebus.windows.net"),
        );
        v.insert("PYH_CONNECTION_NAME".into(), json!("PyhServiceBus"));
    });
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    round_trip(&d).await;
    drop(d);

    // The default name found with the `AzureWebJobs` prefix, in the devhost's own environment
    // only (the shell `func start` runs in).
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    connection(&root, None);
    let d = Devhost::start_with_env(
        &root,
        &dir.path().join("data"),
        free_port(),
        &[],
        &[("AzureWebJobsServiceBus", common::LOCAL_CONNECTION_STRING)],
    )
    .await;
    round_trip(&d).await;
}

/// The most `Receive` invocations the handler saw running at once, after `n` messages each
/// holding its invocation for `hold_ms`.
async fn peak_concurrency(d: &Devhost, n: usize, hold_ms: u64) -> u64 {
    let batch: Vec<Value> = (0..n).map(|_| json!({"pyhSleepMs": hold_ms})).collect();
    let sent = d.post_status("/api/Send", json!({"out": batch}).to_string());
    assert_eq!(sent.await, 202);
    let rows = recorded(d, "Receive", n, Duration::from_secs(90)).await;
    rows.iter()
        .filter_map(|r| r["inFlight"].as_u64())
        .max()
        .unwrap()
}

#[tokio::test]
async fn max_concurrent_calls_defaults_to_16_per_processor_and_1_processor_on_consumption() {
    // SB `ServiceBusOptions.MaxConcurrentCalls` = 16 x `Utility.GetProcessorCount()`.
    let processors = std::thread::available_parallelism().unwrap().get();
    for (sku, expected) in [("Dynamic", 16), ("", 16 * processors)] {
        let dir = tempfile::tempdir().unwrap();
        let root = pyhandler_root(dir.path(), &[("WEBSITE_SKU", sku)]);
        let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
        let peak = peak_concurrency(&d, expected + 8, 2_000).await;
        assert_eq!(peak, expected as u64, "WEBSITE_SKU={sku:?}");
    }
    // An explicit value, its key in any case (the configuration binder ignores case).
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    edit_json(&root.join("host.json"), |h| {
        h["extensions"]["serviceBus"] = json!({"MaxConcurrentCalls": 3});
    });
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(peak_concurrency(&d, 8, 500).await, 3);
}

#[test]
fn service_bus_and_custom_handler_keys_are_honoured_accepted_or_refused() {
    for (pointer, value, field) in [
        (
            "/extensions/serviceBus",
            json!({"maxConcurentCalls": 4}),
            "extensions.serviceBus.maxConcurentCalls",
        ),
        (
            "/customHandler/enableProxyingHttpRequest",
            json!(true),
            "customHandler.enableProxyingHttpRequest",
        ),
        (
            "/customHandler/startupTimeout",
            json!("00:00:10"),
            "customHandler.startupTimeout",
        ),
        (
            "/customHandler/description/defaultWorkerPath",
            json!("worker.py"),
            "customHandler.description.defaultWorkerPath",
        ),
        (
            "/concurrency",
            json!({"dynamicConcurrencyEnabled": true}),
            "concurrency.dynamicConcurrencyEnabled",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let root = pyhandler_root(dir.path(), &[]);
        edit_json(&root.join("host.json"), |h| {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = if parent.is_empty() {
                h
            } else {
                h.pointer_mut(parent).unwrap()
            };
            parent[key] = value;
        });
        refused(&root, &["host.json", field, "not supported by the devhost"]);
    }
}

#[tokio::test]
async fn options_without_local_effect_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    edit_json(&root.join("host.json"), |h| {
        h["extensions"]["serviceBus"] = json!({
            "prefetchCount": 20,
            "clientRetryOptions": {"mode": "exponential", "maxRetries": 3},
            "maxMessageBatchSize": 100,
            "maxAutoLockRenewalDuration": "-00:00:00.0010000"
        });
    });
    add_pyhandler_variant(&root, "ReceiveFromSetting");
    values(&root, |v| {
        v.insert("PYH_QUEUE".into(), json!("pyh-other"));
    });
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    round_trip(&d).await;
}

#[tokio::test]
async fn data_type_binary_sends_the_body_as_base64_without_body_fields() {
    use base64::Engine as _;
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    add_pyhandler_variant(&root, "ReceiveBinary");
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let body = r#"{"MessageId": "shadow", "a": 1}"#;
    let sent = d.request(Method::POST, "/admin/queues/pyh-bin/messages");
    let sent = sent.header("content-type", "application/json");
    let sent = sent.header("x-message-id", "m-bin").body(body).send();
    let status = sent.await.unwrap().status();
    assert!(status.is_success(), "{status}");
    let record = &recorded(&d, "ReceiveBinary", 1, Duration::from_secs(30)).await[0];
    assert_eq!(
        record["data"]["msg"],
        base64::engine::general_purpose::STANDARD.encode(body),
        "{record}"
    );
    let metadata = &record["metadata"];
    assert_eq!(
        metadata["MessageId"], "\"m-bin\"",
        "no body field shadows it"
    );
    assert!(metadata.get("a").is_none(), "{metadata}");
    assert_eq!(metadata["DeliveryCount"], "1");
}

#[tokio::test]
async fn cardinality_many_delivers_batches_with_array_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    add_pyhandler_variant(&root, "ReceiveBatch");
    edit_json(&root.join("host.json"), |h| {
        h["extensions"]["serviceBus"] = json!({"maxMessageBatchSize": 3});
    });
    // `Send` sends its five messages in one go (one local transaction), so they wait together.
    edit_json(&root.join("Send/function.json"), |f| {
        f["bindings"][2]["queueName"] = json!("pyh-batch");
    });
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let out: Vec<Value> = (0..5).map(|i| json!({"i": i})).collect();
    let sent = d.post_status("/api/Send", json!({"out": out}).to_string());
    assert_eq!(sent.await, 202);
    let batches = eventually(Duration::from_secs(30), "not all 5 received", async || {
        let rows = invocations(&d, "ReceiveBatch").await;
        let received: usize = rows
            .iter()
            .map(|r| {
                let bodies: Vec<String> =
                    serde_json::from_str(r["data"]["msg"].as_str().unwrap()).unwrap();
                bodies.len()
            })
            .sum();
        (received >= 5).then_some(rows)
    })
    .await;
    // maxMessageBatchSize 3: a batch of 3, then 2, in queue order.
    assert_eq!(batches.len(), 2, "{batches:?}");
    let first = &batches[0];
    let bodies: Vec<String> = serde_json::from_str(first["data"]["msg"].as_str().unwrap()).unwrap();
    // Bodies as the output binding wrote them (indented JSON), not double-encoded.
    let expected: Vec<String> = (0..3).map(|i| format!("{{\n  \"i\": {i}\n}}")).collect();
    assert_eq!(bodies, expected);
    let metadata = &first["metadata"];
    let ids: Vec<String> =
        serde_json::from_str(metadata["MessageIdArray"].as_str().unwrap()).unwrap();
    assert_eq!(ids.len(), 3);
    assert_eq!(
        metadata["ContentTypeArray"],
        r#"["text/plain","text/plain","text/plain"]"#
    );
    assert_eq!(metadata["DeliveryCountArray"], "[1,1,1]");
    let seqs: Vec<i64> =
        serde_json::from_str(metadata["SequenceNumberArray"].as_str().unwrap()).unwrap();
    assert_eq!(seqs.len(), 3);
    assert!(metadata.get("MessageId").is_none() && metadata.get("i").is_none());
    assert_eq!(batches[1]["metadata"]["DeliveryCountArray"], "[1,1]");
    // Every message completed.
    d.queue_until("pyh-batch", Duration::from_secs(10), |q| {
        counts(q, ["completed", "active", "locked"]) == [5, 0, 0]
    })
    .await;
    drop(d);

    // A failed batch abandons every message: redelivered together, dead-lettered together.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    add_pyhandler_variant(&root, "ReceiveBatch");
    edit_json(&root.join("Send/function.json"), |f| {
        f["bindings"][2]["queueName"] = json!("pyh-batch");
    });
    let d = Devhost::start(&root, &dir.path().join("data"), free_port(), 2).await;
    let sent = d.post_status("/api/Send", r#"{"out": [{"pyhFail": true}, {"x": 1}]}"#);
    assert_eq!(sent.await, 202);
    let within = Duration::from_secs(30);
    d.queue_until("pyh-batch", within, |q| q["deadLettered"] == 2)
        .await;
    let rows = recorded(&d, "ReceiveBatch", 2, within).await;
    let counts: Vec<&str> = rows
        .iter()
        .map(|r| r["metadata"]["DeliveryCountArray"].as_str().unwrap())
        .collect();
    assert_eq!(counts, ["[1,1]", "[2,2]"]);
}
