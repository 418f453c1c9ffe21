//! What the AMQP front end needs from the message store.
//!
//! The front end speaks the wire; a [`Backend`] owns the queues: in the product the durable
//! store, through [`crate::amqp::DurableBackend`].

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

/// A queue or one of its subqueues, as named in a link address (`jobs`, `jobs/$DeadLetterQueue`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Entity {
    /// Queue name as registered (case preserved).
    pub queue: String,
    /// The dead-letter subqueue (`<queue>/$DeadLetterQueue`) rather than the queue itself.
    pub dead_letter: bool,
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.dead_letter {
            write!(f, "{}/$DeadLetterQueue", self.queue)
        } else {
            f.write_str(&self.queue)
        }
    }
}

/// A queue's properties, named as in the emulator's `Config.json` and the Atom API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueProperties {
    /// Queue name.
    pub name: String,
    /// `LockDuration`.
    pub lock_duration: Duration,
    /// `MaxDeliveryCount`.
    pub max_delivery_count: u32,
    /// `DefaultMessageTimeToLive`.
    pub default_message_time_to_live: Duration,
    /// `DeadLetteringOnMessageExpiration`.
    pub dead_lettering_on_message_expiration: bool,
    /// `RequiresSession` (the front end refuses session receivers: not supported yet).
    pub requires_session: bool,
    /// `MaxMessageSizeInKilobytes` (256 on Standard).
    pub max_message_size_kb: u32,
}

/// How a receiver link takes messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReceiveMode {
    /// Lock the message; the client settles it later.
    PeekLock,
    /// Remove the message as it is handed out.
    ReceiveAndDelete,
}

/// A message as a sender handed it over, ready to be stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewMessage {
    /// `properties.message-id` as text (duplicate detection); `None` when absent.
    pub message_id: Option<String>,
    /// The broker generated `message_id` (the sender gave none): unique, so duplicate detection
    /// does not look it up or keep it.
    pub generated_id: bool,
    /// `properties.group-id` (`SessionId`).
    pub session_id: Option<String>,
    /// `x-opt-partition-key`.
    pub partition_key: Option<String>,
    /// `header.ttl`; the queue default applies when `None` (Service Bus caps it by the default).
    pub time_to_live: Option<Duration>,
    /// `x-opt-scheduled-enqueue-time`: not visible before then.
    pub scheduled_enqueue_time: Option<DateTime<Utc>>,
    /// The sender's message annotations section, encoded (kept as is, `x-opt-*` included).
    pub annotations: Option<Bytes>,
    /// The bare message exactly as encoded by the sender: properties, application-properties,
    /// body sections (footer dropped). Sent back verbatim, so AMQP -> AMQP is lossless.
    pub bare: Bytes,
    /// Encoded size of the whole message as received (the size limit applies to it).
    pub size: usize,
}

/// A message handed to a receiver under a lock (or removed, in receive-and-delete).
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The stored message.
    pub message: StoredMessage,
    /// The lock token (also the delivery tag on the wire); `None` in receive-and-delete.
    pub lock_token: Option<Uuid>,
    /// Lock expiry; `None` in receive-and-delete.
    pub locked_until: Option<DateTime<Utc>>,
}

/// A stored message with what the broker assigned to it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredMessage {
    /// What the sender gave.
    pub new: NewMessage,
    /// `SequenceNumber`.
    pub sequence_number: i64,
    /// `EnqueuedTimeUtc`.
    pub enqueued_at: DateTime<Utc>,
    /// `ExpiresAtUtc`.
    pub expires_at: DateTime<Utc>,
    /// Failed deliveries so far (abandons and lock expiries; releases do not count): the AMQP
    /// header's `delivery-count`. The .NET SDK shows this + 1 on a received message.
    pub delivery_count: u32,
    /// For a dead-lettered message: the queue it came from.
    pub dead_letter_source: Option<String>,
    /// `DeadLetterReason`.
    pub dead_letter_reason: Option<String>,
    /// `DeadLetterErrorDescription`.
    pub dead_letter_description: Option<String>,
}

/// How a peek-locked message is settled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settlement {
    /// Remove it (`accepted`).
    Complete,
    /// Unlock it; `failed` counts a delivery attempt (`modified`), otherwise not (`released`).
    Abandon {
        /// Count this delivery as failed.
        failed: bool,
    },
    /// Keep it aside, receivable only by sequence number (`modified{undeliverable-here}`).
    Defer,
    /// Move it to the dead-letter subqueue (`rejected{com.microsoft:dead-letter}`).
    DeadLetter {
        /// `DeadLetterReason`.
        reason: Option<String>,
        /// `DeadLetterErrorDescription`.
        description: Option<String>,
    },
}

/// A store failure, each mapped to the Service Bus error for it at the edge.
#[derive(Debug, Error)]
pub enum BackendError {
    /// The entity does not exist (`amqp:not-found`).
    #[error("The messaging entity '{0}' could not be found.")]
    NotFound(String),
    /// The lock is not held: settled, expired or unknown (`com.microsoft:message-lock-lost`).
    #[error(
        "The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue."
    )]
    LockLost,
    /// No message with that sequence number (`com.microsoft:message-not-found`).
    #[error("The message with sequence number {0} could not be found.")]
    MessageNotFound(i64),
    /// The request is invalid (`com.microsoft:argument-error`).
    #[error("{0}")]
    Argument(String),
    /// The store failed (`amqp:internal-error`); the source is kept.
    #[error("the message store failed")]
    Store(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The operations the AMQP front end needs from the message store.
///
/// Every mutating call returns only once the change is durable (the broker's fsync'd commit):
/// the front end tells a sender "accepted" only after [`Backend::send`] returned.
pub trait Backend: Send + Sync + 'static {
    /// The queue's properties, or [`BackendError::NotFound`].
    fn queue(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<QueueProperties, BackendError>> + Send;

    /// Store messages atomically (a batch is all or nothing); returns their sequence numbers.
    /// A message with a scheduled enqueue time stays invisible until then.
    fn send(
        &self,
        queue: &str,
        messages: Vec<NewMessage>,
    ) -> impl Future<Output = Result<Vec<i64>, BackendError>> + Send;

    /// Take up to `max` available messages (oldest first). May return none.
    fn receive(
        &self,
        entity: &Entity,
        mode: ReceiveMode,
        max: u32,
    ) -> impl Future<Output = Result<Vec<Delivered>, BackendError>> + Send;

    /// Settle a locked message.
    fn settle(
        &self,
        entity: &Entity,
        lock_token: Uuid,
        settlement: Settlement,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Extend a lock by the queue's lock duration; returns the new expiry.
    fn renew_lock(
        &self,
        entity: &Entity,
        lock_token: Uuid,
    ) -> impl Future<Output = Result<DateTime<Utc>, BackendError>> + Send;

    /// Messages from `from_sequence_number` on (active, deferred and scheduled), without locking.
    fn peek(
        &self,
        entity: &Entity,
        from_sequence_number: i64,
        max: u32,
    ) -> impl Future<Output = Result<Vec<StoredMessage>, BackendError>> + Send;

    /// Remove scheduled messages before they appear.
    fn cancel_scheduled(
        &self,
        queue: &str,
        sequence_numbers: Vec<i64>,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Take deferred messages by sequence number.
    fn receive_deferred(
        &self,
        entity: &Entity,
        sequence_numbers: Vec<i64>,
        mode: ReceiveMode,
    ) -> impl Future<Output = Result<Vec<Delivered>, BackendError>> + Send;

    /// Ticks whenever messages may have become available on `entity` (send, abandon, lock
    /// expiry, scheduled time reached). A receiver with credit waits on it.
    fn watch(&self, entity: &Entity) -> Result<watch::Receiver<u64>, BackendError>;
}
