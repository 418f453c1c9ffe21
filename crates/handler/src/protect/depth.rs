//! The queue-depth poller: reads the `jobs` queue's active message count through the Service Bus
//! REST API every refresh interval, off the request path, into the backpressure gauge.

use std::time::Duration;

use servicebus::{Auth, ServiceBusClient, ServiceBusError};
use tracing::{debug, info, warn};

use super::backpressure::{CredentialKind, DepthSource};
use crate::state::AppState;

/// The client for a depth source.
pub fn client(source: &DepthSource) -> Result<ServiceBusClient, ServiceBusError> {
    let auth = match &source.credential {
        CredentialKind::None => Auth::None,
        CredentialKind::ManagedIdentity { client_id } => Auth::managed_identity(client_id.clone())?,
        CredentialKind::DeveloperTools => Auth::developer_tools()?,
    };
    ServiceBusClient::new(&source.endpoint, auth)
}

/// Start polling, if a source is configured; `None` when backpressure is off.
pub fn spawn(state: &AppState) -> Option<tokio::task::JoinHandle<()>> {
    let settings = state.protection().backpressure().settings();
    let Some(source) = settings.source.clone() else {
        info!("no Service Bus namespace configured: backpressure is off");
        return None;
    };
    let client = match client(&source) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot set up the queue depth reader: backpressure is off (failing open)");
            return None;
        }
    };
    info!(endpoint = client.endpoint(), queue = %source.queue, refresh_ms = settings.refresh.as_millis() as u64, "reading queue depth for backpressure");
    let state = state.clone();
    let every = settings.refresh;
    Some(tokio::spawn(async move {
        poll(&state, &client, &source.queue, every).await;
    }))
}

async fn poll(state: &AppState, client: &ServiceBusClient, queue: &str, every: Duration) {
    let gauge = state.protection().backpressure().gauge();
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
