//! [`Backend`] over the durable store: what the AMQP front end serves in the product.
//!
//! Every mutating call answers after the store's fsync'd batch commit, so a sender's `accepted`
//! disposition follows the commit. Delivery counts: the store counts the current delivery, the
//! AMQP header's `delivery-count` counts failed ones (AMQP 1.0 spec 3.2.1; /work/notes/amqp.md),
//! so a message handed out now shows the store's count minus one.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use crate::amqp::backend::{
    Backend, BackendError, Delivered, Entity, NewMessage, QueueProperties, ReceiveMode, Settlement,
    StoredMessage,
};
use crate::amqp::rest_view;
use crate::namespace::Namespace;
use crate::store::{LockRef, Raw, RawMessage, RawSend, StoreError, Take};

/// How often a waiting receiver looks again without an arrival (scheduled messages whose time
/// came, locks the sweep released).
const TICK: Duration = Duration::from_millis(250);

/// The durable store behind the AMQP front end; cheap to clone.
#[derive(Debug, Clone)]
pub struct DurableBackend {
    namespace: Namespace,
}

impl DurableBackend {
    /// Serve `namespace`; each queue has the options its store was opened with.
    pub fn new(namespace: Namespace) -> Self {
        Self { namespace }
    }

    async fn exists(&self, queue: &str) -> Result<(), BackendError> {
        if self.namespace.exists(queue).await.map_err(store_error)? {
            Ok(())
        } else {
            Err(BackendError::NotFound(queue.to_owned()))
        }
    }

    fn lock(entity: &Entity, token: Uuid) -> LockRef {
        LockRef {
            queue: entity.queue.clone(),
            message: None,
            token: token.to_string(),
        }
    }
}

fn store_error(e: StoreError) -> BackendError {
    match e {
        StoreError::LockLost { .. } => BackendError::LockLost,
        other => BackendError::Store(Box::new(other)),
    }
}

fn how(mode: ReceiveMode) -> Take {
    match mode {
        ReceiveMode::PeekLock => Take::Lock,
        ReceiveMode::ReceiveAndDelete => Take::Delete,
    }
}

/// The front end's view of a stored message; `current` when this call counted a delivery.
fn stored(entity: &Entity, m: RawMessage, current: bool) -> Result<StoredMessage, BackendError> {
    let (bare, annotations) = match m.raw {
        Some(raw) => (Bytes::from(raw.bare), raw.annotations.map(Bytes::from)),
        None => (
            rest_view::bare_of_rest(
                &m.message.message_id,
                m.message.content_type.as_deref(),
                m.message.correlation_id.as_deref(),
                &m.message.properties,
                &m.message.body,
            )
            .map_err(|e| BackendError::Store(Box::new(e)))?,
            None,
        ),
    };
    let ttl = (m.message.expires_at - m.message.enqueued_at).to_std().ok();
    Ok(StoredMessage {
        new: NewMessage {
            message_id: Some(m.message.message_id),
            time_to_live: ttl,
            annotations,
            size: bare.len(),
            bare,
            ..NewMessage::default()
        },
        sequence_number: m.message.sequence_number,
        enqueued_at: m.message.enqueued_at,
        expires_at: m.message.expires_at,
        delivery_count: if current {
            m.message.delivery_count.saturating_sub(1)
        } else {
            m.message.delivery_count
        },
        dead_letter_source: entity.dead_letter.then(|| entity.queue.clone()),
        dead_letter_reason: m.dead_letter_reason,
        dead_letter_description: m.dead_letter_description,
    })
}

fn delivered(entity: &Entity, mut m: RawMessage) -> Result<Delivered, BackendError> {
    let lock = m.lock.take();
    let (lock_token, locked_until) = match lock {
        Some((token, until)) => (
            Some(Uuid::parse_str(&token).map_err(|e| BackendError::Store(Box::new(e)))?),
            Some(until),
        ),
        None => (None, None),
    };
    Ok(Delivered {
        message: stored(entity, m, !entity.dead_letter)?,
        lock_token,
        locked_until,
    })
}

impl Backend for DurableBackend {
    async fn queue(&self, name: &str) -> Result<QueueProperties, BackendError> {
        self.exists(name).await?;
        let options = self.namespace.store().options(name);
        Ok(QueueProperties {
            name: name.to_owned(),
            lock_duration: options.lock_duration,
            max_delivery_count: options.max_delivery_count,
            default_message_time_to_live: options.time_to_live,
            dead_lettering_on_message_expiration: options.dead_letter_on_expiration,
            requires_session: false,
            // The queue's `MaxMessageSizeInKilobytes` (256, Standard tier, unless it was created
            // with another through the administration API).
            max_message_size_kb: u32::try_from(
                self.namespace.store().max_message_bytes(name) / 1024,
            )
            .unwrap_or(u32::MAX),
        })
    }

    async fn send(&self, queue: &str, messages: Vec<NewMessage>) -> Result<Vec<i64>, BackendError> {
        self.exists(queue).await?;
        let rows = messages
            .iter()
            .map(|m| {
                let row = rest_view::to_store(queue, m)
                    .map_err(|e| BackendError::Argument(e.to_string()))?;
                let raw = Raw {
                    bare: m.bare.to_vec(),
                    annotations: m.annotations.as_ref().map(|a| a.to_vec()),
                };
                Ok(RawSend {
                    message: row,
                    raw,
                    sender_id: !m.generated_id,
                })
            })
            .collect::<Result<Vec<_>, BackendError>>()?;
        self.namespace
            .store()
            .send_raw(rows)
            .await
            .map_err(store_error)
    }

    async fn receive(
        &self,
        entity: &Entity,
        mode: ReceiveMode,
        max: u32,
    ) -> Result<Vec<Delivered>, BackendError> {
        self.exists(&entity.queue).await?;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let taken = self
            .namespace
            .store()
            .take(&entity.queue, entity.dead_letter, how(mode), max)
            .await
            .map_err(store_error)?;
        taken.into_iter().map(|m| delivered(entity, m)).collect()
    }

    async fn settle(
        &self,
        entity: &Entity,
        lock_token: Uuid,
        settlement: Settlement,
    ) -> Result<(), BackendError> {
        let store = self.namespace.store();
        let lock = Self::lock(entity, lock_token);
        let done = if entity.dead_letter {
            match settlement {
                Settlement::Complete => store.settle_dead_letter(&lock, true).await,
                Settlement::Abandon { .. } => store.settle_dead_letter(&lock, false).await,
                Settlement::Defer | Settlement::DeadLetter { .. } => {
                    return Err(BackendError::Argument(format!(
                        "A message of '{entity}' can only be completed or abandoned."
                    )));
                }
            }
        } else {
            match settlement {
                Settlement::Complete => store.complete(&lock).await,
                Settlement::Abandon { failed: true } => store
                    .abandon(&lock, "abandoned by an AMQP receiver")
                    .await
                    .map(|_| ()),
                Settlement::Abandon { failed: false } => store.release(&lock).await,
                Settlement::Defer => store.defer(&lock).await,
                Settlement::DeadLetter {
                    reason,
                    description,
                } => {
                    store
                        .dead_letter(
                            &lock,
                            reason.as_deref().unwrap_or_default(),
                            description.as_deref().unwrap_or_default(),
                        )
                        .await
                }
            }
        };
        done.map_err(store_error)
    }

    async fn renew_lock(
        &self,
        entity: &Entity,
        lock_token: Uuid,
    ) -> Result<DateTime<Utc>, BackendError> {
        if entity.dead_letter {
            return Err(BackendError::LockLost);
        }
        self.namespace
            .store()
            .renew_lock(&Self::lock(entity, lock_token))
            .await
            .map_err(store_error)
    }

    async fn peek(
        &self,
        entity: &Entity,
        from_sequence_number: i64,
        max: u32,
    ) -> Result<Vec<StoredMessage>, BackendError> {
        self.exists(&entity.queue).await?;
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let found = self
            .namespace
            .store()
            .peek(&entity.queue, entity.dead_letter, from_sequence_number, max)
            .await
            .map_err(store_error)?;
        found
            .into_iter()
            .map(|m| stored(entity, m, false))
            .collect()
    }

    async fn cancel_scheduled(
        &self,
        queue: &str,
        sequence_numbers: Vec<i64>,
    ) -> Result<(), BackendError> {
        self.exists(queue).await?;
        self.namespace
            .store()
            .cancel_scheduled(queue, sequence_numbers)
            .await
            .map(|_| ())
            .map_err(store_error)
    }

    async fn receive_deferred(
        &self,
        entity: &Entity,
        sequence_numbers: Vec<i64>,
        mode: ReceiveMode,
    ) -> Result<Vec<Delivered>, BackendError> {
        self.exists(&entity.queue).await?;
        if entity.dead_letter {
            return Err(BackendError::Argument(format!(
                "'{entity}' holds no deferred messages."
            )));
        }
        let taken = self
            .namespace
            .store()
            .take_deferred(&entity.queue, sequence_numbers, how(mode))
            .await
            .map_err(store_error)?
            .map_err(BackendError::MessageNotFound)?;
        taken.into_iter().map(|m| delivered(entity, m)).collect()
    }

    fn watch(&self, _entity: &Entity) -> Result<watch::Receiver<u64>, BackendError> {
        let (tx, rx) = watch::channel(0u64);
        let store = self.namespace.store().clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = store.arrivals().notified() => {}
                    () = tokio::time::sleep(TICK) => {}
                    () = tx.closed() => return,
                }
                tx.send_modify(|n| *n = n.wrapping_add(1));
            }
        });
        Ok(rx)
    }
}
