//! `handler`: the custom-handler executable the Functions host starts (see `host.json`).

use std::process::ExitCode;

use handler::{Settings, logging, server};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("handler: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    logging::init(settings.log_format);
    let state = match server::build_state(&settings) {
        Ok(state) => state,
        Err(e) => {
            tracing::error!("start-up failed: {e}");
            eprintln!("handler: start-up failed: {e}");
            return ExitCode::from(2);
        }
    };
    match server::run(settings, state).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("handler: {e}");
            ExitCode::FAILURE
        }
    }
}
