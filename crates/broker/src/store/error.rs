//! What can go wrong in the store, each failure with its source kept.

use std::path::PathBuf;
use std::sync::Arc;

use thiserror::Error;

/// A store failure.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database file could not be opened, configured or brought up to the current schema.
    #[error("cannot open the queue store {path}: {source}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    #[error("cannot start the queue store's writer thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// An operation's SQL failed.
    #[error("queue store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The batch an operation ran in could not begin or commit: nothing of it is on disk.
    #[error("queue store: cannot {stage} the batch transaction: {source}")]
    Batch {
        /// `begin` or `commit`.
        stage: &'static str,
        /// What SQLite said (shared by every operation of the batch).
        #[source]
        source: Arc<rusqlite::Error>,
    },
    /// The writer thread is gone (shutting down).
    #[error("queue store is shut down")]
    Closed,
    /// No message of the queue is locked with the token (and, when named, is that message).
    #[error(
        "no message {message} of {queue} is locked with {token}: the lock expired, or the message was settled already"
    )]
    LockLost {
        /// The queue the caller named.
        queue: String,
        /// The message the caller named (sequence number or MessageId), or `*`.
        message: String,
        /// The lock token.
        token: String,
    },
}
