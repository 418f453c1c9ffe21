//! Send (and schedule): new messages into a queue.

use rusqlite::params;
use serde_json::Value;

use super::duplicates;
use super::row::{ms, now_ms};
use super::schema::{Counter, MessageState, bump};
use super::{NewMessage, QueueConfig, Store, StoreError};

impl Store {
    /// Enqueue messages durably; their sequence numbers once committed. A message with
    /// `scheduled_for` is a scheduled message (Service Bus `ScheduleMessage`): invisible, and
    /// counted as scheduled, until then. On a queue with duplicate detection a message whose
    /// `MessageId` was accepted within the window is dropped, and answered like the others
    /// (`duplicates.rs`).
    pub async fn send(&self, messages: Vec<NewMessage>) -> Result<Vec<i64>, StoreError> {
        let seqs = self
            .call(move |cx| {
                let mut seqs = Vec::with_capacity(messages.len());
                for m in messages {
                    seqs.push(insert(cx.tx, cx.options, &m)?.seq);
                }
                Ok(seqs)
            })
            .await?;
        self.arrivals.notify_waiters();
        Ok(seqs)
    }

    /// Cancel scheduled messages of `queue` by sequence number (Service Bus
    /// `CancelScheduledMessage`); how many were still scheduled and are now gone. A message
    /// whose time has come is no longer scheduled and stays.
    pub async fn cancel_scheduled(
        &self,
        queue: &str,
        sequence_numbers: Vec<i64>,
    ) -> Result<u64, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let now = now_ms();
            let mut cancelled = 0;
            for seq in sequence_numbers {
                cancelled += cx
                    .tx
                    .prepare_cached(
                        "DELETE FROM messages WHERE seq = ?1 AND queue = ?2 AND state = ?3 AND visible_at > ?4",
                    )?
                    .execute(params![seq, queue, MessageState::Active, now])? as u64;
            }
            Ok(cancelled)
        })
        .await
    }
}

/// A message sent: its sequence number, and whether it was stored (not a dropped duplicate).
pub(super) struct Inserted {
    pub seq: i64,
    pub stored: bool,
}

/// Insert one new message, unless its queue detects duplicates and it is one.
pub(super) fn insert(
    tx: &rusqlite::Transaction<'_>,
    config: &QueueConfig,
    m: &NewMessage,
) -> Result<Inserted, StoreError> {
    let now = now_ms();
    let options = config.of(&m.queue);
    // A generated id is unique: only a sender's own `MessageId` can repeat.
    if let (Some(window), Some(id)) = (options.duplicate_detection, m.message_id.as_deref())
        && duplicates::seen(tx, &m.queue, id, window, now)?
    {
        tracing::debug!(queue = %m.queue, message_id = id, "duplicate MessageId within the window: dropped");
        return Ok(Inserted {
            seq: duplicates::burn_sequence_number(tx)?,
            stored: false,
        });
    }
    let id = m
        .message_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let enqueued = m
        .scheduled_for
        .map_or(now, |t| t.timestamp_millis().max(now));
    let ttl = m
        .time_to_live
        .map_or(options.time_to_live, |t| t.min(options.time_to_live));
    tx.prepare_cached(
        "INSERT INTO messages (queue, message_id, body, content_type, correlation_id, properties, enqueued_at, visible_at, expires_at, state)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9)",
    )?
    .execute(params![
        m.queue,
        id,
        m.body,
        m.content_type,
        m.correlation_id,
        Value::Object(m.properties.clone()).to_string(),
        enqueued,
        enqueued.saturating_add(ms(ttl)),
        MessageState::Active,
    ])?;
    let seq = tx.last_insert_rowid();
    bump(tx, &m.queue, Counter::Enqueued, 1)?;
    Ok(Inserted { seq, stored: true })
}
