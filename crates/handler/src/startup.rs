//! The custom-handler executable the Functions host starts (see `host.json`): settings, logging,
//! telemetry, the async runtime, then the server until shutdown. The binary (src/bin/handler.rs) and
//! the end-to-end tests' copy of it (crates/e2e) both call [`main`].

use std::process::ExitCode;
use std::time::Duration;

use crate::telemetry::Telemetry;
use crate::{Settings, logging, server};

/// Start, serve until shutdown, stop; the process exit code (2: configuration or start-up).
pub fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("handler: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let _log_guard = logging::init(settings.log_format, &settings.log_filter);
    // TLS for the exporter (and any other HTTPS client): rustls with the ring provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Telemetry first, outside the async runtime: its exporter threads use a blocking client.
    let telemetry = match Telemetry::init(&settings.telemetry) {
        Ok(t) => t,
        Err(e) => return fail(2, &format!("start-up failed: {e}")),
    };
    let state = match server::build_state(&settings, telemetry.instruments()) {
        Ok(state) => state,
        Err(e) => return fail(2, &format!("start-up failed: {e}")),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(1, &format!("cannot start the async runtime: {e}")),
    };
    let result = runtime.block_on(server::run(settings, state));
    drop(runtime);
    telemetry.shutdown(Duration::from_secs(5));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(1, &e.to_string()),
    }
}

fn fail(code: u8, message: &str) -> ExitCode {
    tracing::error!("{message}");
    eprintln!("handler: {message}");
    ExitCode::from(code)
}
