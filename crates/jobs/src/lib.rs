//! The job domain: what a job is, how it is validated, and how it travels.
//!
//! * [`JobTypeRegistry`] compiles one JSON Schema per job type and version, given as text (the
//!   handler reads them from `job-types/<type>/v<N>.schema.json`).
//! * [`submission::validate_submission`] turns a client's request body into a [`ValidatedJob`],
//!   or into every [`Violation`] found, each with its JSON pointer.
//! * [`JobEnvelope`] is the versioned message put on the queue, strictly parsed on the way out.
//! * [`Chaos`] decides which processing attempts fail on purpose, reproducibly with a seed.
//! * [`Backoff`] is the retry schedule after a transient failure (exponential, full jitter).
//! * [`TraceContext`] is the W3C `traceparent` carried inside the envelope across the queue.
//!
//! * [`Job`] is the trait a job type's work implements: typed payload in, [`Outcome`] out.
//!
//! Pure logic: no I/O (no files, no network, no clock beyond timestamps).

mod backoff;
mod chaos;
mod envelope;
pub mod json;
mod registry;
pub mod submission;
mod trace;
mod violation;
mod work;

pub use backoff::{Backoff, BackoffError};
pub use chaos::{Chaos, ChaosError};
pub use envelope::{ENVELOPE_VERSION, EnvelopeError, JobEnvelope};
pub use registry::{JobType, JobTypeRegistry, RegistryError, SchemaSource, valid_type_name};
pub use submission::{SubmissionError, ValidatedJob};
pub use trace::TraceContext;
pub use violation::Violation;
pub use work::{Job, JobContext, Outcome};

/// Largest message Azure Service Bus Standard accepts (256 KiB): the bound for request bodies and
/// for the serialised envelope.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
