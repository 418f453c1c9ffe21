//! An in-memory [`Backend`] for developing and testing the AMQP front end only.
//!
//! **Not the product**: it is not durable and keeps everything in one mutex. The broker's
//! durable SQLite store replaces it (issue 15); it exists so the wire can be tested before that
//! store implements [`Backend`]. Semantics follow Service Bus where the front end can observe
//! them: locks expire after the queue's lock duration, an abandon (not a release) counts a failed
//! delivery, and the `MaxDeliveryCount`-th failure dead-letters with `MaxDeliveryCountExceeded`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::amqp::backend::{
    Backend, BackendError, Delivered, Entity, NewMessage, QueueProperties, ReceiveMode, Settlement,
    StoredMessage,
};

/// `DeadLetterReason` after too many failed deliveries (as Service Bus).
pub const MAX_DELIVERY_REASON: &str = "MaxDeliveryCountExceeded";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Scheduled(DateTime<Utc>),
    Active,
    Locked(Uuid, DateTime<Utc>),
    Deferred,
    DeferredLocked(Uuid, DateTime<Utc>),
}

#[derive(Debug)]
struct Entry {
    message: StoredMessage,
    state: State,
}

#[derive(Debug)]
struct Queue {
    properties: QueueProperties,
    active: BTreeMap<i64, Entry>,
    dead: BTreeMap<i64, Entry>,
    watch_active: watch::Sender<u64>,
    watch_dead: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Inner {
    queues: HashMap<String, Queue>,
    next_sequence: i64,
}

/// The development-only in-memory store (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct MemoryBackend {
    inner: Arc<Mutex<Inner>>,
}

fn tick(sender: &watch::Sender<u64>) {
    sender.send_modify(|v| *v = v.wrapping_add(1));
}

fn chrono_duration(d: Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Queue {
    fn map(&mut self, dead_letter: bool) -> &mut BTreeMap<i64, Entry> {
        if dead_letter {
            &mut self.dead
        } else {
            &mut self.active
        }
    }

    /// Expire locks, activate scheduled messages and drop/dead-letter expired ones.
    fn sweep(&mut self, now: DateTime<Utc>) {
        let max = self.properties.max_delivery_count;
        let mut changed = false;
        let mut to_dead = Vec::new();
        for (seq, entry) in self.active.iter_mut() {
            match entry.state {
                State::Scheduled(at) if at <= now => {
                    entry.state = State::Active;
                    entry.message.enqueued_at = now;
                    changed = true;
                }
                State::Locked(_, until) if until <= now => {
                    entry.message.delivery_count += 1;
                    entry.state = State::Active;
                    changed = true;
                    if entry.message.delivery_count >= max {
                        to_dead.push((*seq, MAX_DELIVERY_REASON.to_owned(), None));
                    }
                }
                State::DeferredLocked(_, until) if until <= now => entry.state = State::Deferred,
                _ => {}
            }
            if matches!(entry.state, State::Active) && entry.message.expires_at <= now {
                to_dead.push((*seq, "TTLExpiredException".to_owned(), None));
            }
        }
        for (seq, reason, description) in to_dead {
            let ttl = reason == "TTLExpiredException";
            if let Some(entry) = self.active.remove(&seq)
                && (!ttl || self.properties.dead_lettering_on_message_expiration)
            {
                self.dead_letter(entry, Some(reason), description);
            }
        }
        if changed {
            tick(&self.watch_active);
        }
    }

    fn dead_letter(
        &mut self,
        mut entry: Entry,
        reason: Option<String>,
        description: Option<String>,
    ) {
        entry.message.dead_letter_source = Some(self.properties.name.clone());
        entry.message.dead_letter_reason = reason;
        entry.message.dead_letter_description = description;
        entry.state = State::Active;
        self.dead.insert(entry.message.sequence_number, entry);
        tick(&self.watch_dead);
    }
}

impl MemoryBackend {
    /// An empty store; add queues with [`MemoryBackend::add_queue`]. Spawns a sweeper that
    /// expires locks and activates scheduled messages (needs a Tokio runtime).
    pub fn new() -> Self {
        let backend = Self::default();
        let weak = Arc::downgrade(&backend.inner);
        tokio::spawn(async move {
            while let Some(inner) = weak.upgrade() {
                if let Ok(mut guard) = inner.lock() {
                    let now = Utc::now();
                    for queue in guard.queues.values_mut() {
                        queue.sweep(now);
                    }
                }
                drop(inner);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        backend
    }

    /// Register a queue (replacing one with the same name).
    pub fn add_queue(&self, properties: QueueProperties) {
        if let Ok(mut inner) = self.inner.lock() {
            let queue = Queue {
                properties: properties.clone(),
                active: BTreeMap::new(),
                dead: BTreeMap::new(),
                watch_active: watch::channel(0).0,
                watch_dead: watch::channel(0).0,
            };
            inner.queues.insert(properties.name.to_lowercase(), queue);
        }
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, BackendError> {
        self.inner
            .lock()
            .map_err(|_| BackendError::Store("in-memory store poisoned".into()))
    }
}

fn queue_mut<'a>(inner: &'a mut Inner, name: &str) -> Result<&'a mut Queue, BackendError> {
    inner
        .queues
        .get_mut(&name.to_lowercase())
        .ok_or_else(|| BackendError::NotFound(name.to_owned()))
}

fn lock_entry(
    entry: &mut Entry,
    mode: ReceiveMode,
    lock: Duration,
    now: DateTime<Utc>,
) -> Delivered {
    match mode {
        ReceiveMode::PeekLock => {
            let token = Uuid::new_v4();
            let until = now + chrono_duration(lock);
            entry.state = match entry.state {
                State::Deferred => State::DeferredLocked(token, until),
                _ => State::Locked(token, until),
            };
            Delivered {
                message: entry.message.clone(),
                lock_token: Some(token),
                locked_until: Some(until),
            }
        }
        ReceiveMode::ReceiveAndDelete => Delivered {
            message: entry.message.clone(),
            lock_token: None,
            locked_until: None,
        },
    }
}

impl Backend for MemoryBackend {
    async fn queue(&self, name: &str) -> Result<QueueProperties, BackendError> {
        let mut inner = self.lock()?;
        Ok(queue_mut(&mut inner, name)?.properties.clone())
    }

    async fn send(&self, queue: &str, messages: Vec<NewMessage>) -> Result<Vec<i64>, BackendError> {
        let mut inner = self.lock()?;
        let now = Utc::now();
        let first = inner.next_sequence + 1;
        let q = queue_mut(&mut inner, queue)?;
        let default_ttl = q.properties.default_message_time_to_live;
        let mut seqs = Vec::with_capacity(messages.len());
        for (i, new) in messages.into_iter().enumerate() {
            let seq = first + i as i64;
            let ttl = new.time_to_live.map_or(default_ttl, |t| t.min(default_ttl));
            let state = match new.scheduled_enqueue_time {
                Some(at) if at > now => State::Scheduled(at),
                _ => State::Active,
            };
            let enqueued_at = match state {
                State::Scheduled(at) => at,
                _ => now,
            };
            let message = StoredMessage {
                new,
                sequence_number: seq,
                enqueued_at,
                expires_at: enqueued_at + chrono_duration(ttl),
                delivery_count: 0,
                dead_letter_source: None,
                dead_letter_reason: None,
                dead_letter_description: None,
            };
            q.active.insert(seq, Entry { message, state });
            seqs.push(seq);
        }
        tick(&q.watch_active);
        inner.next_sequence = first + seqs.len() as i64 - 1;
        Ok(seqs)
    }

    async fn receive(
        &self,
        entity: &Entity,
        mode: ReceiveMode,
        max: u32,
    ) -> Result<Vec<Delivered>, BackendError> {
        let mut inner = self.lock()?;
        let now = Utc::now();
        let q = queue_mut(&mut inner, &entity.queue)?;
        q.sweep(now);
        let lock = q.properties.lock_duration;
        let map = q.map(entity.dead_letter);
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for (seq, entry) in map.iter_mut() {
            if out.len() as u32 >= max {
                break;
            }
            if entry.state == State::Active {
                out.push(lock_entry(entry, mode, lock, now));
                taken.push(*seq);
            }
        }
        if mode == ReceiveMode::ReceiveAndDelete {
            for seq in taken {
                map.remove(&seq);
            }
        }
        Ok(out)
    }

    async fn settle(
        &self,
        entity: &Entity,
        lock_token: Uuid,
        settlement: Settlement,
    ) -> Result<(), BackendError> {
        let mut inner = self.lock()?;
        let now = Utc::now();
        let q = queue_mut(&mut inner, &entity.queue)?;
        q.sweep(now);
        let max = q.properties.max_delivery_count;
        let map = q.map(entity.dead_letter);
        let seq = map
            .iter()
            .find(|(_, e)| matches!(e.state, State::Locked(t, _) | State::DeferredLocked(t, _) if t == lock_token))
            .map(|(s, _)| *s)
            .ok_or(BackendError::LockLost)?;
        match settlement {
            Settlement::Complete => {
                map.remove(&seq);
            }
            Settlement::Defer => {
                if let Some(e) = map.get_mut(&seq) {
                    e.state = State::Deferred;
                }
            }
            Settlement::Abandon { failed } => {
                let mut exceeded = false;
                if let Some(e) = map.get_mut(&seq) {
                    let was_deferred = matches!(e.state, State::DeferredLocked(..));
                    e.state = if was_deferred {
                        State::Deferred
                    } else {
                        State::Active
                    };
                    if failed {
                        e.message.delivery_count += 1;
                        exceeded = !entity.dead_letter && e.message.delivery_count >= max;
                    }
                }
                if exceeded {
                    if let Some(e) = q.active.remove(&seq) {
                        q.dead_letter(e, Some(MAX_DELIVERY_REASON.to_owned()), None);
                    }
                } else if entity.dead_letter {
                    tick(&q.watch_dead);
                } else {
                    tick(&q.watch_active);
                }
            }
            Settlement::DeadLetter {
                reason,
                description,
            } => {
                if entity.dead_letter {
                    return Err(BackendError::Argument(
                        "Cannot dead-letter a message that is already in the dead-letter queue."
                            .into(),
                    ));
                }
                if let Some(e) = q.active.remove(&seq) {
                    q.dead_letter(e, reason, description);
                }
            }
        }
        Ok(())
    }

    async fn renew_lock(
        &self,
        entity: &Entity,
        lock_token: Uuid,
    ) -> Result<DateTime<Utc>, BackendError> {
        let mut inner = self.lock()?;
        let now = Utc::now();
        let q = queue_mut(&mut inner, &entity.queue)?;
        q.sweep(now);
        let until = now + chrono_duration(q.properties.lock_duration);
        let map = q.map(entity.dead_letter);
        for e in map.values_mut() {
            match e.state {
                State::Locked(t, _) if t == lock_token => e.state = State::Locked(t, until),
                State::DeferredLocked(t, _) if t == lock_token => {
                    e.state = State::DeferredLocked(t, until)
                }
                _ => continue,
            }
            return Ok(until);
        }
        Err(BackendError::LockLost)
    }

    async fn peek(
        &self,
        entity: &Entity,
        from: i64,
        max: u32,
    ) -> Result<Vec<StoredMessage>, BackendError> {
        let mut inner = self.lock()?;
        let q = queue_mut(&mut inner, &entity.queue)?;
        q.sweep(Utc::now());
        let map = q.map(entity.dead_letter);
        Ok(map
            .range(from..)
            .take(max as usize)
            .map(|(_, e)| e.message.clone())
            .collect())
    }

    async fn cancel_scheduled(
        &self,
        queue: &str,
        sequence_numbers: Vec<i64>,
    ) -> Result<(), BackendError> {
        let mut inner = self.lock()?;
        let q = queue_mut(&mut inner, queue)?;
        for seq in &sequence_numbers {
            match q.active.get(seq) {
                Some(e) if matches!(e.state, State::Scheduled(_)) => {}
                _ => return Err(BackendError::MessageNotFound(*seq)),
            }
        }
        for seq in sequence_numbers {
            q.active.remove(&seq);
        }
        Ok(())
    }

    async fn receive_deferred(
        &self,
        entity: &Entity,
        sequence_numbers: Vec<i64>,
        mode: ReceiveMode,
    ) -> Result<Vec<Delivered>, BackendError> {
        let mut inner = self.lock()?;
        let now = Utc::now();
        let q = queue_mut(&mut inner, &entity.queue)?;
        q.sweep(now);
        let lock = q.properties.lock_duration;
        let map = q.map(entity.dead_letter);
        let mut out = Vec::new();
        for seq in sequence_numbers {
            let entry = map
                .get_mut(&seq)
                .filter(|e| e.state == State::Deferred)
                .ok_or(BackendError::MessageNotFound(seq))?;
            out.push(lock_entry(entry, mode, lock, now));
            if mode == ReceiveMode::ReceiveAndDelete {
                map.remove(&seq);
            }
        }
        Ok(out)
    }

    fn watch(&self, entity: &Entity) -> Result<watch::Receiver<u64>, BackendError> {
        let mut inner = self.lock()?;
        let q = queue_mut(&mut inner, &entity.queue)?;
        Ok(if entity.dead_letter {
            q.watch_dead.subscribe()
        } else {
            q.watch_active.subscribe()
        })
    }
}
