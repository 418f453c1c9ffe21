//! Output bindings: what the host does with `Outputs` after a successful invocation.
//!
//! Every `serviceBus` output value becomes messages by the host's rules
//! ([`wire::service_bus_output_bodies`]); each message has `ContentType` `text/plain`
//! (`StringToMessageConverter` in the Service Bus extension, `Azure/azure-sdk-for-net`
//! `sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/Bindings`) and the application
//! property `$AzureWebJobsParentId` = the sending invocation's id
//! (`Listeners/ServiceBusCausalityHelper.EncodePayload`). The host sends message by message, so a
//! failure part-way leaves earlier messages sent; the devhost checks every value first and writes
//! all messages of an invocation in one transaction (all or none: stricter, never looser).

use serde_json::{Map, Value};
use thiserror::Error;
use wire::{OutputError, service_bus_output_bodies};

use crate::config::Function;
use crate::handler::Invoked;
use crate::telemetry::Capture;
use broker::store::{NewMessage, Store, StoreError};

/// The application property naming the invocation that sent a message.
pub const PARENT_ID_PROPERTY: &str = "$AzureWebJobsParentId";

/// Why outputs could not be sent (the invocation fails).
#[derive(Debug, Error)]
pub enum OutputsError {
    /// A value the host would refuse.
    #[error("output binding {binding:?}: {source}")]
    Value {
        /// Binding name.
        binding: String,
        /// What is wrong with it.
        #[source]
        source: OutputError,
    },
    /// The queue store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Send every `serviceBus` output value of the invocation to its binding's queue, durably (waking
/// the dispatchers), and record one host dependency per message. Returns how many were sent.
pub async fn route(
    function: &Function,
    invoked: &Invoked,
    store: &Store,
    capture: &Capture,
) -> Result<usize, OutputsError> {
    let mut messages = Vec::new();
    for (binding, queue) in function.service_bus_outputs() {
        let Some(value) = invoked.reply.output(binding) else {
            continue;
        };
        let bodies = service_bus_output_bodies(value).map_err(|source| OutputsError::Value {
            binding: binding.to_owned(),
            source,
        })?;
        for body in bodies {
            let mut properties = Map::new();
            properties.insert(
                PARENT_ID_PROPERTY.to_owned(),
                Value::String(invoked.invocation_id.clone()),
            );
            messages.push(NewMessage {
                queue: queue.to_owned(),
                body,
                content_type: Some("text/plain".to_owned()),
                properties,
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
