//! Send (and schedule): new messages into a queue.

use rusqlite::{Transaction, params};
use serde_json::Value;

use super::duplicates;
use super::row::{ms, now_ms};
use super::schema::{Counter, MessageState, bump};
use super::{NewMessage, QueueConfig, Raw, Store, StoreError};

impl Store {
    /// Enqueue messages durably; their sequence numbers once committed. A message with
    /// `scheduled_for` is a scheduled message (Service Bus `ScheduleMessage`): invisible, and
    /// counted as scheduled, until then. On a queue with duplicate detection a message whose
    /// `MessageId` was accepted within the window is dropped, and answered like the others
    /// (`duplicates.rs`).
    pub async fn send(&self, messages: Vec<NewMessage>) -> Result<Vec<i64>, StoreError> {
        self.insert(messages, |m| Row {
            message: m,
            raw: None,
            sender_id: m.message_id.is_some(),
        })
        .await
    }

    /// Insert one message for each of `items` (its [`Row`] by `row`), all or nothing, and wake
    /// the receivers waiting for arrivals; their sequence numbers once committed.
    pub(super) async fn insert<T: Send + 'static>(
        &self,
        items: Vec<T>,
        row: fn(&T) -> Row<'_>,
    ) -> Result<Vec<i64>, StoreError> {
        let seqs = self
            .call(move |cx| insert_all(cx.tx, cx.options, items.iter().map(row)))
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

/// One message to insert, with its AMQP sections when it came over AMQP.
pub(super) struct Row<'a> {
    pub message: &'a NewMessage,
    pub raw: Option<&'a Raw>,
    /// Its `MessageId` is the sender's own (not generated): only such an id can repeat, so only
    /// it is looked up in, and added to, the duplicate-detection history.
    pub sender_id: bool,
}

/// Insert messages in order (each unless its queue detects duplicates and it is one); their
/// sequence numbers. The statements are looked up in the cache once for the whole call, and
/// each queue's `enqueued` counter is bumped once per call, not per message.
fn insert_all<'a>(
    tx: &Transaction<'_>,
    config: &QueueConfig,
    rows: impl ExactSizeIterator<Item = Row<'a>>,
) -> Result<Vec<i64>, StoreError> {
    let mut seqs = Vec::with_capacity(rows.len());
    let mut insert = tx.prepare_cached(
        "INSERT INTO messages (queue, message_id, body, content_type, correlation_id, properties, enqueued_at, visible_at, expires_at, state, amqp_bare, amqp_annotations)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8, ?9, ?10, ?11)",
    )?;
    // Stored messages per queue, in order of first appearance (a call is nearly always one queue).
    let mut enqueued: Vec<(&str, u64)> = Vec::new();
    let now = now_ms();
    for Row {
        message: m,
        raw,
        sender_id,
    } in rows
    {
        let options = config.of(&m.queue);
        if let (Some(window), Some(id), true) = (
            options.duplicate_detection,
            m.message_id.as_deref(),
            sender_id,
        ) && duplicates::seen(tx, &m.queue, id, window, now)?
        {
            tracing::debug!(queue = %m.queue, message_id = id, "duplicate MessageId within the window: dropped");
            seqs.push(duplicates::burn_sequence_number(tx)?);
            continue;
        }
        let generated;
        let id = match &m.message_id {
            Some(id) => id.as_str(),
            None => {
                generated = uuid::Uuid::new_v4().simple().to_string();
                generated.as_str()
            }
        };
        let enqueued_at = m
            .scheduled_for
            .map_or(now, |t| t.timestamp_millis().max(now));
        let ttl = m
            .time_to_live
            .map_or(options.time_to_live, |t| t.min(options.time_to_live));
        let properties = if m.properties.is_empty() {
            std::borrow::Cow::Borrowed("{}")
        } else {
            std::borrow::Cow::Owned(Value::Object(m.properties.clone()).to_string())
        };
        insert.execute(params![
            m.queue,
            id,
            m.body,
            m.content_type,
            m.correlation_id,
            properties,
            enqueued_at,
            enqueued_at.saturating_add(ms(ttl)),
            MessageState::Active,
            raw.map(|r| &r.bare),
            raw.and_then(|r| r.annotations.as_ref()),
        ])?;
        seqs.push(tx.last_insert_rowid());
        match enqueued.iter_mut().find(|(q, _)| *q == m.queue) {
            Some((_, n)) => *n += 1,
            None => enqueued.push((&m.queue, 1)),
        }
    }
    for (queue, n) in enqueued {
        bump(tx, queue, Counter::Enqueued, n)?;
    }
    Ok(seqs)
}
