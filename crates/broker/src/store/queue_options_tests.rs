//! Per-queue options (delivery count, lock, time-to-live, dead-lettering on expiry) and duplicate
//! detection through the store's API, on a real database file.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;

use super::*;

/// `dedup` detects duplicates within `window`; `plain` does not; `short` has 2 deliveries.
fn config(window: Duration) -> QueueConfig {
    let defaults = QueueOptions::default();
    let mut queues = std::collections::BTreeMap::new();
    queues.insert(
        "dedup".to_owned(),
        QueueOptions {
            duplicate_detection: Some(window),
            ..defaults
        },
    );
    queues.insert(
        "short".to_owned(),
        QueueOptions {
            max_delivery_count: 2,
            lock_duration: Duration::from_secs(7),
            ..defaults
        },
    );
    QueueConfig { defaults, queues }
}

fn msg(queue: &str, id: &str, body: &str) -> NewMessage {
    NewMessage {
        queue: queue.into(),
        body: body.into(),
        message_id: Some(id.into()),
        ..NewMessage::default()
    }
}

async fn bodies(store: &Store, queue: &str) -> Vec<String> {
    let got = store.receive(queue, 100).await.unwrap();
    for d in &got {
        store.complete(&d.lock()).await.unwrap();
    }
    got.into_iter().map(|d| d.message.body).collect()
}

#[tokio::test]
async fn a_message_id_seen_within_the_window_is_accepted_and_dropped_and_accepted_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.db"), config(Duration::from_millis(600))).unwrap();
    let first = store
        .send(vec![msg("dedup", "m-1", "first")])
        .await
        .unwrap();
    // Inside the window, in another send and within one batch: accepted, each with its own
    // sequence number, and dropped. Another id, and the same id on another queue, are new.
    let again = store
        .send(vec![
            msg("dedup", "m-1", "again"),
            msg("dedup", "m-2", "other"),
        ])
        .await
        .unwrap();
    store
        .send(vec![
            msg("plain", "m-1", "plain-1"),
            msg("plain", "m-1", "plain-2"),
        ])
        .await
        .unwrap();
    assert_eq!(again.len(), 2);
    assert!(
        again[0] > first[0] && again[1] > again[0],
        "{first:?} {again:?}"
    );
    // Completing the original does not clear the history.
    assert_eq!(bodies(&store, "dedup").await, ["first", "other"]);
    store
        .send(vec![msg("dedup", "m-1", "still a duplicate")])
        .await
        .unwrap();
    assert!(bodies(&store, "dedup").await.is_empty());
    assert_eq!(bodies(&store, "plain").await, ["plain-1", "plain-2"]);
    // Past the window (fixed from the first acceptance: the duplicates did not extend it).
    tokio::time::sleep(Duration::from_millis(650)).await;
    store
        .send(vec![msg("dedup", "m-1", "new again")])
        .await
        .unwrap();
    assert_eq!(bodies(&store, "dedup").await, ["new again"]);
    let s = store.stats(vec![]).await.unwrap();
    let dedup = s.iter().find(|s| s.name == "dedup").unwrap();
    assert_eq!(dedup.enqueued, 3, "dropped duplicates are not enqueued");
}

#[tokio::test]
async fn the_history_survives_a_reopen_and_holds_for_raw_and_scheduled_sends() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let window = Duration::from_secs(60);
    let later = Utc::now() + chrono::Duration::seconds(3600);
    {
        let store = Store::open(&path, config(window)).unwrap();
        store
            .send(vec![msg("dedup", "kept", "before")])
            .await
            .unwrap();
        let scheduled = NewMessage {
            scheduled_for: Some(later),
            ..msg("dedup", "sched", "scheduled")
        };
        store.send(vec![scheduled]).await.unwrap();
    }
    let store = Store::open(&path, config(window)).unwrap();
    store
        .send(vec![msg("dedup", "kept", "after")])
        .await
        .unwrap();
    let raw = Raw {
        bare: vec![0x00, 0x53, 0x75, 0xa0, 0x01, b'x'],
        annotations: None,
    };
    let sent = RawSend {
        message: msg("dedup", "kept", "raw"),
        raw,
        sender_id: true,
    };
    store.send_raw(vec![sent]).await.unwrap();
    // A second schedule of the id is dropped; its sequence number cancels nothing.
    let dup = store
        .send(vec![NewMessage {
            scheduled_for: Some(later),
            ..msg("dedup", "sched", "scheduled twice")
        }])
        .await
        .unwrap();
    assert_eq!(store.cancel_scheduled("dedup", dup).await.unwrap(), 0);
    let s = store.stats(vec![]).await.unwrap();
    let dedup = s.iter().find(|s| s.name == "dedup").unwrap();
    assert_eq!((dedup.active, dedup.scheduled), (1, 1));
    assert_eq!(bodies(&store, "dedup").await, ["before"]);
}

#[tokio::test]
async fn the_sweep_forgets_ids_older_than_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = Store::open(&path, config(Duration::from_millis(200))).unwrap();
    store
        .send(vec![msg("dedup", "a", "1"), msg("plain", "b", "2")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    store.sweep().await.unwrap();
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let left: i64 = conn
        .query_row("SELECT COUNT(*) FROM duplicates", [], |r| r.get(0))
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn each_queue_has_its_own_delivery_count_and_lock_duration() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.db"), config(Duration::from_secs(60))).unwrap();
    assert_eq!(store.options("short").max_delivery_count, 2);
    assert_eq!(store.options("other").max_delivery_count, 10);
    store
        .send(vec![msg("short", "s", "s"), msg("other", "o", "o")])
        .await
        .unwrap();
    for _ in 0..2 {
        let d = store.receive("short", 1).await.unwrap().remove(0);
        let held = (d.locked_until - Utc::now()).num_seconds();
        assert!((5..=7).contains(&held), "lock of {held} s");
        store.abandon(&d.lock(), "x").await.unwrap();
    }
    assert_eq!(store.dead_letters("short", 10).await.unwrap().len(), 1);
    for _ in 0..2 {
        let d = store.receive("other", 1).await.unwrap().remove(0);
        assert!((d.locked_until - Utc::now()).num_seconds() > 50);
        store.abandon(&d.lock(), "x").await.unwrap();
    }
    assert!(store.dead_letters("other", 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn each_queue_expires_messages_by_its_own_time_to_live_and_dead_letter_setting() {
    let dir = tempfile::tempdir().unwrap();
    let short = QueueOptions {
        time_to_live: Duration::from_millis(300),
        ..QueueOptions::default()
    };
    let mut config = QueueConfig::from(QueueOptions::default());
    config.queues.insert(
        "ttl-dlq".into(),
        QueueOptions {
            dead_letter_on_expiration: true,
            ..short
        },
    );
    config.queues.insert(
        "ttl-drop".into(),
        QueueOptions {
            dead_letter_on_expiration: false,
            ..short
        },
    );
    let store = Store::open(&dir.path().join("q.db"), config).unwrap();
    // A message's own longer time-to-live is capped by its queue's default, as on Service Bus.
    let long = |queue: &str| NewMessage {
        time_to_live: Some(Duration::from_secs(3600)),
        ..msg(queue, "t", "short-lived")
    };
    store
        .send(vec![long("ttl-dlq"), long("ttl-drop"), long("plain")])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(store.sweep().await.unwrap().1, 2);
    let dead = store.dead_letters("ttl-dlq", 10).await.unwrap();
    assert_eq!(
        dead.iter().map(|d| d.reason.as_str()).collect::<Vec<_>>(),
        [TTL_REASON]
    );
    assert!(store.dead_letters("ttl-drop", 10).await.unwrap().is_empty());
    let stats = store.stats(vec![]).await.unwrap();
    let of = |name: &str| stats.iter().find(|s| s.name == name).unwrap().clone();
    assert_eq!((of("ttl-drop").active, of("ttl-drop").expired), (0, 1));
    assert_eq!((of("ttl-dlq").dead_lettered, of("ttl-dlq").expired), (1, 1));
    assert_eq!((of("plain").active, of("plain").expired), (1, 0));
}

#[tokio::test]
async fn a_generated_id_is_neither_looked_up_nor_kept_and_a_sender_id_repeats_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = Store::open(&path, config(Duration::from_secs(60))).unwrap();
    let raw = Raw {
        bare: vec![0x00, 0x53, 0x75, 0xa0, 0x01, b'x'],
        annotations: None,
    };
    let send = |id: &str, body: &str, sender_id| RawSend {
        message: msg("dedup", id, body),
        raw: raw.clone(),
        sender_id,
    };
    // Two broker-generated ids that happen to be equal are both stored (a generated id is
    // never in the history), and a sender's id twice in one call is stored once.
    let seqs = store
        .send_raw(vec![
            send("gen", "1", false),
            send("gen", "2", false),
            send("own", "3", true),
            send("own", "4", true),
        ])
        .await
        .unwrap();
    assert_eq!(seqs.len(), 4);
    let s = store.stats(vec![]).await.unwrap();
    let dedup = s.iter().find(|s| s.name == "dedup").unwrap();
    assert_eq!((dedup.active, dedup.enqueued), (3, 3));
    assert_eq!(bodies(&store, "dedup").await, ["1", "2", "3"]);
    drop(store);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kept: Vec<String> = conn
        .prepare("SELECT message_id FROM duplicates")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(kept, ["own"]);
}
