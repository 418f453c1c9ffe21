//! Upkeep: lapsed locks count as abandoned deliveries, messages past their time-to-live are
//! dead-lettered (or dropped), and at open every lock held at a crash is released.

use std::time::Duration;

use rusqlite::{Transaction, params};
use tokio::sync::watch;

use super::dead_letter::{self, move_to_dead_letter};
use super::duplicates;
use super::row::now_ms;
use super::schema::{Counter, EXPIRED, MessageState, bump};
use super::settle::release;
use super::writer::Writer;
use super::{QueueConfig, Store, StoreError, TTL_REASON};

impl Store {
    /// Expire stale locks and dead-letter (or drop) expired messages:
    /// `(locks expired, messages expired)`.
    pub async fn sweep(&self) -> Result<(u64, u64), StoreError> {
        let swept = self
            .call(|cx| {
                let locks = expire_locks(cx.tx, cx.options, false)?;
                let now = now_ms();
                duplicates::prune(cx.tx, cx.options, now)?;
                let expired: Vec<(i64, String)> = cx
                    .tx
                    .prepare_cached(&EXPIRED)?
                    .query_map(params![now], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?;
                for (seq, queue) in &expired {
                    bump(cx.tx, queue, Counter::Expired, 1)?;
                    if cx.options.of(queue).dead_letter_on_expiration {
                        move_to_dead_letter(
                            cx.tx,
                            *seq,
                            TTL_REASON,
                            "The message expired and was dead lettered.",
                        )?;
                    } else {
                        cx.tx
                            .prepare_cached("DELETE FROM messages WHERE seq = ?1")?
                            .execute(params![seq])?;
                    }
                }
                Ok((locks, expired.len() as u64))
            })
            .await?;
        if swept.0 > 0 {
            self.arrivals.notify_waiters();
        }
        Ok(swept)
    }

    /// Sweep every `interval` until `stop` turns true. Returns once stopped.
    pub async fn sweep_until(&self, interval: Duration, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match self.sweep().await {
                Ok((0, 0)) => {}
                Ok((locks, expired)) => {
                    tracing::info!(locks, expired, "swept expired locks and messages")
                }
                Err(e) => tracing::error!("sweep failed: {e}"),
            }
        }
    }
}

/// At open, before the writer thread starts: every lock held at a crash is released (the
/// delivery counts as abandoned), as no holder can settle it any more.
pub(super) fn recover(writer: &mut Writer) -> Result<(), StoreError> {
    let tx = writer.conn.transaction()?;
    let expired = expire_locks(&tx, &writer.options.current(), true)?;
    tx.commit()?;
    if expired > 0 {
        tracing::warn!(
            expired,
            "recovered messages that were locked when the store was last closed: they will be redelivered"
        );
    }
    Ok(())
}

/// Locked messages whose lock lapsed by `?2`; seeks `messages_lock_expiry`.
pub(super) const STALE_LOCKS: &str =
    "SELECT seq, queue, delivery_count FROM messages WHERE state = ?1 AND locked_until <= ?2";

/// Locks past their time (every lock when `all`) are treated as abandoned deliveries.
fn expire_locks(tx: &Transaction<'_>, options: &QueueConfig, all: bool) -> Result<u64, StoreError> {
    let stale: Vec<(i64, String, i64)> = tx
        .prepare_cached(STALE_LOCKS)?
        .query_map(params![MessageState::Locked, lapsed_before(all)], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?
        .collect::<Result<_, _>>()?;
    for (seq, queue, count) in &stale {
        bump(tx, queue, Counter::Abandoned, 1)?;
        tx.prepare_cached("UPDATE messages SET last_error = ?2 WHERE seq = ?1")?
            .execute(params![
                seq,
                "the message lock expired (or the store was closed) before the receiver settled it"
            ])?;
        release(tx, options.of(queue), *seq, *count)?;
    }
    dead_letter::expire_locks(tx, lapsed_before(all))?;
    Ok(stale.len() as u64)
}

/// The time a lock must have lapsed by to be expired: now, or (`all`, at open) any time at all.
/// A bound, not an `OR`, so the lookup seeks `messages_lock_expiry` (`schema.rs`).
fn lapsed_before(all: bool) -> i64 {
    if all { i64::MAX } else { now_ms() }
}
