//! `ProcessJob`: Service Bus trigger `msg` on the `jobs` queue.
//!
//! Parses the envelope, simulates the work, and injects chaos. A 2xx answer makes the runtime
//! complete the message; a non-2xx answer fails the invocation, so the runtime abandons the
//! message and the broker redelivers it with `DeliveryCount + 1`, dead-lettering it after the
//! queue's `MaxDeliveryCount`. A poison message (not an envelope, an unknown envelope version or
//! job type, a payload its job type schema now rejects) fails fast on every delivery, without the
//! simulated work, until it is dead-lettered.

use std::time::Instant;

use axum::extract::State;
use jobs::JobEnvelope;
use tracing::{Instrument as _, error, info, info_span, warn};
use wire::{InvocationResponse, ServiceBusMessage};

use crate::invocation::{Completed, Failure, Invocation};
use crate::problem::Problem;
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
    let audit = TenantAudit::of(delivery, state.max_delivery_count(), outcome.is_ok());
    metrics.tenant_audit(tenant_id, audit);
    if audit.dead_lettered {
        warn!(
            tenant_id,
            delivery_count = delivery,
            message_id,
            "last allowed delivery failed: the broker dead-letters this message"
        );
    }
    match outcome {
        Ok(envelope) => {
            metrics.attempt(job_type, delivery, None, latency_ms);
            span.finish(Some(envelope), None);
            info!(job_id = %envelope.job_id, job_type, tenant_id = %envelope.tenant_id, delivery_count = delivery, latency_ms, "job completed");
            let mut response = InvocationResponse::default();
            response.log(format!(
                "Processed job {} (type {} v{}, tenant {}, correlation {}) on delivery {delivery} in {latency_ms:.1} ms",
                envelope.job_id,
                envelope.job_type,
                envelope.job_version,
                envelope.tenant_id,
                envelope.correlation_id
            ));
            Ok(Completed(response))
        }
        Err((kind, detail)) => {
            metrics.attempt(job_type, delivery, Some(kind), latency_ms);
            span.finish(envelope, Some((kind.as_str(), detail.clone())));
            Err(match kind {
                FailureKind::Simulated => Failure(Problem::new(
                    "simulated-crash",
                    "Simulated transient failure",
                    500,
                    detail,
                )),
                FailureKind::Poison | FailureKind::Validation => {
                    poison(message_id, delivery, &detail)
                }
            })
        }
    }
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

    // A zero-length tokio sleep still waits for the next timer tick (about 1 ms): skip it.
    if !state.processing_delay().is_zero() {
        tokio::time::sleep(state.processing_delay()).await;
    }

    if state
        .chaos()
        .should_fail(&envelope.job_id.to_string(), delivery)
    {
        error!(job_id = %envelope.job_id, delivery_count = delivery, "simulated crash: job {} failed on delivery {delivery}", envelope.job_id);
        let detail = format!(
            "simulated crash: job {} on delivery {delivery} (chaos rate {})",
            envelope.job_id,
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
        500,
        format!("poison message {message_id} (delivery {delivery}): {reason}"),
    ))
}
