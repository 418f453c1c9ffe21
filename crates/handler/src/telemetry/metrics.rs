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

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter};

/// Why a processing attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Chaos: a deliberate, transient failure.
    Simulated,
    /// The message is not a job envelope this build can process.
    Poison,
    /// The envelope's payload no longer satisfies its job type schema.
    Validation,
}

impl FailureKind {
    /// The `failureKind` / `outcome` dimension value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Simulated => "simulated",
            Self::Poison => "poison",
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
