//! Running a job's work: every [`jobs::Job`] behind one object-safe [`Work`] trait, so layers
//! (chaos) wrap any job, and [`Workers`] finds the work of a job type by name.

pub mod chaos;
pub mod verdicts;

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jobs::{Job, JobContext, Outcome};
use serde::Deserialize as _;
use serde_json::Value;

use crate::telemetry::FailureKind;

/// A boxed future of one run.
pub type Run<'a> = Pin<Box<dyn Future<Output = Result<(), Failed>> + Send + 'a>>;

/// A failed run: what kind of failure (it decides retry and metrics) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Transient, permanent, simulated (chaos), or a payload the job's type cannot read.
    pub kind: FailureKind,
    /// For logs, the failed invocation's problem and the job's telemetry.
    pub reason: String,
}

/// A job type's work with its payload still JSON: what `ProcessJob` runs and layers wrap.
pub trait Work: Send + Sync {
    /// Run once on `payload` (valid against the job type's schema).
    fn run<'a>(&'a self, payload: &'a Value, cx: &'a JobContext) -> Run<'a>;
}

/// A [`Job`] as [`Work`]: deserialises the payload into the job's type, then maps its outcome.
struct Typed<J>(J);

impl<J: Job> Work for Typed<J> {
    fn run<'a>(&'a self, payload: &'a Value, cx: &'a JobContext) -> Run<'a> {
        Box::pin(async move {
            // The schema accepted it, so a mismatch is between the schema and the Rust type: no
            // retry can fix it.
            let payload = J::Payload::deserialize(payload).map_err(|e| Failed {
                kind: FailureKind::Validation,
                reason: format!("the payload does not fit {}'s payload type: {e}", J::NAME),
            })?;
            match self.0.run(payload, cx).await {
                Outcome::Done => Ok(()),
                Outcome::Transient(reason) => Err(Failed {
                    kind: FailureKind::Transient,
                    reason,
                }),
                Outcome::Permanent(reason) => Err(Failed {
                    kind: FailureKind::Permanent,
                    reason,
                }),
            }
        })
    }
}

/// The work of every job type, by name.
#[derive(Clone, Default)]
pub struct Workers {
    by_name: BTreeMap<&'static str, Arc<dyn Work>>,
}

impl std::fmt::Debug for Workers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_name.keys()).finish()
    }
}

impl Workers {
    /// Add `job` as the work of job type [`Job::NAME`] (replacing any earlier one).
    pub fn register<J: Job>(mut self, job: J) -> Self {
        self.by_name.insert(J::NAME, Arc::new(Typed(job)));
        self
    }

    /// Wrap every job type's work in `layer`.
    pub fn layer(mut self, layer: impl Fn(Arc<dyn Work>) -> Arc<dyn Work>) -> Self {
        for work in self.by_name.values_mut() {
            *work = layer(work.clone());
        }
        self
    }

    /// The work of `job_type`.
    pub fn get(&self, job_type: &str) -> Option<&dyn Work> {
        self.by_name.get(job_type).map(|w| &**w as &dyn Work)
    }

    /// The job types with work, sorted.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_name.keys().copied()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// A job whose outcome is in its payload.
    pub(crate) struct Echo;

    #[derive(Deserialize)]
    pub(crate) struct EchoPayload {
        outcome: String,
    }

    impl Job for Echo {
        const NAME: &'static str = "echo";
        type Payload = EchoPayload;
        async fn run(&self, payload: EchoPayload, cx: &JobContext) -> Outcome {
            match payload.outcome.as_str() {
                "done" => Outcome::Done,
                "transient" => Outcome::Transient(format!("try {} later", cx.attempt)),
                _ => Outcome::Permanent("never".into()),
            }
        }
    }

    pub(crate) fn context() -> JobContext {
        JobContext {
            job_id: uuid::Uuid::now_v7(),
            tenant_id: "t".into(),
            correlation_id: "c".into(),
            job_version: 1,
            attempt: 2,
            delivery_count: 1,
        }
    }

    #[tokio::test]
    async fn outcomes_map_to_failure_kinds() {
        let workers = Workers::default().register(Echo);
        let work = workers.get("echo").unwrap();
        let cx = &context();
        let run = |outcome: &str| {
            let payload = json!({ "outcome": outcome });
            async move { work.run(&payload, cx).await }
        };
        assert_eq!(run("done").await, Ok(()));
        let transient = run("transient").await.unwrap_err();
        assert_eq!(
            (transient.kind, transient.reason.as_str()),
            (FailureKind::Transient, "try 2 later")
        );
        assert_eq!(run("x").await.unwrap_err().kind, FailureKind::Permanent);
        assert!(workers.get("other").is_none());
        assert_eq!(workers.names().collect::<Vec<_>>(), ["echo"]);
    }

    #[tokio::test]
    async fn a_payload_the_type_cannot_read_is_a_validation_failure() {
        let workers = Workers::default().register(Echo);
        let failed = workers
            .get("echo")
            .unwrap()
            .run(&json!({"outcome": 1}), &context())
            .await
            .unwrap_err();
        assert_eq!(failed.kind, FailureKind::Validation);
        assert!(failed.reason.contains("echo's payload type"), "{failed:?}");
    }
}
