//! Deliveries out: responses on request/response links and messages on receiver links, within
//! the link credit and the session window the client granted.

use bytes::Bytes;

use crate::amqp::backend::{Backend, Entity, ReceiveMode};
use crate::amqp::codec::CodecError;
use crate::amqp::connection::{Conn, Event, Unsettled};
use crate::amqp::frames;
use crate::amqp::link::Kind;
use crate::amqp::message::{self, Lock};

impl<B: Backend> Conn<B> {
    /// Send what an outgoing link has credit for: queued responses, or messages from the store.
    pub(crate) async fn pump(&mut self, channel: u16, handle: u32) -> Result<(), CodecError> {
        loop {
            let Some(session) = self.sessions.get_mut(&channel) else {
                return Ok(());
            };
            let window = session.remote_incoming_window;
            let Some(link) = session.links.get_mut(&handle) else {
                return Ok(());
            };
            if link.credit == 0 || window == 0 {
                return Ok(());
            }
            if let Some(payload) = link.pending.pop_front() {
                let settled = link.settled_mode;
                self.deliver(channel, handle, payload, None, settled)?;
                continue;
            }
            let Kind::Receive {
                entity,
                mode,
                watch,
            } = &mut link.kind
            else {
                return Ok(());
            };
            let (entity, mode) = (entity.clone(), *mode);
            watch.borrow_and_update();
            let max = link.credit.min(window).min(64);
            let delivered = match self.backend.receive(&entity, mode, max).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, %entity, "receive failed");
                    Vec::new()
                }
            };
            if delivered.is_empty() {
                self.wait_for_messages(channel, handle);
                return Ok(());
            }
            for d in delivered {
                let lock = d
                    .lock_token
                    .zip(d.locked_until)
                    .map(|(token, until)| Lock { token, until });
                let payload = message::encode_delivery(&d.message, lock)?;
                let settled = mode == ReceiveMode::ReceiveAndDelete;
                self.deliver(
                    channel,
                    handle,
                    payload,
                    lock.map(|l| (entity.clone(), l)),
                    settled,
                )?;
            }
        }
    }

    fn wait_for_messages(&mut self, channel: u16, handle: u32) {
        let events = self.events.clone();
        let Some(link) = self.link_mut(channel, handle) else {
            return;
        };
        let Kind::Receive { watch, .. } = &link.kind else {
            return;
        };
        if link.waiting {
            return;
        }
        link.waiting = true;
        let mut watch = watch.clone();
        link.waiter = Some(tokio::spawn(async move {
            if watch.changed().await.is_ok() {
                let _ = events.send(Event::Wake { channel, handle });
            }
        }));
    }

    /// Write one delivery as one or more transfer frames.
    fn deliver(
        &mut self,
        channel: u16,
        handle: u32,
        payload: Bytes,
        lock: Option<(Entity, Lock)>,
        settled: bool,
    ) -> Result<(), CodecError> {
        let max_frame = self.remote_max_frame as usize;
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Ok(());
        };
        let delivery_id = session.next_delivery_id;
        session.next_delivery_id = delivery_id.wrapping_add(1);
        let tag = match &lock {
            // The lock token is the delivery tag, in .NET GUID byte order (`uuid.UUID(bytes_le=tag)`).
            Some((_, l)) => l.token.to_bytes_le().to_vec(),
            None => uuid::Uuid::new_v4().to_bytes_le().to_vec(),
        };
        if let Some((entity, l)) = lock {
            session.unsettled.insert(
                delivery_id,
                Unsettled {
                    handle,
                    entity,
                    lock_token: l.token,
                },
            );
        }
        if let Some(link) = session.links.get_mut(&handle) {
            link.credit = link.credit.saturating_sub(1);
            link.delivery_count = link.delivery_count.wrapping_add(1);
        }
        // Room for the transfer performative itself in every frame.
        let chunk = max_frame.saturating_sub(8 + 64).max(256);
        let mut first = Some((delivery_id, tag, settled));
        let mut at = 0;
        loop {
            let end = (at + chunk).min(payload.len());
            let more = end < payload.len();
            let frame = frames::transfer(handle, first.take(), more);
            let Some(session) = self.sessions.get_mut(&channel) else {
                return Ok(());
            };
            session.next_outgoing_id = session.next_outgoing_id.wrapping_add(1);
            session.remote_incoming_window = session.remote_incoming_window.saturating_sub(1);
            self.send(channel, &frame, &payload[at..end])?;
            at = end;
            if !more {
                return Ok(());
            }
        }
    }
}
