//! The invocation request the host builds for a Service Bus trigger.

use broker::store::Delivery;
use serde_json::{Map, Value};
use wire::encoding::{body_field_metadata_value, is_skipped_metadata_key};
use wire::{InvocationRequest, ServiceBusMessage, ServiceBusMetadata};

use crate::binding_data::insert_ignoring_case;
use crate::handler::invoker::sys_metadata;

/// A date as the host puts a `DateTime` on the wire (`DateTime.Parse(value.ToString())`): whole
/// seconds, no zone.
fn host_date(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

/// A `DateTimeOffset` as the host puts it on the wire: whole seconds and the offset.
fn host_date_offset(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()
}

/// The invocation the host builds for a Service Bus trigger bound as `binding`.
///
/// With `dataType` string (the default) the body is double-encoded and the metadata scalars
/// string-encoded (see the `wire` crate). Then, as `WorkerFunctionInvoker.TransformInput` ->
/// `Utility.ApplyBindingData` do, a JSON object body's top-level members **overwrite** the
/// trigger's binding data, names compared ignoring case (the trigger's spelling stays), converted
/// by [`body_field_metadata_value`] (arrays and nulls skipped); keys ending in `trigger` are left
/// out. With `binary` (`dataType: binary`: the trigger value is `byte[]`) the body is sent as the
/// base64 of its bytes (`ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue`)
/// and, not being a JSON string, adds no fields to the binding data.
pub fn service_bus_invocation(
    function: &str,
    binding: &str,
    delivery: &Delivery,
    binary: bool,
) -> InvocationRequest {
    let metadata_in = ServiceBusMetadata {
        message_id: Some(delivery.message.message_id.clone()),
        delivery_count: Some(delivery.message.delivery_count),
        sequence_number: Some(delivery.message.sequence_number),
        enqueued_time_utc: Some(host_date(&delivery.message.enqueued_at)),
        enqueued_time: Some(host_date_offset(&delivery.message.enqueued_at)),
        expires_at_utc: Some(host_date(&delivery.message.expires_at)),
        expires_at: Some(host_date_offset(&delivery.message.expires_at)),
        lock_token: Some(delivery.lock_token.clone()),
        content_type: delivery.message.content_type.clone(),
        correlation_id: delivery.message.correlation_id.clone(),
        application_properties: delivery.message.properties.clone(),
        ..ServiceBusMetadata::default()
    };
    let mut metadata = metadata_in.to_metadata();
    // The extension adds every key, null or not; a body field overwrites a null one too and takes
    // its spelling. Nulls are dropped afterwards, as `ToHttpScriptInvocationContext` does.
    for key in BINDING_DATA_KEYS {
        if !metadata.contains_key(key) {
            metadata.insert(key.to_owned(), Value::Null);
        }
    }
    if binary {
        // No body fields: `ApplyBindingData` reads only a string trigger value.
    } else if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&delivery.message.body)
    {
        for (k, v) in fields {
            if let Some(converted) = body_field_metadata_value(&v) {
                insert_ignoring_case(&mut metadata, k, converted);
            }
        }
    }
    metadata.retain(|k, v| !v.is_null() && !is_skipped_metadata_key(k));
    metadata.insert("sys".into(), sys_metadata(function));
    let message = ServiceBusMessage {
        body: delivery.message.body.clone(),
        metadata: metadata_in,
    };
    let mut data = Map::new();
    let value = if binary {
        use base64::Engine as _;
        Value::String(
            base64::engine::general_purpose::STANDARD.encode(delivery.message.body.as_bytes()),
        )
    } else {
        message.data_value()
    };
    data.insert(binding.to_owned(), value);
    InvocationRequest { data, metadata }
}

/// The scalar keys `ServiceBusTriggerBindingStrategy.GetBindingData` (Service Bus extension 5.x,
/// `Azure/azure-sdk-for-net` `.../src/Triggers/`) always adds. Not sent by the devhost: the object
/// keys `MessageReceiver`, `MessageSession`, `MessageActions`, `SessionActions`,
/// `ReceiveActions` and `Client` (SDK objects a custom handler cannot use).
const BINDING_DATA_KEYS: [&str; 21] = [
    "DeliveryCount",
    "DeadLetterSource",
    "LockToken",
    "ExpiresAtUtc",
    "ExpiresAt",
    "EnqueuedTimeUtc",
    "EnqueuedTime",
    "MessageId",
    "ContentType",
    "ReplyTo",
    "SequenceNumber",
    "To",
    "Subject",
    "Label",
    "CorrelationId",
    "ApplicationProperties",
    "UserProperties",
    "SessionId",
    "ReplyToSessionId",
    "PartitionKey",
    "TransactionPartitionKey",
];

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_bus_invocation_is_host_shaped() {
        let message = broker::store::Message {
            sequence_number: 7,
            message_id: "m-1".into(),
            body: r#"{"a":1,"deliveryCount":99,"arr":[1],"flag":true}"#.into(),
            content_type: Some("application/json".into()),
            correlation_id: None,
            properties: Map::new(),
            delivery_count: 2,
            enqueued_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
        };
        let delivery = Delivery {
            message,
            queue: "jobs".into(),
            lock_token: "lt".into(),
            locked_until: chrono::Utc::now(),
        };
        let inv = service_bus_invocation("ProcessJob", "msg", &delivery, false);
        assert_eq!(
            inv.metadata["DeliveryCount"],
            json!("\"99\""),
            "a body field overwrites trigger metadata, ignoring case, keeping the trigger's spelling"
        );
        assert!(!inv.metadata.contains_key("deliveryCount"));
        assert!(!inv.metadata.contains_key("arr"), "arrays are skipped");
        assert_eq!(inv.metadata["flag"], json!("\"True\""));
        assert_eq!(inv.metadata["MessageId"], json!("\"m-1\""));
        let date = inv.metadata["EnqueuedTimeUtc"].as_str().unwrap();
        assert!(
            date.len() == 19 && !date.starts_with('"'),
            "a plain date, whole seconds, no zone: {date}"
        );
        assert!(
            inv.metadata["ExpiresAt"]
                .as_str()
                .unwrap()
                .ends_with("+00:00")
        );
        assert_eq!(inv.metadata["a"], json!("\"1\""));
        assert_eq!(inv.metadata["sys"]["MethodName"], json!("ProcessJob"));
        let decoded = inv.service_bus_trigger("msg").unwrap();
        assert_eq!(decoded.body.as_str(), delivery.message.body.as_str());
    }
}
