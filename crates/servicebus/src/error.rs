use thiserror::Error;

/// A Service Bus REST call failed.
#[derive(Debug, Error)]
pub enum ServiceBusError {
    /// The endpoint is unusable (bad URL, or plain http where it is not allowed).
    #[error("Service Bus endpoint {0}")]
    Endpoint(String),
    /// No token could be obtained from the credential.
    #[error("cannot get a Microsoft Entra token for Service Bus: {0}")]
    Credential(String),
    /// The request did not complete (connection, timeout).
    #[error("Service Bus request failed: {0}")]
    Transport(String),
    /// The service answered with an error status.
    #[error("Service Bus answered {status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// The entity does not exist (the service answers an empty feed, or 404).
    #[error("Service Bus entity {0} does not exist")]
    NotFound(String),
    /// The message cannot be sent as given (a custom property that cannot be a header).
    #[error("invalid message: {0}")]
    InvalidMessage(String),
    /// The message lock is gone (expired, or the message was settled already): `410`/`404`
    /// on a message URI.
    #[error("the message lock is lost: {0}")]
    LockLost(String),
    /// A peek-lock got no usable answer although its request may have reached the service, so a
    /// message may now be locked. It is never retried: a retry would lock the next message and
    /// leave this one locked, unseen, until its lock lapses.
    #[error(
        "peek-lock on {entity} failed after the request was sent: {detail}; not retried (it may have locked a message, which then stays locked until the entity's lock duration lapses)"
    )]
    ReceiveUncertain {
        /// The entity (`jobs/$DeadLetterQueue`).
        entity: String,
        /// What went wrong.
        detail: String,
    },
    /// A peek-lock locked a message whose answer cannot be read.
    #[error(
        "peek-lock on {entity} locked message {message} but its answer cannot be read: {detail}; {outcome}"
    )]
    Unreadable {
        /// The entity.
        entity: String,
        /// The message URI (`Location`), or what is known of it.
        message: String,
        /// What is wrong with the answer.
        detail: String,
        /// Whether it was unlocked again.
        outcome: String,
    },
    /// The answer is not the expected Atom document.
    #[error("unexpected Service Bus answer: {0}")]
    Malformed(String),
}
