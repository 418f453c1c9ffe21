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
use crate::telemetry::operation::DIAGNOSTIC_ID;
use crate::telemetry::{Capture, Operation};
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
/// the dispatchers), and record the host's dependency rows for each message. Each message carries
/// a `Diagnostic-Id` in the invocation's operation `op` (see [`crate::telemetry::operation`]).
/// Returns how many were sent.
pub async fn route(
    function: &Function,
    invoked: &Invoked,
    op: &Operation,
    store: &Store,
    capture: &Capture,
) -> Result<usize, OutputsError> {
    let mut messages = Vec::new();
    let mut spans = Vec::new();
    for (binding, queue) in function.service_bus_outputs() {
        let Some(value) = invoked.reply.output(binding) else {
            continue;
        };
        let bodies = service_bus_output_bodies(value).map_err(|source| OutputsError::Value {
            binding: binding.to_owned(),
            source,
        })?;
        let target = format!("{}{queue}", function.service_bus_endpoint(binding));
        for body in bodies {
            let mut properties = Map::new();
            properties.insert(
                PARENT_ID_PROPERTY.to_owned(),
                Value::String(invoked.invocation_id.clone()),
            );
            let (traceparent, span) = op.child();
            properties.insert(DIAGNOSTIC_ID.to_owned(), Value::String(traceparent));
            spans.push((queue.to_owned(), target.clone(), span));
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
        store.send(messages).await?;
        for (queue, target, span) in spans {
            capture.host_message(&function.name, op, &queue, &target, &span);
        }
    }
    Ok(count)
}
