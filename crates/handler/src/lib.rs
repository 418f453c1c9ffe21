//! The Azure Functions custom handler for the job pipeline.
//!
//! The Functions host starts the `handler` binary with `FUNCTIONS_CUSTOMHANDLER_PORT` and forwards
//! each invocation to it as `POST /{FunctionName}` (see the `wire` crate for the contract):
//!
//! * `IngestJob` validates a client's job against its job type schema and answers `202 Accepted`,
//!   putting one envelope on the `jobs` Service Bus queue through the `job` output binding;
//! * `ProcessJob` is triggered by that queue and runs the job type's work (a [`jobs::Job`], see
//!   [`shipped_jobs`]) under a chaos layer that fails on purpose at the configured rate, so the
//!   runtime's PeekLock, redelivery and dead-lettering are exercised.
//!
//! [`main`] is the executable (the `handler` binary is a call to it).

pub mod invocation;
pub mod job_types;
pub mod logging;
pub mod namespace;
pub mod problem;
pub mod protect;
pub mod resubmission;
pub mod retry;
pub mod routes;
pub mod server;
pub mod settings;
pub mod shipped_jobs;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod work;

pub use settings::Settings;
pub use startup::main;
pub use state::AppState;
