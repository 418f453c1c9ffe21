//! The namespace: the store plus the queues it declares.

use std::sync::Arc;

use crate::store::{QueueStats, Store, StoreError};

/// The queues a broker serves: those declared up front (as a namespace's queues are created
/// before anyone uses them; the host stand-in declares every queue its functions bind), those
/// created through the administration API (the store's entities), plus any the store holds, or
/// held, messages of. Cheap to clone.
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

    /// Whether `queue` is declared up front (it cannot be deleted while it is served).
    pub fn is_declared(&self, queue: &str) -> bool {
        self.declared.iter().any(|q| q == queue)
    }

    /// Whether `queue` exists: declared, created, or known to the store.
    pub async fn exists(&self, queue: &str) -> Result<bool, StoreError> {
        if self.is_declared(queue) || self.store.entity(queue).is_some() {
            return Ok(true);
        }
        self.store.has_seen(queue).await
    }

    /// Every queue that exists, sorted.
    pub async fn queues(&self) -> Result<Vec<String>, StoreError> {
        let mut all = self.declared.to_vec();
        all.extend(self.store.entity_names());
        all.extend(self.store.known_queues().await?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Counts for every queue that exists, sorted by name.
    pub async fn stats(&self) -> Result<Vec<QueueStats>, StoreError> {
        let mut queues = self.declared.to_vec();
        queues.extend(self.store.entity_names());
        self.store.stats(queues).await
    }
}
