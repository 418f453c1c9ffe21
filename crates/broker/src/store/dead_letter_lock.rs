//! Peek-lock on the dead-letter subqueue (`{queue}/$DeadLetterQueue`), as the Service Bus REST
//! API offers it: lock the oldest dead letter, then delete it (complete) or unlock it. A locked
//! dead letter is still a dead letter (it counts in `DeadLetterMessageCount`); its lock lapses
//! after the lock duration, or at a restart, and it becomes available again. Its delivery count
//! is the one it was dead-lettered with, and `DeadLetterReason` / `DeadLetterErrorDescription`
//! travel as custom properties.

use rusqlite::{OptionalExtension as _, Transaction, params};
use serde_json::{Map, Value};

use super::{DEAD, DEAD_LOCKED, Delivery, QueueOptions, StoreError, ms, now_ms, time};

/// Lock the oldest available dead letter of `queue`.
pub(super) fn lock(
    tx: &Transaction<'_>,
    options: QueueOptions,
    queue: &str,
) -> Result<Option<Delivery>, StoreError> {
    let now = now_ms();
    let until = now.saturating_add(ms(options.lock_duration));
    let token = uuid::Uuid::new_v4().to_string();
    let found = tx
        .prepare_cached(
            "SELECT seq, message_id, body, content_type, correlation_id, properties, delivery_count, enqueued_at, expires_at, dl_reason, dl_description
             FROM messages WHERE queue = ?1 AND state = ?2 ORDER BY dl_at, seq LIMIT 1",
        )?
        .query_row(params![queue, DEAD], |r| {
            let mut properties: Map<String, Value> =
                serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default();
            let reason: Option<String> = r.get(9)?;
            let description: Option<String> = r.get(10)?;
            properties.insert(
                "DeadLetterReason".into(),
                Value::String(reason.unwrap_or_default()),
            );
            properties.insert(
                "DeadLetterErrorDescription".into(),
                Value::String(description.unwrap_or_default()),
            );
            Ok(Delivery {
                sequence_number: r.get(0)?,
                queue: queue.to_owned(),
                message_id: r.get(1)?,
                body: r.get(2)?,
                content_type: r.get(3)?,
                correlation_id: r.get(4)?,
                properties,
                delivery_count: u32::try_from(r.get::<_, i64>(6)?).unwrap_or(0),
                enqueued_at: time(r.get(7)?),
                expires_at: time(r.get(8)?),
                lock_token: token.clone(),
                locked_until: time(until),
            })
        })
        .optional()?;
    if let Some(d) = &found {
        tx.prepare_cached(
            "UPDATE messages SET state = ?2, lock_token = ?3, locked_until = ?4 WHERE seq = ?1",
        )?
        .execute(params![d.sequence_number, DEAD_LOCKED, token, until])?;
    }
    Ok(found)
}

/// Delete (`complete`) or unlock a locked dead letter.
pub(super) fn settle(tx: &Transaction<'_>, token: &str, complete: bool) -> Result<(), StoreError> {
    let seq: i64 = tx
        .prepare_cached("SELECT seq FROM messages WHERE lock_token = ?1 AND state = ?2")?
        .query_row(params![token, DEAD_LOCKED], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::LockLost(token.to_owned()))?;
    if complete {
        tx.prepare_cached("DELETE FROM messages WHERE seq = ?1")?
            .execute(params![seq])?;
    } else {
        tx.prepare_cached(
            "UPDATE messages SET state = ?2, lock_token = NULL, locked_until = NULL WHERE seq = ?1",
        )?
        .execute(params![seq, DEAD])?;
    }
    Ok(())
}

/// Release dead-letter locks held past their time (all of them when `all`, at start-up).
pub(super) fn expire(tx: &Transaction<'_>, all: bool) -> Result<u64, StoreError> {
    let n = tx
        .prepare_cached(
            "UPDATE messages SET state = ?1, lock_token = NULL, locked_until = NULL
             WHERE state = ?2 AND (locked_until <= ?3 OR ?4)",
        )?
        .execute(params![DEAD, DEAD_LOCKED, now_ms(), all])?;
    Ok(n as u64)
}
