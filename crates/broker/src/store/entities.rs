//! Queues created, updated and deleted at run time (the administration API), kept in the
//! `entities` table so they survive a restart, and every queue's options as the writer sees them
//! ([`LiveConfig`]: replaced as a whole when an entity changes, so a batch runs with one
//! consistent snapshot).
//!
//! A queue's Service Bus semantics are its [`QueueOptions`]; an entity adds what only the
//! administration API shows (`MaxSizeInMegabytes`, `MaxMessageSizeInKilobytes`,
//! `UserMetadata`, `EnableBatchedOperations`, its creation and update times).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};

use super::row::{ms, now_ms, time};
use super::schema::MessageState;
use super::{QueueConfig, QueueOptions, Store, StoreError};

/// `MaxMessageSizeInKilobytes` of a Standard-tier queue (and of every queue not created with
/// another).
pub const STANDARD_MAX_MESSAGE_SIZE_KB: u32 = 256;

/// Every queue's options, replaceable while the writer runs.
#[derive(Debug, Default)]
pub(super) struct LiveConfig(RwLock<Arc<QueueConfig>>);

impl LiveConfig {
    pub(super) fn new(config: QueueConfig) -> Self {
        Self(RwLock::new(Arc::new(config)))
    }

    /// The options in force now.
    pub(super) fn current(&self) -> Arc<QueueConfig> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn edit(&self, f: impl FnOnce(&mut QueueConfig)) {
        let mut slot = self.0.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = QueueConfig::clone(&slot);
        f(&mut next);
        *slot = Arc::new(next);
    }
}

/// A queue as the administration API describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityDescription {
    /// Its Service Bus semantics.
    pub options: QueueOptions,
    /// `MaxSizeInMegabytes` (kept and shown; the store does not enforce a quota).
    pub max_size_mb: u32,
    /// `MaxMessageSizeInKilobytes`: the largest message a send may carry (AMQP and REST).
    pub max_message_size_kb: u32,
    /// `UserMetadata`.
    pub user_metadata: String,
    /// `EnableBatchedOperations` (a service-side batching hint; kept and shown).
    pub enable_batched_operations: bool,
    /// When it was created (set by the store).
    pub created_at: DateTime<Utc>,
    /// When it was last updated (set by the store).
    pub updated_at: DateTime<Utc>,
}

impl EntityDescription {
    /// A description with `options` and Service Bus's defaults for the rest.
    pub fn with_options(options: QueueOptions) -> Self {
        Self {
            options,
            max_size_mb: 1024,
            max_message_size_kb: STANDARD_MAX_MESSAGE_SIZE_KB,
            user_metadata: String::new(),
            enable_batched_operations: true,
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
        }
    }
}

/// A queue's counts and size now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityRuntime {
    /// Available, locked or deferred (Service Bus counts a locked message as active).
    pub active: u64,
    /// Scheduled for later.
    pub scheduled: u64,
    /// In the dead-letter subqueue.
    pub dead_lettered: u64,
    /// Bytes the queue's messages take.
    pub size_bytes: u64,
    /// When its most recent message was enqueued.
    pub last_enqueued: Option<DateTime<Utc>>,
}

/// What a create or update of an entity came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityChange {
    /// Done.
    Done(EntityDescription),
    /// Create: the entity exists already.
    Exists,
    /// Update or delete: there is no such entity.
    Missing,
}

/// The created entities, in memory beside their rows; admin changes run one at a time.
#[derive(Debug, Default)]
pub(super) struct Registry {
    map: RwLock<BTreeMap<String, EntityDescription>>,
    changes: tokio::sync::Mutex<()>,
}

const TABLE: &str = "
CREATE TABLE IF NOT EXISTS entities (
    name TEXT PRIMARY KEY,
    max_delivery_count INTEGER NOT NULL,
    lock_ms INTEGER NOT NULL,
    ttl_ms INTEGER NOT NULL,
    dead_letter_on_expiration INTEGER NOT NULL,
    duplicate_window_ms INTEGER,
    max_size_mb INTEGER NOT NULL,
    max_message_size_kb INTEGER NOT NULL,
    user_metadata TEXT NOT NULL,
    batched INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;
";

fn millis(v: i64) -> Duration {
    Duration::from_millis(u64::try_from(v).unwrap_or(0))
}

/// Create the table and read every entity; each one's options join `config` unless the
/// configuration names the queue itself (the configuration wins).
pub(super) fn load(conn: &Connection, config: &mut QueueConfig) -> rusqlite::Result<Registry> {
    conn.execute_batch(TABLE)?;
    let mut map = BTreeMap::new();
    let mut rows = conn.prepare(
        "SELECT name, max_delivery_count, lock_ms, ttl_ms, dead_letter_on_expiration, duplicate_window_ms,
                max_size_mb, max_message_size_kb, user_metadata, batched, created_at, updated_at FROM entities",
    )?;
    let read = rows.query_map([], |r| {
        let options = QueueOptions {
            max_delivery_count: r.get(1)?,
            lock_duration: millis(r.get(2)?),
            time_to_live: millis(r.get(3)?),
            dead_letter_on_expiration: r.get(4)?,
            duplicate_detection: r.get::<_, Option<i64>>(5)?.map(millis),
        };
        Ok((
            r.get::<_, String>(0)?,
            EntityDescription {
                options,
                max_size_mb: r.get(6)?,
                max_message_size_kb: r.get(7)?,
                user_metadata: r.get(8)?,
                enable_batched_operations: r.get(9)?,
                created_at: time(r.get(10)?),
                updated_at: time(r.get(11)?),
            },
        ))
    })?;
    for row in read {
        let (name, entity) = row?;
        config.queues.entry(name.clone()).or_insert(entity.options);
        map.insert(name, entity);
    }
    Ok(Registry {
        map: RwLock::new(map),
        changes: tokio::sync::Mutex::new(()),
    })
}

fn write_row(
    tx: &rusqlite::Transaction<'_>,
    name: &str,
    e: &EntityDescription,
) -> rusqlite::Result<()> {
    let o = &e.options;
    tx.prepare_cached(
        "INSERT OR REPLACE INTO entities (name, max_delivery_count, lock_ms, ttl_ms, dead_letter_on_expiration,
             duplicate_window_ms, max_size_mb, max_message_size_kb, user_metadata, batched, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    )?
    .execute(params![
        name,
        o.max_delivery_count,
        ms(o.lock_duration),
        ms(o.time_to_live),
        o.dead_letter_on_expiration,
        o.duplicate_detection.map(ms),
        e.max_size_mb,
        e.max_message_size_kb,
        e.user_metadata,
        e.enable_batched_operations,
        e.created_at.timestamp_millis(),
        e.updated_at.timestamp_millis(),
    ])?;
    Ok(())
}

impl Store {
    /// The created entity `queue`, if it is one.
    pub fn entity(&self, queue: &str) -> Option<EntityDescription> {
        let map = self
            .entities
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(queue).cloned()
    }

    /// The names of the created entities, sorted.
    pub fn entity_names(&self) -> Vec<String> {
        let map = self
            .entities
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        map.keys().cloned().collect()
    }

    /// The largest message `queue` takes, in bytes (`MaxMessageSizeInKilobytes`).
    pub fn max_message_bytes(&self, queue: &str) -> usize {
        let map = self
            .entities
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let kb = map
            .get(queue)
            .map_or(STANDARD_MAX_MESSAGE_SIZE_KB, |e| e.max_message_size_kb);
        kb as usize * 1024
    }

    /// Create the entity `queue` (durably); [`EntityChange::Exists`] if it is one already.
    pub async fn create_entity(
        &self,
        queue: &str,
        mut entity: EntityDescription,
    ) -> Result<EntityChange, StoreError> {
        let _one = self.entities.changes.lock().await;
        if self.entity(queue).is_some() {
            return Ok(EntityChange::Exists);
        }
        let now = time(now_ms());
        (entity.created_at, entity.updated_at) = (now, now);
        self.put_entity(queue, entity).await
    }

    /// Replace the description of the entity `queue` (its creation time stays).
    pub async fn update_entity(
        &self,
        queue: &str,
        mut entity: EntityDescription,
    ) -> Result<EntityChange, StoreError> {
        let _one = self.entities.changes.lock().await;
        let Some(old) = self.entity(queue) else {
            return Ok(EntityChange::Missing);
        };
        entity.created_at = old.created_at;
        entity.updated_at = time(now_ms()).max(old.created_at);
        self.put_entity(queue, entity).await
    }

    async fn put_entity(
        &self,
        queue: &str,
        entity: EntityDescription,
    ) -> Result<EntityChange, StoreError> {
        let (name, row) = (queue.to_owned(), entity.clone());
        self.call(move |cx| Ok(write_row(cx.tx, &name, &row)?))
            .await?;
        let mut map = self
            .entities
            .map
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.insert(queue.to_owned(), entity.clone());
        drop(map);
        self.options.edit(|c| {
            c.queues.insert(queue.to_owned(), entity.options);
        });
        Ok(EntityChange::Done(entity))
    }

    /// Delete `queue` with every message, counter and duplicate-detection record it has; `false`
    /// when there was nothing to delete.
    pub async fn delete_queue(&self, queue: &str) -> Result<bool, StoreError> {
        let _one = self.entities.changes.lock().await;
        let name = queue.to_owned();
        let deleted = self
            .call(move |cx| {
                let mut n = 0;
                for table in ["messages", "counters", "duplicates", "entities"] {
                    let column = if table == "entities" { "name" } else { "queue" };
                    n += cx
                        .tx
                        .prepare_cached(&format!("DELETE FROM {table} WHERE {column} = ?1"))?
                        .execute(params![name])?;
                }
                Ok(n > 0)
            })
            .await?;
        let was_entity = {
            let mut map = self
                .entities
                .map
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            map.remove(queue).is_some()
        };
        if was_entity {
            self.options.edit(|c| {
                c.queues.remove(queue);
            });
        }
        Ok(deleted || was_entity)
    }

    /// Every queue the store holds, or held, messages of, sorted.
    pub async fn known_queues(&self) -> Result<Vec<String>, StoreError> {
        self.call(|cx| {
            Ok(cx
                .tx
                .prepare_cached(
                    "SELECT DISTINCT queue FROM counters UNION SELECT DISTINCT queue FROM messages ORDER BY 1",
                )?
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The counts and size of each of `queues`, in order.
    pub async fn runtime(&self, queues: Vec<String>) -> Result<Vec<EntityRuntime>, StoreError> {
        self.call(move |cx| {
            let now = now_ms();
            let mut by_state = cx.tx.prepare_cached(
                "SELECT state, visible_at > ?2, COUNT(*), SUM(max(length(body), COALESCE(length(amqp_bare), 0))), MAX(enqueued_at)
                 FROM messages WHERE queue = ?1 GROUP BY 1, 2",
            )?;
            let mut out = Vec::with_capacity(queues.len());
            for queue in &queues {
                let mut rt = EntityRuntime::default();
                let rows = by_state.query_map(params![queue, now], |r| {
                    Ok((
                        r.get::<_, MessageState>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<i64>>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })?;
                for row in rows {
                    let (state, later, n, size, last) = row?;
                    let n = u64::try_from(n).unwrap_or(0);
                    rt.size_bytes += size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                    let last = last.map(time);
                    rt.last_enqueued = rt.last_enqueued.max(last);
                    match (state, later) {
                        (MessageState::Active, true) => rt.scheduled += n,
                        (MessageState::DeadLettered | MessageState::DeadLetterLocked, _) => {
                            rt.dead_lettered += n;
                        }
                        _ => rt.active += n,
                    }
                }
                out.push(rt);
            }
            Ok(out)
        })
        .await
    }
}
