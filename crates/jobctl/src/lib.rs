//! `jobctl`: the operator CLI for the job pipeline's Service Bus queue, over the Service Bus REST
//! API (crates/servicebus). Works against a real namespace (Microsoft Entra ID: managed identity
//! in Azure, Azure CLI / azd sign-in on a workstation) and against the devhost (plain `http`
//! on loopback, no token).
//!
//! ```text
//! jobctl --endpoint mybus queues
//! jobctl --endpoint http://127.0.0.1:7071/servicebus dlq peek --max 20
//! jobctl --endpoint mybus dlq summary --since 24h
//! jobctl --endpoint mybus dlq resubmit --reason MaxDeliveryCountExceeded --job-type report --rate 20/s
//! jobctl --endpoint mybus dlq purge --yes
//! jobctl --app-id <Application ID> job 01936c1e-7b2a-7c3d-9e4f-0123456789ab
//! jobctl --devhost http://127.0.0.1:7071 audit
//! ```
//!
//! The command line is [`cli`]; the binary (src/bin/jobctl.rs) and the end-to-end tests' copy of it
//! (crates/e2e) both call [`main`].

mod audit;
mod checkpoint;
pub mod cli;
mod dlq;
mod endpoint;
mod error;
mod lives;
mod output;
mod plan;
mod progress;
mod redrive;
mod scan;
mod selection;
mod stop;
mod summary;
mod telemetry;
mod timeline;

pub use cli::main;
