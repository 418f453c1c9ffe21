//! The Service Bus REST subset, over the store, under [`PREFIX`]: entity runtime information
//! ([`entity`]) and messaging ([`messages`]: send, peek-lock, complete, unlock, on a queue and on
//! its `$DeadLetterQueue`). Answered like the real namespace endpoint
//! (`https://{namespace}.servicebus.windows.net/...`, Microsoft's "Service Bus REST API" pages),
//! so the project's REST client and the operator CLI work against it unchanged. Errors are RFC
//! 9457 problem details with the status Service Bus answers. No authorization: a loopback
//! stand-in.

pub mod entity;
pub mod messages;
mod problem;

#[cfg(test)]
mod tests;

pub use problem::{Problem, require_queue};

use crate::namespace::Namespace;

/// Path prefix of the REST subset.
pub const PREFIX: &str = "/servicebus";

/// What the REST front serves from.
#[derive(Debug, Clone)]
pub struct Rest {
    /// The queues and their store.
    pub namespace: Namespace,
    /// Public base URL of the server, e.g. `http://127.0.0.1:7071` (for `Location` headers and
    /// Atom ids).
    pub base_url: String,
}

/// Every REST route, ready to merge into the server's router.
pub fn router(rest: Rest) -> axum::Router {
    entity::routes().merge(messages::routes()).with_state(rest)
}
