//! The AMQP front end's store operations on a real database file, across a reopen: raw sections
//! kept byte for byte, release does not count a delivery, deferred messages stay deferred.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;

fn options() -> QueueOptions {
    QueueOptions {
        max_delivery_count: 3,
        lock_duration: Duration::from_secs(60),
        time_to_live: Duration::from_secs(3600),
        dead_letter_on_expiration: true,
        duplicate_detection: None,
    }
}

fn lock(m: &RawMessage) -> LockRef {
    LockRef {
        queue: "jobs".into(),
        message: None,
        token: m.lock.clone().unwrap().0,
    }
}

fn raw_send(message: &NewMessage, raw: &Raw) -> RawSend {
    RawSend {
        message: message.clone(),
        raw: raw.clone(),
        sender_id: message.message_id.is_some(),
    }
}

#[tokio::test]
async fn raw_sections_release_and_defer_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("q.db");
    let raw = Raw {
        bare: vec![0x00, 0x53, 0x75, 0xa0, 0x01, 0xff],
        annotations: Some(vec![0x00, 0x53, 0x72, 0xc1, 0x01, 0x00]),
    };
    let new = NewMessage {
        queue: "jobs".into(),
        body: "b".into(),
        ..NewMessage::default()
    };
    {
        let store = Store::open(&path, options()).unwrap();
        let seqs = store
            .send_raw(vec![raw_send(&new, &raw), raw_send(&new, &raw)])
            .await
            .unwrap();
        let got = store.take("jobs", false, Take::Lock, 2).await.unwrap();
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| m.message.delivery_count == 1));
        let kept = got[0].raw.as_ref().unwrap();
        assert_eq!(
            (&kept.bare, &kept.annotations),
            (&raw.bare, &raw.annotations)
        );
        store.release(&lock(&got[0])).await.unwrap();
        store.defer(&lock(&got[1])).await.unwrap();
        // A deferred message is not receivable, only by its sequence number.
        let again = store.take("jobs", false, Take::Lock, 10).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(
            (
                again[0].message.sequence_number,
                again[0].message.delivery_count
            ),
            (seqs[0], 1),
            "a release does not count the delivery"
        );
        store.release(&lock(&again[0])).await.unwrap();
        let peeked = store.peek("jobs", false, 0, 10).await.unwrap();
        assert_eq!(peeked.len(), 2);
        assert!(peeked.iter().all(|m| m.lock.is_none()));
    }
    let store = Store::open(&path, options()).unwrap();
    assert_eq!(
        store
            .take("jobs", false, Take::Lock, 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let seq = store.peek("jobs", false, 0, 10).await.unwrap()[1]
        .message
        .sequence_number;
    assert_eq!(
        store
            .take_deferred("jobs", vec![seq + 100], Take::Lock)
            .await
            .unwrap()
            .err(),
        Some(seq + 100)
    );
    let deferred = store
        .take_deferred("jobs", vec![seq], Take::Delete)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(deferred[0].raw.as_ref().unwrap().bare, raw.bare);
    assert!(store.peek("jobs", false, seq, 10).await.unwrap().is_empty());
}
