//! A `messages` row, read in one place and turned into what the API hands out.

use chrono::{DateTime, Utc};
use rusqlite::types::Type;

use super::model::{DeadLetter, Delivery, Message};

/// The columns [`Stored::read`] expects, in order.
macro_rules! stored_columns {
    () => {
        "seq, queue, message_id, body, content_type, correlation_id, properties, delivery_count, enqueued_at, expires_at, dl_reason, dl_description, dl_at, last_error"
    };
}
pub(super) use stored_columns;

/// `SELECT` the columns [`Stored::read`] expects, in order, `FROM messages WHERE` the given
/// condition: a `&'static str` built at compile time.
macro_rules! select_messages_where {
    ($condition:literal) => {
        concat!(
            "SELECT ",
            $crate::store::row::stored_columns!(),
            " FROM messages WHERE ",
            $condition
        )
    };
}
pub(super) use select_messages_where;

/// One stored message: what every reader gets, and what only the store's own views use.
pub(super) struct Stored {
    pub message: Message,
    pub queue: String,
    pub dl_reason: Option<String>,
    pub dl_description: Option<String>,
    pub dl_at: Option<i64>,
    pub last_error: Option<String>,
}

impl Stored {
    /// Read a row selected with `select_messages_where!` (or with more columns after those).
    pub fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        let properties: String = r.get(6)?;
        let properties = serde_json::from_str(&properties)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(6, Type::Text, Box::new(e)))?;
        let message = Message {
            sequence_number: r.get(0)?,
            message_id: r.get(2)?,
            body: r.get(3)?,
            content_type: r.get(4)?,
            correlation_id: r.get(5)?,
            properties,
            delivery_count: u32::try_from(r.get::<_, i64>(7)?).unwrap_or(u32::MAX),
            enqueued_at: time(r.get(8)?),
            expires_at: time(r.get(9)?),
        };
        Ok(Self {
            message,
            queue: r.get(1)?,
            dl_reason: r.get(10)?,
            dl_description: r.get(11)?,
            dl_at: r.get(12)?,
            last_error: r.get(13)?,
        })
    }

    /// The message as delivered under `lock_token` until `locked_until` (epoch ms).
    pub fn into_delivery(self, lock_token: String, locked_until: i64) -> Delivery {
        Delivery {
            message: self.message,
            queue: self.queue,
            lock_token,
            locked_until: time(locked_until),
        }
    }

    /// The message as a dead-letter listing shows it.
    pub fn into_dead_letter(self) -> DeadLetter {
        let m = self.message;
        DeadLetter {
            sequence_number: m.sequence_number,
            message_id: m.message_id,
            reason: self.dl_reason.unwrap_or_default(),
            description: self.dl_description.unwrap_or_default(),
            delivery_count: m.delivery_count,
            enqueued_at: m.enqueued_at,
            dead_lettered_at: time(self.dl_at.unwrap_or_default()),
            body: m.body,
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
