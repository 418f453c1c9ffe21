//! Queue-to-completion latency: enqueue (or scheduled) time to the completing settlement, per
//! queue, since the devhost started. Kept in memory only; the queue itself is what is durable.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Percentiles of one queue's completion latency, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LatencySummary {
    /// Completions measured.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Slowest.
    pub max: u64,
}

/// One histogram per queue (1 ms to 1 day, 3 significant digits: a few tens of KiB each).
#[derive(Debug, Default)]
pub struct CompletionLatency {
    queues: BTreeMap<String, Histogram<u64>>,
}

const HIGHEST_MS: u64 = 24 * 60 * 60 * 1000;

impl CompletionLatency {
    /// Record one completion of a message of `queue` that became available `ms` milliseconds ago.
    pub fn record(&mut self, queue: &str, ms: i64) {
        let ms = u64::try_from(ms).unwrap_or(0).clamp(1, HIGHEST_MS);
        if !self.queues.contains_key(queue) {
            match Histogram::new_with_bounds(1, HIGHEST_MS, 3) {
                Ok(h) => {
                    self.queues.insert(queue.to_owned(), h);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot create a latency histogram");
                    return;
                }
            }
        }
        if let Some(h) = self.queues.get_mut(queue) {
            h.saturating_record(ms);
        }
    }

    /// Percentiles for `queue`, if anything of it completed.
    pub fn summary(&self, queue: &str) -> Option<LatencySummary> {
        let h = self.queues.get(queue).filter(|h| !h.is_empty())?;
        Some(LatencySummary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_per_queue() {
        let mut l = CompletionLatency::default();
        assert_eq!(l.summary("jobs"), None);
        for ms in 1..=100 {
            l.record("jobs", ms);
        }
        l.record("other", -5);
        let s = l.summary("jobs").unwrap();
        assert_eq!((s.count, s.p50, s.p99, s.max), (100, 50, 99, 100));
        assert_eq!(l.summary("other").map(|s| s.max), Some(1));
    }
}
