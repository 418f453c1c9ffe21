//! The database: one `messages` table (every message of every queue, its state a
//! [`MessageState`]), one `counters` table (lifetime totals per queue), one `duplicates` table
//! (the duplicate-detection history: queue, `MessageId`, when accepted), and the migration that
//! brings a store created by an earlier version up to date.

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};
use std::sync::LazyLock;

use rusqlite::{Connection, params};

/// Where a message is in its life. Stored as an integer; every query binds these values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageState {
    /// In the queue: available, or scheduled (`visible_at` in the future). `0`, the column default.
    Active = 0,
    /// Delivered under a PeekLock, not settled yet.
    Locked = 1,
    /// In the dead-letter subqueue.
    DeadLettered = 2,
    /// A dead letter locked by a peek-lock receive on the dead-letter subqueue.
    DeadLetterLocked = 3,
    /// Deferred by its receiver: held aside, receivable only by sequence number.
    Deferred = 4,
}

impl ToSql for MessageState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(*self as i64))
    }
}

impl FromSql for MessageState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        match value.as_i64()? {
            0 => Ok(Self::Active),
            1 => Ok(Self::Locked),
            2 => Ok(Self::DeadLettered),
            3 => Ok(Self::DeadLetterLocked),
            4 => Ok(Self::Deferred),
            n => Err(FromSqlError::OutOfRange(n)),
        }
    }
}

/// A lifetime total kept per queue in `counters`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counter {
    /// Messages ever enqueued (a scheduled message counts when sent).
    Enqueued,
    /// Messages completed.
    Completed,
    /// Deliveries abandoned (explicitly, or by a lapsed lock).
    Abandoned,
    /// Messages whose time-to-live passed.
    Expired,
}

impl Counter {
    /// Every counter.
    pub const ALL: [Self; 4] = [
        Self::Enqueued,
        Self::Completed,
        Self::Abandoned,
        Self::Expired,
    ];

    /// The name stored in `counters.name`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Enqueued => "enqueued",
            Self::Completed => "completed",
            Self::Abandoned => "abandoned",
            Self::Expired => "expired",
        }
    }
}

/// Add `by` to a queue's counter.
pub(super) fn bump(
    tx: &rusqlite::Transaction<'_>,
    queue: &str,
    counter: Counter,
    by: u64,
) -> rusqlite::Result<()> {
    if by > 0 {
        tx.prepare_cached(
            "INSERT INTO counters (queue, name, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (queue, name) DO UPDATE SET value = value + excluded.value",
        )?
        .execute(params![
            queue,
            counter.name(),
            i64::try_from(by).unwrap_or(i64::MAX)
        ])?;
    }
    Ok(())
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    content_type TEXT,
    correlation_id TEXT,
    properties TEXT NOT NULL DEFAULT '{}',
    enqueued_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    state INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until INTEGER,
    dl_reason TEXT,
    dl_description TEXT,
    dl_at INTEGER,
    last_error TEXT,
    amqp_bare BLOB,
    amqp_annotations BLOB
);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, state, seq);
DROP INDEX IF EXISTS messages_lock;
CREATE UNIQUE INDEX IF NOT EXISTS messages_lock_token ON messages (lock_token)
    WHERE lock_token IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_lock_expiry ON messages (locked_until)
    WHERE locked_until IS NOT NULL;
CREATE TABLE IF NOT EXISTS duplicates (
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seen_at INTEGER NOT NULL,
    PRIMARY KEY (queue, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS duplicates_age ON duplicates (queue, seen_at);
CREATE TABLE IF NOT EXISTS counters (
    queue TEXT NOT NULL,
    name TEXT NOT NULL,
    value INTEGER NOT NULL,
    PRIMARY KEY (queue, name)
);
";

/// Active messages by expiry, so the sweep seeks what expired instead of reading every row.
/// Partial, like the two lock indexes (only the rows that can match have an entry, so an
/// unlocked or settled message costs no index entry): SQLite uses a partial index only for a
/// query whose `WHERE` names the index's own terms literally, hence the state spelled out here
/// and in [`EXPIRED`].
static EXPIRY_INDEX: LazyLock<String> = LazyLock::new(|| {
    format!(
        "CREATE INDEX IF NOT EXISTS messages_expiry ON messages (expires_at) WHERE state = {}",
        MessageState::Active as i64
    )
});

/// Active messages whose time-to-live has passed (`?1`: now, epoch ms); seeks `messages_expiry`.
pub(super) static EXPIRED: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT seq, queue FROM messages WHERE state = {} AND expires_at <= ?1",
        MessageState::Active as i64
    )
});

/// Statements kept prepared: every statement of the store (about 45) stays prepared, so none is
/// compiled again when the sweep or a count runs between sends and settlements.
const STATEMENT_CACHE: usize = 64;

/// Durability settings, the schema, and migrations. WAL keeps a commit one sequential append;
/// `synchronous=FULL` makes that append fsync before the commit returns.
///
/// The query planner stability guarantee (QPSG) is on: without it SQLite recompiles a statement
/// whenever a value bound to its `LIMIT` changes (a receive of 3 messages after one of 16), which
/// was 5% of the devhost's instructions end to end (docs/PERFORMANCE.md, section 7).
pub(super) fn prepare(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(&EXPIRY_INDEX)?;
    for (column, ty) in [
        ("last_error", "TEXT"),
        ("amqp_bare", "BLOB"),
        ("amqp_annotations", "BLOB"),
    ] {
        let present = conn
            .prepare("SELECT 1 FROM pragma_table_info('messages') WHERE name = ?1")?
            .exists([column])?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE messages ADD COLUMN {column} {ty}"))?;
        }
    }
    Ok(())
}
