//! jobctl's errors: each names what went wrong and what to do, and has its own exit code.

use thiserror::Error;

/// Why a command failed.
#[derive(Debug, Error)]
pub enum CliError {
    /// The command line is inconsistent (beyond what clap checks).
    #[error("{0}")]
    Usage(String),
    /// A Service Bus call failed.
    #[error(transparent)]
    ServiceBus(#[from] servicebus::ServiceBusError),
    /// Purge was refused.
    #[error("{0}")]
    NotConfirmed(String),
    /// `--id` named dead letters that do not exist (nothing was changed).
    #[error("{0}")]
    NoMatch(String),
    /// The command read or did only part of what it was asked (said what is missing).
    #[error("{0}")]
    Incomplete(String),
    /// Stopped by Ctrl-C / SIGTERM after releasing every lock (a redrive can be resumed).
    #[error("{0}")]
    Interrupted(String),
    /// The redrive checkpoint file cannot be read or written.
    #[error("checkpoint {path}: {detail}")]
    Checkpoint {
        /// The file.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// No telemetry of this job (unknown id, or not processed within the query window).
    #[error("{0}")]
    UnknownJob(String),
    /// Telemetry could not be read.
    #[error(transparent)]
    Telemetry(#[from] crate::telemetry::TelemetryError),
    /// Reading the confirmation or writing output failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code (listed in `jobctl --help` and docs/OPERATIONS.md).
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::NotConfirmed(_) => 3,
            Self::NoMatch(_) => 4,
            Self::Incomplete(_) => 5,
            Self::UnknownJob(_) => 6,
            Self::Telemetry(t) => {
                use crate::telemetry::TelemetryError as T;
                match t {
                    T::Usage(_) => 2,
                    T::Unreachable(_) => 7,
                    T::Unauthorized(_) => 8,
                    T::Forbidden(_) => 9,
                    T::AppNotFound(_) => 10,
                    T::Query(_) => 11,
                }
            }
            Self::Interrupted(_) => 130,
            Self::ServiceBus(_) | Self::Checkpoint { .. } | Self::Io(_) => 1,
        }
    }
}

/// The exit codes, for `--help`.
pub const EXIT_CODES: &str = "Exit codes:
  0    done
  1    a Service Bus call, the checkpoint file or the terminal failed (the message says which)
  2    usage error (also: a malformed job id, a bad --app-id or --query-endpoint)
  3    purge not confirmed
  4    an --id matched no dead letter (nothing was changed)
  5    incomplete: only part was read or resubmitted (the message says what is missing)
  6    job: no telemetry of this job id (unknown, or older than the query window)
  7    job/audit: the telemetry endpoint (devhost or query API) is unreachable
  8    job/audit: not authenticated (no token, or the query API answered 401)
  9    job/audit: forbidden (403): the identity lacks the Reader role on Application Insights
  10   job/audit: no such Application Insights app (404): check --app-id
  11   job/audit: the query or its answer was not understood
  130  interrupted (Ctrl-C / SIGTERM) after releasing its locks; run the same resubmit again to resume";
