//! Output bindings: what the host does with `Outputs` after a successful invocation.

use wire::{InvocationResponse, service_bus_output_bodies};

use crate::config::Function;
use crate::telemetry::Capture;
use broker::store::{NewMessage, Store, StoreError};

/// Send every `serviceBus` output value of `response` to its binding's queue, durably (waking the
/// dispatchers), and record one host dependency per message. Returns how many messages were sent.
pub async fn route(
    function: &Function,
    response: &InvocationResponse,
    store: &Store,
    capture: &Capture,
) -> Result<usize, StoreError> {
    let mut messages = Vec::new();
    for (binding, queue) in function.service_bus_outputs() {
        let Some(value) = response.outputs.get(binding) else {
            continue;
        };
        for body in service_bus_output_bodies(value) {
            messages.push(NewMessage {
                queue: queue.to_owned(),
                body,
                ..NewMessage::default()
            });
        }
    }
    let count = messages.len();
    if count > 0 {
        let queues: Vec<String> = messages.iter().map(|m| m.queue.clone()).collect();
        store.send(messages).await?;
        for queue in queues {
            capture.host_send(&function.name, &queue, 1);
        }
    }
    Ok(count)
}
