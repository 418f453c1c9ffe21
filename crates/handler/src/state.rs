//! Shared, immutable handler state.

use std::sync::Arc;
use std::time::Duration;

use jobs::{Chaos, JobTypeRegistry};

/// What every route needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: JobTypeRegistry,
    chaos: Chaos,
    processing_delay: Duration,
}

impl AppState {
    /// State from a loaded registry and processing settings.
    pub fn new(registry: JobTypeRegistry, chaos: Chaos, processing_delay: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry,
                chaos,
                processing_delay,
            }),
        }
    }

    /// The job types this handler accepts.
    pub fn registry(&self) -> &JobTypeRegistry {
        &self.inner.registry
    }

    /// Chaos settings.
    pub fn chaos(&self) -> &Chaos {
        &self.inner.chaos
    }

    /// Simulated work per processing attempt.
    pub fn processing_delay(&self) -> Duration {
        self.inner.processing_delay
    }
}
