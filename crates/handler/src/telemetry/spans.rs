//! The job's distributed trace.
//!
//! One trace (Application Insights operation) per job: the client's `traceparent` if it sent one,
//! else a new trace started by `IngestJob`. Its spans:
//!
//! * `IngestJob` (internal; the host already writes the request row for the invocation);
//! * `jobs send` (producer, child of `IngestJob`): the hand-off to the queue through the output
//!   binding. Its context is the envelope's `traceparent`, so every processing attempt is its child;
//! * `ProcessJob` (consumer, an Application Insights request) for each delivery, whose parent is the
//!   envelope's `traceparent`, with the delivery count and outcome.

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::SdkTracer;

use jobs::{JobEnvelope, TraceContext};

use super::Instruments;
use super::metrics::AttemptEnd;
use crate::resubmission::Resubmission;
use crate::retry::Scheduled;

/// Name of the queue the envelope goes to (the `job` output binding's `queueName`).
const QUEUE: &str = "jobs";

/// The `IngestJob` span of one invocation.
#[derive(Debug)]
pub struct IngestSpan {
    cx: Context,
    tracer: SdkTracer,
}

/// The `ProcessJob` span of one delivery.
#[derive(Debug)]
pub struct ProcessSpan {
    cx: Context,
}

impl Instruments {
    /// Start the `IngestJob` span, under the client's trace if it sent a `traceparent`.
    pub fn ingest_span(
        &self,
        invocation_id: &str,
        client_parent: Option<&TraceContext>,
    ) -> IngestSpan {
        let attributes = [KeyValue::new(
            "faas.invocation_id",
            invocation_id.to_owned(),
        )];
        IngestSpan {
            cx: self.start("IngestJob", SpanKind::Internal, attributes, client_parent),
            tracer: self.tracer.clone(),
        }
    }

    /// Start the `ProcessJob` span of a delivery, under the envelope's trace when there is one.
    pub fn process_span(
        &self,
        invocation_id: &str,
        message_id: &str,
        delivery_count: u32,
        parent: Option<&TraceContext>,
    ) -> ProcessSpan {
        let attributes = [
            KeyValue::new("faas.invocation_id", invocation_id.to_owned()),
            KeyValue::new("messaging.system", "servicebus"),
            KeyValue::new("messaging.destination.name", QUEUE),
            KeyValue::new("messaging.operation.type", "process"),
            KeyValue::new("messaging.message.id", message_id.to_owned()),
            KeyValue::new(
                "messaging.servicebus.message.delivery_count",
                i64::from(delivery_count),
            ),
        ];
        ProcessSpan {
            cx: self.start("ProcessJob", SpanKind::Consumer, attributes, parent),
        }
    }

    /// Start span `name` under the remote `parent` (in a new trace without one); its context.
    fn start(
        &self,
        name: &'static str,
        kind: SpanKind,
        attributes: impl IntoIterator<Item = KeyValue>,
        parent: Option<&TraceContext>,
    ) -> Context {
        let parent = remote_parent(parent);
        let span = self
            .tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        parent.with_span(span)
    }
}

impl IngestSpan {
    /// The trace context for the envelope: a `jobs send` producer span under this one, ended at
    /// once (the host sends the message after the handler answers).
    pub fn publish(&self, job_id: &str) -> TraceContext {
        let mut send = self
            .tracer
            .span_builder(format!("{QUEUE} send"))
            .with_kind(SpanKind::Producer)
            .with_attributes([
                KeyValue::new("messaging.system", "servicebus"),
                KeyValue::new("messaging.destination.name", QUEUE),
                KeyValue::new("messaging.operation.type", "send"),
                KeyValue::new("messaging.message.id", job_id.to_owned()),
            ])
            .start_with_context(&self.tracer, &self.cx);
        let context = to_trace_context(send.span_context());
        send.end();
        context
    }

    /// End the span for an accepted job.
    pub fn accepted(self, envelope: &JobEnvelope) {
        let span = self.cx.span();
        span.set_attributes(job_attributes(envelope));
        span.set_attribute(KeyValue::new("http.response.status_code", 202));
        span.end();
    }

    /// End the span for a rejected request (a client error, not a failure of the service).
    pub fn rejected(self, status: u16, reason: &str) {
        let span = self.cx.span();
        span.set_attribute(KeyValue::new(
            "http.response.status_code",
            i64::from(status),
        ));
        span.set_attribute(KeyValue::new("job.rejection", reason.to_owned()));
        span.end();
    }
}

impl ProcessSpan {
    /// Note that the delivered message is a resubmitted copy of a dead letter.
    pub fn resubmission(&self, resubmission: Option<&Resubmission>) {
        let Some(r) = resubmission else {
            return;
        };
        let span = self.cx.span();
        span.set_attribute(KeyValue::new("job.resubmitted", true));
        if let Some(from) = &r.from {
            span.set_attribute(KeyValue::new("job.resubmitted_from", from.clone()));
        }
        if let Some(seq) = r.sequence {
            span.set_attribute(KeyValue::new("job.resubmitted_from_sequence", seq));
        }
    }

    /// Note the backoff copy sent for the next attempt.
    pub fn rescheduled(&self, scheduled: &Scheduled) {
        let span = self.cx.span();
        span.set_attributes([
            KeyValue::new("job.retry.attempt", i64::from(scheduled.attempt)),
            KeyValue::new(
                "job.retry.delay_ms",
                i64::try_from(scheduled.delay.as_millis()).unwrap_or(i64::MAX),
            ),
            KeyValue::new(
                "job.retry.scheduled_for",
                scheduled
                    .at
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            ),
            KeyValue::new("job.retry.message_id", scheduled.message_id.clone()),
        ]);
    }

    /// End the span: `failure` carries the failure kind and reason when the attempt failed;
    /// `end` is how the host settles the message (`job.end`), with the dead-letter reason the
    /// broker gives when it dead-letters it.
    pub fn finish(
        self,
        envelope: Option<&JobEnvelope>,
        failure: Option<(&str, String)>,
        end: AttemptEnd,
    ) {
        let span = self.cx.span();
        if let Some(envelope) = envelope {
            span.set_attributes(job_attributes(envelope));
            span.set_attribute(KeyValue::new("job.attempt", i64::from(envelope.attempt())));
        }
        span.set_attribute(KeyValue::new("job.end", end.as_str()));
        if end == AttemptEnd::DeadLettered {
            // Service Bus's reason for a message abandoned on its last allowed delivery.
            span.set_attribute(KeyValue::new(
                "job.dead_letter_reason",
                "MaxDeliveryCountExceeded",
            ));
        }
        match failure {
            None => {
                span.set_attribute(KeyValue::new("http.response.status_code", 200));
                span.set_status(Status::Ok);
            }
            Some((kind, reason)) => {
                span.set_attribute(KeyValue::new("http.response.status_code", 500));
                span.set_attribute(KeyValue::new("job.failure_kind", kind.to_owned()));
                // The exporter drops a status description: the reason goes in an attribute too.
                span.set_attribute(KeyValue::new("job.failure_reason", reason.clone()));
                span.set_status(Status::error(reason));
            }
        }
        span.end();
    }
}

fn job_attributes(envelope: &JobEnvelope) -> Vec<KeyValue> {
    vec![
        KeyValue::new("job.id", envelope.job_id.to_string()),
        KeyValue::new("job.type", envelope.job_type.clone()),
        KeyValue::new("job.version", i64::from(envelope.job_version)),
        KeyValue::new("job.tenant_id", envelope.tenant_id.clone()),
        KeyValue::new("job.correlation_id", envelope.correlation_id.clone()),
    ]
}

fn remote_parent(parent: Option<&TraceContext>) -> Context {
    match parent {
        Some(tc) => Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from_bytes(tc.trace_id),
            SpanId::from_bytes(tc.span_id),
            TraceFlags::new(tc.flags),
            true,
            TraceState::default(),
        )),
        None => Context::new(),
    }
}

fn to_trace_context(sc: &SpanContext) -> TraceContext {
    TraceContext {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        flags: sc.trace_flags().to_u8(),
    }
}
