//! `IngestJob`: HTTP trigger `req`, HTTP output `res`, Service Bus output `job`.
//!
//! Validates the request and the job, then answers the client `202 Accepted` and hands exactly one
//! job envelope to the `job` output binding; the host sends it to the queue. A rejected request
//! sets no `job` output, so nothing is enqueued.

mod accept;
pub mod rejection;

pub use accept::{HOST_MESSAGE_OVERHEAD, host_message_bytes};

use axum::extract::State;
use jobs::{JobEnvelope, TraceContext};
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use tracing::{debug, warn};
use wire::{HttpRequestData, HttpResponseData, TypedInvocationResponse};

use crate::invocation::{Completed, Failure, Invocation};
use crate::protect::client_key;
use crate::state::AppState;
use accept::{Rejected, accept};
pub use rejection::Rejection;

/// Name of the HTTP trigger binding in `IngestJob/function.json`.
pub const TRIGGER: &str = "req";
/// Name of the HTTP output binding.
pub const HTTP_OUT: &str = "res";
/// Name of the Service Bus output binding.
pub const QUEUE_OUT: &str = "job";

/// Request header a client may set to choose the correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// `POST /IngestJob`.
pub async fn handle(
    State(state): State<AppState>,
    invocation: Invocation,
) -> Result<Completed, Failure> {
    let req = invocation.request.http_trigger(TRIGGER)?;
    Ok(Completed::new(ingest(&state, &req, &invocation.id)))
}

/// The `IngestJob` outputs: `res` always, `job` only for an accepted job. Serialised as the
/// `Outputs` object keyed by the binding names, with the envelope written straight into it.
#[derive(Debug)]
pub struct IngestOutputs {
    /// The HTTP response for the client.
    pub res: HttpResponseData,
    /// The envelope to enqueue, if the job was accepted.
    pub job: Option<JobEnvelope>,
}

impl Serialize for IngestOutputs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + usize::from(self.job.is_some())))?;
        map.serialize_entry(HTTP_OUT, &self.res)?;
        if let Some(job) = &self.job {
            map.serialize_entry(QUEUE_OUT, job)?;
        }
        map.end()
    }
}

/// The whole `IngestJob` decision for one request: the invocation response to give the host.
///
/// Console lines carry the invocation id as a field (no per-request `tracing` span: formatting
/// one for every request costs more than the few lines that would use it).
pub fn ingest(
    state: &AppState,
    req: &HttpRequestData,
    invocation_id: &str,
) -> TypedInvocationResponse<IngestOutputs> {
    let telemetry = state.telemetry();
    let client_trace = req.header("traceparent").and_then(TraceContext::parse);
    let span = telemetry.ingest_span(invocation_id, client_trace.as_ref());
    let client = client_key(req, state.protection().client_ip_hops());
    match accept(state, req, &client, &span) {
        Ok((envelope, response)) => {
            telemetry
                .metrics()
                .ingestion_start(&envelope.job_type, envelope.job_version);
            if let Some(reason) = envelope.suspicion_reason.as_deref() {
                telemetry.metrics().flagged(&envelope.job_type, "velocity");
                warn!(invocation_id, job_id = %envelope.job_id, tenant_id = %envelope.tenant_id, client = %client, reason, "job flagged as suspicious");
            }
            span.accepted(&envelope);
            let line = format!(
                "Accepted job {} (type {} v{}, tenant {}, correlation {})",
                envelope.job_id,
                envelope.job_type,
                envelope.job_version,
                envelope.tenant_id,
                envelope.correlation_id
            );
            // The host records `Logs` as the invocation's log (with its invocation id), so the
            // console repeats a per-job success only at debug: each line would otherwise reach
            // Application Insights twice. Rejections and failures stay on the console.
            debug!(invocation_id, job_id = %envelope.job_id, job_type = %envelope.job_type, tenant_id = %envelope.tenant_id, correlation_id = %envelope.correlation_id, "job accepted");
            TypedInvocationResponse::new(
                IngestOutputs {
                    res: response,
                    job: Some(envelope),
                },
                vec![line],
            )
        }
        Err(Rejected {
            rejection,
            correlation_id,
        }) => {
            let problem = rejection.to_problem(path_of(&req.url), correlation_id);
            let status = problem.status.as_u16();
            telemetry.metrics().rejected(status, problem.reason());
            span.rejected(status, problem.reason());
            warn!(invocation_id, client = %client, status, kind = %problem.kind, detail = %problem.detail, "job rejected");
            let line = format!("Rejected request with {status}: {}", problem.detail);
            TypedInvocationResponse::new(
                IngestOutputs {
                    res: rejection.to_response(&problem),
                    job: None,
                },
                vec![line],
            )
        }
    }
}

/// Path part of the request URL, for the problem's `instance`.
fn path_of(url: &str) -> Option<String> {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
    let path = path.split(['?', '#']).next().unwrap_or("/");
    Some(path.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_is_the_path() {
        assert_eq!(
            path_of("https://app.azurewebsites.net/api/IngestJob?code=x").as_deref(),
            Some("/api/IngestJob")
        );
        assert_eq!(path_of("http://localhost:7071").as_deref(), Some("/"));
    }
}
