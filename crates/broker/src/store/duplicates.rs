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
//! prunes what is older than each queue's window.

use std::time::Duration;

use rusqlite::{OptionalExtension as _, Transaction, params};

use super::StoreError;
use super::model::QueueConfig;
use super::row::ms;

/// Whether `message_id` was accepted on `queue` less than `window` before `now` (epoch ms). If
/// not, it is recorded as accepted now.
pub(super) fn seen(
    tx: &Transaction<'_>,
    queue: &str,
    message_id: &str,
    window: Duration,
    now: i64,
) -> Result<bool, StoreError> {
    let last: Option<i64> = tx
        .prepare_cached("SELECT seen_at FROM duplicates WHERE queue = ?1 AND message_id = ?2")?
        .query_row(params![queue, message_id], |r| r.get(0))
        .optional()?;
    if last.is_some_and(|at| now < at.saturating_add(ms(window))) {
        return Ok(true);
    }
    tx.prepare_cached(
        "INSERT INTO duplicates (queue, message_id, seen_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (queue, message_id) DO UPDATE SET seen_at = excluded.seen_at",
    )?
    .execute(params![queue, message_id, now])?;
    Ok(false)
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
/// detection); how many ids were forgotten.
pub(super) fn prune(
    tx: &Transaction<'_>,
    options: &QueueConfig,
    now: i64,
) -> Result<u64, StoreError> {
    let queues: Vec<String> = tx
        .prepare_cached("SELECT DISTINCT queue FROM duplicates")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut pruned = 0;
    for queue in queues {
        let before = match options.of(&queue).duplicate_detection {
            Some(window) => now.saturating_sub(ms(window)),
            None => i64::MAX,
        };
        pruned += tx
            .prepare_cached("DELETE FROM duplicates WHERE queue = ?1 AND seen_at <= ?2")?
            .execute(params![queue, before])? as u64;
    }
    Ok(pruned)
}
