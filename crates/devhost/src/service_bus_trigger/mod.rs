//! Service Bus trigger dispatch: PeekLock a message, invoke the function, complete on success,
//! abandon on failure (redelivered at once, dead-lettered by the store after the last delivery),
//! with at most `maxConcurrentCalls` invocations in flight per function, as the runtime does.
//! While an invocation runs its lock is renewed, as the runtime's auto-renewal does, for up to
//! `maxAutoLockRenewalDuration`; after that the lock may lapse and the message be redelivered.
//! A `cardinality: many` trigger gets batches instead (`batch.rs`).

mod batch;
mod invocation;

pub use batch::batch_invocation;
pub use invocation::service_bus_invocation;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tracing::{debug, error, warn};

use crate::config::Function;
use crate::handler::{InvokeError, Invoked, Invoker};
use crate::outputs;
use crate::telemetry::Operation;
use crate::telemetry::operation::DIAGNOSTIC_ID;
use broker::store::{Abandoned, Delivery, Store};

/// Everything a dispatcher needs.
#[derive(Debug, Clone)]
pub struct Dispatch {
    /// Queue store.
    pub store: Store,
    /// Handler invoker.
    pub invoker: Invoker,
    /// `maxConcurrentCalls`.
    pub max_concurrent_calls: usize,
    /// `maxAutoLockRenewalDuration`.
    pub max_auto_lock_renewal: Duration,
    /// `autoCompleteMessages`: settle after the invocation (complete or abandon), or leave it.
    pub auto_complete_messages: bool,
    /// `maxMessageBatchSize` (`cardinality: many`).
    pub max_message_batch_size: usize,
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
    if function.service_bus_batch() {
        return run_batches(&function, &dispatch, &binding, &queue, shutdown).await;
    }
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
        // Listen for sends before looking, so one that lands in between is not missed.
        let wake = dispatch.store.arrivals().notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let deliveries = match dispatch.store.receive(&queue, held.len()).await {
            Ok(d) => d,
            Err(e) => {
                error!("receive from {queue} failed: {e}");
                Vec::new()
            }
        };
        if deliveries.is_empty() {
            drop(held);
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
    let request = service_bus_invocation(
        &function.name,
        binding,
        &delivery,
        function.service_bus_binary(),
    );
    // The request row continues the message's `Diagnostic-Id` (the sender's `Message` span).
    let op = Operation::continue_from(
        delivery
            .message
            .properties
            .get(DIAGNOSTIC_ID)
            .and_then(serde_json::Value::as_str),
    );
    let lock = delivery.lock();
    let started = std::time::Instant::now();
    let result = {
        let invocation = dispatch.invoker.invoke(&function.name, &request, &op);
        tokio::pin!(invocation);
        tokio::select! {
            r = &mut invocation => r,
            () = keep_locked(dispatch, &delivery) => invocation.await,
        }
    };
    let failure = finish(function, dispatch, &op, started, result).await;
    if !dispatch.auto_complete_messages {
        // The runtime settles nothing and a custom handler cannot: the lock lapses.
        debug!(message_id = %delivery.message.message_id, "autoCompleteMessages is false: message left locked");
        return;
    }
    match failure {
        None => {
            if let Err(e) = dispatch.store.complete(&lock).await {
                error!(message_id = %delivery.message.message_id, "complete failed: {e}");
            }
            debug!(message_id = %delivery.message.message_id, delivery_count = delivery.message.delivery_count, "completed");
        }
        Some(reason) => match dispatch.store.abandon(&lock, &reason).await {
            Ok(Abandoned::Requeued) => {
                warn!(function = %function.name, message_id = %delivery.message.message_id, delivery_count = delivery.message.delivery_count, "invocation failed, message abandoned: {reason}");
            }
            Ok(Abandoned::DeadLettered) => {
                warn!(function = %function.name, message_id = %delivery.message.message_id, delivery_count = delivery.message.delivery_count, "invocation failed on the last delivery, message dead-lettered: {reason}");
            }
            Err(e) => error!(message_id = %delivery.message.message_id, "abandon failed: {e}"),
        },
    }
}

/// What the host does once an invocation answers, single or batch: record its request row, then
/// route the output bindings of a success. The reason the messages are to be abandoned, or `None`
/// to complete them.
async fn finish(
    function: &Function,
    dispatch: &Dispatch,
    op: &Operation,
    started: std::time::Instant,
    result: Result<Invoked, InvokeError>,
) -> Option<String> {
    let status = match &result {
        Ok(_) => 200,
        Err(InvokeError::Failed { status, .. }) => *status,
        Err(_) => 500,
    };
    let elapsed = started.elapsed();
    let capture = &dispatch.capture;
    capture.host_request(&function.name, op, elapsed, status, result.is_ok());
    match result {
        Ok(mut invoked) => {
            invoked
                .reply
                .bind_return_value(function.has_return_binding());
            outputs::route(function, &invoked, op, &dispatch.store, capture)
                .await
                .err()
                .map(|e| format!("output binding failed: {e}"))
        }
        Err(e) => Some(e.to_string()),
    }
}

/// `cardinality: many`: one batch at a time, up to `maxMessageBatchSize` of the messages available
/// ([`batch`]).
async fn run_batches(
    function: &Function,
    dispatch: &Dispatch,
    binding: &str,
    queue: &str,
    mut shutdown: watch::Receiver<bool>,
) {
    while !*shutdown.borrow() {
        let wake = dispatch.store.arrivals().notified();
        tokio::pin!(wake);
        wake.as_mut().enable();
        let deliveries = match dispatch
            .store
            .receive(queue, dispatch.max_message_batch_size)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                error!("receive from {queue} failed: {e}");
                Vec::new()
            }
        };
        if deliveries.is_empty() {
            tokio::select! {
                () = wake => {}
                () = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        deliver_batch(function, dispatch, binding, deliveries).await;
    }
}

/// Invoke once for the batch, then complete every message on success or abandon every one on
/// failure. No lock renewal, as the extension does none for batches.
async fn deliver_batch(
    function: &Function,
    dispatch: &Dispatch,
    binding: &str,
    deliveries: Vec<Delivery>,
) {
    let request = batch_invocation(
        &function.name,
        binding,
        &deliveries,
        function.service_bus_binary(),
    );
    // The processor's activity links every message; one link is its parent, several are links
    // only (a new operation).
    let op = Operation::continue_from(match deliveries.as_slice() {
        [one] => one
            .message
            .properties
            .get(DIAGNOSTIC_ID)
            .and_then(serde_json::Value::as_str),
        _ => None,
    });
    let started = std::time::Instant::now();
    let result = dispatch.invoker.invoke(&function.name, &request, &op).await;
    let failure = finish(function, dispatch, &op, started, result).await;
    if !dispatch.auto_complete_messages {
        return;
    }
    for delivery in &deliveries {
        let lock = delivery.lock();
        let settled = match &failure {
            None => dispatch.store.complete(&lock).await.map(|()| None),
            Some(reason) => dispatch.store.abandon(&lock, reason).await.map(Some),
        };
        match settled {
            Ok(Some(Abandoned::DeadLettered)) => {
                warn!(function = %function.name, message_id = %delivery.message.message_id, "batch invocation failed on the last delivery, message dead-lettered");
            }
            Ok(_) => {}
            Err(e) => {
                error!(message_id = %delivery.message.message_id, "settling a batch message failed: {e}")
            }
        }
    }
}

/// Renew the delivery's lock shortly before it lapses until `maxAutoLockRenewalDuration` has passed
/// since the message was received, then wait forever (the caller stops polling this when the
/// invocation ends).
async fn keep_locked(dispatch: &Dispatch, delivery: &Delivery) {
    let renew_until = tokio::time::Instant::now() + dispatch.max_auto_lock_renewal;
    let lock = delivery.lock();
    let mut locked_until = delivery.locked_until;
    loop {
        let left = (locked_until - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        // Renew at half the remaining lock time, as late as is still safe.
        let at = tokio::time::Instant::now() + left / 2;
        if at >= renew_until {
            break;
        }
        tokio::time::sleep_until(at).await;
        match dispatch.store.renew_lock(&lock).await {
            Ok(until) => {
                debug!(message_id = %delivery.message.message_id, %until, "lock renewed");
                locked_until = until;
            }
            Err(e) => {
                warn!(message_id = %delivery.message.message_id, "lock renewal failed: {e}");
                break;
            }
        }
    }
    std::future::pending::<()>().await;
}
