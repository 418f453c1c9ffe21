//! `ProcessJob`: Service Bus trigger `msg` on the `jobs` queue.
//!
//! Parses the envelope and runs its job type's work ([`crate::work`]: the job's [`jobs::Job`]
//! under the chaos layer). A 2xx answer makes the runtime complete the message; a non-2xx answer
//! fails the invocation, so the runtime abandons the message and the broker redelivers it with
//! `DeliveryCount + 1`, dead-lettering it after the queue's `MaxDeliveryCount`. A poison message
//! (not an envelope, an unknown envelope version or job type, a payload its job type schema now
//! rejects) fails fast on every delivery, without the work, until it is dead-lettered. So does a
//! job whose work failed permanently: it is never retried, and a redelivery of it to this
//! instance fails without running the work again.
//!
//! In backoff mode (`RETRY_BACKOFF=on`, the default) a transient failure (the job's own or a
//! simulated one) is instead rescheduled with a delay through the Service Bus REST API and the
//! original completed (see [`crate::retry`]); when that send fails, or the attempts are used up,
//! the failure goes to the broker as above.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use jobs::{JobContext, JobEnvelope};
use tracing::{Instrument as _, debug, info, info_span, warn};
use wire::{InvocationResponse, ServiceBusMessage};

use crate::invocation::{Completed, Failure, Invocation};
use crate::problem::Problem;
use crate::resubmission::resubmission;
use crate::retry::ScheduleError;
use crate::state::AppState;
use crate::telemetry::{AttemptEnd, FailureKind, JobAudit};

/// The trigger `Metadata` keys this handler relies on. The host lets a JSON body's top-level
/// members overwrite same-named metadata, ignoring case (`Utility.ApplyBindingData`), so none of
/// these may be an envelope field name (`correlationId` does shadow `CorrelationId`, which is
/// why the envelope's own field is read instead); `SequenceNumber` is decoded as an integer on
/// every delivery, so it must not be shadowed either. A test holds the envelope to this list.
pub const METADATA_KEYS_READ: [&str; 3] = ["DeliveryCount", "MessageId", "SequenceNumber"];

/// Name of the Service Bus trigger binding in `ProcessJob/function.json`.
pub const TRIGGER: &str = "msg";

/// `POST /ProcessJob`.
pub async fn handle(
    State(state): State<AppState>,
    invocation: Invocation,
) -> Result<Completed, Failure> {
    let message = invocation.request.service_bus_trigger(TRIGGER)?;
    let delivery = message.metadata.delivery_count.unwrap_or(1);
    let span = info_span!(
        "ProcessJob",
        invocation_id = %invocation.id,
        message_id = message.metadata.message_id.as_deref().unwrap_or("-"),
        delivery_count = delivery,
    );
    process(&state, &message, &invocation.id)
        .instrument(span)
        .await
}

/// Process one delivery of one message, recording its span and metrics. The telemetry is
/// exported before the answer (see [`crate::telemetry::Flusher`]).
pub async fn process(
    state: &AppState,
    message: &ServiceBusMessage,
    invocation_id: &str,
) -> Result<Completed, Failure> {
    let started = Instant::now();
    let delivery = message.metadata.delivery_count.unwrap_or(1);
    let message_id = message.metadata.message_id.as_deref().unwrap_or("-");
    let resubmitted = resubmission(&message.metadata);
    let parsed = JobEnvelope::parse(&message.body);
    let envelope = parsed.as_ref().ok();
    let trace = envelope.and_then(JobEnvelope::trace_context);
    let span = state
        .telemetry()
        .process_span(invocation_id, message_id, delivery, trace.as_ref());
    span.resubmission(resubmitted.as_ref());

    let outcome = attempt(
        state,
        parsed.as_ref().map_err(ToString::to_string),
        delivery,
    )
    .await;
    let job_type = envelope.map_or("unknown", |e| e.job_type.as_str());
    let tenant_id = envelope.map_or("unknown", |e| e.tenant_id.as_str());
    let copy = envelope.map_or(1, JobEnvelope::attempt);
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let metrics = state.telemetry().metrics();
    let audit = |end: AttemptEnd, failure: Option<FailureKind>| {
        let audit = JobAudit::of(copy, resubmitted.is_some(), end);
        metrics.job_audit(tenant_id, job_type, audit, failure);
    };
    let (kind, detail) = match outcome {
        Ok(envelope) => {
            audit(AttemptEnd::Completed, None);
            metrics.attempt(job_type, delivery, None, latency_ms);
            span.finish(Some(envelope), None, AttemptEnd::Completed);
            // In `Logs` below; on the console only at debug (see `ingest`).
            debug!(job_id = %envelope.job_id, job_type, tenant_id = %envelope.tenant_id, delivery_count = delivery, attempt = envelope.attempt(), latency_ms, "job completed");
            let mut response = InvocationResponse::default();
            response.log(format!(
                "Processed job {} (type {} v{}, tenant {}, correlation {}) on attempt {}, delivery {delivery} in {latency_ms:.1} ms",
                envelope.job_id,
                envelope.job_type,
                envelope.job_version,
                envelope.tenant_id,
                envelope.correlation_id,
                envelope.attempt()
            ));
            state.telemetry().flush().await;
            return Ok(response.into());
        }
        Err(failure) => failure,
    };
    metrics.attempt(job_type, delivery, Some(kind), latency_ms);

    // Backoff mode: a transient failure is rescheduled, and the original completed.
    let transient = matches!(kind, FailureKind::Simulated | FailureKind::Transient);
    if let (true, Some(envelope), Some(retry)) = (transient, envelope, state.retry()) {
        match retry
            .reschedule(envelope, message.metadata.message_id.as_deref(), Utc::now())
            .await
        {
            Ok(scheduled) => {
                audit(AttemptEnd::Rescheduled, Some(kind));
                metrics.retry_scheduled(job_type, scheduled.attempt);
                span.rescheduled(&scheduled);
                span.finish(
                    Some(envelope),
                    Some((kind.as_str(), detail.clone())),
                    AttemptEnd::Rescheduled,
                );
                info!(job_id = %envelope.job_id, attempt = scheduled.attempt, delay_ms = scheduled.delay.as_millis() as u64, scheduled_for = %scheduled.at, message_id = %scheduled.message_id, "transient failure: job rescheduled with backoff");
                let mut response = InvocationResponse::default();
                response.log(format!(
                    "{detail}; rescheduled as attempt {} ({}) for {} (backoff {} ms)",
                    scheduled.attempt,
                    scheduled.message_id,
                    scheduled.at.to_rfc3339(),
                    scheduled.delay.as_millis()
                ));
                state.telemetry().flush().await;
                return Ok(response.into());
            }
            Err(ScheduleError::Off) => {}
            Err(e @ ScheduleError::Exhausted { .. }) => {
                warn!(job_id = %envelope.job_id, delivery_count = delivery, "{e}: leaving the message to the broker, which dead-letters it after MaxDeliveryCount");
            }
            Err(e) => {
                warn!(job_id = %envelope.job_id, delivery_count = delivery, error = %e, "could not reschedule: failing so the broker redelivers the message");
            }
        }
    }

    let end = AttemptEnd::failed(delivery, state.max_delivery_count());
    audit(end, Some(kind));
    span.finish(envelope, Some((kind.as_str(), detail.clone())), end);
    if end == AttemptEnd::DeadLettered {
        warn!(
            tenant_id,
            delivery_count = delivery,
            message_id,
            "last allowed delivery failed: the broker dead-letters this message"
        );
    }
    let problem = |slug, title| {
        Failure(Problem::new(
            slug,
            title,
            StatusCode::INTERNAL_SERVER_ERROR,
            detail.clone(),
        ))
    };
    let failure = match kind {
        FailureKind::Simulated => problem("simulated-crash", "Simulated transient failure"),
        FailureKind::Transient => problem("transient-failure", "Transient failure"),
        FailureKind::Exhausted => problem("attempts-exhausted", "Retry attempts exhausted"),
        FailureKind::Permanent => {
            warn!(
                message_id,
                delivery_count = delivery,
                reason = %detail,
                "permanent failure: never retried; failing every delivery until the broker dead-letters the message"
            );
            problem("permanent-failure", "Permanent failure")
        }
        FailureKind::Poison | FailureKind::Validation => poison(message_id, delivery, &detail),
    };
    state.telemetry().flush().await;
    Err(failure)
}

/// The attempt itself: checks, then the job type's work (chaos layered on). Answers the envelope
/// it completed.
async fn attempt<'a>(
    state: &AppState,
    envelope: Result<&'a JobEnvelope, String>,
    delivery: u32,
) -> Result<&'a JobEnvelope, (FailureKind, String)> {
    let envelope = envelope.map_err(|reason| (FailureKind::Poison, reason))?;
    let Some(job_type) = state
        .registry()
        .get(&envelope.job_type, Some(envelope.job_version))
    else {
        let reason = format!(
            "unknown job type \"{}\" v{}",
            envelope.job_type, envelope.job_version
        );
        return Err((FailureKind::Poison, reason));
    };
    let violations = job_type.violations(&envelope.payload, "/payload");
    if let Some(first) = violations.first() {
        let reason = format!(
            "payload no longer satisfies {} v{}: {} at {} ({} violation(s))",
            envelope.job_type,
            envelope.job_version,
            first.detail,
            first.pointer,
            violations.len()
        );
        return Err((FailureKind::Validation, reason));
    }

    if let Some(retry) = state.retry().filter(|r| r.fail_fast(envelope, delivery)) {
        let reason = format!(
            "job {} already failed its last attempt ({} of {}): failing fast until the broker dead-letters it",
            envelope.job_id,
            envelope.attempt(),
            retry.backoff().max_attempts()
        );
        return Err((FailureKind::Exhausted, reason));
    }

    // A permanent failure of this very copy, seen here before: fail fast, without the work.
    if let Some(reason) = state.verdicts().recall(envelope.job_id, envelope.attempt()) {
        return Err((
            FailureKind::Permanent,
            format!("{reason} (failing fast: an earlier delivery of this copy failed for good)"),
        ));
    }
    let Some(work) = state.workers().get(&envelope.job_type) else {
        let reason = format!(
            "job type \"{}\" has no work in this build",
            envelope.job_type
        );
        return Err((FailureKind::Poison, reason));
    };
    let cx = JobContext::of(envelope, delivery);
    match work.run(&envelope.payload, &cx).await {
        Ok(()) => Ok(envelope),
        Err(failed) => {
            if failed.kind == FailureKind::Permanent {
                state
                    .verdicts()
                    .remember(envelope.job_id, envelope.attempt(), &failed.reason);
            }
            Err((failed.kind, failed.reason))
        }
    }
}

fn poison(message_id: &str, delivery: u32, reason: &str) -> Failure {
    warn!(
        message_id,
        delivery_count = delivery,
        reason,
        "poison message: failing fast so the runtime dead-letters it after MaxDeliveryCount"
    );
    Failure(Problem::new(
        "poison-message",
        "Message can never be processed",
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("poison message {message_id} (delivery {delivery}): {reason}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_envelope_field_shadows_a_metadata_key_the_handler_reads() {
        let job = jobs::ValidatedJob {
            tenant_id: "t".into(),
            job_type: "report".into(),
            job_version: 1,
            payload: serde_json::json!({"rows": 1}),
        };
        let mut envelope = JobEnvelope::new(
            uuid::Uuid::now_v7(),
            job,
            "c".into(),
            &jobs::TraceContext::new_root(),
            Utc::now(),
        );
        envelope.flag("every optional field set");
        let fields = serde_json::to_value(&envelope).unwrap();
        let fields = fields.as_object().unwrap();
        assert!(
            fields
                .keys()
                .any(|k| k.eq_ignore_ascii_case("correlationId"))
        );
        for key in METADATA_KEYS_READ {
            assert!(
                !fields.keys().any(|k| k.eq_ignore_ascii_case(key)),
                "envelope field {key:?} would overwrite the trigger's {key} metadata"
            );
        }
    }
}
