//! Readiness and health.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::state::AppState;

/// `GET /`: the host's readiness ping (any HTTP answer means ready).
pub async fn ping() -> &'static str {
    "ok"
}

/// `GET /healthz`: liveness plus what this instance serves.
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    let job_types: Vec<Value> = state
        .registry()
        .iter()
        .map(|t| json!({"jobType": t.name(), "version": t.version(), "title": t.title()}))
        .collect();
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "jobTypes": job_types,
        "chaosFailureRate": state.chaos().rate(),
        "processingDelayMs": state.processing_delay().as_millis(),
        // The last queue depth backpressure read; null when unknown (backpressure fails open).
        "queueDepth": state.protection().backpressure().gauge().current(),
    }))
}
