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
    /// The answer is not the expected Atom document.
    #[error("unexpected Service Bus answer: {0}")]
    Malformed(String),
}
