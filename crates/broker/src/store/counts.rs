//! Counts per queue: by state (active, scheduled, locked, dead-lettered) and lifetime totals.

use rusqlite::params;

use super::row::now_ms;
use super::schema::{Counter, MessageState};
use super::{QueueStats, Store, StoreError};

/// Every queue named in `counters` or `messages`. The messages' queues are found by hopping
/// along `messages_ready` (the next name after the last one, a seek per queue), not by reading
/// an index entry per message.
pub(super) const KNOWN_QUEUES: &str = "
    WITH RECURSIVE held(queue) AS (
        SELECT MIN(queue) FROM messages
        UNION ALL
        SELECT (SELECT MIN(queue) FROM messages WHERE queue > held.queue) FROM held
        WHERE held.queue IS NOT NULL
    )
    SELECT queue FROM held WHERE queue IS NOT NULL
    UNION SELECT queue FROM counters";

/// A queue's (`?1`) messages per state, with how many of them become visible after `?2` (now):
/// grouped in the order of `messages_ready`, so no sort of the backlog into a temporary b-tree
/// (`GROUP BY state, visible_at > ?2` sorted every row, spilling to disk, every 5 s).
pub(super) const BY_STATE: &str =
    "SELECT state, COUNT(*), SUM(visible_at > ?2) FROM messages WHERE queue = ?1 GROUP BY state";

impl Store {
    /// Counts for `queues` plus every queue the store has seen, sorted by name.
    pub async fn stats(&self, queues: Vec<String>) -> Result<Vec<QueueStats>, StoreError> {
        self.call(move |cx| {
            let mut queues = queues;
            let known: Vec<String> = cx
                .tx
                .prepare_cached(KNOWN_QUEUES)?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            queues.extend(known);
            queues.sort();
            queues.dedup();
            let now = now_ms();
            let mut out = Vec::with_capacity(queues.len());
            for name in queues {
                let mut s = QueueStats {
                    completion_latency_ms: cx.latency.summary(&name),
                    name,
                    ..QueueStats::default()
                };
                let mut by_state = cx.tx.prepare_cached(BY_STATE)?;
                let rows = by_state.query_map(params![s.name, now], |r| {
                    Ok((
                        r.get::<_, MessageState>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })?;
                for row in rows {
                    let (state, n, future) = row?;
                    let (n, future) = (
                        u64::try_from(n).unwrap_or(0),
                        u64::try_from(future).unwrap_or(0),
                    );
                    match state {
                        MessageState::Active => {
                            s.active += n - future.min(n);
                            s.scheduled += future;
                        }
                        MessageState::Locked | MessageState::Deferred => s.locked += n,
                        MessageState::DeadLettered | MessageState::DeadLetterLocked => {
                            s.dead_lettered += n;
                        }
                    }
                }
                let mut counters = cx
                    .tx
                    .prepare_cached("SELECT name, value FROM counters WHERE queue = ?1")?;
                for row in counters.query_map(params![s.name], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
                })? {
                    let (name, value) = row?;
                    let value = u64::try_from(value).unwrap_or(0);
                    match Counter::ALL.into_iter().find(|c| c.name() == name) {
                        Some(Counter::Enqueued) => s.enqueued = value,
                        Some(Counter::Completed) => s.completed = value,
                        Some(Counter::Abandoned) => s.abandoned = value,
                        Some(Counter::Expired) => s.expired = value,
                        None => {}
                    }
                }
                out.push(s);
            }
            Ok(out)
        })
        .await
    }

    /// Whether the store holds, or ever held, a message of `queue`.
    pub async fn has_seen(&self, queue: &str) -> Result<bool, StoreError> {
        let queue = queue.to_owned();
        self.call(move |cx| {
            Ok(cx
                .tx
                .prepare_cached(
                    "SELECT 1 FROM counters WHERE queue = ?1 UNION ALL SELECT 1 FROM messages WHERE queue = ?1 LIMIT 1",
                )?
                .exists(params![queue])?)
        })
        .await
    }
}
