//! The devhost's Service Bus REST messaging subset through the real binary, driven by the
//! project's own REST client (crates/servicebus): send with broker properties (scheduled time,
//! MessageId, CorrelationId, custom properties), peek-lock, unlock and complete on the queue and on
//! its `$DeadLetterQueue`. The script root runs the `testhandler` fixture with one HTTP function
//! whose output binding declares the queue `jobs`, and nothing that consumes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use chrono::{SubsecRound, Utc};
use common::{Devhost, LOCAL_CONNECTION_STRING, free_port, testhandler_binary};
use serde_json::json;
use servicebus::{Auth, OutgoingMessage, ServiceBusClient, ServiceBusError, dead_letter_path};

/// `dir/app`: the testhandler with `Send` (HTTP in, Service Bus out to `jobs`), so that `jobs`
/// exists and nothing receives from it.
fn queue_only_root(dir: &Path) -> PathBuf {
    let root = dir.join("app");
    std::fs::create_dir_all(root.join("Send")).unwrap();
    let host = json!({"version": "2.0",
        "customHandler": {"description": {"defaultExecutablePath": "testhandler"}}});
    std::fs::write(root.join("host.json"), host.to_string()).unwrap();
    let send = json!({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["post"]},
        {"type": "http", "direction": "out", "name": "res"},
        {"type": "serviceBus", "direction": "out", "name": "job", "queueName": "jobs", "connection": "C"}
    ]});
    std::fs::write(root.join("Send/function.json"), send.to_string()).unwrap();
    std::fs::copy(testhandler_binary(), root.join("testhandler")).unwrap();
    let settings = json!({"IsEncrypted": false, "Values": {
        "FUNCTIONS_WORKER_RUNTIME": "custom", "C": LOCAL_CONNECTION_STRING}});
    std::fs::write(root.join("local.settings.json"), settings.to_string()).unwrap();
    root
}

fn message(id: &str, body: &str) -> OutgoingMessage {
    let mut m = OutgoingMessage::new(body);
    m.message_id = Some(id.into());
    m.correlation_id = Some("corr-1".into());
    m.content_type = Some("application/json".into());
    m.properties.insert("attempt".into(), "1".into());
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_peek_lock_unlock_complete_and_dead_letter_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = queue_only_root(dir.path());
    let d = Devhost::start(&root, &dir.path().join("data"), free_port(), 2).await;
    let sb = ServiceBusClient::new(&format!("{}/servicebus", d.url), Auth::None).unwrap();

    // Send, then peek-lock: every broker property comes back.
    sb.send("jobs", &message("m-1", r#"{"n":1}"#))
        .await
        .unwrap();
    assert_eq!(sb.entity_counts("jobs").await.unwrap().active, 1);
    let first = sb.peek_lock("jobs", 1).await.unwrap().unwrap();
    assert_eq!(first.body, r#"{"n":1}"#);
    assert_eq!(first.message_id, "m-1");
    assert_eq!(first.correlation_id.as_deref(), Some("corr-1"));
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    assert_eq!(first.property("attempt"), Some("1"));
    assert_eq!(first.delivery_count, 1);
    assert!(first.enqueued_time.is_some() && first.locked_until.is_some());
    assert!(
        first
            .location
            .as_deref()
            .unwrap()
            .contains("/servicebus/jobs/messages/")
    );
    assert!(
        sb.peek_lock("jobs", 0).await.unwrap().is_none(),
        "a locked message is not delivered twice"
    );

    // A settlement must name the message's own queue and message: Service Bus answers 410 for
    // a queue that does not exist and 404 for another message, and the lock is left alone.
    let token = &first.lock_token;
    for (path, status) in [
        (
            format!("nosuch/messages/{}/{token}", first.sequence_number),
            410,
        ),
        (format!("jobs/messages/999999/{token}"), 404),
    ] {
        for method in [reqwest::Method::DELETE, reqwest::Method::PUT] {
            let res = d
                .client
                .request(method.clone(), format!("{}/servicebus/{path}", d.url))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status().as_u16(), status, "{method} {path}");
        }
    }
    let q = d.queue("jobs").await;
    assert_eq!(
        (q["locked"].as_u64(), q["completed"].as_u64()),
        (Some(1), Some(0)),
        "{q}"
    );

    // Unlock: delivered again with the next delivery count; complete deletes it.
    sb.unlock(&first).await.unwrap();
    let second = sb.peek_lock("jobs", 1).await.unwrap().unwrap();
    assert_eq!(
        (second.message_id.as_str(), second.delivery_count),
        ("m-1", 2)
    );
    sb.complete(&second).await.unwrap();
    assert!(matches!(
        sb.complete(&second).await,
        Err(ServiceBusError::LockLost(_))
    ));
    assert!(sb.peek_lock("jobs", 0).await.unwrap().is_none());

    // A scheduled message is invisible until its time.
    let at = (Utc::now() + chrono::Duration::seconds(2)).trunc_subsecs(0);
    let mut later = message("m-2", "later");
    later.scheduled_enqueue_time = Some(at);
    sb.send("jobs", &later).await.unwrap();
    let counts = sb.entity_counts("jobs").await.unwrap();
    assert_eq!((counts.active, counts.scheduled), (0, 1));
    assert!(sb.peek_lock("jobs", 0).await.unwrap().is_none());
    let got = sb.peek_lock("jobs", 10).await.unwrap().unwrap();
    assert_eq!(got.message_id, "m-2");
    assert!(Utc::now() >= at);
    assert_eq!(
        got.enqueued_time,
        Some(at),
        "enqueued at its scheduled time"
    );

    // Exhaust its deliveries (max 2): it moves to the dead-letter subqueue.
    sb.unlock(&got).await.unwrap();
    let again = sb.peek_lock("jobs", 1).await.unwrap().unwrap();
    sb.unlock(&again).await.unwrap();
    let counts = sb.entity_counts("jobs").await.unwrap();
    assert_eq!((counts.active, counts.dead_letter), (0, 1));

    let dlq = dead_letter_path("jobs");
    let dead = sb.peek_lock(&dlq, 1).await.unwrap().unwrap();
    assert_eq!(dead.entity, "jobs/$DeadLetterQueue");
    assert_eq!(dead.message_id, "m-2");
    assert_eq!(dead.body, "later");
    assert_eq!(dead.delivery_count, 2);
    assert_eq!(dead.dead_letter_reason(), Some("MaxDeliveryCountExceeded"));
    assert_eq!(
        dead.dead_letter_description(),
        Some("Message could not be consumed after 2 delivery attempts.")
    );
    assert_eq!(dead.property("attempt"), Some("1"));
    assert!(sb.peek_lock(&dlq, 0).await.unwrap().is_none());
    sb.unlock(&dead).await.unwrap();
    let dead = sb.peek_lock(&dlq, 1).await.unwrap().unwrap();
    sb.complete(&dead).await.unwrap();
    let counts = sb.entity_counts("jobs").await.unwrap();
    assert_eq!(
        (counts.active, counts.dead_letter, counts.scheduled),
        (0, 0, 0)
    );
    let q = d.queue("jobs").await;
    assert_eq!(
        q["completed"], 1,
        "deleting a dead letter is not a completion: {q}"
    );

    // Precise errors: an unknown queue, a malformed BrokerProperties header.
    assert!(matches!(
        sb.send("nope", &message("x", "x")).await,
        Err(ServiceBusError::NotFound(q)) if q == "nope"
    ));
    assert!(matches!(
        sb.peek_lock(&dead_letter_path("nope"), 0).await,
        Err(ServiceBusError::NotFound(_))
    ));
    let res = d
        .client
        .post(format!("{}/servicebus/jobs/messages", d.url))
        .header("BrokerProperties", r#"{"ScheduledEnqueueTimeUtc":"soon"}"#)
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
}
