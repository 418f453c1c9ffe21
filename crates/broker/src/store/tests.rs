//! The store's behaviour through its public API, on a real database file in a temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use chrono::Utc;

use super::*;

fn options(max: u32) -> QueueOptions {
    QueueOptions {
        max_delivery_count: max,
        lock_duration: Duration::from_secs(60),
        time_to_live: Duration::from_secs(3600),
        dead_letter_on_expiration: true,
        duplicate_detection: None,
    }
}

/// A store in a fresh directory (kept alive by the guard) with `options`.
fn fresh(options: QueueOptions) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("q.db"), options).unwrap();
    (dir, store)
}

fn msg(body: &str) -> NewMessage {
    NewMessage {
        queue: "jobs".into(),
        body: body.into(),
        ..NewMessage::default()
    }
}

#[tokio::test]
async fn send_receive_complete() {
    let (_dir, store) = fresh(options(3));
    store.send(vec![msg("a"), msg("b")]).await.unwrap();
    let got = store.receive("jobs", 10).await.unwrap();
    assert_eq!(
        got.iter()
            .map(|d| d.message.body.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert!(got.iter().all(|d| d.message.delivery_count == 1));
    assert!(
        store.receive("jobs", 10).await.unwrap().is_empty(),
        "locked messages are not redelivered"
    );
    store.complete(&got[0].lock()).await.unwrap();
    assert!(matches!(
        store.complete(&got[0].lock()).await,
        Err(StoreError::LockLost { .. })
    ));
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.active, s.locked, s.completed, s.enqueued), (0, 1, 1, 2));
}

#[tokio::test]
async fn abandon_redelivers_then_dead_letters_after_max_deliveries() {
    let (_dir, store) = fresh(options(3));
    store.send(vec![msg("poison")]).await.unwrap();
    for attempt in 1..=3 {
        let d = store.receive("jobs", 1).await.unwrap().remove(0);
        assert_eq!(d.message.delivery_count, attempt);
        let outcome = store
            .abandon(&d.lock(), &format!("failure {attempt}"))
            .await
            .unwrap();
        assert_eq!(
            outcome,
            if attempt < 3 {
                Abandoned::Requeued
            } else {
                Abandoned::DeadLettered
            }
        );
    }
    let dl = store.dead_letters("jobs", 10).await.unwrap();
    assert_eq!(
        (dl.len(), dl[0].reason.as_str(), dl[0].delivery_count),
        (1, MAX_DELIVERY_REASON, 3)
    );
    assert_eq!(
        dl[0].description,
        "Message could not be consumed after 3 delivery attempts."
    );
    assert_eq!(dl[0].last_error.as_deref(), Some("failure 3"));
    assert_eq!(store.resubmit("jobs", Selection::All).await.unwrap(), 1);
    let again = store.receive("jobs", 1).await.unwrap();
    assert_eq!(
        (
            again.len(),
            again[0].message.delivery_count,
            again[0].message.body.as_str()
        ),
        (1, 1, "poison")
    );
}

#[tokio::test]
async fn dead_letters_can_be_peek_locked_unlocked_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let store = Store::open(&path, options(1)).unwrap();
    store.send(vec![msg("a"), msg("b")]).await.unwrap();
    for d in store.receive("jobs", 2).await.unwrap() {
        store.abandon(&d.lock(), "boom").await.unwrap();
    }
    assert!(store.lock_dead_letter("other").await.unwrap().is_none());
    let a = store.lock_dead_letter("jobs").await.unwrap().unwrap();
    assert_eq!(
        (a.message.body.as_str(), a.message.delivery_count),
        ("a", 1)
    );
    assert_eq!(
        a.message.properties["DeadLetterReason"],
        MAX_DELIVERY_REASON
    );
    assert!(
        a.message.properties["DeadLetterErrorDescription"]
            .as_str()
            .unwrap()
            .contains("1 delivery attempts")
    );
    let b = store.lock_dead_letter("jobs").await.unwrap().unwrap();
    assert_eq!(b.message.body, "b");
    assert!(store.lock_dead_letter("jobs").await.unwrap().is_none());
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!(s.dead_lettered, 2, "a locked dead letter is still one");
    store.settle_dead_letter(&a.lock(), false).await.unwrap();
    store.settle_dead_letter(&b.lock(), true).await.unwrap();
    assert!(matches!(
        store.settle_dead_letter(&b.lock(), true).await,
        Err(StoreError::LockLost { .. })
    ));
    let again = store.lock_dead_letter("jobs").await.unwrap().unwrap();
    assert_eq!(again.message.body, "a");
    drop(store);
    let store = Store::open(&path, options(1)).unwrap();
    let after_restart = store.lock_dead_letter("jobs").await.unwrap().unwrap();
    assert_eq!(
        after_restart.message.body, "a",
        "a lock held at a crash is released"
    );
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.dead_lettered, s.completed), (1, 0));
}

#[tokio::test]
async fn locks_held_at_a_crash_are_redelivered_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    {
        let store = Store::open(&path, options(5)).unwrap();
        store.send(vec![msg("x")]).await.unwrap();
        assert_eq!(store.receive("jobs", 1).await.unwrap().len(), 1);
    }
    let store = Store::open(&path, options(5)).unwrap();
    let again = store.receive("jobs", 1).await.unwrap();
    assert_eq!((again.len(), again[0].message.delivery_count), (1, 2));
}

#[tokio::test]
async fn a_renewed_lock_outlives_its_first_expiry_and_a_lapsed_one_is_redelivered() {
    let mut o = options(5);
    o.lock_duration = Duration::from_secs(2);
    let (_dir, store) = fresh(o);
    store.send(vec![msg("slow")]).await.unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let until = store.renew_lock(&d.lock()).await.unwrap();
    assert!(until > d.locked_until);
    // Past the first expiry, well before the renewed one (margins are relative to the lock
    // times the store handed out, so a slow machine does not make this flaky).
    sleep_past(d.locked_until).await;
    assert_eq!(
        store.sweep().await.unwrap(),
        (0, 0),
        "the renewed lock holds"
    );
    store.complete(&d.lock()).await.unwrap();

    store.send(vec![msg("lapsed")]).await.unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    sleep_past(d.locked_until).await;
    assert_eq!(
        store.sweep().await.unwrap(),
        (1, 0),
        "the lapsed lock expires"
    );
    assert!(matches!(
        store.renew_lock(&d.lock()).await,
        Err(StoreError::LockLost { .. })
    ));
    let again = store.receive("jobs", 1).await.unwrap().remove(0);
    assert_eq!(
        (again.message.body.as_str(), again.message.delivery_count),
        ("lapsed", 2)
    );
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.completed, s.abandoned, s.locked), (1, 1, 1));
}

/// Sleep until 100 ms after `t`.
async fn sleep_past(t: chrono::DateTime<Utc>) {
    let left = (t - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(left + Duration::from_millis(100)).await;
}

#[tokio::test]
async fn scheduled_messages_wait_for_their_time() {
    let (_dir, store) = fresh(options(5));
    // Far enough ahead that a slow fsync on a loaded machine cannot make it due before the checks.
    let at = Utc::now() + chrono::Duration::milliseconds(1500);
    store
        .send(vec![NewMessage {
            scheduled_for: Some(at),
            time_to_live: Some(Duration::from_secs(7_200)),
            ..msg("later")
        }])
        .await
        .unwrap();
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.active, s.scheduled), (0, 1));
    assert!(store.receive("jobs", 1).await.unwrap().is_empty());
    sleep_past(at).await;
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    assert_eq!(
        d.message.enqueued_at.timestamp_millis(),
        at.timestamp_millis()
    );
    assert_eq!(
        d.message.expires_at - d.message.enqueued_at,
        chrono::Duration::seconds(3_600),
        "the queue's default time-to-live caps the message's"
    );
}

#[tokio::test]
async fn expired_messages_are_dead_lettered() {
    let mut o = options(5);
    o.time_to_live = Duration::from_millis(1);
    let (_dir, store) = fresh(o);
    store.send(vec![msg("old")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.receive("jobs", 1).await.unwrap().is_empty());
    assert_eq!(store.sweep().await.unwrap(), (0, 1));
    assert_eq!(
        store.dead_letters("jobs", 1).await.unwrap()[0].reason,
        TTL_REASON
    );

    o.dead_letter_on_expiration = false;
    let (_other, dropping) = fresh(o);
    dropping.send(vec![msg("old")]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(dropping.sweep().await.unwrap(), (0, 1));
    let s = &dropping.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.active, s.dead_lettered, s.expired), (0, 0, 1));
}

#[tokio::test]
async fn a_settlement_must_name_the_locked_message_of_its_queue() {
    let (_dir, store) = fresh(options(5));
    store
        .send(vec![NewMessage {
            message_id: Some("m-1".into()),
            ..msg("a")
        }])
        .await
        .unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    let wrong_queue = LockRef {
        queue: "nosuch".into(),
        ..d.lock()
    };
    let wrong_message = LockRef {
        message: Some("999999".into()),
        ..d.lock()
    };
    for lock in [&wrong_queue, &wrong_message] {
        assert!(
            matches!(store.complete(lock).await, Err(StoreError::LockLost { .. })),
            "{lock:?}"
        );
        assert!(matches!(
            store.abandon(lock, "x").await,
            Err(StoreError::LockLost { .. })
        ));
        assert!(matches!(
            store.renew_lock(lock).await,
            Err(StoreError::LockLost { .. })
        ));
    }
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.locked, s.completed, s.abandoned), (1, 0, 0), "untouched");

    // The message may be named by MessageId, by sequence number, or not at all.
    let by_id = LockRef {
        message: Some("m-1".into()),
        ..d.lock()
    };
    store.renew_lock(&by_id).await.unwrap();
    let by_token = LockRef {
        message: None,
        ..d.lock()
    };
    store.abandon(&by_token, "again").await.unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    store.complete(&d.lock()).await.unwrap();
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.locked, s.completed, s.abandoned), (0, 1, 1));
}

#[tokio::test]
async fn a_dead_letter_settlement_checks_queue_and_message_too() {
    let (_dir, store) = fresh(options(1));
    store.send(vec![msg("a")]).await.unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    store.abandon(&d.lock(), "boom").await.unwrap();
    let dead = store.lock_dead_letter("jobs").await.unwrap().unwrap();
    let wrong = LockRef {
        message: Some((dead.message.sequence_number + 1).to_string()),
        ..dead.lock()
    };
    assert!(matches!(
        store.settle_dead_letter(&wrong, true).await,
        Err(StoreError::LockLost { .. })
    ));
    assert!(
        matches!(
            store.complete(&dead.lock()).await,
            Err(StoreError::LockLost { .. })
        ),
        "a dead-letter lock does not complete an active message"
    );
    store.settle_dead_letter(&dead.lock(), true).await.unwrap();
    assert_eq!(store.stats(vec![]).await.unwrap()[0].dead_lettered, 0);
}

#[tokio::test]
async fn arrivals_wake_a_waiting_receiver() {
    let (_dir, store) = fresh(options(5));
    let waiting = store.arrivals().notified();
    tokio::pin!(waiting);
    waiting.as_mut().enable();
    let sender = store.clone();
    tokio::spawn(async move { sender.send(vec![msg("a")]).await.unwrap() });
    tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("a send wakes the receiver");
    assert_eq!(store.receive("jobs", 1).await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_store_knows_the_queues_it_has_seen() {
    let (_dir, store) = fresh(options(5));
    assert!(!store.has_seen("jobs").await.unwrap());
    store.send(vec![msg("a")]).await.unwrap();
    assert!(store.has_seen("jobs").await.unwrap());
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    store.complete(&d.lock()).await.unwrap();
    assert!(store.has_seen("jobs").await.unwrap(), "its counters remain");
}

#[tokio::test]
async fn a_receiver_can_dead_letter_a_locked_message_with_its_own_reason() {
    let (_dir, store) = fresh(options(10));
    store.send(vec![msg("bad")]).await.unwrap();
    let d = store.receive("jobs", 1).await.unwrap().remove(0);
    let elsewhere = LockRef {
        queue: "other".into(),
        ..d.lock()
    };
    assert!(matches!(
        store.dead_letter(&elsewhere, "r", "d").await,
        Err(StoreError::LockLost { .. })
    ));
    store
        .dead_letter(&d.lock(), "InvalidPayload", "reportName missing")
        .await
        .unwrap();
    let dl = store.dead_letters("jobs", 10).await.unwrap();
    assert_eq!(
        (
            dl[0].reason.as_str(),
            dl[0].description.as_str(),
            dl[0].delivery_count
        ),
        ("InvalidPayload", "reportName missing", 1)
    );
    assert!(matches!(
        store.complete(&d.lock()).await,
        Err(StoreError::LockLost { .. })
    ));
}

#[tokio::test]
async fn a_scheduled_message_can_be_cancelled_until_its_time() {
    let (_dir, store) = fresh(options(5));
    let later = NewMessage {
        scheduled_for: Some(Utc::now() + chrono::Duration::hours(1)),
        ..msg("later")
    };
    let seqs = store
        .send(vec![later.clone(), later, msg("now")])
        .await
        .unwrap();
    assert_eq!(
        store
            .cancel_scheduled("other", vec![seqs[0]])
            .await
            .unwrap(),
        0,
        "another queue's message"
    );
    assert_eq!(
        store
            .cancel_scheduled("jobs", vec![seqs[0], seqs[2]])
            .await
            .unwrap(),
        1,
        "an active message is not scheduled"
    );
    let s = &store.stats(vec![]).await.unwrap()[0];
    assert_eq!((s.active, s.scheduled), (1, 1));
}
