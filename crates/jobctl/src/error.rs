//! jobctl's errors: each names what went wrong and what to do.

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
    /// Reading the confirmation or writing output failed.
    #[error("terminal: {0}")]
    Io(#[from] std::io::Error),
}

impl CliError {
    /// The process exit code: 2 for usage, 3 for a refused purge, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_) => 2,
            Self::NotConfirmed(_) => 3,
            _ => 1,
        }
    }
}
