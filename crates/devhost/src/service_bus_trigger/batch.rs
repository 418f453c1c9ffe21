//! `cardinality: many`: batches of messages per invocation, as the Service Bus extension 5.x
//! delivers them to a custom handler.
//!
//! * Dispatch (SB `Listeners/ServiceBusListener`, the batch receive loop): one batch at a time per
//!   function, up to `maxMessageBatchSize` (default 1000, `ServiceBusOptions.MaxMessageBatchSize`)
//!   of the messages available; no lock renewal (`MaxAutoLockRenewalDuration` "does not apply for
//!   functions that receive a batch of messages"); with `autoCompleteMessages` every message is
//!   completed on success and abandoned on failure.
//! * Wire: the trigger value is `string[]` (`byte[][]` with `dataType: binary`; H
//!   `Binding/GeneralScriptBindingProvider.GetRequestedType`), which
//!   `ScriptInvocationContextExtensions.GetHttpScriptInvocationContextValue` cannot turn into a
//!   `JObject` and so sends as `JsonConvert.SerializeObject(value)`: one JSON string holding the
//!   array of raw bodies (base64 for binary). The binding data (SB `Triggers/
//!   ServiceBusTriggerBindingStrategy.AddBindingData(…, ServiceBusReceivedMessage[])`) is one
//!   `<Name>Array` per property, each sent the same way (`"[1,1]"`); there are no body fields
//!   (`Utility.ApplyBindingData` reads only a string trigger value).

use serde_json::{Map, Value, json};
use wire::InvocationRequest;

use crate::handler::invoker::sys_metadata;
use broker::store::Delivery;

/// `DateTime` as Newtonsoft writes it by default: ISO 8601, up to 7 fraction digits with trailing
/// zeros dropped, and `offset` appended (`""` for a `DateTime` of unspecified kind, `+00:00` for a
/// `DateTimeOffset`).
fn newtonsoft_date(t: &chrono::DateTime<chrono::Utc>, offset: &str) -> String {
    let ticks = t.timestamp_subsec_nanos() / 100;
    let fraction = format!("{ticks:07}");
    let fraction = fraction.trim_end_matches('0');
    let dot = if fraction.is_empty() { "" } else { "." };
    format!("{}{dot}{fraction}{offset}", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// The invocation for a batch of `deliveries` bound as `binding`.
pub fn batch_invocation(
    function: &str,
    binding: &str,
    deliveries: &[Delivery],
    binary: bool,
) -> InvocationRequest {
    use base64::Engine as _;
    let bodies: Vec<Value> = deliveries
        .iter()
        .map(|d| {
            if binary {
                Value::String(
                    base64::engine::general_purpose::STANDARD.encode(d.message.body.as_bytes()),
                )
            } else {
                Value::String(d.message.body.clone())
            }
        })
        .collect();
    let serialized = |items: Vec<Value>| Value::String(Value::Array(items).to_string());
    let mut data = Map::new();
    data.insert(binding.to_owned(), serialized(bodies));

    let column = |f: &dyn Fn(&Delivery) -> Value| deliveries.iter().map(f).collect::<Vec<_>>();
    let none = |_: &Delivery| Value::Null;
    let mut metadata = Map::new();
    let properties = column(&|d| Value::Object(d.message.properties.clone()));
    let subjects = column(&none);
    let partition_keys = column(&none);
    let columns: Vec<(&str, Vec<Value>)> = vec![
        (
            "DeliveryCountArray",
            column(&|d| json!(d.message.delivery_count)),
        ),
        ("DeadLetterSourceArray", column(&none)),
        ("LockTokenArray", column(&|d| json!(d.lock_token))),
        (
            "ExpiresAtUtcArray",
            column(&|d| json!(newtonsoft_date(&d.message.expires_at, ""))),
        ),
        (
            "ExpiresAtArray",
            column(&|d| json!(newtonsoft_date(&d.message.expires_at, "+00:00"))),
        ),
        (
            "EnqueuedTimeUtcArray",
            column(&|d| json!(newtonsoft_date(&d.message.enqueued_at, ""))),
        ),
        (
            "EnqueuedTimeArray",
            column(&|d| json!(newtonsoft_date(&d.message.enqueued_at, "+00:00"))),
        ),
        ("MessageIdArray", column(&|d| json!(d.message.message_id))),
        (
            "ContentTypeArray",
            column(&|d| json!(d.message.content_type)),
        ),
        ("ReplyToArray", column(&none)),
        (
            "SequenceNumberArray",
            column(&|d| json!(d.message.sequence_number)),
        ),
        ("ToArray", column(&none)),
        ("SubjectArray", subjects.clone()),
        ("LabelArray", subjects),
        (
            "CorrelationIdArray",
            column(&|d| json!(d.message.correlation_id)),
        ),
        ("ApplicationPropertiesArray", properties.clone()),
        ("UserPropertiesArray", properties),
        ("SessionIdArray", column(&none)),
        ("ReplyToSessionIdArray", column(&none)),
        // The extension fills `TransactionPartitionKeyArray` with the partition keys too.
        ("PartitionKeyArray", partition_keys.clone()),
        ("TransactionPartitionKeyArray", partition_keys),
    ];
    for (key, values) in columns {
        metadata.insert(key.to_owned(), serialized(values));
    }
    metadata.insert("sys".into(), sys_metadata(function));
    InvocationRequest { data, metadata }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker::store::Message;

    fn delivery(seq: i64, body: &str) -> Delivery {
        let at = chrono::DateTime::parse_from_rfc3339("2026-05-01T10:00:00.1234500Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let message = Message {
            sequence_number: seq,
            message_id: format!("m{seq}"),
            body: body.into(),
            content_type: None,
            correlation_id: None,
            properties: Map::new(),
            delivery_count: 1,
            enqueued_at: at,
            expires_at: at,
        };
        Delivery {
            message,
            queue: "q".into(),
            lock_token: format!("l{seq}"),
            locked_until: at,
        }
    }

    #[test]
    fn a_batch_is_arrays_serialized_into_strings() {
        let batch = [delivery(1, r#"{"a":1}"#), delivery(2, "plain")];
        let inv = batch_invocation("F", "msg", &batch, false);
        assert_eq!(inv.data["msg"], json!(r#"["{\"a\":1}","plain"]"#));
        assert_eq!(inv.metadata["DeliveryCountArray"], json!("[1,1]"));
        assert_eq!(inv.metadata["MessageIdArray"], json!(r#"["m1","m2"]"#));
        assert_eq!(inv.metadata["SequenceNumberArray"], json!("[1,2]"));
        assert_eq!(inv.metadata["ReplyToArray"], json!("[null,null]"));
        assert_eq!(
            inv.metadata["EnqueuedTimeArray"],
            json!(r#"["2026-05-01T10:00:00.12345+00:00","2026-05-01T10:00:00.12345+00:00"]"#)
        );
        assert_eq!(
            inv.metadata["ExpiresAtUtcArray"],
            json!(r#"["2026-05-01T10:00:00.12345","2026-05-01T10:00:00.12345"]"#)
        );
        assert_eq!(inv.metadata["ApplicationPropertiesArray"], json!("[{},{}]"));
        assert!(inv.metadata.get("a").is_none() && inv.metadata.get("MessageId").is_none());
        let binary = batch_invocation("F", "msg", &batch[1..], true);
        assert_eq!(binary.data["msg"], json!(r#"["cGxhaW4="]"#));
    }
}
