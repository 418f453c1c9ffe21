//! Shared, immutable handler state.

use std::sync::Arc;
use std::time::Duration;

use jobs::{Chaos, JobTypeRegistry};

use crate::protect::Protection;
use crate::retry::RetryScheduler;
use crate::telemetry::Instruments;
use crate::work::Workers;
use crate::work::verdicts::Verdicts;

/// What every route needs; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: JobTypeRegistry,
    workers: Workers,
    verdicts: Verdicts,
    chaos: Chaos,
    processing_delay: Duration,
    max_delivery_count: u32,
    telemetry: Instruments,
    protection: Protection,
    retry: std::sync::OnceLock<RetryScheduler>,
}

impl AppState {
    /// State from a loaded registry, the work of each job type (chaos layered on), processing
    /// settings, telemetry instruments and ingest protection.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        registry: JobTypeRegistry,
        workers: Workers,
        chaos: Chaos,
        processing_delay: Duration,
        max_delivery_count: u32,
        telemetry: Instruments,
        protection: Protection,
    ) -> Self {
        let inner = Inner {
            registry,
            workers,
            verdicts: Verdicts::default(),
            chaos,
            processing_delay,
            max_delivery_count,
            telemetry,
            protection,
            retry: std::sync::OnceLock::new(),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The job types this handler accepts.
    pub fn registry(&self) -> &JobTypeRegistry {
        &self.inner.registry
    }

    /// The work of each job type.
    pub fn workers(&self) -> &Workers {
        &self.inner.workers
    }

    /// Permanent failures this instance has seen.
    pub fn verdicts(&self) -> &Verdicts {
        &self.inner.verdicts
    }

    /// Chaos settings.
    pub fn chaos(&self) -> &Chaos {
        &self.inner.chaos
    }

    /// Simulated work per processing attempt of the shipped job types.
    pub fn processing_delay(&self) -> Duration {
        self.inner.processing_delay
    }

    /// The queue's `MaxDeliveryCount`: the last delivery before the broker dead-letters.
    pub fn max_delivery_count(&self) -> u32 {
        self.inner.max_delivery_count
    }

    /// Spans and metrics.
    pub fn telemetry(&self) -> &Instruments {
        &self.inner.telemetry
    }

    /// Set the backoff scheduler (once, at start-up; later calls are ignored).
    pub fn set_retry(&self, retry: RetryScheduler) {
        let _ = self.inner.retry.set(retry);
    }

    /// The backoff scheduler, if backoff mode was set up (`None`: broker redelivery only).
    pub fn retry(&self) -> Option<&RetryScheduler> {
        self.inner.retry.get()
    }

    /// Ingest protection: rate limits and velocity flags.
    pub fn protection(&self) -> &Protection {
        &self.inner.protection
    }
}
