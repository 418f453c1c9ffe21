//! Permanent failures this instance has seen, so a redelivery of the same copy fails fast without
//! running the work again. Bounded (the oldest is forgotten first) and per instance: another
//! instance runs the work once more, and gets the same verdict from it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use uuid::Uuid;

/// How many verdicts are kept.
const CAPACITY: usize = 10_000;

/// `(job id, attempt)` -> the permanent failure's reason.
#[derive(Debug, Default)]
pub struct Verdicts {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    reasons: HashMap<(Uuid, u32), String>,
    order: VecDeque<(Uuid, u32)>,
}

impl Verdicts {
    /// Remember that attempt `attempt` of `job_id` failed for good.
    pub fn remember(&self, job_id: Uuid, attempt: u32, reason: &str) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (job_id, attempt);
        if inner.reasons.insert(key, reason.to_owned()).is_none() {
            inner.order.push_back(key);
        }
        while inner.order.len() > CAPACITY {
            if let Some(old) = inner.order.pop_front() {
                inner.reasons.remove(&old);
            }
        }
    }

    /// The reason attempt `attempt` of `job_id` failed for good, if this instance saw it.
    pub fn recall(&self, job_id: Uuid, attempt: u32) -> Option<String> {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        inner.reasons.get(&(job_id, attempt)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_per_attempt_and_forgets_the_oldest() {
        let v = Verdicts::default();
        let first = Uuid::now_v7();
        v.remember(first, 1, "no");
        assert_eq!(v.recall(first, 1).as_deref(), Some("no"));
        assert_eq!(v.recall(first, 2), None);
        for _ in 0..CAPACITY {
            v.remember(Uuid::now_v7(), 1, "x");
        }
        assert_eq!(v.recall(first, 1), None);
    }
}
