//! The job types this repository ships, one module each: `job-types/<name>/` holds the schemas,
//! the module here the work. Their work is simulated: it waits `PROCESSING_DELAY_MS`.

pub mod report;
pub mod thumbnail;

use std::time::Duration;

use crate::work::Workers;

/// The work of every shipped job type, each simulating `delay` of work.
pub fn workers(delay: Duration) -> Workers {
    Workers::default()
        .register(report::Report { delay })
        .register(thumbnail::Thumbnail { delay })
}

/// Simulated work: wait `delay` (a zero-length tokio sleep still waits for the next timer tick,
/// about 1 ms, so zero is skipped).
async fn simulate(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}
