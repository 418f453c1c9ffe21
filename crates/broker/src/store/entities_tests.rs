//! Entities (queues created through the administration API) through the store's API: their
//! options take effect at once, survive a reopen, and a delete takes the queue's messages along.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;

fn msg(queue: &str, body: &str) -> NewMessage {
    NewMessage {
        queue: queue.into(),
        body: body.into(),
        ..NewMessage::default()
    }
}

fn described(max_delivery_count: u32) -> EntityDescription {
    EntityDescription {
        max_message_size_kb: 1024,
        ..EntityDescription::with_options(QueueOptions {
            max_delivery_count,
            ..QueueOptions::default()
        })
    }
}

#[tokio::test]
async fn an_entity_applies_at_once_survives_a_reopen_and_is_deleted_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = Store::open(&path, QueueOptions::default()).unwrap();
    let created = store.create_entity("made", described(1)).await.unwrap();
    let EntityChange::Done(made) = created else {
        panic!("{created:?}")
    };
    assert!(made.created_at > chrono::DateTime::UNIX_EPOCH);
    assert_eq!(
        store.create_entity("made", described(1)).await.unwrap(),
        EntityChange::Exists
    );
    assert_eq!(
        store.update_entity("nosuch", described(1)).await.unwrap(),
        EntityChange::Missing
    );
    assert_eq!(store.max_message_bytes("made"), 1024 * 1024);
    assert_eq!(store.max_message_bytes("other"), 256 * 1024);

    // MaxDeliveryCount 1: the first abandon dead-letters, with no reopen in between.
    store.send(vec![msg("made", "a")]).await.unwrap();
    let got = store.receive("made", 1).await.unwrap();
    assert_eq!(
        store.abandon(&got[0].lock(), "x").await.unwrap(),
        Abandoned::DeadLettered
    );

    // Updated to 5: the writer's next batch sees it.
    let EntityChange::Done(updated) = store.update_entity("made", described(5)).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(updated.created_at, made.created_at);
    store.send(vec![msg("made", "b")]).await.unwrap();
    let got = store.receive("made", 1).await.unwrap();
    assert_eq!(
        store.abandon(&got[0].lock(), "x").await.unwrap(),
        Abandoned::Requeued
    );
    drop(store);

    let store = Store::open(&path, QueueOptions::default()).unwrap();
    let kept = store.entity("made").unwrap();
    assert_eq!(kept.options.max_delivery_count, 5);
    assert_eq!(kept.max_message_size_kb, 1024);
    assert_eq!(store.options("made").max_delivery_count, 5);
    assert_eq!(store.entity_names(), vec!["made".to_owned()]);
    let rt = store.runtime(vec!["made".into()]).await.unwrap();
    assert_eq!((rt[0].active, rt[0].dead_lettered), (1, 1));
    assert!(
        rt[0].size_bytes >= 2 && rt[0].last_enqueued.is_some(),
        "{rt:?}"
    );

    assert!(store.delete_queue("made").await.unwrap());
    assert!(!store.delete_queue("made").await.unwrap());
    assert!(store.entity("made").is_none());
    assert!(!store.has_seen("made").await.unwrap());
    assert_eq!(
        store.runtime(vec!["made".into()]).await.unwrap()[0],
        EntityRuntime::default()
    );
    assert_eq!(store.options("made"), QueueOptions::default());
    drop(store);
    let store = Store::open(&path, QueueOptions::default()).unwrap();
    assert!(store.entity("made").is_none());
}

#[tokio::test]
async fn the_configuration_wins_over_an_entity_of_the_same_name_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = Store::open(&path, QueueOptions::default()).unwrap();
    store.create_entity("q", described(3)).await.unwrap();
    drop(store);
    let mut config = QueueConfig::from(QueueOptions::default());
    let configured = QueueOptions {
        max_delivery_count: 7,
        lock_duration: Duration::from_secs(20),
        ..QueueOptions::default()
    };
    config.queues.insert("q".into(), configured);
    let store = Store::open(&path, config).unwrap();
    assert_eq!(store.options("q"), configured);
    assert_eq!(store.configured().collect::<Vec<_>>(), vec!["q"]);
}
