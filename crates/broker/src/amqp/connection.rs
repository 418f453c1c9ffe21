//! One client connection: the server side of the AMQP connection and session state machines.
//!
//! A single task owns the connection's state. Frames are read by a reader task into a channel
//! and handled strictly in order, each to completion (an attach is answered, store call
//! included, before the next frame is looked at), so frames a client pipelines behind an attach
//! and credit that arrives right after it need no special care.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use fe2o3_amqp_types::definitions::{AmqpError, ConnectionError, Error};
use fe2o3_amqp_types::performatives::{Begin, Close, End, Flow, Performative};
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::time::Instant;
use uuid::Uuid;

use crate::amqp::backend::{Backend, Entity};
use crate::amqp::codec::{self, CodecError, FRAME_AMQP, RawFrame};
use crate::amqp::frames::{self, FlowState};
use crate::amqp::handshake;
use crate::amqp::link::Link;
use crate::amqp::sas::{Grant, SasKey};

/// The largest frame we accept (and announce).
pub const MAX_FRAME_SIZE: u32 = 256 * 1024;
/// Frames (or helper events) handled at most between two flushes of what they answered.
const FRAMES_PER_FLUSH: usize = 64;
/// Session window we announce and keep topping up.
pub const SESSION_WINDOW: u32 = 5000;

/// Server settings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The namespace's primary rule (the one the printed connection string uses).
    pub sas: SasKey,
    /// More authorization rules (`--sas-rule`), e.g. a send-only one.
    pub rules: Vec<SasKey>,
    /// Our container id in `open`.
    pub container_id: String,
}

impl Config {
    /// Every rule a token or SASL PLAIN may name: the primary first.
    pub fn keys(&self) -> impl Iterator<Item = &SasKey> {
        std::iter::once(&self.sas).chain(&self.rules)
    }
}

/// A delivery the client has not settled yet.
#[derive(Debug, Clone)]
pub(crate) struct Unsettled {
    pub handle: u32,
    pub entity: Entity,
    pub lock_token: Uuid,
}

/// One session (we use the client's channel number for ours).
#[derive(Debug, Default)]
pub(crate) struct Session {
    pub next_outgoing_id: u32,
    pub next_delivery_id: u32,
    pub next_incoming_id: u32,
    pub remote_incoming_window: u32,
    pub incoming_since_flow: u32,
    pub links: HashMap<u32, Link>,
    /// Handles whose attach we refused (their detach needs no answer).
    pub refused: HashSet<u32>,
    pub unsettled: BTreeMap<u32, Unsettled>,
}

impl Session {
    pub fn flow_state(&self) -> FlowState {
        FlowState {
            next_incoming_id: self.next_incoming_id,
            incoming_window: SESSION_WINDOW,
            next_outgoing_id: self.next_outgoing_id,
            outgoing_window: SESSION_WINDOW,
        }
    }
}

/// Something a helper task tells the connection.
#[derive(Debug)]
pub(crate) enum Event {
    /// Messages may be available for the receiver link `handle` on `channel`.
    Wake { channel: u16, handle: u32 },
    /// The store took transfers of the sender link `handle` on `channel` (`inbound`).
    Stored {
        channel: u16,
        handle: u32,
        stored: Vec<crate::amqp::inbound::Stored>,
    },
    /// The store holds these settlements: answer them (`settler`).
    Settled(Vec<crate::amqp::settler::Reply>),
}

/// What ended the connection, for the log.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionEnd {
    /// Handshake failed.
    #[error(transparent)]
    Handshake(#[from] handshake::HandshakeError),
    /// Framing, encoding or transport failed.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// We closed it with an error.
    #[error("closed by the server: {0}")]
    Closed(String),
}

/// Connection state (the impl blocks are split over this module, `link` and `requests`).
pub(crate) struct Conn<B> {
    pub backend: Arc<B>,
    pub config: Arc<Config>,
    pub out: BytesMut,
    pub sessions: HashMap<u16, Session>,
    pub grants: Vec<Grant>,
    /// A token (or PLAIN with the key) was accepted at least once.
    pub ever_authorized: bool,
    pub remote_max_frame: u32,
    pub events: mpsc::UnboundedSender<Event>,
    /// Stores the client's settlements off the connection loop (`settler`), once started.
    pub settler: Option<mpsc::UnboundedSender<crate::amqp::settler::Settling>>,
}

/// Serve one accepted TCP connection until it ends.
pub async fn run<B: Backend>(
    stream: TcpStream,
    backend: Arc<B>,
    config: Arc<Config>,
) -> Result<(), ConnectionEnd> {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let identity = handshake::negotiate(&mut read, &mut write, &config).await?;
    tracing::debug!(mechanism = %identity.mechanism, "SASL done");

    let (frames_tx, mut frames_rx) = mpsc::channel::<Result<RawFrame, CodecError>>(64);
    let reader = tokio::spawn(async move {
        let mut buffer = BytesMut::new();
        loop {
            let frame = codec::read_frame_with(&mut read, MAX_FRAME_SIZE, &mut buffer).await;
            let failed = frame.is_err();
            if frames_tx.send(frame).await.is_err() || failed {
                break;
            }
        }
    });
    let (events_tx, mut events_rx) = mpsc::unbounded_channel();
    let mut conn = Conn {
        backend,
        config,
        out: BytesMut::new(),
        sessions: HashMap::new(),
        grants: Vec::new(),
        ever_authorized: false,
        remote_max_frame: MAX_FRAME_SIZE,
        events: events_tx,
        settler: None,
    };
    if let Some(rights) = identity.plain_rights {
        // PLAIN proved a rule's key itself: the whole namespace with that rule's rights, for the
        // connection's life.
        conn.grants.push(Grant {
            path: String::new(),
            rights,
            expires: chrono::DateTime::<chrono::Utc>::MAX_UTC,
        });
        conn.ever_authorized = true;
    }
    let result = conn.serve(&mut frames_rx, &mut events_rx, &mut write).await;
    reader.abort();
    let _ = write.shutdown().await;
    result
}

impl<B: Backend> Conn<B> {
    async fn serve(
        &mut self,
        frames: &mut mpsc::Receiver<Result<RawFrame, CodecError>>,
        events: &mut mpsc::UnboundedReceiver<Event>,
        write: &mut OwnedWriteHalf,
    ) -> Result<(), ConnectionEnd> {
        let open = match frames.recv().await {
            Some(Ok(frame)) => match codec::decode_performative(&frame.body)? {
                (Performative::Open(open), _) => open,
                _ => {
                    return self
                        .fail(write, ConnectionError::FramingError.into(), "expected open")
                        .await;
                }
            },
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(()),
        };
        self.remote_max_frame = open
            .max_frame_size
            .0
            .clamp(codec::MIN_MAX_FRAME_SIZE, MAX_FRAME_SIZE);
        let container = self.config.container_id.clone();
        let reply = codec::open(container, MAX_FRAME_SIZE, open.channel_max.0);
        self.send(0, &reply, &[])?;
        self.flush(write).await?;
        // Honour the client's idle timeout: send something at least every half of it.
        let beat = open
            .idle_time_out
            .filter(|ms| *ms > 0)
            .map(|ms| Duration::from_millis(u64::from(ms) / 2));
        let mut last_write = Instant::now();
        // MS guide: a token must be put within 20 s of the connection, else it is dropped.
        let auth_deadline = Instant::now() + crate::amqp::auth::PUT_TOKEN_DEADLINE;
        loop {
            let deadline = beat.map(|b| last_write + b);
            let expiry = self.next_expiry();
            tokio::select! {
                frame = frames.recv() => {
                    if let Some(end) = self.take_frame(write, frame).await {
                        return end;
                    }
                    // What else the reader has queued is handled before the one flush below:
                    // a pipelining client's transfers cost one pass of this loop, not one each.
                    for _ in 1..FRAMES_PER_FLUSH {
                        let Ok(frame) = frames.try_recv() else { break };
                        if let Some(end) = self.take_frame(write, Some(frame)).await {
                            return end;
                        }
                    }
                }
                Some(event) = events.recv() => {
                    self.on_event(event).await?;
                    for _ in 1..FRAMES_PER_FLUSH {
                        let Ok(event) = events.try_recv() else { break };
                        self.on_event(event).await?;
                    }
                }
                _ = async { match deadline { Some(d) => tokio::time::sleep_until(d).await, None => std::future::pending().await } } => {
                    codec::write_empty(&mut self.out);
                }
                _ = tokio::time::sleep_until(expiry.unwrap_or(auth_deadline)), if expiry.is_some() || !self.ever_authorized => {
                    if !self.ever_authorized {
                        let text = "no valid token was put on $cbs within 20 seconds of the connection";
                        return self.fail(write, AmqpError::UnauthorizedAccess.into(), text).await;
                    }
                    self.expire_links()?;
                }
            }
            if !self.out.is_empty() {
                self.flush(write).await?;
                last_write = Instant::now();
            }
        }
    }

    /// Handle what the reader handed over; `Some` with how the connection ends, if it does.
    async fn take_frame(
        &mut self,
        write: &mut OwnedWriteHalf,
        frame: Option<Result<RawFrame, CodecError>>,
    ) -> Option<Result<(), ConnectionEnd>> {
        let frame = match frame {
            Some(Ok(frame)) => frame,
            Some(Err(CodecError::Io(_))) | None => return Some(Ok(())),
            Some(Err(e @ CodecError::FrameTooLarge { .. })) => {
                let text = e.to_string();
                let end = self.fail(write, ConnectionError::FramingError.into(), &text);
                return Some(end.await);
            }
            Some(Err(e)) => {
                let text = e.to_string();
                return Some(self.fail(write, AmqpError::DecodeError.into(), &text).await);
            }
        };
        match self.on_frame(frame).await {
            Ok(true) => None,
            Ok(false) => Some(self.flush(write).await.map_err(ConnectionEnd::from)),
            Err(ConnectionEnd::Closed(text)) => {
                Some(self.fail(write, AmqpError::NotAllowed.into(), &text).await)
            }
            Err(e) => {
                let text = e.to_string();
                Some(self.fail(write, AmqpError::DecodeError.into(), &text).await)
            }
        }
    }

    /// Handle what a helper task told the connection.
    async fn on_event(&mut self, event: Event) -> Result<(), CodecError> {
        match event {
            Event::Wake { channel, handle } => {
                if let Some(link) = self.link_mut(channel, handle) {
                    link.waiting = false;
                }
                self.pump(channel, handle).await
            }
            Event::Stored {
                channel,
                handle,
                stored,
            } => self.on_stored(channel, handle, stored),
            Event::Settled(replies) => self.on_settled(replies),
        }
    }

    async fn flush(&mut self, write: &mut OwnedWriteHalf) -> Result<(), CodecError> {
        write.write_all(&self.out).await?;
        self.out.clear();
        Ok(())
    }

    /// Close the connection with an error.
    async fn fail(
        &mut self,
        write: &mut OwnedWriteHalf,
        condition: fe2o3_amqp_types::definitions::ErrorCondition,
        text: &str,
    ) -> Result<(), ConnectionEnd> {
        tracing::warn!(error = text, "closing AMQP connection");
        let close = Close {
            error: Some(Error::new(condition, Some(text.to_owned()), None)),
        };
        self.send(0, &close, &[])?;
        self.flush(write).await?;
        Err(ConnectionEnd::Closed(text.to_owned()))
    }

    /// Queue a frame for writing.
    pub(crate) fn send<T: serde::Serialize + std::fmt::Debug>(
        &mut self,
        channel: u16,
        performative: &T,
        payload: &[u8],
    ) -> Result<(), CodecError> {
        tracing::trace!(channel, ?performative, payload = payload.len(), "frame out");
        codec::write_frame(&mut self.out, FRAME_AMQP, channel, performative, payload)
    }

    /// Send a session-only flow (window refresh) or a link flow.
    pub(crate) fn send_flow(
        &mut self,
        channel: u16,
        link: Option<(u32, u32, u32, bool)>,
    ) -> Result<(), CodecError> {
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Ok(());
        };
        session.incoming_since_flow = 0;
        let flow = frames::flow(session.flow_state(), link);
        self.send(channel, &flow, &[])
    }

    /// Handle one frame; `Ok(false)` when the connection is done.
    async fn on_frame(&mut self, frame: RawFrame) -> Result<bool, ConnectionEnd> {
        if frame.kind != FRAME_AMQP {
            return Err(ConnectionEnd::Codec(CodecError::Malformed(
                "SASL frame after SASL",
            )));
        }
        if frame.body.is_empty() {
            return Ok(true);
        }
        let channel = frame.channel;
        if codec::descriptor_code(&frame.body) == Some(crate::amqp::settle::DISPOSITION) {
            let d = crate::amqp::settle::decode(&frame.body)?;
            tracing::trace!(channel, ?d, "frame in");
            self.on_disposition(channel, d).await?;
            return Ok(true);
        }
        let (performative, payload) = codec::decode_performative(&frame.body)?;
        let payload = frame.body.slice(frame.body.len() - payload.len()..);
        tracing::trace!(channel, ?performative, payload = payload.len(), "frame in");
        match performative {
            Performative::Begin(begin) => self.on_begin(channel, begin)?,
            Performative::Attach(attach) => self.on_attach(channel, attach).await?,
            Performative::Flow(flow) => self.on_flow(channel, flow).await?,
            Performative::Transfer(transfer) => {
                self.on_transfer(channel, transfer, payload).await?
            }
            Performative::Disposition(_) => {} // decoded leniently above
            Performative::Detach(detach) => self.on_detach(channel, detach)?,
            Performative::End(_) => {
                self.sessions.remove(&channel);
                self.send(channel, &End { error: None }, &[])?;
            }
            Performative::Close(_) => {
                self.send(0, &Close { error: None }, &[])?;
                return Ok(false);
            }
            Performative::Open(_) => {
                return Err(ConnectionEnd::Closed(
                    "a second open on the connection".into(),
                ));
            }
        }
        Ok(true)
    }

    fn on_begin(&mut self, channel: u16, begin: Begin) -> Result<(), CodecError> {
        let session = Session {
            next_incoming_id: begin.next_outgoing_id,
            remote_incoming_window: begin.incoming_window,
            ..Default::default()
        };
        self.sessions.insert(channel, session);
        let reply = Begin {
            remote_channel: Some(channel),
            next_outgoing_id: 0,
            incoming_window: SESSION_WINDOW,
            outgoing_window: SESSION_WINDOW,
            handle_max: begin.handle_max,
            offered_capabilities: None,
            desired_capabilities: None,
            properties: None,
        };
        self.send(channel, &reply, &[])
    }

    async fn on_flow(&mut self, channel: u16, flow: Flow) -> Result<(), ConnectionEnd> {
        let Some(session) = self.sessions.get_mut(&channel) else {
            return Err(ConnectionEnd::Closed(format!(
                "flow on unknown channel {channel}"
            )));
        };
        session.remote_incoming_window = match flow.next_incoming_id {
            Some(next) => next
                .wrapping_add(flow.incoming_window)
                .wrapping_sub(session.next_outgoing_id),
            None => flow.incoming_window,
        };
        let Some(handle) = flow.handle.map(|h| h.0) else {
            return Ok(self.pump_all(channel).await?);
        };
        let Some(link) = session.links.get_mut(&handle) else {
            return Ok(());
        };
        if link.is_outgoing() {
            let remote_count = flow.delivery_count.unwrap_or(0);
            let credit = flow.link_credit.unwrap_or(0);
            link.credit = remote_count
                .wrapping_add(credit)
                .wrapping_sub(link.delivery_count);
            link.drain = flow.drain;
            self.pump(channel, handle).await?;
            let echo = flow.echo;
            self.finish_drain(channel, handle, echo)?;
        } else if flow.echo {
            let state = (handle, link.delivery_count, link.credit, false);
            self.send_flow(channel, Some(state))?;
        }
        Ok(())
    }

    /// The link `handle` of the session on `channel`, while both exist.
    pub(crate) fn link_mut(&mut self, channel: u16, handle: u32) -> Option<&mut Link> {
        self.sessions
            .get_mut(&channel)
            .and_then(|s| s.links.get_mut(&handle))
    }

    /// After a pump: a drain consumes the remaining credit and is answered with a flow.
    fn finish_drain(&mut self, channel: u16, handle: u32, echo: bool) -> Result<(), CodecError> {
        let Some(link) = self.link_mut(channel, handle) else {
            return Ok(());
        };
        if link.drain && link.credit > 0 {
            link.delivery_count = link.delivery_count.wrapping_add(link.credit);
            link.credit = 0;
            let state = (handle, link.delivery_count, 0, true);
            self.send_flow(channel, Some(state))
        } else if echo {
            let state = (handle, link.delivery_count, link.credit, link.drain);
            self.send_flow(channel, Some(state))
        } else {
            Ok(())
        }
    }

    async fn pump_all(&mut self, channel: u16) -> Result<(), CodecError> {
        let handles: Vec<u32> = match self.sessions.get(&channel) {
            Some(s) => s
                .links
                .iter()
                .filter(|(_, l)| l.is_outgoing() && l.credit > 0)
                .map(|(h, _)| *h)
                .collect(),
            None => return Ok(()),
        };
        for handle in handles {
            self.pump(channel, handle).await?;
        }
        Ok(())
    }
}
