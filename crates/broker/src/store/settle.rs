//! PeekLock receive and the settlements of a locked message: complete, abandon, renew.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension as _, Transaction, params};

use super::dead_letter::move_to_dead_letter;
use super::row::{Stored, ms, now_ms, select_messages_where, time};
use super::schema::{Counter, MessageState, bump};
use super::{Abandoned, Delivery, LockRef, MAX_DELIVERY_REASON, QueueOptions, Store, StoreError};

impl Store {
    /// Lock up to `max` available messages of `queue` (PeekLock), incrementing their delivery count.
    pub async fn receive(&self, queue: &str, max: usize) -> Result<Vec<Delivery>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let now = now_ms();
            let until = now.saturating_add(ms(cx.options.of(&queue).lock_duration));
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let found: Vec<Stored> = cx
                .tx
                .prepare_cached(select_messages_where!(
                    "queue = ?1 AND state = ?2 AND visible_at <= ?3 AND expires_at > ?3 ORDER BY seq LIMIT ?4"
                ))?
                .query_map(params![queue, MessageState::Active, now, limit], Stored::read)?
                .collect::<Result<_, _>>()?;
            let mut out = Vec::with_capacity(found.len());
            for mut m in found {
                let token = uuid::Uuid::new_v4().to_string();
                cx.tx
                    .prepare_cached(
                        "UPDATE messages SET state = ?2, lock_token = ?3, locked_until = ?4, delivery_count = delivery_count + 1 WHERE seq = ?1",
                    )?
                    .execute(params![m.message.sequence_number, MessageState::Locked, token, until])?;
                m.message.delivery_count = m.message.delivery_count.saturating_add(1);
                out.push(m.into_delivery(token, until));
            }
            Ok(out)
        })
        .await
    }

    /// Complete (delete) a locked message.
    pub async fn complete(&self, lock: &LockRef) -> Result<(), StoreError> {
        let lock = lock.clone();
        self.call(move |cx| {
            let held = held(cx.tx, &lock, MessageState::Locked)?;
            let available_at: i64 = cx
                .tx
                .prepare_cached("SELECT visible_at FROM messages WHERE seq = ?1")?
                .query_row(params![held.seq], |r| r.get(0))?;
            cx.tx
                .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                .execute(params![held.seq])?;
            bump(cx.tx, &lock.queue, Counter::Completed, 1)?;
            cx.latency
                .record(&lock.queue, now_ms().saturating_sub(available_at));
            Ok(())
        })
        .await
    }

    /// Renew a lock for another lock duration; returns the new expiry.
    pub async fn renew_lock(&self, lock: &LockRef) -> Result<DateTime<Utc>, StoreError> {
        let lock = lock.clone();
        self.call(move |cx| {
            let held = held(cx.tx, &lock, MessageState::Locked)?;
            let until = now_ms().saturating_add(ms(cx.options.of(&lock.queue).lock_duration));
            cx.tx
                .prepare_cached("UPDATE messages SET locked_until = ?2 WHERE seq = ?1")?
                .execute(params![held.seq, until])?;
            Ok(time(until))
        })
        .await
    }

    /// Abandon a locked message because of `reason`: redeliver, or dead-letter it when its
    /// deliveries are exhausted.
    pub async fn abandon(&self, lock: &LockRef, reason: &str) -> Result<Abandoned, StoreError> {
        let lock = lock.clone();
        let reason: String = reason.chars().take(4_000).collect();
        let outcome = self
            .call(move |cx| {
                let held = held(cx.tx, &lock, MessageState::Locked)?;
                bump(cx.tx, &lock.queue, Counter::Abandoned, 1)?;
                cx.tx
                    .prepare_cached("UPDATE messages SET last_error = ?2 WHERE seq = ?1")?
                    .execute(params![held.seq, reason])?;
                release(
                    cx.tx,
                    cx.options.of(&lock.queue),
                    held.seq,
                    held.delivery_count,
                )
            })
            .await?;
        if outcome == Abandoned::Requeued {
            self.arrivals.notify_waiters();
        }
        Ok(outcome)
    }
}

/// The message a lock names.
pub(super) struct Held {
    pub seq: i64,
    pub delivery_count: i64,
}

/// The message locked with token `?1`, in state `?2`, of queue `?3`, and with sequence number or
/// `MessageId` `?4` when that is not NULL; seeks `messages_lock_token`.
pub(super) const HELD: &str = "SELECT seq, delivery_count FROM messages
     WHERE lock_token = ?1 AND state = ?2 AND queue = ?3
       AND (?4 IS NULL OR message_id = ?4 OR CAST(seq AS TEXT) = ?4)";

/// The message of `lock.queue` in `state` locked with `lock.token` and, when the lock names one,
/// with that sequence number or `MessageId`; else [`StoreError::LockLost`].
pub(super) fn held(
    tx: &Transaction<'_>,
    lock: &LockRef,
    state: MessageState,
) -> Result<Held, StoreError> {
    tx.prepare_cached(HELD)?
        .query_row(params![lock.token, state, lock.queue, lock.message], |r| {
            Ok(Held {
                seq: r.get(0)?,
                delivery_count: r.get(1)?,
            })
        })
        .optional()?
        .ok_or_else(|| StoreError::LockLost {
            queue: lock.queue.clone(),
            message: lock.message.clone().unwrap_or_else(|| "*".into()),
            token: lock.token.clone(),
        })
}

/// Unlock one message that has been delivered `count` times: back to active, or to the
/// dead-letter subqueue when its deliveries are spent.
pub(super) fn release(
    tx: &Transaction<'_>,
    options: QueueOptions,
    seq: i64,
    count: i64,
) -> Result<Abandoned, StoreError> {
    if count >= i64::from(options.max_delivery_count) {
        // The broker's own wording.
        let description = format!("Message could not be consumed after {count} delivery attempts.");
        move_to_dead_letter(tx, seq, MAX_DELIVERY_REASON, &description)?;
        Ok(Abandoned::DeadLettered)
    } else {
        unlock(tx, seq, MessageState::Active)?;
        Ok(Abandoned::Requeued)
    }
}

/// Drop the lock of message `seq` and put it in `state` (its delivery count stays).
pub(super) fn unlock(
    tx: &Transaction<'_>,
    seq: i64,
    state: MessageState,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE messages SET state = ?2, lock_token = NULL, locked_until = NULL WHERE seq = ?1",
    )?
    .execute(params![seq, state])?;
    Ok(())
}
