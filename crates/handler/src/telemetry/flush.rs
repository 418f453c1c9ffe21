//! Exporting the telemetry of an invocation before the handler answers it.
//!
//! The per-job audit and a job's timeline must survive a `kill -9` of the handler: whatever the
//! host settles (completes, abandons, dead-letters) on the strength of an answer must already be
//! in Application Insights. So `ProcessJob` waits for [`Flusher::flush`] before it answers, as an
//! outbox is written before a message is acknowledged. Flushes are group commits: one export at
//! a time, and every invocation that recorded before an export started is covered by it, so
//! concurrent invocations share one round trip to the ingestion endpoint.
//!
//! Export must never hold a job hostage: an invocation waits at most [`WAIT`] for its flush. A
//! flush that fails or times out (the endpoint is down: the exporter retries for about half a
//! minute) turns the waits off for [`PAUSE`]; meanwhile telemetry goes out on the pipelines' own
//! schedule, as before, and a crash can lose what they hold.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
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

    /// A flusher of both pipelines.
    pub fn new(tracer: SdkTracerProvider, meter: SdkMeterProvider) -> Self {
        Self {
            inner: Some(Arc::new(Inner {
                tracer,
                meter,
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
        // On a thread of its own, not `spawn_blocking`: a flush stuck in the exporter's retries
        // must not hold up the runtime's shutdown, which waits for every blocking task.
        let providers = self.clone();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("telemetry-flush".into())
            .spawn(move || {
                let _ = tx.send((
                    providers.tracer.force_flush(),
                    providers.meter.force_flush(),
                ));
            })
            .map_err(|e| format!("cannot start the flush thread: {e}"))?;
        let flushed = rx.await;
        match flushed {
            Ok((Ok(()), Ok(()))) => {
                self.covered.fetch_max(upto, Ordering::SeqCst);
                Ok(())
            }
            Ok((spans, metrics)) => Err(format!(
                "spans: {:?}, metrics: {:?}",
                spans.err(),
                metrics.err()
            )),
            Err(_) => Err("the flush thread ended without an answer".to_owned()),
        }
    }
}
