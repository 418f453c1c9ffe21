//! `ProcessJob`: Service Bus trigger `msg` on the `jobs` queue.
//!
//! Parses the envelope, simulates the work, and injects chaos. A 2xx answer makes the runtime
//! complete the message; a non-2xx answer fails the invocation, so the runtime abandons the
//! message and the broker redelivers it with `DeliveryCount + 1`, dead-lettering it after the
//! queue's `MaxDeliveryCount`. A poison message (not an envelope, an unknown envelope version or
//! job type, a payload its job type schema now rejects) fails fast on every delivery, without the
//! simulated work, until it is dead-lettered.
//!
//! In backoff mode (`RETRY_BACKOFF=on`, the default) a simulated (transient) failure is instead
//! rescheduled with a delay through the Service Bus REST API and the original completed (see
//! [`crate::retry`]); when that send fails, or the attempts are used up, the failure goes to the
//! broker as above.

use std::time::Instant;

use axum::extract::State;
use chrono::Utc;
use jobs::JobEnvelope;
use tracing::{Instrument as _, debug, error, info, info_span, warn};
use wire::{InvocationResponse, ServiceBusMessage};

use crate::invocation::{Completed, Failure, Invocation};
use crate::problem::Problem;
use crate::retry::ScheduleError;
use crate::state::AppState;
use crate::telemetry::{FailureKind, TenantAudit};

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

/// Process one delivery of one message, recording its span and metrics.
pub async fn process(
    state: &AppState,
    message: &ServiceBusMessage,
    invocation_id: &str,
) -> Result<Completed, Failure> {
    let started = Instant::now();
    let delivery = message.metadata.delivery_count.unwrap_or(1);
    let message_id = message.metadata.message_id.as_deref().unwrap_or("-");
    let parsed = JobEnvelope::parse(&message.body);
    let envelope = parsed.as_ref().ok();
    let trace = envelope.and_then(JobEnvelope::trace_context);
    let span = state
        .telemetry()
        .process_span(invocation_id, message_id, delivery, trace.as_ref());

    let outcome = attempt(
        state,
        parsed.as_ref().map_err(ToString::to_string),
        delivery,
    )
    .await;
    let job_type = envelope.map_or("unknown", |e| e.job_type.as_str());
    let tenant_id = envelope.map_or("unknown", |e| e.tenant_id.as_str());
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let metrics = state.telemetry().metrics();
    let (kind, detail) = match outcome {
        Ok(envelope) => {
            metrics.tenant_audit(
                tenant_id,
                TenantAudit::of(delivery, state.max_delivery_count(), true),
            );
            metrics.attempt(job_type, delivery, None, latency_ms);
            span.finish(Some(envelope), None);
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
            return Ok(response.into());
        }
        Err(failure) => failure,
    };
    metrics.attempt(job_type, delivery, Some(kind), latency_ms);
    span.finish(envelope, Some((kind.as_str(), detail.clone())));

    // Backoff mode: a transient failure is rescheduled, and the original completed.
    if let (FailureKind::Simulated, Some(envelope), Some(retry)) = (kind, envelope, state.retry()) {
        match retry.reschedule(envelope, Utc::now()).await {
            Ok(scheduled) => {
                metrics.tenant_audit(tenant_id, TenantAudit::rescheduled(delivery));
                metrics.retry_scheduled(job_type, scheduled.attempt);
                info!(job_id = %envelope.job_id, attempt = scheduled.attempt, delay_ms = scheduled.delay.as_millis() as u64, scheduled_for = %scheduled.at, message_id = %scheduled.message_id, "transient failure: job rescheduled with backoff");
                let mut response = InvocationResponse::default();
                response.log(format!(
                    "{detail}; rescheduled as attempt {} ({}) for {} (backoff {} ms)",
                    scheduled.attempt,
                    scheduled.message_id,
                    scheduled.at.to_rfc3339(),
                    scheduled.delay.as_millis()
                ));
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

    let audit = TenantAudit::of(delivery, state.max_delivery_count(), false);
    metrics.tenant_audit(tenant_id, audit);
    if audit.dead_lettered {
        warn!(
            tenant_id,
            delivery_count = delivery,
            message_id,
            "last allowed delivery failed: the broker dead-letters this message"
        );
    }
    Err(match kind {
        FailureKind::Simulated => Failure(Problem::new(
            "simulated-crash",
            "Simulated transient failure",
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            detail,
        )),
        FailureKind::Exhausted => Failure(Problem::new(
            "attempts-exhausted",
            "Retry attempts exhausted",
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            detail,
        )),
        FailureKind::Poison | FailureKind::Validation => poison(message_id, delivery, &detail),
    })
}

/// The attempt itself: checks, simulated work, chaos. Answers the envelope it completed.
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

    // A zero-length tokio sleep still waits for the next timer tick (about 1 ms): skip it.
    if !state.processing_delay().is_zero() {
        tokio::time::sleep(state.processing_delay()).await;
    }

    // Each try of a job draws its own chaos outcome: a rescheduled copy starts again at delivery
    // 1, so the attempt is part of the key (attempt 1 keeps the plain delivery count).
    let try_number = delivery.saturating_add(envelope.attempt() - 1);
    if state
        .chaos()
        .should_fail(&envelope.job_id.to_string(), try_number)
    {
        error!(job_id = %envelope.job_id, delivery_count = delivery, attempt = envelope.attempt(), "simulated crash: job {} failed on attempt {}, delivery {delivery}", envelope.job_id, envelope.attempt());
        let detail = format!(
            "simulated crash: job {} on attempt {}, delivery {delivery} (chaos rate {})",
            envelope.job_id,
            envelope.attempt(),
            state.chaos().rate()
        );
        return Err((FailureKind::Simulated, detail));
    }
    Ok(envelope)
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
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        format!("poison message {message_id} (delivery {delivery}): {reason}"),
    ))
}
