//! The metric catalogue: every custom metric the handler sends to Application Insights.
//!
//! | name | instrument | dimensions |
//! | --- | --- | --- |
//! | `JobIngestionStart` | counter | `jobType`, `jobVersion` |
//! | `JobRejected` | counter | `status`, `reason` |
//! | `JobFlagged` | counter | `jobType`, `reason` |
//! | `JobProcessingLatencyMs` | histogram (ms) | `jobType`, `outcome`, `deliveryCount` |
//! | `JobSuccess` | counter | `jobType` |
//! | `JobFailure` | counter | `jobType`, `failureKind` |
//! | `JobRetryScheduled` | counter | `jobType`, `attempt` (of the scheduled copy) |
//! | `TenantJobReceived` | counter | `tenantId` |
//! | `TenantJobCompleted` | counter | `tenantId` |
//! | `TenantJobFailed` | counter | `tenantId` |
//! | `TenantJobDeadLettered` | counter | `tenantId` |
//!
//! The per-tenant audit counters follow one rule so that, once the queue is idle, received =
//! completed + dead-lettered for every tenant: `TenantJobReceived` counts a message once, on its
//! first delivery; `TenantJobCompleted` the attempt that completed it; `TenantJobFailed` every
//! failed attempt; `TenantJobDeadLettered` the failed attempt on the queue's last allowed delivery
//! (`DeliveryCount >= MaxDeliveryCount`), whatever the failure (chaos or poison): the broker
//! dead-letters the message when that attempt is abandoned. A message whose envelope cannot be
//! read is counted under tenant `unknown`.
//!
//! In backoff mode a transiently failed attempt that was rescheduled completes its message (the
//! runtime completes it; a new message carries the next attempt): it counts as failed **and**
//! completed, and the copy is received again, so the rule holds per message.

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

/// Why a processing attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Chaos: a deliberate, transient failure.
    Simulated,
    /// The job's work failed transiently ([`jobs::Outcome::Transient`]).
    Transient,
    /// The job's work can never succeed ([`jobs::Outcome::Permanent`]).
    Permanent,
    /// The message is not a job envelope this build can process.
    Poison,
    /// Backoff mode: the job's last attempt already failed; later deliveries fail fast.
    Exhausted,
    /// The envelope's payload no longer satisfies its job type schema.
    Validation,
}

impl FailureKind {
    /// The `failureKind` / `outcome` dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Poison => "poison",
            Self::Exhausted => "exhausted",
            Self::Validation => "validation",
        }
    }
}

/// The handler's custom metrics.
#[derive(Debug, Clone)]
pub struct JobMetrics {
    ingestion_start: Counter<u64>,
    rejected: Counter<u64>,
    flagged: Counter<u64>,
    processing_latency: Histogram<f64>,
    success: Counter<u64>,
    failure: Counter<u64>,
    retry_scheduled: Counter<u64>,
    tenant_received: Counter<u64>,
    tenant_completed: Counter<u64>,
    tenant_failed: Counter<u64>,
    tenant_dead_lettered: Counter<u64>,
}

/// What one processing attempt means for its tenant's audit counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantAudit {
    /// First delivery: the message is received.
    pub received: bool,
    /// The attempt completed the job.
    pub completed: bool,
    /// The attempt failed.
    pub failed: bool,
    /// The attempt failed on the last allowed delivery: the broker dead-letters the message.
    pub dead_lettered: bool,
}

impl TenantAudit {
    /// The audit of a failed attempt that was rescheduled (backoff mode): failed, and its message
    /// completed.
    pub fn rescheduled(delivery: u32) -> Self {
        Self {
            received: delivery <= 1,
            completed: true,
            failed: true,
            dead_lettered: false,
        }
    }

    /// The audit of an attempt on `delivery` (1-based) of a queue allowing `max_delivery_count`.
    pub fn of(delivery: u32, max_delivery_count: u32, succeeded: bool) -> Self {
        Self {
            received: delivery <= 1,
            completed: succeeded,
            failed: !succeeded,
            dead_lettered: !succeeded && delivery >= max_delivery_count,
        }
    }
}

impl JobMetrics {
    /// Create the instruments on `meter`.
    pub fn new(meter: &Meter) -> Self {
        Self {
            ingestion_start: meter
                .u64_counter("JobIngestionStart")
                .with_description("Jobs accepted by IngestJob and handed to the queue")
                .build(),
            rejected: meter
                .u64_counter("JobRejected")
                .with_description("Requests IngestJob rejected, by HTTP status and problem type")
                .build(),
            flagged: meter
                .u64_counter("JobFlagged")
                .with_description("Jobs IngestJob accepted but flagged as suspicious")
                .build(),
            processing_latency: meter
                .f64_histogram("JobProcessingLatencyMs")
                .with_unit("ms")
                .with_description("Time ProcessJob spent on one processing attempt")
                .build(),
            success: meter
                .u64_counter("JobSuccess")
                .with_description("Processing attempts that completed the job")
                .build(),
            failure: meter
                .u64_counter("JobFailure")
                .with_description("Processing attempts that failed, by kind")
                .build(),
            retry_scheduled: meter
                .u64_counter("JobRetryScheduled")
                .with_description(
                    "Jobs rescheduled after a transient failure (backoff mode), by the attempt scheduled",
                )
                .build(),
            tenant_received: meter
                .u64_counter("TenantJobReceived")
                .with_description("Messages ProcessJob received (first delivery), by tenant")
                .build(),
            tenant_completed: meter
                .u64_counter("TenantJobCompleted")
                .with_description("Jobs ProcessJob completed, by tenant")
                .build(),
            tenant_failed: meter
                .u64_counter("TenantJobFailed")
                .with_description("Processing attempts that failed, by tenant")
                .build(),
            tenant_dead_lettered: meter
                .u64_counter("TenantJobDeadLettered")
                .with_description(
                    "Jobs whose last allowed delivery failed (dead-lettered), by tenant",
                )
                .build(),
        }
    }

    /// One job accepted.
    pub fn ingestion_start(&self, job_type: &str, job_version: u32) {
        self.ingestion_start.add(
            1,
            &[
                KeyValue::new("jobType", job_type.to_owned()),
                KeyValue::new("jobVersion", i64::from(job_version)),
            ],
        );
    }

    /// One request rejected.
    pub fn rejected(&self, status: u16, reason: &str) {
        self.rejected.add(
            1,
            &[
                KeyValue::new("status", i64::from(status)),
                KeyValue::new("reason", reason.to_owned()),
            ],
        );
    }

    /// One accepted job flagged as suspicious; `reason` is the rule (`velocity`).
    pub fn flagged(&self, job_type: &str, reason: &'static str) {
        self.flagged.add(
            1,
            &[
                KeyValue::new("jobType", job_type.to_owned()),
                KeyValue::new("reason", reason),
            ],
        );
    }

    /// One job rescheduled for `attempt` (backoff mode).
    pub fn retry_scheduled(&self, job_type: &str, attempt: u32) {
        self.retry_scheduled.add(
            1,
            &[
                KeyValue::new("jobType", job_type.to_owned()),
                KeyValue::new("attempt", i64::from(attempt)),
            ],
        );
    }

    /// The per-tenant audit counters of one processing attempt.
    pub fn tenant_audit(&self, tenant_id: &str, audit: TenantAudit) {
        let tenant = [KeyValue::new("tenantId", tenant_id.to_owned())];
        for (counter, hit) in [
            (&self.tenant_received, audit.received),
            (&self.tenant_completed, audit.completed),
            (&self.tenant_failed, audit.failed),
            (&self.tenant_dead_lettered, audit.dead_lettered),
        ] {
            if hit {
                counter.add(1, &tenant);
            }
        }
    }

    /// One processing attempt finished: `failure` is `None` on success.
    pub fn attempt(
        &self,
        job_type: &str,
        delivery_count: u32,
        failure: Option<FailureKind>,
        latency_ms: f64,
    ) {
        let outcome = failure.map_or("success", FailureKind::as_str);
        self.processing_latency.record(
            latency_ms,
            &[
                KeyValue::new("jobType", job_type.to_owned()),
                KeyValue::new("outcome", outcome),
                KeyValue::new("deliveryCount", i64::from(delivery_count)),
            ],
        );
        let job_type = KeyValue::new("jobType", job_type.to_owned());
        match failure {
            None => self.success.add(1, &[job_type]),
            Some(kind) => self
                .failure
                .add(1, &[job_type, KeyValue::new("failureKind", kind.as_str())]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_rule() {
        let a = TenantAudit::of(1, 5, true);
        assert_eq!(
            (a.received, a.completed, a.failed, a.dead_lettered),
            (true, true, false, false)
        );
        let a = TenantAudit::of(3, 5, false);
        assert_eq!(
            (a.received, a.completed, a.failed, a.dead_lettered),
            (false, false, true, false)
        );
        let a = TenantAudit::of(5, 5, false);
        assert_eq!(
            (a.received, a.completed, a.failed, a.dead_lettered),
            (false, false, true, true)
        );
        let a = TenantAudit::of(1, 1, false);
        assert_eq!((a.received, a.dead_lettered), (true, true));
    }
}
