//! `ProcessJob`: Service Bus trigger `msg` on the `jobs` queue.
//!
//! Parses the envelope, simulates the work, and injects chaos. A 2xx answer makes the runtime
//! complete the message; a non-2xx answer fails the invocation, so the runtime abandons the
//! message and the broker redelivers it with `DeliveryCount + 1`, dead-lettering it after the
//! queue's `MaxDeliveryCount`. A poison message (not an envelope, an unknown envelope version or
//! job type) fails fast on every delivery, without the simulated work, until it is dead-lettered.

use std::time::Instant;

use axum::extract::State;
use jobs::JobEnvelope;
use tracing::{Instrument as _, error, info, info_span, warn};
use wire::{InvocationResponse, ServiceBusMessage};

use crate::invocation::{Completed, Failure, Invocation};
use crate::problem::Problem;
use crate::state::AppState;

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
    process(&state, &message).instrument(span).await
}

/// Process one delivery of one message.
pub async fn process(state: &AppState, message: &ServiceBusMessage) -> Result<Completed, Failure> {
    let started = Instant::now();
    let delivery = message.metadata.delivery_count.unwrap_or(1);
    let message_id = message.metadata.message_id.as_deref().unwrap_or("-");

    let envelope = JobEnvelope::parse(&message.body)
        .map_err(|e| poison(message_id, delivery, &e.to_string()))?;
    if state
        .registry()
        .get(&envelope.job_type, Some(envelope.job_version))
        .is_none()
    {
        let reason = format!(
            "unknown job type \"{}\" v{}",
            envelope.job_type, envelope.job_version
        );
        return Err(poison(message_id, delivery, &reason));
    }

    tokio::time::sleep(state.processing_delay()).await;

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
        return Err(Failure(Problem::new(
            "simulated-crash",
            "Simulated transient failure",
            500,
            detail,
        )));
    }

    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    info!(job_id = %envelope.job_id, job_type = %envelope.job_type, tenant_id = %envelope.tenant_id, delivery_count = delivery, elapsed_ms, "job completed");
    let mut response = InvocationResponse::default();
    response.log(format!(
        "Processed job {} (type {} v{}, tenant {}, correlation {}) on delivery {delivery} in {elapsed_ms:.1} ms",
        envelope.job_id, envelope.job_type, envelope.job_version, envelope.tenant_id, envelope.correlation_id
    ));
    Ok(Completed(response))
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
