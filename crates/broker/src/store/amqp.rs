//! What the AMQP front end adds to the store: the raw AMQP sections of a message (so AMQP to
//! AMQP is lossless), receive from the queue or its dead-letter subqueue in either receive mode,
//! release (an abandon that does not count), defer, peek and receive-by-sequence-number.
//!
//! A message keeps its REST columns (body, properties, ...) whichever way it came in, so REST
//! receivers see AMQP-sent messages; one sent over REST has no raw sections and the front end
//! builds its AMQP form from those columns.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Transaction, params};

use super::row::{Stored, ms, now_ms, stored_columns, time};
use super::schema::{Counter, MessageState, bump};
use super::send::Row;
use super::settle::{held, unlock};
use super::{LockRef, Message, NewMessage, Store, StoreError};

/// The AMQP sections of a message as its sender encoded them.
#[derive(Debug, Clone, Default)]
pub struct Raw {
    /// The bare message (properties, application-properties, body sections).
    pub bare: Vec<u8>,
    /// The message-annotations section, when the sender gave one.
    pub annotations: Option<Vec<u8>>,
}

/// A message sent over AMQP: its REST columns, its sections, and whose its `MessageId` is.
#[derive(Debug, Clone)]
pub struct RawSend {
    /// The message's REST columns; `message_id` is the one in its properties section.
    pub message: NewMessage,
    /// Its AMQP sections.
    pub raw: Raw,
    /// The `MessageId` is the sender's own. `false` when the broker generated it (the sender
    /// gave none): a generated id is unique, so duplicate detection neither looks it up nor
    /// keeps it, as for a REST send without one.
    pub sender_id: bool,
}

/// How a take treats the messages it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Lock them (PeekLock); the delivery count of an active message goes up.
    Lock,
    /// Remove them (ReceiveAndDelete).
    Delete,
}

/// A stored message with its AMQP sections, as the AMQP front end reads it.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// The message (its REST view).
    pub message: Message,
    /// `DeadLetterReason` of a dead letter.
    pub dead_letter_reason: Option<String>,
    /// `DeadLetterErrorDescription` of a dead letter.
    pub dead_letter_description: Option<String>,
    /// The AMQP sections, `None` for a message sent over REST.
    pub raw: Option<Raw>,
    /// The lock token and expiry when taken under a lock.
    pub lock: Option<(String, DateTime<Utc>)>,
}

/// The columns [`read`] expects: those of a stored message, then its AMQP sections.
const RAW_COLUMNS: &str = concat!(stored_columns!(), ", amqp_bare, amqp_annotations");

fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawMessage> {
    let stored = Stored::read(r)?;
    let bare: Option<Vec<u8>> = r.get(14)?;
    let annotations: Option<Vec<u8>> = r.get(15)?;
    Ok(RawMessage {
        message: stored.message,
        dead_letter_reason: stored.dl_reason,
        dead_letter_description: stored.dl_description,
        raw: bare.map(|bare| Raw { bare, annotations }),
        lock: None,
    })
}

impl Store {
    /// Enqueue messages with their AMQP sections, all or nothing; their sequence numbers once
    /// committed (as [`Store::send`]), one insert per message (its sections included).
    pub async fn send_raw(&self, messages: Vec<RawSend>) -> Result<Vec<i64>, StoreError> {
        self.insert(messages, |m| Row {
            message: &m.message,
            raw: Some(&m.raw),
            sender_id: m.sender_id,
        })
        .await
    }

    /// Take up to `max` available messages of `queue` (of its dead-letter subqueue when
    /// `dead_letter`), oldest first.
    pub async fn take(
        &self,
        queue: &str,
        dead_letter: bool,
        how: Take,
        max: usize,
    ) -> Result<Vec<RawMessage>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let now = now_ms();
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let found: Vec<RawMessage> = if dead_letter {
                cx.tx
                    .prepare_cached(&format!(
                        "SELECT {RAW_COLUMNS} FROM messages WHERE queue = ?1 AND state = ?2 ORDER BY dl_at, seq LIMIT ?3"
                    ))?
                    .query_map(params![queue, MessageState::DeadLettered, limit], read)?
                    .collect::<Result<_, _>>()?
            } else {
                cx.tx
                    .prepare_cached(&format!(
                        "SELECT {RAW_COLUMNS} FROM messages
                         WHERE queue = ?1 AND state = ?2 AND visible_at <= ?3 AND expires_at > ?3 ORDER BY seq LIMIT ?4"
                    ))?
                    .query_map(params![queue, MessageState::Active, now, limit], read)?
                    .collect::<Result<_, _>>()?
            };
            let locked = if dead_letter {
                MessageState::DeadLetterLocked
            } else {
                MessageState::Locked
            };
            found
                .into_iter()
                .map(|m| hand_out(cx.tx, &queue, m, how, locked, !dead_letter, cx.options.of(&queue).lock_duration))
                .collect()
        })
        .await
    }

    /// Take deferred messages of `queue` by sequence number; a number that is not a deferred
    /// message of the queue is answered with `Ok(Err(seq))`.
    pub async fn take_deferred(
        &self,
        queue: &str,
        sequence_numbers: Vec<i64>,
        how: Take,
    ) -> Result<Result<Vec<RawMessage>, i64>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let mut out = Vec::with_capacity(sequence_numbers.len());
            for seq in sequence_numbers {
                let found = cx
                    .tx
                    .prepare_cached(&format!(
                        "SELECT {RAW_COLUMNS} FROM messages WHERE seq = ?1 AND queue = ?2 AND state = ?3"
                    ))?
                    .query_row(params![seq, queue, MessageState::Deferred], read)
                    .optional()?;
                let Some(m) = found else {
                    return Ok(Err(seq));
                };
                out.push(hand_out(
                    cx.tx,
                    &queue,
                    m,
                    how,
                    MessageState::Locked,
                    true,
                    cx.options.of(&queue).lock_duration,
                )?);
            }
            Ok(Ok(out))
        })
        .await
    }

    /// Messages of `queue` (or its dead-letter subqueue) from `from` on, in sequence order,
    /// without locking: active, scheduled, locked and deferred ones.
    pub async fn peek(
        &self,
        queue: &str,
        dead_letter: bool,
        from: i64,
        max: usize,
    ) -> Result<Vec<RawMessage>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let states = if dead_letter {
                [
                    MessageState::DeadLettered,
                    MessageState::DeadLetterLocked,
                    MessageState::DeadLetterLocked,
                ]
            } else {
                [
                    MessageState::Active,
                    MessageState::Locked,
                    MessageState::Deferred,
                ]
            };
            let rows = cx
                .tx
                .prepare_cached(&format!(
                    "SELECT {RAW_COLUMNS} FROM messages
                     WHERE queue = ?1 AND seq >= ?2 AND state IN (?3, ?4, ?5) ORDER BY seq LIMIT ?6"
                ))?
                .query_map(
                    params![queue, from, states[0], states[1], states[2], limit],
                    read,
                )?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Unlock a locked message without counting the delivery (AMQP `released`).
    pub async fn release(&self, lock: &LockRef) -> Result<(), StoreError> {
        let lock = lock.clone();
        self.call(move |cx| {
            let seq = held(cx.tx, &lock, MessageState::Locked)?.seq;
            cx.tx
                .prepare_cached(
                    "UPDATE messages SET state = ?2, lock_token = NULL, locked_until = NULL,
                     delivery_count = MAX(delivery_count - 1, 0) WHERE seq = ?1",
                )?
                .execute(params![seq, MessageState::Active])?;
            Ok(())
        })
        .await?;
        self.arrivals.notify_waiters();
        Ok(())
    }

    /// Set a locked message aside, receivable only by sequence number (Service Bus `Defer`).
    pub async fn defer(&self, lock: &LockRef) -> Result<(), StoreError> {
        let lock = lock.clone();
        self.call(move |cx| {
            let seq = held(cx.tx, &lock, MessageState::Locked)?.seq;
            unlock(cx.tx, seq, MessageState::Deferred)
        })
        .await
    }
}

/// Lock (`locked` state, counting the delivery when `counts`) or delete a message just found.
fn hand_out(
    tx: &Transaction<'_>,
    queue: &str,
    mut m: RawMessage,
    how: Take,
    locked: MessageState,
    counts: bool,
    lock_duration: std::time::Duration,
) -> Result<RawMessage, StoreError> {
    let seq = m.message.sequence_number;
    if counts {
        m.message.delivery_count = m.message.delivery_count.saturating_add(1);
    }
    match how {
        Take::Delete => {
            tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                .execute(params![seq])?;
            if counts {
                bump(tx, queue, Counter::Completed, 1)?;
            }
        }
        Take::Lock => {
            let until = now_ms().saturating_add(ms(lock_duration));
            let token = uuid::Uuid::new_v4().to_string();
            tx.prepare_cached(
                "UPDATE messages SET state = ?2, lock_token = ?3, locked_until = ?4,
                 delivery_count = delivery_count + ?5 WHERE seq = ?1",
            )?
            .execute(params![seq, locked, token, until, i64::from(counts)])?;
            m.lock = Some((token, time(until)));
        }
    }
    Ok(m)
}
