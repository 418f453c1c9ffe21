//! Links: attach and detach, transfers in (senders, request links), deliveries out (receivers,
//! response links) and their settlement. Service Bus behaviour follows /work/notes/amqp.md §1.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};
use fe2o3_amqp_types::definitions::{AmqpError, Error, ReceiverSettleMode, Role, SenderSettleMode};
use fe2o3_amqp_types::messaging::{Accepted, DeliveryState, Rejected, TargetArchetype};
use fe2o3_amqp_types::performatives::{Attach, Detach, Transfer};
use tokio::sync::{mpsc, watch};

use crate::amqp::backend::{Backend, Entity, NewMessage, ReceiveMode};
use crate::amqp::codec::CodecError;
use crate::amqp::connection::{Conn, ConnectionEnd};
use crate::amqp::frames::{self, amqp_error, backend_error, size_error};
use crate::amqp::inbound::Queued;
use crate::amqp::message;
use crate::amqp::sas::Claim;

/// Credit granted to clients' sender links, topped up at half.
pub const LINK_CREDIT: u32 = 1000;

/// What a link is for.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// Client -> `$cbs` requests.
    CbsRequests,
    /// `$cbs` -> client responses.
    CbsResponses,
    /// Client -> `<entity>/$management` requests.
    MgmtRequests(Entity),
    /// `<entity>/$management` -> client responses.
    MgmtResponses(Entity),
    /// Client sends messages to a queue.
    Send { queue: String, max_size: usize },
    /// Client receives messages.
    Receive {
        entity: Entity,
        mode: ReceiveMode,
        watch: watch::Receiver<u64>,
    },
}

/// A message being assembled from several transfer frames.
#[derive(Debug)]
pub(crate) struct Partial {
    delivery_id: u32,
    settled: bool,
    format: u32,
    /// Bytes received, even past what is kept.
    total: usize,
    buf: BytesMut,
}

/// One attached link (our handle is the client's handle number).
#[derive(Debug)]
pub(crate) struct Link {
    pub name: String,
    pub kind: Kind,
    /// Source address of an outgoing link / target of an incoming one.
    pub target_address: Option<String>,
    pub settled_mode: bool,
    /// Outgoing: credit the client gave. Incoming: credit we gave.
    pub credit: u32,
    /// Deliveries counted on this link (spec 2.6.7).
    pub delivery_count: u32,
    pub drain: bool,
    pub waiting: bool,
    /// The task waiting for messages for this receiver (aborted with the link).
    pub waiter: Option<tokio::task::JoinHandle<()>>,
    pub pending: VecDeque<Bytes>,
    partial: Option<Partial>,
    /// Incoming: the writer storing this sender link's transfers in order (`inbound`).
    pub writer: Option<mpsc::UnboundedSender<Queued>>,
    /// Incoming: transfers handed to the writer and not yet stored.
    pub in_flight: u32,
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            waiter.abort();
        }
    }
}

impl Link {
    /// We send on this link.
    pub fn is_outgoing(&self) -> bool {
        matches!(
            self.kind,
            Kind::CbsResponses | Kind::MgmtResponses(_) | Kind::Receive { .. }
        )
    }
}

/// The entity path of a link address: `amqps://host:port/jobs` and `jobs` both give `jobs`.
pub fn address_path(address: &str) -> &str {
    let rest = match address.find("://") {
        Some(i) => {
            let after = &address[i + 3..];
            after.find('/').map_or("", |j| &after[j + 1..])
        }
        None => address,
    };
    rest.trim_matches('/')
}

/// `queue` or `queue/$DeadLetterQueue` (any case).
pub fn parse_entity(path: &str) -> Entity {
    match path.rsplit_once('/') {
        Some((queue, sub)) if sub.eq_ignore_ascii_case("$deadletterqueue") => Entity {
            queue: queue.to_owned(),
            dead_letter: true,
        },
        _ => Entity {
            queue: path.to_owned(),
            dead_letter: false,
        },
    }
}

impl<B: Backend> Conn<B> {
    /// Decide what the attach is for, or the error Service Bus gives.
    async fn classify(&self, attach: &Attach) -> Result<Kind, Error> {
        let client_sends = attach.role == Role::Sender;
        let address = if client_sends {
            match attach.target.as_deref() {
                Some(TargetArchetype::Target(t)) => t.address.clone(),
                _ => None,
            }
        } else {
            attach.source.as_ref().and_then(|s| s.address.clone())
        };
        let address = address
            .ok_or_else(|| amqp_error(AmqpError::InvalidField, "the link has no address"))?;
        let path = address_path(&address);
        if path.eq_ignore_ascii_case("$cbs") {
            return Ok(if client_sends {
                Kind::CbsRequests
            } else {
                Kind::CbsResponses
            });
        }
        let (entity_path, management) = match path.strip_suffix("/$management") {
            Some(p) => (p, true),
            None => (path, false),
        };
        let entity = parse_entity(entity_path);
        // Service Bus checks the link's claim at attach: Send for a sender, Listen for a
        // receiver (MS guide "Claims-based authorization"; the rule's `AccessRights`).
        let claim = if client_sends && !management {
            Claim::Send
        } else {
            Claim::Listen
        };
        let covered = if management {
            self.may_use_management(entity_path)
        } else {
            self.authorized(entity_path, claim)
        };
        if !covered {
            return Err(Self::unauthorized(claim, entity_path));
        }
        let queue = self
            .backend
            .queue(&entity.queue)
            .await
            .map_err(|e| backend_error(&e).0)?;
        if management {
            return Ok(if client_sends {
                Kind::MgmtRequests(entity)
            } else {
                Kind::MgmtResponses(entity)
            });
        }
        if client_sends {
            if entity.dead_letter {
                return Err(amqp_error(
                    AmqpError::NotAllowed,
                    "Cannot send to a dead-letter queue.",
                ));
            }
            return Ok(Kind::Send {
                queue: queue.name,
                max_size: queue.max_message_size_kb as usize * 1024,
            });
        }
        let session_filter = attach
            .source
            .as_ref()
            .and_then(|s| s.filter.as_ref())
            .is_some_and(|f| {
                f.keys()
                    .any(|k| k.as_str() == "com.microsoft:session-filter")
            });
        if session_filter || queue.requires_session {
            return Err(amqp_error(
                AmqpError::NotImplemented,
                format!(
                    "Sessions are not supported by the local Service Bus yet (queue '{}', RequiresSession / session receivers).",
                    queue.name
                ),
            ));
        }
        let mode = match attach.snd_settle_mode {
            SenderSettleMode::Settled => ReceiveMode::ReceiveAndDelete,
            _ => ReceiveMode::PeekLock,
        };
        let watch = self
            .backend
            .watch(&entity)
            .map_err(|e| backend_error(&e).0)?;
        Ok(Kind::Receive {
            entity,
            mode,
            watch,
        })
    }

    pub(crate) async fn on_attach(
        &mut self,
        channel: u16,
        attach: Attach,
    ) -> Result<(), ConnectionEnd> {
        if !self.sessions.contains_key(&channel) {
            return Err(ConnectionEnd::Closed(format!(
                "attach on unknown channel {channel}"
            )));
        }
        let handle = attach.handle.0;
        let client_sends = attach.role == Role::Sender;
        let classified = self.classify(&attach).await;
        let mut reply = Attach {
            name: attach.name.clone(),
            handle: attach.handle.clone(),
            role: if client_sends {
                Role::Receiver
            } else {
                Role::Sender
            },
            snd_settle_mode: attach.snd_settle_mode.clone(),
            rcv_settle_mode: if client_sends {
                ReceiverSettleMode::First
            } else {
                attach.rcv_settle_mode.clone()
            },
            source: attach.source.clone(),
            target: attach.target.clone(),
            unsettled: None,
            incomplete_unsettled: false,
            // .NET leaves initial-delivery-count out of sender attaches: absent counts as 0.
            initial_delivery_count: if client_sends { None } else { Some(0) },
            max_message_size: None,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        let kind = match classified {
            Ok(kind) => kind,
            Err(error) => {
                // MS guide "Create message sender (error)": null terminus, then a closing detach.
                tracing::info!(link = %attach.name, error = ?error.description, "attach refused");
                reply.source = None;
                reply.target = None;
                self.send(channel, &reply, &[])?;
                self.send(channel, &frames::detach(handle, true, Some(error)), &[])?;
                if let Some(s) = self.sessions.get_mut(&channel) {
                    s.refused.insert(handle);
                }
                return Ok(());
            }
        };
        if let Kind::Send { max_size, .. } = &kind {
            reply.max_message_size = Some(*max_size as u64);
        }
        let target_address = match (&kind, attach.target.as_deref()) {
            (_, Some(TargetArchetype::Target(t))) if !client_sends => t.address.clone(),
            _ => None,
        };
        let link = Link {
            name: attach.name.clone(),
            kind,
            target_address,
            settled_mode: attach.snd_settle_mode == SenderSettleMode::Settled,
            credit: if client_sends { LINK_CREDIT } else { 0 },
            delivery_count: if client_sends {
                attach.initial_delivery_count.unwrap_or(0)
            } else {
                0
            },
            drain: false,
            waiting: false,
            waiter: None,
            pending: VecDeque::new(),
            partial: None,
            writer: None,
            in_flight: 0,
        };
        let flow = client_sends.then_some((handle, link.delivery_count, LINK_CREDIT, false));
        if let Some(s) = self.sessions.get_mut(&channel) {
            s.links.insert(handle, link);
        }
        self.send(channel, &reply, &[])?;
        if flow.is_some() {
            self.send_flow(channel, flow)?;
        }
        Ok(())
    }

    pub(crate) fn on_detach(&mut self, channel: u16, detach: Detach) -> Result<(), CodecError> {
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Ok(());
        };
        let handle = detach.handle.0;
        if session.refused.remove(&handle) {
            return Ok(());
        }
        session.links.remove(&handle);
        session.unsettled.retain(|_, u| u.handle != handle);
        self.send(channel, &frames::detach(handle, detach.closed, None), &[])
    }

    pub(crate) async fn on_transfer(
        &mut self,
        channel: u16,
        t: Transfer,
        payload: Bytes,
    ) -> Result<(), ConnectionEnd> {
        let handle = t.handle.0;
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Err(ConnectionEnd::Closed(format!(
                "transfer on unknown channel {channel}"
            )));
        };
        session.next_incoming_id = session.next_incoming_id.wrapping_add(1);
        session.incoming_since_flow += 1;
        let refresh_window =
            session.incoming_since_flow >= crate::amqp::connection::SESSION_WINDOW / 2;
        let Some(link) = session.links.get_mut(&handle) else {
            return Err(ConnectionEnd::Closed(format!(
                "transfer on unattached handle {handle}"
            )));
        };
        if link.is_outgoing() {
            return Err(ConnectionEnd::Closed(
                "transfer on a link where the server is the sender".into(),
            ));
        }
        let fresh = |t: &Transfer| Partial {
            delivery_id: t.delivery_id.unwrap_or(0),
            settled: t.settled.unwrap_or(false),
            format: t.message_format.unwrap_or(0),
            total: 0,
            buf: BytesMut::new(),
        };
        let (partial, body) = if link.partial.is_none() && !t.more {
            // A delivery in one frame (the usual case) is taken as received, without a copy.
            let whole = Partial {
                total: payload.len(),
                ..fresh(&t)
            };
            (whole, payload)
        } else {
            let partial = link.partial.get_or_insert_with(|| fresh(&t));
            partial.total += payload.len();
            // Keep at most one byte past the limit: enough to refuse the message.
            let limit = match &link.kind {
                Kind::Send { max_size, .. } => *max_size + 1,
                _ => 1 << 20,
            };
            let room = limit.saturating_sub(partial.buf.len());
            partial
                .buf
                .extend_from_slice(&payload[..payload.len().min(room)]);
            if t.more {
                return Ok(());
            }
            let Some(mut partial) = link.partial.take() else {
                return Ok(());
            };
            let body = std::mem::take(&mut partial.buf).freeze();
            (partial, body)
        };
        if t.aborted {
            return Ok(());
        }
        link.delivery_count = link.delivery_count.wrapping_add(1);
        link.credit = link.credit.saturating_sub(1);
        // Credit comes back only while the writer keeps up (else `on_stored` gives it).
        let top_up =
            (link.credit < LINK_CREDIT / 2 && link.in_flight < LINK_CREDIT / 2).then(|| {
                link.credit = LINK_CREDIT;
                (handle, link.delivery_count, LINK_CREDIT, false)
            });
        let kind = link.kind.clone();
        let outcome = match kind {
            Kind::Send { queue, max_size } => {
                let checked = self.check_transfer(
                    &queue,
                    max_size,
                    partial.format,
                    &body,
                    partial.total,
                    partial.delivery_id,
                );
                match checked {
                    Ok(messages) => {
                        // Disposition and credit come when it is stored (`on_stored`).
                        let (delivery_id, settled) = (partial.delivery_id, partial.settled);
                        let item = Queued {
                            delivery_id,
                            settled,
                            messages,
                        };
                        self.queue_store(channel, handle, &queue, item);
                        if let Some(flow) = top_up {
                            self.send_flow(channel, Some(flow))?;
                        } else if refresh_window {
                            self.send_flow(channel, None)?;
                        }
                        return Ok(());
                    }
                    Err(e) => Err(e),
                }
            }
            Kind::CbsRequests => self.on_cbs_request(channel, &body).await.map(|_| ()),
            Kind::MgmtRequests(entity) => self
                .on_mgmt_request(channel, &entity, &body)
                .await
                .map(|_| ()),
            _ => Ok(()),
        };
        if !partial.settled {
            let state = match outcome {
                Ok(()) => DeliveryState::Accepted(Accepted {}),
                Err(error) => DeliveryState::Rejected(Rejected { error: Some(error) }),
            };
            self.send(
                channel,
                &frames::disposition(Role::Receiver, partial.delivery_id, state),
                &[],
            )?;
        }
        if top_up.is_some() {
            self.send_flow(channel, top_up)?;
        } else if refresh_window {
            self.send_flow(channel, None)?;
        }
        Ok(())
    }

    /// A complete transfer's messages, checked as Service Bus checks them before storing.
    fn check_transfer(
        &self,
        queue: &str,
        max_size: usize,
        format: u32,
        body: &Bytes,
        total: usize,
        delivery_id: u32,
    ) -> Result<Vec<NewMessage>, Error> {
        if total > max_size {
            return Err(size_error(format!(
                "The received message (delivery-id:{delivery_id}, size:{total} bytes) exceeds the limit ({max_size} bytes) currently allowed on the link."
            )));
        }
        let messages = message::messages_of_transfer(format, body).map_err(|e| {
            amqp_error(
                AmqpError::DecodeError,
                format!("The message could not be decoded: {e}"),
            )
        })?;
        if !self.authorized(queue, Claim::Send) {
            return Err(Self::unauthorized(Claim::Send, queue));
        }
        Ok(messages)
    }
}
