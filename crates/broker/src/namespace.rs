//! The namespace: the store plus the queues it declares.

use std::sync::Arc;

use crate::store::{QueueStats, Store, StoreError};

/// The queues a broker serves: those declared up front (as a namespace's queues are created
/// before anyone uses them; the host stand-in declares every queue its functions bind), plus any
/// the store holds, or held, messages of. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Namespace {
    store: Store,
    declared: Arc<[String]>,
}

impl Namespace {
    /// A namespace over `store` declaring `queues`.
    pub fn new(store: Store, queues: impl IntoIterator<Item = String>) -> Self {
        let mut declared: Vec<String> = queues.into_iter().collect();
        declared.sort();
        declared.dedup();
        Self {
            store,
            declared: declared.into(),
        }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The declared queues, sorted.
    pub fn declared(&self) -> &[String] {
        &self.declared
    }

    /// Whether `queue` exists: declared, or known to the store.
    pub async fn exists(&self, queue: &str) -> Result<bool, StoreError> {
        if self.declared.iter().any(|q| q == queue) {
            return Ok(true);
        }
        self.store.has_seen(queue).await
    }

    /// Counts for every queue that exists, sorted by name.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        self.store.stats(self.declared.to_vec()).await
    }
}
