//! The queue-depth poller: reads the `jobs` queue's active message count through the Service Bus
//! REST API every refresh interval, off the request path, into the backpressure gauge.

use std::time::Duration;

use std::sync::Arc;

use servicebus::ServiceBusClient;
use tracing::{debug, info, warn};

use super::backpressure::DepthGauge;
use crate::namespace::ServiceBusTarget;

/// Start reading the depth of `target`'s queue every `every` into `gauge`; `None` (backpressure
/// off, failing open) when no target is configured or its client cannot be built.
pub fn spawn(
    target: Option<&ServiceBusTarget>,
    every: Duration,
    gauge: Arc<DepthGauge>,
) -> Option<tokio::task::JoinHandle<()>> {
    let Some(target) = target else {
        info!("no Service Bus namespace configured: backpressure is off");
        return None;
    };
    let client = match target.client() {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot set up the queue depth reader: backpressure is off (failing open)");
            return None;
        }
    };
    info!(endpoint = client.endpoint(), queue = %target.queue, refresh_ms = every.as_millis() as u64, "reading queue depth for backpressure");
    let queue = target.queue.clone();
    Some(tokio::spawn(async move {
        poll(&gauge, &client, &queue, every).await;
    }))
}

async fn poll(gauge: &DepthGauge, client: &ServiceBusClient, queue: &str, every: Duration) {
    let mut healthy = true;
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match client.entity_counts(queue).await {
            Ok(counts) => {
                if !healthy {
                    info!(
                        queue,
                        active = counts.active,
                        "queue depth readable again: backpressure is on"
                    );
                    healthy = true;
                }
                debug!(queue, active = counts.active, "queue depth");
                gauge.set(counts.active);
            }
            Err(e) => {
                gauge.clear();
                if healthy {
                    warn!(queue, error = %e, "cannot read the queue depth: backpressure is off (failing open) until it can");
                    healthy = false;
                } else {
                    debug!(queue, error = %e, "queue depth still unreadable");
                }
            }
        }
    }
}
