//! Chaos as a layer: deliberate transient failures around any job's work, at `CHAOS_FAILURE_RATE`.
//!
//! The work runs first (a crash after doing the work is the case retries must survive); then, if
//! it succeeded, the chaos draw may fail the attempt anyway. A failure of the work itself passes
//! through untouched.

use std::sync::Arc;

use jobs::{Chaos, JobContext};
use serde_json::Value;
use tracing::error;

use super::{Failed, Run, Work};
use crate::telemetry::FailureKind;

/// `inner`, failing on purpose at the chaos rate.
pub struct Chaotic {
    inner: Arc<dyn Work>,
    chaos: Chaos,
}

impl Chaotic {
    /// Wrap `inner`; the layer for [`super::Workers::layer`].
    pub fn layer(chaos: Chaos) -> impl Fn(Arc<dyn Work>) -> Arc<dyn Work> {
        move |inner| Arc::new(Self { inner, chaos })
    }
}

impl Work for Chaotic {
    fn run<'a>(&'a self, payload: &'a Value, cx: &'a JobContext) -> Run<'a> {
        Box::pin(async move {
            self.inner.run(payload, cx).await?;
            // Each try of a job draws its own outcome: a rescheduled copy starts again at
            // delivery 1, so the attempt is part of the key (attempt 1 keeps the plain delivery).
            let try_number = cx.delivery_count.saturating_add(cx.attempt.max(1) - 1);
            if !self.chaos.should_fail(&cx.job_id.to_string(), try_number) {
                return Ok(());
            }
            let (job_id, attempt, delivery) = (cx.job_id, cx.attempt, cx.delivery_count);
            error!(%job_id, delivery_count = delivery, attempt, "simulated crash: job {job_id} failed on attempt {attempt}, delivery {delivery}");
            Err(Failed {
                kind: FailureKind::Simulated,
                reason: format!(
                    "simulated crash: job {job_id} on attempt {attempt}, delivery {delivery} (chaos rate {})",
                    self.chaos.rate()
                ),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::work::Workers;
    use crate::work::tests::{Echo, context};
    use serde_json::json;

    fn workers(rate: f64) -> Workers {
        let chaos = Chaos::new(rate, Some(7)).unwrap();
        Workers::default()
            .register(Echo)
            .layer(Chaotic::layer(chaos))
    }

    /// `echo` on `input` through chaos at `rate`.
    async fn run_echo(rate: f64, input: &serde_json::Value) -> Result<(), Failed> {
        workers(rate)
            .get("echo")
            .unwrap()
            .run(input, &context())
            .await
    }

    #[tokio::test]
    async fn fails_successful_work_at_the_rate_and_passes_failures_through() {
        let done = json!({"outcome": "done"});
        let failed = run_echo(1.0, &done).await.unwrap_err();
        assert_eq!(failed.kind, FailureKind::Simulated);
        assert!(
            failed.reason.contains("attempt 2, delivery 1"),
            "{failed:?}"
        );
        // The work's own failure is not replaced by chaos.
        let never = json!({"outcome": "never"});
        let failed = run_echo(1.0, &never).await.unwrap_err();
        assert_eq!(failed.kind, FailureKind::Permanent);
        assert_eq!(run_echo(0.0, &done).await, Ok(()));
    }
}
