//! `bench-baseline`: the benchmark's yardstick. A minimal axum custom handler that does only what
//! any handler must: parse the invocation JSON the host sends and answer with the same invocation
//! response as the real handler, byte for byte in shape and size (`res` 202 with its headers, the
//! `job` envelope and a log line for `IngestJob`; a log line for `ProcessJob`), built from fixed
//! ids. No validation, no id generation, no telemetry, no logging, no ingest protection: the
//! difference to `handler` is the cost of the work the real handler does.

use std::process::ExitCode;

use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use wire::{HttpResponseData, InvocationRequest, InvocationResponse};

/// The same allocator as `handler`, so the comparison measures work, not allocators.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

async fn ingest(
    Json(req): Json<InvocationRequest>,
) -> Result<Json<InvocationResponse>, StatusCode> {
    let http = req
        .http_trigger("req")
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let job: Value = http
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
    let body = json!({
        "jobId": job_id,
        "correlationId": correlation_id,
        "status": "queued",
        "jobType": job["jobType"],
        "jobVersion": job["version"],
        "submittedAt": submitted_at,
    });
    let res = HttpResponseData::new(202, "application/json", body.to_string())
        .with_header("Location", format!("urn:uuid:{job_id}"))
        .with_header("x-correlation-id", correlation_id)
        .with_header("traceparent", traceparent);
    let envelope = json!({
        "envelopeVersion": 1,
        "jobId": job_id,
        "correlationId": correlation_id,
        "tenantId": job["tenantId"],
        "jobType": job["jobType"],
        "jobVersion": job["version"],
        "payload": job["payload"],
        "submittedAt": submitted_at,
        "traceparent": traceparent,
    });
    let mut out = InvocationResponse::default()
        .with_http("res", &res)
        .with_output("job", envelope);
    out.log(format!(
        "Accepted job {job_id} (type {} v{}, tenant {}, correlation {correlation_id})",
        job["jobType"], job["version"], job["tenantId"]
    ));
    Ok(Json(out))
}

async fn process(
    Json(req): Json<InvocationRequest>,
) -> Result<Json<InvocationResponse>, StatusCode> {
    let msg = req
        .service_bus_trigger("msg")
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let envelope: Value = serde_json::from_str(&msg.body).map_err(|_| StatusCode::BAD_REQUEST)?;
    let mut out = InvocationResponse::default();
    out.log(format!(
        "Processed job {} (type {} v{}, tenant {}, correlation {}) on delivery {} in 0.0 ms",
        envelope["jobId"],
        envelope["jobType"],
        envelope["jobVersion"],
        envelope["tenantId"],
        envelope["correlationId"],
        msg.metadata.delivery_count.unwrap_or(1)
    ));
    Ok(Json(out))
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
