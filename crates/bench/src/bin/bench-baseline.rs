//! `bench-baseline`: the benchmark's yardstick. A minimal axum custom handler that does only what
//! any handler must: parse the invocation JSON the host sends and answer with an invocation
//! response of the same shape as the real handler's (`res` 202 plus the `job` output for
//! `IngestJob`; empty outputs for `ProcessJob`). No validation, no telemetry, no logging: the
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
    let res = HttpResponseData::new(
        202,
        "application/json",
        json!({"status": "queued"}).to_string(),
    );
    Ok(Json(
        InvocationResponse::default()
            .with_http("res", &res)
            .with_output("job", job),
    ))
}

async fn process(
    Json(req): Json<InvocationRequest>,
) -> Result<Json<InvocationResponse>, StatusCode> {
    let msg = req
        .service_bus_trigger("msg")
        .map_err(|_| StatusCode::BAD_REQUEST)?;
    let _: Value = serde_json::from_str(&msg.body).map_err(|_| StatusCode::BAD_REQUEST)?;
    Ok(Json(InvocationResponse::default()))
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
