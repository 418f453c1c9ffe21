//! Messages arriving on a client's sender link, stored in order without stalling the connection.
//!
//! The connection decodes and checks each transfer (size, format, claims) and hands it to its
//! link's writer task; the writer stores everything queued so far in one atomic store call, so
//! one group commit (one fsync) covers every transfer a client has in flight, and then tells the
//! connection which deliveries are stored. Only then does the connection send their `accepted`
//! dispositions: Service Bus acknowledges a transfer once it has stored the message (Microsoft's
//! AMQP guide, "Transfer"; the SDKs await that disposition, Python `_pyamqp/sender.py`). A
//! client that keeps several transfers unsettled (an SDK sender used concurrently) thus costs a
//! commit per window, not per message, and the order of one link's messages is kept.

use std::sync::Arc;

use fe2o3_amqp_types::definitions::{Error, Role};
use fe2o3_amqp_types::messaging::{Accepted, DeliveryState, Rejected};
use tokio::sync::mpsc;

use crate::amqp::backend::{Backend, NewMessage};
use crate::amqp::batch::next_batch;
use crate::amqp::codec::CodecError;
use crate::amqp::connection::{Conn, Event};
use crate::amqp::frames::{self, backend_error};
use crate::amqp::link::LINK_CREDIT;

/// Transfers taken into one store call at most.
const MAX_BATCH: usize = 256;

/// A checked transfer waiting to be stored.
#[derive(Debug)]
pub(crate) struct Queued {
    pub delivery_id: u32,
    pub settled: bool,
    pub messages: Vec<NewMessage>,
}

/// A transfer the store has taken (or refused).
#[derive(Debug)]
pub(crate) struct Stored {
    pub delivery_id: u32,
    pub settled: bool,
    pub outcome: Result<(), Error>,
}

/// Start the writer of the sender link `handle` on `channel`, storing to `queue`; it ends when
/// the returned sender (held by the link) is dropped and what it queued is stored.
pub(crate) fn spawn_writer<B: Backend>(
    backend: Arc<B>,
    queue: String,
    channel: u16,
    handle: u32,
    events: mpsc::UnboundedSender<Event>,
) -> mpsc::UnboundedSender<Queued> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Queued>();
    tokio::spawn(async move {
        while let Some(mut batch) = next_batch(&mut rx, MAX_BATCH).await {
            let messages: Vec<NewMessage> = batch
                .iter_mut()
                .flat_map(|q| std::mem::take(&mut q.messages))
                .collect();
            let outcome = backend
                .send(&queue, messages)
                .await
                .map(|_| ())
                .map_err(|e| backend_error(&e).0);
            let stored = batch
                .into_iter()
                .map(|q| Stored {
                    delivery_id: q.delivery_id,
                    settled: q.settled,
                    outcome: outcome.clone(),
                })
                .collect();
            // A closed connection takes no dispositions, but what reached the broker is
            // stored all the same (the client, told nothing, may send it again).
            let _ = events.send(Event::Stored {
                channel,
                handle,
                stored,
            });
        }
    });
    tx
}

impl<B: Backend> Conn<B> {
    /// Queue a checked transfer on its link's writer (started on the link's first transfer).
    pub(crate) fn queue_store(&mut self, channel: u16, handle: u32, queue: &str, item: Queued) {
        let (backend, events) = (self.backend.clone(), self.events.clone());
        let Some(link) = self.link_mut(channel, handle) else {
            return;
        };
        let writer = link.writer.get_or_insert_with(|| {
            spawn_writer(backend, queue.to_owned(), channel, handle, events)
        });
        if writer.send(item).is_ok() {
            link.in_flight += 1;
        }
    }

    /// The store took these transfers: send their dispositions (contiguous accepted ones as one
    /// range) and give the link credit back once its backlog is below half the credit.
    pub(crate) fn on_stored(
        &mut self,
        channel: u16,
        handle: u32,
        stored: Vec<Stored>,
    ) -> Result<(), CodecError> {
        if !self.sessions.contains_key(&channel) {
            return Ok(());
        }
        let mut range: Option<(u32, u32)> = None;
        let done = stored.len() as u32;
        for s in stored {
            if s.settled {
                continue;
            }
            match s.outcome {
                Ok(()) => {
                    range = match range {
                        Some((first, last)) if last.wrapping_add(1) == s.delivery_id => {
                            Some((first, s.delivery_id))
                        }
                        other => {
                            if let Some(r) = other {
                                self.send_accepted(channel, r)?;
                            }
                            Some((s.delivery_id, s.delivery_id))
                        }
                    }
                }
                Err(error) => {
                    if let Some(r) = range.take() {
                        self.send_accepted(channel, r)?;
                    }
                    let state = DeliveryState::Rejected(Rejected { error: Some(error) });
                    let frame = frames::disposition_range(
                        Role::Receiver,
                        s.delivery_id,
                        s.delivery_id,
                        state,
                    );
                    self.send(channel, &frame, &[])?;
                }
            }
        }
        if let Some(r) = range {
            self.send_accepted(channel, r)?;
        }
        let Some(link) = self.link_mut(channel, handle) else {
            return Ok(());
        };
        link.in_flight = link.in_flight.saturating_sub(done);
        if link.credit < LINK_CREDIT / 2 && link.in_flight < LINK_CREDIT / 2 {
            link.credit = LINK_CREDIT;
            let flow = (handle, link.delivery_count, LINK_CREDIT, false);
            self.send_flow(channel, Some(flow))?;
        }
        Ok(())
    }

    fn send_accepted(&mut self, channel: u16, (first, last): (u32, u32)) -> Result<(), CodecError> {
        let accepted = DeliveryState::Accepted(Accepted {});
        let frame = frames::disposition_range(Role::Receiver, first, last, accepted);
        self.send(channel, &frame, &[])
    }
}
