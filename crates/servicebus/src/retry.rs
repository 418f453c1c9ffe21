//! How the client retries its own calls to the namespace. These options configure `azure_core`'s
//! exponential retry policy in the client's pipeline (see the README, "Service Bus REST
//! client"): a transport failure (connection refused, timeout) or a
//! 408/429/500/502/503/504 answer is retried after a growing, jittered pause (`Retry-After` is
//! honoured on 429/503); any other answer is final at once.

use std::time::Duration;

/// Retry and timeout options of a [`crate::ServiceBusClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Total tries per call, the first included (1: no retries).
    pub max_tries: u32,
    /// Pause before the second try; it grows exponentially for each further try.
    pub initial_delay: Duration,
    /// Upper bound of one pause (`azure_core` respects it only above one second).
    pub max_delay: Duration,
    /// Timeout of one try (connect, send and read the answer).
    pub try_timeout: Duration,
}

impl Default for RetryOptions {
    fn default() -> Self {
        Self {
            max_tries: 3,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(2),
            try_timeout: Duration::from_secs(10),
        }
    }
}
