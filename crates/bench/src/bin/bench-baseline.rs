//! `bench-baseline`: the benchmark's yardstick. A minimal axum custom handler that does only what
//! any handler must: parse the invocation JSON the host sends and answer with the same invocation
//! response as the real handler, byte for byte in shape and size (`res` 202 with its headers, the
//! `job` envelope and a log line for `IngestJob`; a log line for `ProcessJob`), built from fixed
//! ids. It decodes and encodes the way `handler` does (the trigger binding read straight from raw
//! JSON text, the outputs serialised in one pass), so the comparison is not flattered by a slower
//! yardstick. No validation, no id generation, no telemetry, no logging, no ingest protection: the
//! difference to `handler` is the cost of the work the real handler does.

use std::process::ExitCode;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::value::RawValue;
use wire::{HttpResponseData, InvocationResponse, RawInvocationRequest, TypedInvocationResponse};

/// The same allocator as `handler`, so the comparison measures work, not allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The fields of a submission the response repeats, read without a `Value` tree.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Submission<'a> {
    #[serde(borrow)]
    job_type: &'a str,
    #[serde(default)]
    version: u32,
    #[serde(borrow)]
    tenant_id: &'a str,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Accepted<'a> {
    job_id: &'a str,
    correlation_id: &'a str,
    status: &'static str,
    job_type: &'a str,
    job_version: u32,
    submitted_at: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    envelope_version: u32,
    job_id: &'a str,
    correlation_id: &'a str,
    tenant_id: &'a str,
    job_type: &'a str,
    job_version: u32,
    payload: &'a RawValue,
    submitted_at: &'a str,
    traceparent: &'a str,
}

/// The envelope fields `ProcessJob` logs, read without a `Value` tree.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Queued<'a> {
    #[serde(borrow)]
    job_id: &'a str,
    #[serde(borrow)]
    job_type: &'a str,
    job_version: u32,
    #[serde(borrow)]
    tenant_id: &'a str,
    #[serde(borrow)]
    correlation_id: &'a str,
}

#[derive(Serialize)]
struct IngestOutputs<'a> {
    res: HttpResponseData,
    job: Envelope<'a>,
}

async fn ingest(Json(req): Json<RawInvocationRequest>) -> Result<Response, StatusCode> {
    let http = req
        .http_trigger("req")
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let job: Submission<'_> = http
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok())
        .ok_or(StatusCode::BAD_REQUEST)?;
    // The same response shape and size as the handler's: `res` 202 with the same headers and body
    // fields, the `job` output as an envelope, one log line. Ids and times are fixed strings: no
    // validation, no id generation, no telemetry, no logging.
    let job_id = "0190c3a4-5b6c-7d8e-9f00-112233445566";
    let correlation_id = "5da15711-5419-4a61-8502-aec92fe34661";
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let submitted_at = "2026-11-24T10:00:00.000Z";
    let body = serde_json::to_string(&Accepted {
        job_id,
        correlation_id,
        status: "queued",
        job_type: job.job_type,
        job_version: job.version,
        submitted_at,
    })
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let res = HttpResponseData::new(202, "application/json", body)
        .with_header("x-correlation-id", correlation_id)
        .with_header("traceparent", traceparent);
    let line = format!(
        "Accepted job {job_id} (type {} v{}, tenant {}, correlation {correlation_id})",
        job.job_type, job.version, job.tenant_id
    );
    let envelope = Envelope {
        envelope_version: 1,
        job_id,
        correlation_id,
        tenant_id: job.tenant_id,
        job_type: job.job_type,
        job_version: job.version,
        payload: job.payload,
        submitted_at,
        traceparent,
    };
    Ok(json(TypedInvocationResponse::new(
        IngestOutputs { res, job: envelope },
        vec![line],
    )))
}

async fn process(Json(req): Json<RawInvocationRequest>) -> Result<Response, StatusCode> {
    let msg = req
        .service_bus_trigger("msg")
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let envelope: Queued<'_> =
        serde_json::from_str(&msg.body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut out = InvocationResponse::default();
    out.log(format!(
        "Processed job {} (type {} v{}, tenant {}, correlation {}) on attempt 1, delivery {} in 0.0 ms",
        envelope.job_id,
        envelope.job_type,
        envelope.job_version,
        envelope.tenant_id,
        envelope.correlation_id,
        msg.metadata.delivery_count.unwrap_or(1)
    ));
    Ok(json(out))
}

type Response = axum::response::Response;

fn json(body: impl Serialize) -> Response {
    axum::response::IntoResponse::into_response(Json(body))
}

fn main() -> ExitCode {
    let Some(port) = std::env::var(wire::PORT_ENV)
        .ok()
        .and_then(|p| p.parse::<u16>().ok())
    else {
        eprintln!("bench-baseline: {} must be a port number", wire::PORT_ENV);
        return ExitCode::from(2);
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench-baseline: {e}");
            return ExitCode::FAILURE;
        }
    };
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .route("/IngestJob", post(ingest))
        .route("/ProcessJob", post(process));
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-baseline: {e}");
            ExitCode::FAILURE
        }
    }
}
