//! The seam for real job code: one Rust type per job type implements [`Job`].
//!
//! `ProcessJob` hands the job its payload, already valid against the job type's schema and
//! deserialised into [`Job::Payload`], with a [`JobContext`] naming the job and the attempt. The
//! [`Outcome`] decides what happens to the message: completed, retried, or failed for good.

use std::future::Future;

use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::JobEnvelope;

/// Who and which try a job's work is running for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobContext {
    /// The job id (the envelope's `jobId`, stable across retries).
    pub job_id: Uuid,
    /// The tenant the job belongs to.
    pub tenant_id: String,
    /// The client's correlation id.
    pub correlation_id: String,
    /// The job type version the payload was validated against.
    pub job_version: u32,
    /// Processing attempt, from 1: a copy rescheduled with backoff is the next attempt.
    pub attempt: u32,
    /// Broker delivery of this copy, from 1: an abandoned message comes back with one more.
    pub delivery_count: u32,
}

impl JobContext {
    /// The context of `envelope` on its `delivery_count`-th delivery.
    pub fn of(envelope: &JobEnvelope, delivery_count: u32) -> Self {
        Self {
            job_id: envelope.job_id,
            tenant_id: envelope.tenant_id.clone(),
            correlation_id: envelope.correlation_id.clone(),
            job_version: envelope.job_version,
            attempt: envelope.attempt(),
            delivery_count: delivery_count.max(1),
        }
    }
}

/// How a run of a job's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The work is done: the message is completed.
    Done,
    /// It failed but may succeed later (a dependency timed out, was throttled, ...): retried with
    /// the backoff schedule, or by broker redelivery.
    Transient(String),
    /// It can never succeed (the input is wrong for the work, a rule forbids it): never retried.
    /// The message fails on every delivery until the broker dead-letters it; the reason is logged,
    /// counted and kept in the job's telemetry.
    Permanent(String),
}

/// A job type's work.
///
/// ```
/// use jobs::{Job, JobContext, Outcome};
/// use serde::Deserialize;
///
/// #[derive(Deserialize)]
/// struct Payload { rows: u32 }
///
/// struct Count;
///
/// impl Job for Count {
///     const NAME: &'static str = "count";
///     type Payload = Payload;
///     async fn run(&self, payload: Payload, _cx: &JobContext) -> Outcome {
///         if payload.rows == 0 {
///             return Outcome::Permanent("nothing to count".into());
///         }
///         Outcome::Done
///     }
/// }
/// ```
pub trait Job: Send + Sync + 'static {
    /// The job type name: its folder under `job-types/`.
    const NAME: &'static str;
    /// The payload, as the job type's schemas (every version) describe it.
    type Payload: DeserializeOwned + Send;

    /// Do the work once. Called again on a retry, so it should be safe to repeat.
    fn run(&self, payload: Self::Payload, cx: &JobContext) -> impl Future<Output = Outcome> + Send;
}
