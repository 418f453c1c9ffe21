//! The invocation request the host builds for a Service Bus trigger.

use broker::store::Delivery;
use serde_json::{Map, Value};
use wire::encoding::encode_metadata_value;
use wire::{InvocationRequest, ServiceBusMessage, ServiceBusMetadata};

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

/// The invocation the host builds for a Service Bus trigger (`dataType` string) bound as `binding`.
///
/// The body is double-encoded and the metadata scalars string-encoded (see the `wire` crate). As
/// in the real extension, a JSON object body also has its top-level members copied into `Metadata`
/// first, so the trigger's own properties win over same-named body fields.
pub fn service_bus_invocation(
    function: &str,
    binding: &str,
    delivery: &Delivery,
) -> InvocationRequest {
    let metadata_in = ServiceBusMetadata {
        message_id: Some(delivery.message_id.clone()),
        delivery_count: Some(delivery.delivery_count),
        sequence_number: Some(delivery.sequence_number),
        enqueued_time_utc: Some(host_date(&delivery.enqueued_at)),
        enqueued_time: Some(host_date_offset(&delivery.enqueued_at)),
        expires_at_utc: Some(host_date(&delivery.expires_at)),
        expires_at: Some(host_date_offset(&delivery.expires_at)),
        lock_token: Some(delivery.lock_token.clone()),
        content_type: delivery.content_type.clone(),
        correlation_id: delivery.correlation_id.clone(),
        application_properties: delivery.properties.clone(),
        ..ServiceBusMetadata::default()
    };
    let mut metadata = Map::new();
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&delivery.body) {
        for (k, v) in fields {
            if let Some(encoded) = encode_metadata_value(&v) {
                metadata.insert(k, encoded);
            }
        }
    }
    metadata.extend(metadata_in.to_metadata());
    metadata.insert("sys".into(), sys_metadata(function));
    let message = ServiceBusMessage {
        body: delivery.body.clone(),
        metadata: metadata_in,
    };
    let mut data = Map::new();
    data.insert(binding.to_owned(), message.data_value());
    InvocationRequest { data, metadata }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn service_bus_invocation_is_host_shaped() {
        let delivery = Delivery {
            sequence_number: 7,
            queue: "jobs".into(),
            message_id: "m-1".into(),
            body: r#"{"a":1,"DeliveryCount":99}"#.into(),
            content_type: Some("application/json".into()),
            correlation_id: None,
            properties: Map::new(),
            delivery_count: 2,
            enqueued_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
            lock_token: "lt".into(),
            locked_until: chrono::Utc::now(),
        };
        let inv = service_bus_invocation("ProcessJob", "msg", &delivery);
        assert_eq!(
            inv.data["msg"],
            json!("\"{\\\"a\\\":1,\\\"DeliveryCount\\\":99}\"")
        );
        assert_eq!(
            inv.metadata["DeliveryCount"],
            json!("2"),
            "trigger metadata wins over body fields"
        );
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
        assert_eq!(inv.metadata["a"], json!("1"));
        assert_eq!(inv.metadata["sys"]["MethodName"], json!("ProcessJob"));
        let decoded = inv.service_bus_trigger("msg").unwrap();
        assert_eq!(
            (decoded.body.as_str(), decoded.metadata.delivery_count),
            (delivery.body.as_str(), Some(2))
        );
    }
}
