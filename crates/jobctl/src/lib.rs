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
//! ```
//!
//! The command line is [`cli`]; the binary (src/bin/jobctl.rs) and the end-to-end tests' copy of it
//! (crates/e2e) both call [`main`].

mod checkpoint;
pub mod cli;
mod dlq;
mod endpoint;
mod error;
mod output;
mod plan;
mod progress;
mod redrive;
mod scan;
mod selection;
mod stop;
mod summary;

pub use cli::main;
