//! A `messages` row, read in one place and turned into what the API hands out.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;
use serde_json::{Map, Value};

use super::model::{DeadLetter, Delivery};

/// The columns [`Stored::read`] expects, in order.
pub(super) const COLUMNS: &str = "seq, queue, message_id, body, content_type, correlation_id, properties, delivery_count, enqueued_at, expires_at, dl_reason, dl_description, dl_at, last_error";

/// One stored message.
pub(super) struct Stored {
    pub seq: i64,
    pub queue: String,
    pub message_id: String,
    pub body: String,
    pub content_type: Option<String>,
    pub correlation_id: Option<String>,
    pub properties: Map<String, Value>,
    pub delivery_count: u32,
    pub enqueued_at: i64,
    pub expires_at: i64,
    pub dl_reason: Option<String>,
    pub dl_description: Option<String>,
    pub dl_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Stored {
    /// Read a row selected with [`COLUMNS`].
    pub fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let properties: String = r.get(6)?;
        let properties = serde_json::from_str(&properties)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, Type::Text, Box::new(e)))?;
        Ok(Self {
            seq: r.get(0)?,
            queue: r.get(1)?,
            message_id: r.get(2)?,
            body: r.get(3)?,
            content_type: r.get(4)?,
            correlation_id: r.get(5)?,
            properties,
            delivery_count: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
            enqueued_at: r.get(8)?,
            expires_at: r.get(9)?,
            dl_reason: r.get(10)?,
            dl_description: r.get(11)?,
            dl_at: r.get(12)?,
            last_error: r.get(13)?,
        })
    }

    /// The message as delivered under `lock_token` until `locked_until` (epoch ms).
    pub fn into_delivery(self, lock_token: String, locked_until: i64) -> Delivery {
        Delivery {
            sequence_number: self.seq,
            queue: self.queue,
            message_id: self.message_id,
            body: self.body,
            content_type: self.content_type,
            correlation_id: self.correlation_id,
            properties: self.properties,
            delivery_count: self.delivery_count,
            enqueued_at: time(self.enqueued_at),
            expires_at: time(self.expires_at),
            lock_token,
            locked_until: time(locked_until),
        }
    }

    /// The message as a dead-letter listing shows it.
    pub fn into_dead_letter(self) -> DeadLetter {
        DeadLetter {
            sequence_number: self.seq,
            message_id: self.message_id,
            reason: self.dl_reason.unwrap_or_default(),
            description: self.dl_description.unwrap_or_default(),
            delivery_count: self.delivery_count,
            enqueued_at: time(self.enqueued_at),
            dead_lettered_at: time(self.dl_at.unwrap_or_default()),
            body: self.body,
            last_error: self.last_error,
        }
    }
}

/// Now, in epoch milliseconds (the store's time unit).
pub(super) fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// A duration in milliseconds, saturating.
pub(super) fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Epoch milliseconds as a time.
pub(super) fn time(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}
