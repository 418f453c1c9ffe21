//! The dead-letter subqueue (`{queue}/$DeadLetterQueue`): moving a message there, listing and
//! resubmitting dead letters, and peek-lock on the subqueue as the Service Bus REST API offers it.
//!
//! A locked dead letter is still a dead letter (it counts in `DeadLetterMessageCount`); its lock
//! lapses after the lock duration, or at a restart, and it becomes available again. Its delivery
//! count is the one it was dead-lettered with, and `DeadLetterReason` /
//! `DeadLetterErrorDescription` travel as application properties.

use rusqlite::{OptionalExtension as _, Transaction, params};
use serde_json::Value;

use super::row::{Stored, ms, now_ms, select_messages_where};
use super::schema::{Counter, MessageState, bump};
use super::settle::{held, unlock};
use super::{DeadLetter, Delivery, LockRef, Selection, Store, StoreError};

impl Store {
    /// Dead letters of `queue`, oldest first.
    pub async fn dead_letters(
        &self,
        queue: &str,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            let rows = cx
                .tx
                .prepare_cached(select_messages_where!(
                    "queue = ?1 AND state = ?2 ORDER BY dl_at, seq LIMIT ?3"
                ))?
                .query_map(params![queue, MessageState::DeadLettered, limit], |r| {
                    Stored::read(r).map(Stored::into_dead_letter)
                })?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        })
        .await
    }

    /// Move dead letters back to the queue as new messages (new sequence number, delivery count
    /// reset); how many moved.
    pub async fn resubmit(&self, queue: &str, selection: Selection) -> Result<u64, StoreError> {
        let queue = queue.to_owned();
        let moved = self
            .call(move |cx| {
                let candidates: Vec<(i64, String)> = cx
                    .tx
                    .prepare_cached(
                        "SELECT seq, message_id FROM messages WHERE queue = ?1 AND state = ?2 ORDER BY seq",
                    )?
                    .query_map(params![queue, MessageState::DeadLettered], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })?
                    .collect::<Result<_, _>>()?;
                let now = now_ms();
                let expires = now.saturating_add(ms(cx.options.of(&queue).time_to_live));
                let mut moved = 0;
                for (seq, message_id) in candidates {
                    let chosen = match &selection {
                        Selection::All => true,
                        Selection::Ids(ids) => ids
                            .iter()
                            .any(|id| *id == message_id || id.parse::<i64>().ok() == Some(seq)),
                    };
                    if !chosen {
                        continue;
                    }
                    cx.tx.prepare_cached(
                        "INSERT INTO messages (queue, message_id, body, content_type, correlation_id, properties, enqueued_at, visible_at, expires_at, state)
                         SELECT queue, message_id, body, content_type, correlation_id, properties, ?2, ?2, ?3, ?4 FROM messages WHERE seq = ?1",
                    )?
                    .execute(params![seq, now, expires, MessageState::Active])?;
                    cx.tx
                        .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                        .execute(params![seq])?;
                    bump(cx.tx, &queue, Counter::Enqueued, 1)?;
                    moved += 1;
                }
                Ok(moved)
            })
            .await?;
        if moved > 0 {
            self.arrivals.notify_waiters();
        }
        Ok(moved)
    }

    /// Dead-letter a locked message on the receiver's word (an SDK's `DeadLetterMessageAsync`, an
    /// AMQP `rejected` disposition), with its `DeadLetterReason` and `DeadLetterErrorDescription`.
    pub async fn dead_letter(
        &self,
        lock: &LockRef,
        reason: &str,
        description: &str,
    ) -> Result<(), StoreError> {
        let lock = lock.clone();
        let (reason, description) = (reason.to_owned(), description.to_owned());
        self.call(move |cx| {
            let seq = held(cx.tx, &lock, MessageState::Locked)?.seq;
            move_to_dead_letter(cx.tx, seq, &reason, &description)
        })
        .await
    }

    /// Lock the oldest available dead letter of `queue` (peek-lock on `{queue}/$DeadLetterQueue`);
    /// its `DeadLetterReason` and `DeadLetterErrorDescription` are among its properties.
    pub async fn lock_dead_letter(&self, queue: &str) -> Result<Option<Delivery>, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            let until = now_ms().saturating_add(ms(cx.options.of(&queue).lock_duration));
            let Some(mut m) = cx
                .tx
                .prepare_cached(select_messages_where!(
                    "queue = ?1 AND state = ?2 ORDER BY dl_at, seq LIMIT 1"
                ))?
                .query_row(params![queue, MessageState::DeadLettered], Stored::read)
                .optional()?
            else {
                return Ok(None);
            };
            let token = uuid::Uuid::new_v4().to_string();
            cx.tx
                .prepare_cached(
                    "UPDATE messages SET state = ?2, lock_token = ?3, locked_until = ?4 WHERE seq = ?1",
                )?
                .execute(params![m.message.sequence_number, MessageState::DeadLetterLocked, token, until])?;
            let reason = m.dl_reason.clone().unwrap_or_default();
            let description = m.dl_description.clone().unwrap_or_default();
            m.message.properties
                .insert("DeadLetterReason".into(), Value::String(reason));
            m.message.properties
                .insert("DeadLetterErrorDescription".into(), Value::String(description));
            Ok(Some(m.into_delivery(token, until)))
        })
        .await
    }

    /// Delete a locked dead letter (`complete = true`) or unlock it. `lock.queue` is the queue
    /// whose dead-letter subqueue holds it.
    pub async fn settle_dead_letter(
        &self,
        lock: &LockRef,
        complete: bool,
    ) -> Result<(), StoreError> {
        let lock = lock.clone();
        self.call(move |cx| {
            let seq = held(cx.tx, &lock, MessageState::DeadLetterLocked)?.seq;
            if complete {
                cx.tx
                    .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                    .execute(params![seq])?;
            } else {
                unlock(cx.tx, seq, MessageState::DeadLettered)?;
            }
            Ok(())
        })
        .await
    }
}

/// Move message `seq` to the dead-letter subqueue with `DeadLetterReason` and
/// `DeadLetterErrorDescription`.
pub(super) fn move_to_dead_letter(
    tx: &Transaction<'_>,
    seq: i64,
    reason: &str,
    description: &str,
) -> Result<(), StoreError> {
    tx.prepare_cached(
        "UPDATE messages SET state = ?2, lock_token = NULL, locked_until = NULL, dl_reason = ?3, dl_description = ?4, dl_at = ?5 WHERE seq = ?1",
    )?
    .execute(params![seq, MessageState::DeadLettered, reason, description, now_ms()])?;
    Ok(())
}

/// Unlock the dead letters whose lock lapsed by `?3`; seeks `messages_lock_expiry`.
pub(super) const STALE_LOCKS: &str =
    "UPDATE messages SET state = ?1, lock_token = NULL, locked_until = NULL
     WHERE state = ?2 AND locked_until <= ?3";

/// Release dead-letter locks that lapsed by `lapsed_before` (epoch ms).
pub(super) fn expire_locks(tx: &Transaction<'_>, lapsed_before: i64) -> Result<u64, StoreError> {
    let n = tx.prepare_cached(STALE_LOCKS)?.execute(params![
        MessageState::DeadLettered,
        MessageState::DeadLetterLocked,
        lapsed_before,
    ])?;
    Ok(n as u64)
}
