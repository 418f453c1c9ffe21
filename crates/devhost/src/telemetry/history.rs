//! Queue counts over time, for the map's charts: live counts are a point in time, so a task
//! samples every queue every [`SAMPLE_EVERY`] and keeps the last [`KEEP`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::Namespace;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// How often the sampler reads the queues.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(5);
/// How far back samples are kept (the charts' window).
pub const KEEP: Duration = Duration::from_secs(15 * 60);

/// One queue's counts at one time.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    /// When.
    pub at: DateTime<Utc>,
    /// The queue.
    pub queue: String,
    /// Waiting to be delivered (active + scheduled).
    pub depth: u64,
    /// In the dead-letter subqueue.
    pub dead_lettered: u64,
}

/// The samples of the last [`KEEP`], oldest first. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct History {
    inner: Arc<Mutex<VecDeque<Sample>>>,
}

impl History {
    /// Record samples taken at `at`, dropping those older than [`KEEP`].
    pub fn record(&self, at: DateTime<Utc>, samples: impl IntoIterator<Item = Sample>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.extend(samples);
        let oldest = at - chrono::Duration::from_std(KEEP).unwrap_or_default();
        while inner.front().is_some_and(|s| s.at < oldest) {
            inner.pop_front();
        }
    }

    /// Every sample kept, oldest first.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// Sample the namespace's queues (every declared one, from the first tick) every
    /// [`SAMPLE_EVERY`] until `stop` turns true. A failed read is skipped (the chart shows a
    /// gap), not fatal.
    pub async fn sample_until(
        self,
        namespace: Namespace,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(SAMPLE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            match namespace.store().stats(namespace.declared().to_vec()).await {
                Ok(stats) => {
                    let at = Utc::now();
                    self.record(
                        at,
                        stats.into_iter().map(|q| Sample {
                            at,
                            depth: q.active + q.scheduled,
                            dead_lettered: q.dead_lettered,
                            queue: q.name,
                        }),
                    );
                }
                Err(e) => tracing::debug!("queue sample skipped: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_window() {
        let h = History::default();
        let now = Utc::now();
        let s = |ago: i64, depth| Sample {
            at: now - chrono::Duration::seconds(ago),
            queue: "jobs".into(),
            depth,
            dead_lettered: 0,
        };
        h.record(now, [s(20 * 60, 1), s(10 * 60, 2), s(0, 3)]);
        let kept: Vec<u64> = h.snapshot().iter().map(|s| s.depth).collect();
        assert_eq!(kept, vec![2, 3]);
    }
}
