//! The store's API types: queue options, messages in and out, locks, counts, dead letters.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::latency::LatencySummary;

/// `DeadLetterReason` when the delivery count is exhausted (as the broker writes it).
pub const MAX_DELIVERY_REASON: &str = "MaxDeliveryCountExceeded";
/// `DeadLetterReason` when the time-to-live passed.
pub const TTL_REASON: &str = "TTLExpiredException";

/// A queue's properties (the Service Bus queue properties the store implements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueOptions {
    /// Deliveries before dead-lettering (Service Bus default 10).
    pub max_delivery_count: u32,
    /// PeekLock duration (Service Bus default 1 minute).
    pub lock_duration: Duration,
    /// Default message time-to-live.
    pub time_to_live: Duration,
    /// Dead-letter messages whose time-to-live passes (else they are dropped), as the queue's
    /// `deadLetteringOnMessageExpiration`.
    pub dead_letter_on_expiration: bool,
    /// `RequiresDuplicateDetection` with its `DuplicateDetectionHistoryTimeWindow`: a message
    /// whose `MessageId` was accepted within the window is accepted and dropped. `None`: off.
    pub duplicate_detection: Option<Duration>,
}

impl Default for QueueOptions {
    /// The devhost's defaults: Service Bus's `MaxDeliveryCount` 10 and `LockDuration` 1 minute,
    /// the project's Terraform `default_message_ttl` (14 days) and dead-lettering on expiry,
    /// no duplicate detection (Service Bus's default).
    fn default() -> Self {
        Self {
            max_delivery_count: 10,
            lock_duration: Duration::from_secs(60),
            time_to_live: Duration::from_secs(14 * 24 * 3600),
            dead_letter_on_expiration: true,
            duplicate_detection: None,
        }
    }
}

/// The options of every queue: the defaults, and the queues configured with their own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueConfig {
    /// What a queue not listed in `queues` has.
    pub defaults: QueueOptions,
    /// Queues with their own properties.
    pub queues: BTreeMap<String, QueueOptions>,
}

impl QueueConfig {
    /// The options of `queue`.
    pub fn of(&self, queue: &str) -> QueueOptions {
        self.queues.get(queue).copied().unwrap_or(self.defaults)
    }
}

impl From<QueueOptions> for QueueConfig {
    /// Every queue with `defaults`.
    fn from(defaults: QueueOptions) -> Self {
        Self {
            defaults,
            queues: BTreeMap::new(),
        }
    }
}

/// A message to enqueue.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// Queue name.
    pub queue: String,
    /// Body text.
    pub body: String,
    /// `MessageId`; generated when `None`.
    pub message_id: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// Application properties.
    pub properties: Map<String, Value>,
    /// `ScheduledEnqueueTimeUtc`: the message becomes active (and counts as enqueued) only then.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// `TimeToLive`; the queue's default time-to-live caps it, as on Service Bus.
    pub time_to_live: Option<Duration>,
}

/// What a stored message carries, whichever way it is read (REST or AMQP, queue or dead letter).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Message {
    /// Sequence number.
    pub sequence_number: i64,
    /// `MessageId`.
    pub message_id: String,
    /// Body text (REST view).
    pub body: String,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// Application properties (REST view).
    pub properties: Map<String, Value>,
    /// Deliveries so far, the current one included when locked.
    pub delivery_count: u32,
    /// Enqueue time.
    pub enqueued_at: DateTime<Utc>,
    /// Expiry time.
    pub expires_at: DateTime<Utc>,
}

/// A message delivered under a lock.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The message.
    #[serde(flatten)]
    pub message: Message,
    /// Queue name.
    pub queue: String,
    /// Lock token.
    pub lock_token: String,
    /// When the lock expires unless renewed.
    pub locked_until: DateTime<Utc>,
}

impl Delivery {
    /// The lock this delivery holds, naming its queue and sequence number.
    pub fn lock(&self) -> LockRef {
        LockRef {
            queue: self.queue.clone(),
            message: Some(self.message.sequence_number.to_string()),
            token: self.lock_token.clone(),
        }
    }
}

/// A lock as a settling client names it. Every settlement checks all of it: a token of another
/// queue, or of another message than the one named, is not held (Service Bus answers 404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRef {
    /// The queue (for a dead letter: the queue whose dead-letter subqueue holds it).
    pub queue: String,
    /// The message: its sequence number or `MessageId`, as the REST path's
    /// `{messageId|sequenceNumber}` segment; `None` when the token alone names it (an AMQP
    /// disposition on a link already bound to the queue).
    pub message: Option<String>,
    /// The lock token.
    pub token: String,
}

/// What happened to an abandoned message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandoned {
    /// Available again for redelivery.
    Requeued,
    /// Moved to the dead-letter subqueue.
    DeadLettered,
}

/// Counts for one queue.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStats {
    /// Queue name.
    pub name: String,
    /// Available now.
    pub active: u64,
    /// Enqueued for later.
    pub scheduled: u64,
    /// Under a lock (being processed), or deferred by its receiver.
    pub locked: u64,
    /// In the dead-letter subqueue.
    pub dead_lettered: u64,
    /// Completed since the store was created.
    pub completed: u64,
    /// Abandoned deliveries since the store was created.
    pub abandoned: u64,
    /// Messages ever enqueued.
    pub enqueued: u64,
    /// Messages whose time-to-live passed (dead-lettered or dropped) since the store was created.
    pub expired: u64,
    /// Queue-to-completion latency (available to completed) since the store was opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_latency_ms: Option<LatencySummary>,
}

/// A dead-lettered message.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeadLetter {
    /// Sequence number (the id to resubmit it by).
    pub sequence_number: i64,
    /// `MessageId`.
    pub message_id: String,
    /// `DeadLetterReason`.
    pub reason: String,
    /// `DeadLetterErrorDescription`.
    pub description: String,
    /// Deliveries made.
    pub delivery_count: u32,
    /// Original enqueue time.
    pub enqueued_at: DateTime<Utc>,
    /// When it was dead-lettered.
    pub dead_lettered_at: DateTime<Utc>,
    /// Body text.
    pub body: String,
    /// Why the last delivery failed, as the host saw it (not a broker property).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Which dead letters to resubmit.
#[derive(Debug, Clone)]
pub enum Selection {
    /// Every dead letter of the queue.
    All,
    /// By sequence number or message id.
    Ids(Vec<String>),
}
