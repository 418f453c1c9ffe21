//! Kestrel's two connection timeouts, which hyper cannot express (its header read timeout also
//! runs while a kept-alive connection waits, so it would close idle connections at 30 s):
//!
//! * waiting for a request's first byte, a new or kept-alive connection may stay idle for
//!   `KeepAliveTimeout` (130 s), then is closed without an answer (`Http1Connection.
//!   BeginRequestProcessing` sets `TimeoutReason.KeepAlive`; `HttpConnection.OnTimeout` stops
//!   processing);
//! * from that first byte the headers must be complete within `RequestHeadersTimeout` (30 s)
//!   (`Http1Connection.ParseRequest` resets the timeout to `TimeoutReason.RequestHeaders`), else
//!   Kestrel answers `408` and closes (`TryParseRequest` throws `RequestHeadersTimeout`, whose
//!   status is 408: `KestrelBadHttpRequestException.GetException`).
//!
//! [`Timed`] wraps the socket and watches reads; the service marks a request [`Phase::busy`]
//! once hyper has its headers, and [`Phase::idle`] again when its response body is gone.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::limits::ServerLimits;

/// Kestrel's answer to a request whose headers came too slowly.
const TIMEOUT_RESPONSE: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

#[derive(Debug, Clone, Copy)]
enum State {
    /// Waiting for a request's first byte since then.
    Idle(Instant),
    /// A request started; its headers are due by then.
    Headers(Instant),
    /// Headers parsed, the request is being served.
    Busy,
}

/// Where a connection is, shared by its socket wrapper and its service; the waker of a read
/// left without a timer while busy, so that going idle arms the keep-alive timer.
#[derive(Debug, Clone)]
pub struct Phase(Arc<Mutex<(State, Option<Waker>)>>);

impl Phase {
    fn new() -> Self {
        Self(Arc::new(Mutex::new((State::Idle(Instant::now()), None))))
    }

    fn set(&self, state: State) {
        if let Ok(mut s) = self.0.lock() {
            s.0 = state;
            if let Some(waker) = s.1.take() {
                waker.wake();
            }
        }
    }

    fn get(&self) -> State {
        self.0.lock().map_or(State::Busy, |s| s.0)
    }

    /// The state; when busy, `waker` is woken at the next change.
    fn get_or_wait(&self, waker: &Waker) -> State {
        let Ok(mut s) = self.0.lock() else {
            return State::Busy;
        };
        if matches!(s.0, State::Busy) {
            s.1 = Some(waker.clone());
        }
        s.0
    }

    /// A request's headers are in.
    pub fn busy(&self) {
        self.set(State::Busy);
    }

    /// The response is done: the connection waits for the next request.
    pub fn idle(&self) {
        self.set(State::Idle(Instant::now()));
    }
}

/// A socket whose reads enforce the keep-alive and request-headers timeouts.
pub struct Timed<T> {
    inner: T,
    phase: Phase,
    limits: ServerLimits,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
}

impl<T> Timed<T> {
    /// Wrap a new connection (idle from now).
    pub fn new(inner: T, limits: ServerLimits) -> (Self, Phase) {
        let phase = Phase::new();
        let timed = Self {
            inner,
            phase: phase.clone(),
            limits,
            sleep: Box::pin(tokio::time::sleep(limits.keep_alive)),
            armed: None,
        };
        (timed, phase)
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                // Empty lines between requests do not start one (`ParseRequest` skips them).
                let started = buf.filled()[before..]
                    .iter()
                    .any(|b| *b != b'\r' && *b != b'\n');
                if started && matches!(this.phase.get(), State::Idle(_)) {
                    this.phase
                        .set(State::Headers(Instant::now() + this.limits.request_headers));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                let (due, headers) = match this.phase.get_or_wait(cx.waker()) {
                    State::Idle(since) => (since + this.limits.keep_alive, false),
                    State::Headers(due) => (due, true),
                    State::Busy => return Poll::Pending,
                };
                if this.armed != Some(due) {
                    this.sleep.as_mut().reset(due);
                    this.armed = Some(due);
                }
                if this.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if !headers {
                    // End of input: hyper closes an idle connection quietly.
                    return Poll::Ready(Ok(()));
                }
                // Best effort: a few bytes into an idle socket's send buffer.
                let _ = Pin::new(&mut this.inner).poll_write(cx, TIMEOUT_RESPONSE);
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "request headers timeout (Kestrel's RequestHeadersTimeout)",
                )))
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
