//! Kestrel's `MinRequestBodyDataRate` (240 bytes/s after a 5 s grace period).
//!
//! Kestrel (`Internal/Infrastructure/TimeoutControl.CheckForReadDataRateTimeout`) times only the
//! moments the application waits for body data, and once that time passes the grace period it
//! cuts the request when bytes read / time waited falls under the rate: `HandleReadDataRateTimeout`
//! marks the request timed out and the pending body read throws `BadHttpRequestException`
//! (`RequestBodyTimeout`, status 408, "Reading the request body timed out due to data arriving too
//! slowly. See MinRequestBodyDataRate."). The host reads the body inside its pipeline, so its
//! `ExceptionMiddleware` catches that exception and answers **500** (empty body); Kestrel then
//! finds the request timed out while draining the body and closes the connection.
//!
//! [`RateBody`] wraps a request body the same way: waiting time is counted from a read that found
//! no data to the data's arrival, and the read fails at the first instant the average would be
//! under the rate. The shared flag tells the server to answer as the host does.

use std::error::Error;
use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::limits::ServerLimits;

/// The body came too slowly.
#[derive(Debug)]
pub struct TooSlow;

impl fmt::Display for TooSlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MESSAGE)
    }
}

impl Error for TooSlow {}

/// Kestrel's `CoreStrings.BadRequest_RequestBodyTimeout`.
pub const MESSAGE: &str = "Reading the request body timed out due to data arriving too slowly. See MinRequestBodyDataRate.";

/// A request body held to the minimum data rate.
pub struct RateBody<B> {
    inner: B,
    rate: u64,
    grace: Duration,
    waited: Duration,
    bytes: u64,
    waiting_since: Option<Instant>,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    too_slow: Arc<AtomicBool>,
}

impl<B> RateBody<B> {
    /// Wrap `inner`; `too_slow` turns true when it is cut.
    pub fn new(inner: B, limits: &ServerLimits, too_slow: Arc<AtomicBool>) -> Self {
        Self {
            inner,
            rate: limits.body_bytes_per_second.max(1),
            grace: limits.body_grace,
            waited: Duration::ZERO,
            bytes: 0,
            waiting_since: None,
            sleep: Box::pin(tokio::time::sleep(limits.body_grace)),
            armed: None,
            too_slow,
        }
    }
}

impl<B> Body for RateBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                if let Some(since) = this.waiting_since.take() {
                    this.waited += since.elapsed();
                }
                if let Some(data) = frame.as_ref().and_then(|f| f.as_ref().ok()?.data_ref()) {
                    this.bytes += data.len() as u64;
                }
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let since = *this.waiting_since.get_or_insert_with(Instant::now);
                // The average falls under the rate once the time waited exceeds both the grace
                // period and the time the bytes so far allow.
                #[allow(clippy::cast_precision_loss)]
                let allowed = Duration::from_secs_f64(this.bytes as f64 / this.rate as f64);
                let due = since + this.grace.max(allowed).saturating_sub(this.waited);
                if this.armed != Some(due) {
                    this.sleep.as_mut().reset(due);
                    this.armed = Some(due);
                }
                if this.sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                this.too_slow.store(true, Ordering::SeqCst);
                Poll::Ready(Some(Err(Box::new(TooSlow))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
