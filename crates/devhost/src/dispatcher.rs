//! Service Bus trigger dispatch: PeekLock a message, invoke the function, complete on success,
//! abandon on failure (redelivered at once, dead-lettered by the store after the last delivery),
//! with at most `maxConcurrentCalls` invocations in flight per function, as the runtime does.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, Semaphore, watch};
use tracing::{debug, error, warn};

use crate::config::Function;
use crate::invoke::{InvokeError, Invoker, service_bus_invocation};
use crate::outputs;
use crate::store::{Abandoned, Delivery, Store};

/// Everything a dispatcher needs.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// Queue store.
    pub store: Store,
    /// Handler invoker.
    pub invoker: Invoker,
    /// Woken when messages are sent.
    pub wake: Arc<Notify>,
    /// `maxConcurrentCalls`.
    pub max_concurrent_calls: usize,
    /// Captured telemetry (the host's request rows).
    pub capture: crate::telemetry::Capture,
}

/// Run the dispatcher of one Service Bus-triggered function until `shutdown`.
pub async fn run(function: Function, dispatch: Dispatch, mut shutdown: watch::Receiver<bool>) {
    let Some((binding, queue)) = function
        .service_bus_trigger()
        .map(|(b, q)| (b.to_owned(), q.to_owned()))
    else {
        return;
    };
    let function = Arc::new(function);
    let permits = Arc::new(Semaphore::new(dispatch.max_concurrent_calls));
    loop {
        if *shutdown.borrow() {
            break;
        }
        let Ok(first) = permits.clone().acquire_owned().await else {
            break;
        };
        let mut held = vec![first];
        while held.len() < 64 {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let deliveries = match dispatch.store.receive(&queue, held.len()).await {
            Ok(d) => d,
            Err(e) => {
                error!("receive from {queue} failed: {e}");
                Vec::new()
            }
        };
        if deliveries.is_empty() {
            drop(held);
            let wake = dispatch.wake.notified();
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        for delivery in deliveries {
            let Some(permit) = held.pop() else { break };
            let (function, dispatch, binding) =
                (function.clone(), dispatch.clone(), binding.clone());
            tokio::spawn(async move {
                deliver(&function, &dispatch, &binding, delivery).await;
                drop(permit);
            });
        }
    }
    // Wait for in-flight deliveries to settle before returning.
    let _ = permits
        .acquire_many(u32::try_from(dispatch.max_concurrent_calls).unwrap_or(u32::MAX))
        .await;
}

async fn deliver(function: &Function, dispatch: &Dispatch, binding: &str, delivery: Delivery) {
    let request = service_bus_invocation(&function.name, binding, &delivery);
    let token = delivery.lock_token.clone();
    let started = std::time::Instant::now();
    let result = dispatch.invoker.invoke(&function.name, &request).await;
    let status = match &result {
        Ok(_) => 200,
        Err(InvokeError::Failed { status, .. }) => *status,
        Err(_) => 500,
    };
    dispatch
        .capture
        .host_request(&function.name, started.elapsed(), status, result.is_ok());
    let failure = match result {
        Ok(response) => {
            match outputs::route(
                function,
                &response,
                &dispatch.store,
                &dispatch.wake,
                &dispatch.capture,
            )
            .await
            {
                Ok(_) => None,
                Err(e) => Some(format!("output binding failed: {e}")),
            }
        }
        Err(e) => Some(e.to_string()),
    };
    match failure {
        None => {
            if let Err(e) = dispatch.store.complete(&token).await {
                error!(message_id = %delivery.message_id, "complete failed: {e}");
            }
            debug!(message_id = %delivery.message_id, delivery_count = delivery.delivery_count, "completed");
        }
        Some(reason) => match dispatch.store.abandon(&token).await {
            Ok(Abandoned::Requeued) => {
                warn!(function = %function.name, message_id = %delivery.message_id, delivery_count = delivery.delivery_count, "invocation failed, message abandoned: {reason}");
            }
            Ok(Abandoned::DeadLettered) => {
                warn!(function = %function.name, message_id = %delivery.message_id, delivery_count = delivery.delivery_count, "invocation failed on the last delivery, message dead-lettered: {reason}");
            }
            Err(e) => error!(message_id = %delivery.message_id, "abandon failed: {e}"),
        },
    }
}
