//! Duplicate detection, as a Service Bus queue with `RequiresDuplicateDetection` does it
//! (Microsoft's "Duplicate detection" page): the `MessageId` of every message accepted is kept
//! for the queue's `DuplicateDetectionHistoryTimeWindow`; a message sent with a `MessageId` kept
//! is reported as accepted and dropped. Only the `MessageId` counts, not the body. The window is
//! fixed from the first acceptance (a dropped duplicate does not extend it), and a message that
//! was received and completed meanwhile is still remembered (Azure/azure-service-bus#243). A
//! scheduled message enters the history when it is scheduled, and a duplicate schedule still
//! gets a sequence number of its own (Azure/azure-service-bus#265, #266).
//!
//! The history is a table of the store (`duplicates`), so it survives a restart; the sweep
//! prunes what is older than each queue's window. Only a queue with duplicate detection and a
//! sender's own `MessageId` touch it: a message without one (every output-binding send of the
//! devhost, and what the SDKs send by default), over REST or AMQP, gets a generated, unique id
//! and no history row.

use std::time::Duration;

use rusqlite::{OptionalExtension as _, Transaction, params};

use super::StoreError;
use super::model::QueueConfig;
use super::row::ms;

/// Whether `message_id` was accepted on `queue` less than `window` before `now` (epoch ms). If
/// not, it is recorded as accepted now. One statement, one seek of the history's key: the
/// insert, or the update of an id older than the window, changes a row; a duplicate changes none.
pub(super) fn seen(
    tx: &Transaction<'_>,
    queue: &str,
    message_id: &str,
    window: Duration,
    now: i64,
) -> Result<bool, StoreError> {
    let changed = tx
        .prepare_cached(
            "INSERT INTO duplicates (queue, message_id, seen_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (queue, message_id) DO UPDATE SET seen_at = excluded.seen_at
             WHERE duplicates.seen_at <= ?4",
        )?
        .execute(params![
            queue,
            message_id,
            now,
            now.saturating_sub(ms(window))
        ])?;
    Ok(changed == 0)
}

/// A sequence number no message has, for a dropped duplicate (the sender is told it was
/// accepted, and a scheduled duplicate's number cancels nothing).
pub(super) fn burn_sequence_number(tx: &Transaction<'_>) -> Result<i64, StoreError> {
    let next: Option<i64> = tx
        .prepare_cached(
            "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq",
        )?
        .query_row([], |r| r.get(0))
        .optional()?;
    Ok(next.unwrap_or(0))
}

/// Forget what is older than each queue's window (everything of a queue without duplicate
/// detection); how many ids were forgotten. Off the send path (the sweep runs it), and cheap
/// there: the queues are found by seeking in `duplicates_age` (queue, seen_at), not by reading
/// the history, and each deletion is a range of that index.
pub(super) fn prune(
    tx: &Transaction<'_>,
    options: &QueueConfig,
    now: i64,
) -> Result<u64, StoreError> {
    let mut pruned = 0;
    // Queue names are never empty, so every queue sorts after "".
    let mut after = String::new();
    loop {
        let next: Option<String> = tx
            .prepare_cached("SELECT queue FROM duplicates WHERE queue > ?1 ORDER BY queue LIMIT 1")?
            .query_row(params![after], |r| r.get(0))
            .optional()?;
        let Some(queue) = next else {
            return Ok(pruned);
        };
        let before = match options.of(&queue).duplicate_detection {
            Some(window) => now.saturating_sub(ms(window)),
            None => i64::MAX,
        };
        pruned += tx
            .prepare_cached("DELETE FROM duplicates WHERE queue = ?1 AND seen_at <= ?2")?
            .execute(params![queue, before])? as u64;
        after = queue;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::BTreeMap;

    use rusqlite::Connection;

    use super::*;
    use crate::store::model::QueueOptions;

    /// `a` keeps ids for 10 s, `b` for 1 s; `gone` (history left from an earlier configuration)
    /// has no duplicate detection now.
    fn config() -> QueueConfig {
        let defaults = QueueOptions::default();
        let mut queues = BTreeMap::new();
        for (name, secs) in [("a", 10), ("b", 1)] {
            let options = QueueOptions {
                duplicate_detection: Some(Duration::from_secs(secs)),
                ..defaults
            };
            queues.insert(name.to_owned(), options);
        }
        QueueConfig { defaults, queues }
    }

    #[test]
    fn prune_keeps_each_queues_window_and_forgets_queues_without_detection() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::schema::prepare(&conn).unwrap();
        let tx = conn.transaction().unwrap();
        let now = 100_000;
        for queue in ["a", "b", "gone"] {
            for (id, age_ms) in [("old", 5_000), ("new", 500)] {
                assert!(!seen(&tx, queue, id, Duration::from_secs(60), now - age_ms).unwrap());
            }
        }
        assert_eq!(prune(&tx, &config(), now).unwrap(), 3);
        let left: Vec<(String, String)> = tx
            .prepare("SELECT queue, message_id FROM duplicates ORDER BY queue, message_id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let left: Vec<(&str, &str)> = left.iter().map(|(q, m)| (&**q, &**m)).collect();
        assert_eq!(left, [("a", "new"), ("a", "old"), ("b", "new")]);
    }
}
