//! Backoff mode: a job whose processing failed transiently is rescheduled, not redelivered at
//! once. The handler sends a copy of the envelope with `attempt + 1` to the queue through the
//! Service Bus REST API, with `ScheduledEnqueueTimeUtc = failure time + backoff(attempt)`
//! (rounded up to the next whole second: the header has second precision), `MessageId =
//! <jobId>:<attempt>` and the job's `CorrelationId`, and only then answers success so the runtime
//! completes the original. If the send fails the invocation fails and the broker redelivers the
//! original (at least once, never lost). Once `RETRY_MAX_ATTEMPTS` is reached nothing is
//! rescheduled: the failure goes to the broker, and later deliveries of that last copy fail fast
//! (no work) until the broker dead-letters it.

mod scheduler;
mod settings;

pub use scheduler::{RetryScheduler, ScheduleError, Scheduled};
pub use settings::RetrySettings;
