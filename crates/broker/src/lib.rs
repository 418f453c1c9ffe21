//! broker: the local Service Bus.
//!
//! A durable, Service Bus-like queue store ([`store`]) and, on top of it, the Service Bus REST
//! subset ([`rest`]), AMQP 1.0 front end ([`amqp`]) and administration API ([`admin`]). It knows the Service Bus contract and nothing else: not the job domain, not the
//! Functions host, so any Service Bus client (the host stand-in, the operator CLI, an SDK) can use
//! it, and what works here works against a real namespace.

pub mod admin;
pub mod amqp;
pub mod latency;
pub mod namespace;
pub mod rest;
pub mod store;

pub use namespace::Namespace;
