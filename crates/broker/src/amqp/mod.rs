//! AMQP 1.0 front end of the local Service Bus: what the official Service Bus SDKs (Python,
//! JavaScript, .NET) and the Functions host's Service Bus extension speak.
//!
//! The connection, session and link state machines are our own, over the performative and
//! message types of `fe2o3-amqp-types` and the `serde_amqp` codec (why: /work/notes/amqp.md §2).
//! Storage is behind [`Backend`]. Plain TCP only, meant for loopback, as Microsoft's emulator
//! (`UseDevelopmentEmulator=true` makes the SDKs skip TLS); a connection that opens with a TLS
//! handshake is the SDKs' administration client, served by [`crate::admin`].

mod auth;
pub mod backend;
mod batch;
pub mod codec;
mod connection;
mod deliver;
pub mod durable;
mod frames;
mod handshake;
mod inbound;
mod link;
pub mod message;
mod requests;
mod rest_view;
pub mod sas;
mod server;
mod settle;
mod settler;

pub use backend::{Backend, BackendError, Entity, NewMessage, QueueProperties, ReceiveMode};
pub use connection::{Config, ConnectionEnd};
pub use durable::DurableBackend;
pub use sas::{Claim, Rights, RuleError, SasKey};
pub use server::{Server, connection_string, rule_connection_string};
