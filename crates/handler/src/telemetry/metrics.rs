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
//! | `TenantJobReceived` | counter | `tenantId`, `jobType` |
//! | `TenantJobResubmitted` | counter | `tenantId`, `jobType` |
//! | `TenantJobCompleted` | counter | `tenantId`, `jobType` |
//! | `TenantJobAttemptFailed` | counter | `tenantId`, `jobType`, `failureKind` |
//! | `TenantJobRescheduled` | counter | `tenantId`, `jobType` |
//! | `TenantJobDeadLettered` | counter | `tenantId`, `jobType` |
//!
//! The per-tenant audit counts **jobs**, not messages ([`JobAudit`]). A job's messages are its
//! first message and the backoff copies of later attempts; a resubmission from the dead-letter
//! queue starts a new *life* of the same job at attempt 1. Each counter moves at one point:
//!
//! * `TenantJobReceived` (or `TenantJobResubmitted` for a resubmitted copy) once per life, when
//!   the life's first message leaves the queue (completed, rescheduled or dead-lettered). Not on
//!   delivery 1: a handler crash during delivery 1 would lose the count, and the redelivery
//!   (delivery 2) could not tell. A redelivered attempt moves nothing but `TenantJobAttemptFailed`;
//! * `TenantJobCompleted` once, on the attempt whose work completed;
//! * `TenantJobAttemptFailed` on every failed attempt the handler answered (a crash answers
//!   nothing: the host's `requests` row shows it), `TenantJobRescheduled` on each reschedule;
//! * `TenantJobDeadLettered` once per life, on the failed last allowed delivery
//!   (`DeliveryCount >= MaxDeliveryCount`): the broker dead-letters the message when the host
//!   abandons it.
//!
//! So once the queue is idle, per tenant and job type: received = completed + (dead-lettered -
//! resubmitted) + in flight, where in flight are lives waiting on a scheduled backoff copy.
//! ProcessJob exports the counters before it answers ([`super::Flusher`]), so a `kill -9` of the
//! handler loses nothing the host settled. A message whose envelope cannot be read is counted
//! under tenant and job type `unknown`.

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
    tenant_resubmitted: Counter<u64>,
    tenant_completed: Counter<u64>,
    tenant_attempt_failed: Counter<u64>,
    tenant_rescheduled: Counter<u64>,
    tenant_dead_lettered: Counter<u64>,
}

/// How a processing attempt ended, as the host will settle its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEnd {
    /// The work completed: the host completes the message.
    Completed,
    /// Failed transiently and a backoff copy was sent: the host completes this message.
    Rescheduled,
    /// Failed, with deliveries left: the host abandons it and the broker redelivers it.
    Redelivered,
    /// Failed on the last allowed delivery: the host abandons it and the broker dead-letters it.
    DeadLettered,
}

impl AttemptEnd {
    /// A failed attempt on `delivery` (1-based) of a queue allowing `max_delivery_count`, left
    /// to the broker.
    pub fn failed(delivery: u32, max_delivery_count: u32) -> Self {
        if delivery >= max_delivery_count {
            Self::DeadLettered
        } else {
            Self::Redelivered
        }
    }

    /// The `job.end` span attribute.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Rescheduled => "rescheduled",
            Self::Redelivered => "redelivered",
            Self::DeadLettered => "deadLettered",
        }
    }

    /// Whether the message leaves the queue.
    pub fn settles(self) -> bool {
        !matches!(self, Self::Redelivered)
    }
}

/// What one processing attempt means for the per-job audit counters (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JobAudit {
    /// The job's first message left the queue: the job is received.
    pub received: bool,
    /// A resubmitted copy's first message left the queue: the job is resubmitted.
    pub resubmitted: bool,
    /// The job's work completed.
    pub completed: bool,
    /// The attempt failed.
    pub attempt_failed: bool,
    /// The job was rescheduled with backoff.
    pub rescheduled: bool,
    /// The job was dead-lettered.
    pub dead_lettered: bool,
}

impl JobAudit {
    /// The audit of an attempt of copy `attempt` (1-based) of a job that ended as `end`;
    /// `resubmitted`: the life is a resubmission from the dead-letter queue.
    pub fn of(attempt: u32, resubmitted: bool, end: AttemptEnd) -> Self {
        let first_message_settles = attempt <= 1 && end.settles();
        Self {
            received: first_message_settles && !resubmitted,
            resubmitted: first_message_settles && resubmitted,
            completed: end == AttemptEnd::Completed,
            attempt_failed: end != AttemptEnd::Completed,
            rescheduled: end == AttemptEnd::Rescheduled,
            dead_lettered: end == AttemptEnd::DeadLettered,
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
                .with_description("Jobs received (once per job, when its first message left the queue), by tenant and job type")
                .build(),
            tenant_resubmitted: meter
                .u64_counter("TenantJobResubmitted")
                .with_description("Jobs resubmitted from the dead-letter queue (once per resubmission), by tenant and job type")
                .build(),
            tenant_completed: meter
                .u64_counter("TenantJobCompleted")
                .with_description("Jobs whose work completed, by tenant and job type")
                .build(),
            tenant_attempt_failed: meter
                .u64_counter("TenantJobAttemptFailed")
                .with_description("Processing attempts that failed, by tenant, job type and failure kind")
                .build(),
            tenant_rescheduled: meter
                .u64_counter("TenantJobRescheduled")
                .with_description("Jobs rescheduled with backoff after a transient failure, by tenant and job type")
                .build(),
            tenant_dead_lettered: meter
                .u64_counter("TenantJobDeadLettered")
                .with_description("Jobs whose last allowed delivery failed (dead-lettered), by tenant and job type")
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

    /// The per-job audit counters of one processing attempt; `failure` is its kind when it
    /// failed.
    pub fn job_audit(
        &self,
        tenant_id: &str,
        job_type: &str,
        audit: JobAudit,
        failure: Option<FailureKind>,
    ) {
        let dims = [
            KeyValue::new("tenantId", tenant_id.to_owned()),
            KeyValue::new("jobType", job_type.to_owned()),
        ];
        for (counter, hit) in [
            (&self.tenant_received, audit.received),
            (&self.tenant_resubmitted, audit.resubmitted),
            (&self.tenant_completed, audit.completed),
            (&self.tenant_rescheduled, audit.rescheduled),
            (&self.tenant_dead_lettered, audit.dead_lettered),
        ] {
            if hit {
                counter.add(1, &dims);
            }
        }
        if audit.attempt_failed {
            let kind = failure.map_or("unknown", FailureKind::as_str);
            let [tenant, job_type] = dims;
            self.tenant_attempt_failed
                .add(1, &[tenant, job_type, KeyValue::new("failureKind", kind)]);
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

    fn flags(a: JobAudit) -> [bool; 6] {
        [
            a.received,
            a.resubmitted,
            a.completed,
            a.attempt_failed,
            a.rescheduled,
            a.dead_lettered,
        ]
    }

    #[test]
    fn a_job_is_received_once_when_its_first_message_leaves_the_queue() {
        use AttemptEnd::*;
        let t = true;
        let f = false;
        // Attempt 1: a redelivered failure counts only the failed attempt; whichever delivery
        // settles the first message counts the job received.
        assert_eq!(flags(JobAudit::of(1, f, Redelivered)), [f, f, f, t, f, f]);
        assert_eq!(flags(JobAudit::of(1, f, Completed)), [t, f, t, f, f, f]);
        assert_eq!(flags(JobAudit::of(1, f, Rescheduled)), [t, f, f, t, t, f]);
        assert_eq!(flags(JobAudit::of(1, f, DeadLettered)), [t, f, f, t, f, t]);
        // Later attempts (backoff copies) never count the job again.
        assert_eq!(flags(JobAudit::of(2, f, Completed)), [f, f, t, f, f, f]);
        assert_eq!(flags(JobAudit::of(3, f, DeadLettered)), [f, f, f, t, f, t]);
        // A resubmitted copy counts a resubmission instead.
        assert_eq!(flags(JobAudit::of(1, t, Completed)), [f, t, t, f, f, f]);
        assert_eq!(flags(JobAudit::of(1, t, Redelivered)), [f, f, f, t, f, f]);
        assert_eq!(AttemptEnd::failed(4, 5), Redelivered);
        assert_eq!(AttemptEnd::failed(5, 5), DeadLettered);
        assert_eq!(AttemptEnd::failed(1, 1), DeadLettered);
    }
}
