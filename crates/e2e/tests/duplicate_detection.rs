//! Queues from a Service Bus emulator `Config.json` (`devhost start --sb-config`) and duplicate
//! detection through the real binary over the REST front: a `MessageId` seen within the queue's
//! `DuplicateDetectionHistoryTimeWindow` is accepted and dropped, on a single and a batch send,
//! across a `kill -9` and restart, and accepted again once the window (Service Bus's 20 s
//! minimum) has passed. What the broker does not implement stops start-up naming file, queue and
//! property. ProcessJob is left out of the script root so nothing consumes the queues.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Devhost, devhost_binary, free_port, script_root};
use serde_json::{Value, json};
use servicebus::{Auth, OutgoingMessage, ServiceBusClient};

fn config(props: Value) -> Value {
    json!({"UserConfig": {
        "Namespaces": [{"Name": "sbemulatorns", "Queues": [{"Name": "orders", "Properties": props}], "Topics": []}],
        "Logging": {"Type": "File"}
    }})
}

fn message(id: &str, body: &str) -> OutgoingMessage {
    let mut m = OutgoingMessage::new(body);
    m.message_id = Some(id.into());
    m
}

async fn active(sb: &ServiceBusClient) -> u64 {
    sb.entity_counts("orders").await.unwrap().active
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_id_within_the_window_is_dropped_across_a_restart_and_accepted_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(dir.path(), &[]);
    std::fs::remove_dir_all(root.join("ProcessJob")).unwrap();
    let file = dir.path().join("Config.json");
    let props = json!({
        "RequiresDuplicateDetection": true,
        "DuplicateDetectionHistoryTimeWindow": "PT20S",
        "MaxDeliveryCount": 3,
        "LockDuration": "PT30S",
        "RequiresSession": false,
        "ForwardTo": ""
    });
    std::fs::write(&file, config(props).to_string()).unwrap();
    let flags = ["--sb-config", file.to_str().unwrap()];
    let data = dir.path().join("data");
    let d = Devhost::start_with(&root, &data, free_port(), &flags).await;
    let sb = ServiceBusClient::new(&format!("{}/servicebus", d.url), Auth::None).unwrap();

    // A queue only the file names exists, with the file's properties.
    sb.send("orders", &message("m-1", "first")).await.unwrap();
    // Accepted (and remembered) before the send returned: the window ends before this + 20 s.
    let first_sent = Instant::now();
    sb.send("orders", &message("m-1", "again")).await.unwrap();
    assert_eq!(
        active(&sb).await,
        1,
        "the second m-1 is accepted and dropped"
    );
    let batch = json!([
        {"Body": "in a batch", "BrokerProperties": {"MessageId": "m-1"}},
        {"Body": "other", "BrokerProperties": {"MessageId": "m-2"}, "UserProperties": {"k": "v"}}
    ]);
    let res = d
        .client
        .post(format!("{}/servicebus/orders/messages", d.url))
        .header("content-type", "application/vnd.microsoft.servicebus.json")
        .body(batch.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    assert_eq!(active(&sb).await, 2, "m-2 is new, m-1 is not");
    let m = sb.peek_lock("orders", 1).await.unwrap().unwrap();
    assert_eq!((m.message_id.as_str(), m.body.as_str()), ("m-1", "first"));
    let lock_secs = (m.locked_until.unwrap() - chrono::Utc::now()).num_seconds();
    assert!(
        (25..=30).contains(&lock_secs),
        "LockDuration PT30S: {lock_secs} s"
    );
    sb.complete(&m).await.unwrap();

    // The history is durable: after kill -9 and a restart m-1 is still a duplicate.
    d.kill9();
    drop(d);
    let d = Devhost::start_with(&root, &data, free_port(), &flags).await;
    let sb = ServiceBusClient::new(&format!("{}/servicebus", d.url), Auth::None).unwrap();
    sb.send("orders", &message("m-1", "after restart"))
        .await
        .unwrap();
    assert_eq!(active(&sb).await, 1, "only m-2 is left");

    // Once 20 s have passed since m-1 was first accepted, it is a new message.
    let window = Duration::from_millis(20_300);
    tokio::time::sleep(window.saturating_sub(first_sent.elapsed())).await;
    sb.send("orders", &message("m-1", "new again"))
        .await
        .unwrap();
    assert_eq!(active(&sb).await, 2);
    d.stop().await;
}

/// `devhost start --sb-config FILE` that must refuse: exit status and stderr.
fn refused(dir: &Path, root: &Path, props: Value) -> (Option<i32>, String) {
    let file = dir.join("Config.json");
    std::fs::write(&file, config(props).to_string()).unwrap();
    let out = Command::new(devhost_binary())
        .args(["start", "--script-root"])
        .arg(root)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(["--port", &free_port().to_string(), "--amqp-port", "0"])
        .env("DEVHOST_SB_CONFIG", &file)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn what_the_broker_does_not_implement_stops_start_up_naming_file_queue_and_property() {
    let dir = tempfile::tempdir().unwrap();
    let root = script_root(dir.path(), &[]);
    for (props, words) in [
        (
            json!({"RequiresSession": true}),
            "RequiresSession`: sessions are not supported by the devhost",
        ),
        (
            json!({"ForwardTo": "elsewhere"}),
            "ForwardTo`: auto-forwarding is not supported by the devhost",
        ),
        (
            json!({"AutoDeleteOnIdle": "PT1H"}),
            "AutoDeleteOnIdle`: this property is not supported by the devhost",
        ),
        (
            json!({"DuplicateDetectionHistoryTimeWindow": "PT5S"}),
            "Service Bus allows from 20 seconds to 7 days",
        ),
    ] {
        let (code, err) = refused(dir.path(), &root, props);
        assert_eq!(code, Some(2), "{err}");
        assert!(
            err.contains(
                "Config.json: field `UserConfig.Namespaces[0].Queues[0] (orders).Properties."
            ),
            "{err}"
        );
        assert!(err.contains(words), "{err}");
    }
}
