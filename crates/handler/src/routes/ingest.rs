//! `IngestJob`: HTTP trigger `req`, HTTP output `res`, Service Bus output `job`.
//!
//! Validates the request and the job, then answers the client `202 Accepted` and hands exactly one
//! job envelope to the `job` output binding; the host sends it to the queue. A rejected request
//! sets no `job` output, so nothing is enqueued.

use axum::extract::State;
use chrono::{SecondsFormat, Utc};
use jobs::submission::validate_submission;
use jobs::{JobEnvelope, MAX_MESSAGE_BYTES, SubmissionError, TraceContext};
use serde::Serialize;
use serde::ser::{SerializeMap as _, Serializer};
use tracing::{debug, warn};
use uuid::Uuid;
use wire::{HttpRequestData, HttpResponseData, TypedInvocationResponse};

use crate::invocation::{Completed, Failure, Invocation};
use crate::problem::{PROBLEM_JSON, Problem};
use crate::protect::{ClientKey, Limited, Shed, client_key};
use crate::state::AppState;
use crate::telemetry::IngestSpan;

/// Name of the HTTP trigger binding in `IngestJob/function.json`.
pub const TRIGGER: &str = "req";
/// Name of the HTTP output binding.
pub const HTTP_OUT: &str = "res";
/// Name of the Service Bus output binding.
pub const QUEUE_OUT: &str = "job";
/// Bodies up to this size cannot make an envelope over [`MAX_MESSAGE_BYTES`]: see `accept`.
const EXACT_SIZE_CHECK_ABOVE: usize = 32 * 1024;

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

/// The `202 Accepted` body.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AcceptedBody<'a> {
    job_id: &'a Uuid,
    correlation_id: &'a str,
    status: &'static str,
    job_type: &'a str,
    job_version: u32,
    submitted_at: String,
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
        Err(problem) => {
            let problem = problem.at(path_of(&req.url));
            telemetry
                .metrics()
                .rejected(problem.status, problem.reason());
            span.rejected(problem.status, problem.reason());
            warn!(invocation_id, client = %client, status = problem.status, kind = %problem.kind, detail = %problem.detail, "job rejected");
            let line = format!(
                "Rejected request with {}: {}",
                problem.status, problem.detail
            );
            TypedInvocationResponse::new(
                IngestOutputs {
                    res: problem_response(&problem),
                    job: None,
                },
                vec![line],
            )
        }
    }
}

fn accept(
    state: &AppState,
    req: &HttpRequestData,
    client: &ClientKey,
    span: &IngestSpan,
) -> Result<(JobEnvelope, HttpResponseData), Problem> {
    let protection = state.protection();
    if let Err(limited) = protection.limits().check(client) {
        return Err(rate_limited(limited));
    }
    let suspicion = protection.velocity().observe(client);
    if !req.method.eq_ignore_ascii_case("POST") {
        let detail = format!("{} is not allowed here; POST a job as JSON", req.method);
        return Err(Problem::new(
            "method-not-allowed",
            "Method not allowed",
            405,
            detail,
        ));
    }
    let Some(body) = req.body.as_deref().filter(|b| !b.is_empty()) else {
        return Err(Problem::new(
            "body-required",
            "Request body required",
            400,
            "POST a job as a JSON object",
        ));
    };
    if !is_json_media_type(req.header("content-type")) {
        let found = req.header("content-type").unwrap_or("none");
        return Err(Problem::new(
            "unsupported-media-type",
            "Unsupported media type",
            415,
            format!("Content-Type must be application/json (found {found})"),
        ));
    }
    if body.len() > MAX_MESSAGE_BYTES {
        return Err(too_large(format!(
            "request body is {} bytes; the limit is {MAX_MESSAGE_BYTES} bytes (256 KiB)",
            body.len()
        )));
    }
    let correlation_id = correlation_id(req)?;
    let job = validate_submission(body.as_bytes(), state.registry()).map_err(|e| {
        let detail = e.to_string();
        let mut p = match e {
            SubmissionError::MalformedJson { .. } => {
                Problem::new("malformed-json", "Malformed JSON", 400, detail)
            }
            SubmissionError::Invalid(violations) => {
                let mut p = Problem::new("validation-failed", "The job is invalid", 400, detail);
                p.errors = violations;
                p
            }
        };
        p.correlation_id = Some(correlation_id.clone());
        p
    })?;
    if let Err(shed) = state.protection().backpressure().check(&job.job_type) {
        let mut p = overloaded(shed, &job.job_type);
        p.correlation_id = Some(correlation_id);
        return Err(p);
    }
    let job_id = Uuid::now_v7();
    let trace = span.publish(&job_id.to_string());
    let mut envelope = JobEnvelope::new(job_id, job, correlation_id, &trace, Utc::now());
    if let Some(reason) = suspicion {
        envelope.flag(reason);
    }
    // The envelope re-serialises the body's payload: it can outgrow the body (a number written
    // `9e15` comes back as `9000000000000000.0`, at most ~4.5x) but not beyond 256 KiB from a body
    // under 32 KiB, so only larger bodies pay for an exact measurement.
    let size = if body.len() <= EXACT_SIZE_CHECK_ABOVE {
        0
    } else {
        serde_json::to_vec(&envelope)
            .map(|v| v.len())
            .unwrap_or(usize::MAX)
    };
    if size > MAX_MESSAGE_BYTES {
        return Err(too_large(format!(
            "the job envelope would be {size} bytes; a queue message is limited to {MAX_MESSAGE_BYTES} bytes"
        )));
    }
    let location = format!("urn:uuid:{}", envelope.job_id);
    let body = serde_json::to_string(&AcceptedBody {
        job_id: &envelope.job_id,
        correlation_id: &envelope.correlation_id,
        status: "queued",
        job_type: &envelope.job_type,
        job_version: envelope.job_version,
        submitted_at: envelope
            .submitted_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
    })
    .map_err(|e| Problem::new("internal", "Internal error", 500, e.to_string()))?;
    let response = HttpResponseData::new(202, "application/json", body)
        .with_header("Location", location)
        .with_header("x-correlation-id", envelope.correlation_id.clone())
        .with_header("traceparent", envelope.traceparent.clone());
    Ok((envelope, response))
}

fn problem_response(problem: &Problem) -> HttpResponseData {
    let mut res = HttpResponseData::new(problem.status, PROBLEM_JSON, problem.to_json());
    if problem.status == 405 {
        res = res.with_header("Allow", "POST");
    }
    if let Some(id) = &problem.correlation_id {
        res = res.with_header("x-correlation-id", id.clone());
    }
    if let Some(secs) = problem.retry_after {
        res = res.with_header("Retry-After", secs.to_string());
    }
    res
}

/// `503` for a job shed by backpressure: the queue is deeper than its priority's threshold. The
/// detail names the depth, the threshold and the priority (it is logged with the rejection).
fn overloaded(shed: Shed, job_type: &str) -> Problem {
    let detail = format!(
        "the job queue holds {} active messages, over the {} at which {} jobs ({} priority) are shed; retry after {} s",
        shed.depth,
        shed.threshold,
        job_type,
        shed.priority.as_str(),
        shed.retry_after_secs
    );
    Problem::new("overloaded", "Service overloaded", 503, detail).retry_after(shed.retry_after_secs)
}

/// `429` for a request over a rate limit: nothing is enqueued; the client retries after the wait.
fn rate_limited(limited: Limited) -> Problem {
    let secs = limited.retry_after_secs();
    let detail = match limited {
        Limited::Client { .. } => {
            format!("too many requests from this client; retry after {secs} s")
        }
        Limited::Global { .. } => {
            format!("this instance is at its global request limit; retry after {secs} s")
        }
    };
    let slug = match limited {
        Limited::Client { .. } => "rate-limited",
        Limited::Global { .. } => "global-rate-limited",
    };
    Problem::new(slug, "Too many requests", 429, detail).retry_after(secs)
}

fn too_large(detail: String) -> Problem {
    Problem::new("payload-too-large", "Payload too large", 413, detail)
}

/// `application/json` or any `application/*+json`, parameters (charset) ignored.
fn is_json_media_type(content_type: Option<&str>) -> bool {
    let Some(value) = content_type else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The client's `x-correlation-id` if it is usable (1-128 visible ASCII characters), a new UUID if
/// absent, a 400 problem if present but unusable.
fn correlation_id(req: &HttpRequestData) -> Result<String, Problem> {
    match req.header(CORRELATION_HEADER).map(str::trim) {
        None | Some("") => Ok(Uuid::new_v4().to_string()),
        Some(id) if id.len() <= 128 && id.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(id.to_owned())
        }
        Some(_) => Err(Problem::new(
            "invalid-correlation-id",
            "Invalid correlation id",
            400,
            "x-correlation-id must be 1-128 visible ASCII characters",
        )),
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
    fn media_types() {
        assert!(is_json_media_type(Some("application/json")));
        assert!(is_json_media_type(Some("Application/JSON; charset=utf-8")));
        assert!(is_json_media_type(Some("application/vnd.jobs+json")));
        assert!(!is_json_media_type(Some("text/plain")));
        assert!(!is_json_media_type(Some("application/jsonx")));
        assert!(!is_json_media_type(None));
    }

    #[test]
    fn instance_is_the_path() {
        assert_eq!(
            path_of("https://app.azurewebsites.net/api/IngestJob?code=x").as_deref(),
            Some("/api/IngestJob")
        );
        assert_eq!(path_of("http://localhost:7071").as_deref(), Some("/"));
    }
}
