//! Console logging with `tracing`: JSON lines when stdout is not a terminal (the host captures
//! them), readable text otherwise. The filter is the `RUST_LOG` setting (default `info`).

use std::io::IsTerminal as _;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::settings::LogFormat;

/// Keeps the log writer thread alive; dropping it flushes every pending line. Hold it until exit.
#[must_use = "dropping the guard stops the log writer"]
pub struct LogGuard(#[allow(dead_code)] Option<WorkerGuard>);

/// Install the global subscriber. Safe to call once per process.
///
/// Lines are formatted on the calling thread and written to stdout by a dedicated thread, so a
/// request never waits on the pipe to the host; when its buffer is full the caller waits rather
/// than a line being dropped.
pub fn init(format: LogFormat, filter: &str) -> LogGuard {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // The channel is allocated up front: 16k lines is room for bursts without megabytes idle.
        .buffered_lines_limit(16 * 1024)
        .thread_name("log-writer")
        .finish(std::io::stdout());
    // The settings checked the directives; `new` falls back to its default on any it cannot use.
    let filter = EnvFilter::new(filter);
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Text => false,
        LogFormat::Auto => !std::io::stdout().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_writer(writer)
        .with_ansi(std::io::stdout().is_terminal());
    // A subscriber may already be installed (tests); that is not an error worth failing over.
    let _ = if json {
        builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.try_init()
    };
    LogGuard(Some(guard))
}
