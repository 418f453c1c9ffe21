//! The handler's HTTP routes: one per function (named as its folder), plus readiness and health.

pub mod health;
pub mod ingest;
pub mod process;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};

use crate::state::AppState;

/// Largest invocation request accepted. The client's body travels inside it (and, for JSON bodies,
/// its top-level fields again in `Metadata`), so this sits well above the 256 KiB job limit: an
/// oversized job then gets a precise `413` from `IngestJob` instead of a failed invocation.
pub const MAX_INVOCATION_BYTES: usize = 32 * 1024 * 1024;

/// The router the host talks to.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(health::ping))
        .route("/healthz", get(health::healthz))
        .route("/IngestJob", post(ingest::handle))
        .route("/ProcessJob", post(process::handle))
        .layer(DefaultBodyLimit::max(MAX_INVOCATION_BYTES))
        .with_state(state)
}
