//! Exporting the telemetry of an invocation before the handler answers it.
//!
//! The per-job audit and a job's timeline must survive a `kill -9` of the handler: whatever the
//! host settles (completes, abandons, dead-letters) on the strength of an answer must already be
//! in Application Insights. So `ProcessJob` waits for [`Flusher::flush`] before it answers, as an
//! outbox is written before a message is acknowledged. Flushes are group commits: one export at
//! a time, and every invocation that recorded before an export started is covered by it, so
//! concurrent invocations share one round trip to the ingestion endpoint.
//!
//! The two pipelines are flushed at the same time, each by a thread of its own started once
//! (a thread per flush and one pipeline after the other made the wait twice as long: see
//! docs/PERFORMANCE.md, section 7).
//!
//! Export must never hold a job hostage: an invocation waits at most [`WAIT`] for its flush. A
//! flush that fails or times out (the endpoint is down: the exporter retries for about half a
//! minute) turns the waits off for [`PAUSE`]; meanwhile telemetry goes out on the pipelines' own
//! schedule, as before, and a crash can lose what they hold.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::warn;

/// The longest an invocation waits for its flush.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long flushes are skipped after one failed or timed out.
pub const PAUSE: Duration = Duration::from_secs(30);

/// Flushes the span and metric pipelines on demand; cheap to clone.
#[derive(Debug, Clone)]
pub struct Flusher {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// Flushes the span pipeline.
    spans: Worker,
    /// Flushes the metric pipeline.
    metrics: Worker,
    /// Flush requests so far (each request takes the next number).
    requested: AtomicU64,
    /// Every request numbered up to this one is covered by a finished export.
    covered: AtomicU64,
    /// One export at a time.
    gate: tokio::sync::Mutex<()>,
    /// When the flusher was made (the clock of `paused_until_ms`).
    epoch: Instant,
    /// Flushes are skipped until this many ms after `epoch` (0: never paused).
    paused_until_ms: AtomicU64,
}

impl Flusher {
    /// A flusher that does nothing (no telemetry is exported).
    pub fn off() -> Self {
        Self { inner: None }
    }

    /// A flusher of both pipelines; off (with a warning) if its threads cannot start.
    pub fn new(tracer: SdkTracerProvider, meter: SdkMeterProvider) -> Self {
        let spans = Worker::start("telemetry-flush-spans", move || {
            tracer.force_flush().map_err(|e| e.to_string())
        });
        let metrics = Worker::start("telemetry-flush-metrics", move || {
            meter.force_flush().map_err(|e| e.to_string())
        });
        let (spans, metrics) = match (spans, metrics) {
            (Ok(spans), Ok(metrics)) => (spans, metrics),
            (Err(e), _) | (_, Err(e)) => {
                warn!(
                    "cannot start the telemetry flush threads ({e}): answering without waiting for export"
                );
                return Self::off();
            }
        };
        Self {
            inner: Some(Arc::new(Inner {
                spans,
                metrics,
                requested: AtomicU64::new(0),
                covered: AtomicU64::new(0),
                gate: tokio::sync::Mutex::new(()),
                epoch: Instant::now(),
                paused_until_ms: AtomicU64::new(0),
            })),
        }
    }

    /// Return once everything recorded before this call has been exported, or after [`WAIT`],
    /// or at once while flushes are paused (telemetry never fails nor stalls a job; a failure
    /// is logged).
    pub async fn flush(&self) {
        let Some(inner) = &self.inner else {
            return;
        };
        let now_ms = inner.epoch.elapsed().as_millis() as u64;
        if now_ms < inner.paused_until_ms.load(Ordering::SeqCst) {
            return;
        }
        let flushed = tokio::time::timeout(WAIT, inner.clone().flush()).await;
        let failure = match flushed {
            Ok(Ok(())) => return,
            Ok(Err(e)) => e,
            Err(_) => format!("no answer within {} s", WAIT.as_secs()),
        };
        let until = inner.epoch.elapsed() + PAUSE;
        inner
            .paused_until_ms
            .store(until.as_millis() as u64, Ordering::SeqCst);
        warn!(
            pause_s = PAUSE.as_secs(),
            "telemetry export before answering failed ({failure}); answering without waiting for export for the next {} s",
            PAUSE.as_secs()
        );
    }
}

impl Inner {
    /// One group-commit flush covering this caller.
    async fn flush(self: Arc<Self>) -> Result<(), String> {
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let _gate = self.gate.lock().await;
        if self.covered.load(Ordering::SeqCst) >= mine {
            return Ok(());
        }
        // Every request numbered up to here recorded before this export starts.
        let upto = self.requested.load(Ordering::SeqCst);
        // Both pipelines at once, each on its own long-lived thread: the wait is the slower
        // export, not their sum, and no thread is started per flush.
        let (spans, metrics) = tokio::join!(self.spans.flush(), self.metrics.flush());
        match (spans?, metrics?) {
            (Ok(()), Ok(())) => {
                self.covered.fetch_max(upto, Ordering::SeqCst);
                Ok(())
            }
            (spans, metrics) => Err(format!(
                "spans: {:?}, metrics: {:?}",
                spans.err(),
                metrics.err()
            )),
        }
    }
}

/// A long-lived thread that runs one pipeline's `force_flush` on request. Not `spawn_blocking`:
/// a flush stuck in the exporter's retries must not hold up the runtime's shutdown, which waits
/// for every blocking task; this thread ends when its [`Worker`] is dropped.
#[derive(Debug)]
struct Worker {
    requests: mpsc::Sender<Request>,
}

/// One flush request: the channel its result goes back on.
type Request = tokio::sync::oneshot::Sender<Result<(), String>>;

impl Worker {
    /// Start the thread `name`, running `flush` for every request.
    fn start(
        name: &str,
        flush: impl Fn() -> Result<(), String> + Send + 'static,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || {
                while let Ok(reply) = rx.recv() {
                    let _ = reply.send(flush());
                }
            })?;
        Ok(Self { requests: tx })
    }

    /// Run one flush on the thread; `Err` when the thread is gone.
    async fn flush(&self) -> Result<Result<(), String>, String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.requests
            .send(tx)
            .map_err(|_| "the flush thread has stopped".to_owned())?;
        rx.await
            .map_err(|_| "the flush thread ended without an answer".to_owned())
    }
}
