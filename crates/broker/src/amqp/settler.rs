//! The store side of the client's dispositions, off the connection loop.
//!
//! A receiver that settles many deliveries at once (a disposition range, or an app completing
//! messages concurrently, as the Functions host does with `maxConcurrentCalls`) would otherwise
//! wait a commit per message with the whole connection stalled. The connection hands each
//! settlement to its settler task, which runs everything queued concurrently against the store,
//! so one group commit covers them, and then gives the connection the replies to send. A reply
//! (the settled disposition of ReceiverSettleMode `second`) goes out only once the store holds
//! the outcome.

use std::sync::Arc;

use fe2o3_amqp_types::definitions::Role;
use fe2o3_amqp_types::messaging::{DeliveryState, Rejected};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::amqp::backend::{Backend, Entity, Settlement};
use crate::amqp::batch::next_batch;
use crate::amqp::codec::CodecError;
use crate::amqp::connection::{Conn, Event};
use crate::amqp::frames::{self, backend_error};

/// Settlements taken into one round at most.
const MAX_BATCH: usize = 256;

/// A settlement to store.
#[derive(Debug)]
pub(crate) struct Settling {
    pub channel: u16,
    pub delivery_id: u32,
    pub entity: Entity,
    pub lock_token: Uuid,
    pub wanted: Settlement,
    /// The disposition state to answer with once stored; `None` when the client settled
    /// already (mode `first`) and wants no answer.
    pub reply: Option<DeliveryState>,
}

/// An answer for the client: its delivery, and the state stored (or the rejection).
#[derive(Debug)]
pub(crate) struct Reply {
    pub channel: u16,
    pub delivery_id: u32,
    pub state: DeliveryState,
}

fn spawn_settler<B: Backend>(
    backend: Arc<B>,
    events: mpsc::UnboundedSender<Event>,
) -> mpsc::UnboundedSender<Settling> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Settling>();
    tokio::spawn(async move {
        while let Some(batch) = next_batch(&mut rx, MAX_BATCH).await {
            let tasks: Vec<_> = batch
                .into_iter()
                .map(|s| {
                    let backend = backend.clone();
                    tokio::spawn(async move {
                        let wanted = s.wanted.clone();
                        let stored = backend.settle(&s.entity, s.lock_token, wanted).await;
                        (s, stored)
                    })
                })
                .collect();
            let mut replies = Vec::new();
            for task in tasks {
                let Ok((s, stored)) = task.await else {
                    continue;
                };
                if let Some(state) = s.reply {
                    let state = match stored {
                        Ok(()) => state,
                        Err(e) => DeliveryState::Rejected(Rejected {
                            error: Some(backend_error(&e).0),
                        }),
                    };
                    replies.push(Reply {
                        channel: s.channel,
                        delivery_id: s.delivery_id,
                        state,
                    });
                }
            }
            // A closed connection takes no answers, but what it queued is still stored: the
            // loop ends only when the connection drops its sender and the queue is empty.
            if !replies.is_empty() {
                let _ = events.send(Event::Settled(replies));
            }
        }
    });
    tx
}

impl<B: Backend> Conn<B> {
    /// Hand a settlement to the connection's settler (started on the first one).
    pub(crate) fn queue_settle(&mut self, settling: Settling) {
        let (backend, events) = (self.backend.clone(), self.events.clone());
        let settler = self
            .settler
            .get_or_insert_with(|| spawn_settler(backend, events));
        // The settler lives as long as the connection; a send fails only if it panicked.
        if let Err(lost) = settler.send(settling) {
            tracing::error!(delivery = lost.0.delivery_id, "the settler stopped");
        }
    }

    /// Send the answers of stored settlements.
    pub(crate) fn on_settled(&mut self, replies: Vec<Reply>) -> Result<(), CodecError> {
        for r in replies {
            if self.sessions.contains_key(&r.channel) {
                let frame = frames::disposition(Role::Sender, r.delivery_id, r.state);
                self.send(r.channel, &frame, &[])?;
            }
        }
        Ok(())
    }
}
