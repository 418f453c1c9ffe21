use base64::Engine as _;
use serde_json::{Map, Value};

use crate::WireError;
use crate::encoding::{
    decode_scalar, decode_string, decode_text_body, encode_metadata_value, encode_text_body,
};
use crate::newtonsoft::JToken;

/// Trigger metadata of a Service Bus message, as the Service Bus extension (5.x) publishes it.
///
/// Keys from `ServiceBusTriggerBindingStrategy.AddBindingData` in `Azure/azure-sdk-for-net`
/// (`sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/Triggers/`). On the wire each
/// scalar is JSON text inside a JSON string (`"DeliveryCount": "1"`, `"MessageId": "\"abc\""`);
/// [`ServiceBusMetadata::from_metadata`] decodes that and [`ServiceBusMetadata::to_metadata`]
/// produces it. Absent keys are `None`; unknown keys are ignored.
///
/// Dates are the exception: `GetHttpScriptInvocationContextValue`
/// (`src/WebJobs.Script/Workers/MessageExtensions/ScriptInvocationContextExtensions.cs` in
/// `Azure/azure-functions-host`) turns a `DateTime` into `DateTime.Parse(value.ToString())` before
/// anything else, so `EnqueuedTimeUtc` / `ExpiresAtUtc` (the extension's `DateTime` back-compat
/// keys) arrive as plain JSON date strings with whole seconds and no zone
/// (`"2024-05-01T10:00:00"`), and `EnqueuedTime` / `ExpiresAt` (`DateTimeOffset`) with an offset
/// (`"2024-05-01T10:00:00+00:00"`). Decoding accepts both plain and double-encoded dates.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceBusMetadata {
    /// `MessageId`.
    pub message_id: Option<String>,
    /// `DeliveryCount`: 1 on the first delivery, incremented on every redelivery.
    pub delivery_count: Option<u32>,
    /// `SequenceNumber`, unique per entity and increasing.
    pub sequence_number: Option<i64>,
    /// `EnqueuedTimeUtc` (a `DateTime`: sent as a plain date string, no zone).
    pub enqueued_time_utc: Option<String>,
    /// `ExpiresAtUtc` (a `DateTime`: sent as a plain date string, no zone).
    pub expires_at_utc: Option<String>,
    /// `EnqueuedTime` (a `DateTimeOffset`: sent as a plain date string with its offset).
    pub enqueued_time: Option<String>,
    /// `ExpiresAt` (a `DateTimeOffset`: sent as a plain date string with its offset).
    pub expires_at: Option<String>,
    /// `LockToken` of the PeekLock delivery.
    pub lock_token: Option<String>,
    /// `ContentType`.
    pub content_type: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `Subject` (older hosts: `Label`).
    pub subject: Option<String>,
    /// `ReplyTo`.
    pub reply_to: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `SessionId`.
    pub session_id: Option<String>,
    /// `PartitionKey`.
    pub partition_key: Option<String>,
    /// `DeadLetterSource`, set on messages read from a dead-letter queue.
    pub dead_letter_source: Option<String>,
    /// `ApplicationProperties` (also published as `UserProperties`).
    pub application_properties: Map<String, Value>,
}

impl ServiceBusMetadata {
    /// Decode from an invocation's `Metadata`.
    pub fn from_metadata(metadata: &Map<String, Value>) -> Result<Self, WireError> {
        let text = |key: &str| metadata.get(key).and_then(decode_string);
        let integer = |key: &str| -> Result<Option<i64>, WireError> {
            let Some(raw) = metadata.get(key) else {
                return Ok(None);
            };
            match decode_scalar(raw) {
                Value::Null => Ok(None),
                Value::Number(n) if n.is_i64() => Ok(n.as_i64()),
                // A JSON body member of the same name overwrites the trigger's value and arrives
                // as `"\"7\""` (`Utility.ApplyBindingData`): still an integer.
                Value::String(s) if s.parse::<i64>().is_ok() => Ok(s.parse().ok()),
                other => Err(WireError::MalformedMetadata {
                    key: key.to_owned(),
                    reason: format!("expected an integer, got {other}"),
                }),
            }
        };
        let delivery_count = integer("DeliveryCount")?
            .map(|n| {
                u32::try_from(n).map_err(|_| WireError::MalformedMetadata {
                    key: "DeliveryCount".to_owned(),
                    reason: format!("expected a non-negative count, got {n}"),
                })
            })
            .transpose()?;
        let application_properties = ["ApplicationProperties", "UserProperties"]
            .iter()
            .find_map(|k| match metadata.get(*k).map(decode_scalar) {
                Some(Value::Object(map)) => Some(map),
                _ => None,
            })
            .unwrap_or_default();
        Ok(Self {
            message_id: text("MessageId"),
            delivery_count,
            sequence_number: integer("SequenceNumber")?,
            enqueued_time_utc: text("EnqueuedTimeUtc"),
            expires_at_utc: text("ExpiresAtUtc"),
            enqueued_time: text("EnqueuedTime"),
            expires_at: text("ExpiresAt"),
            lock_token: text("LockToken"),
            content_type: text("ContentType"),
            correlation_id: text("CorrelationId"),
            subject: text("Subject").or_else(|| text("Label")),
            reply_to: text("ReplyTo"),
            to: text("To"),
            session_id: text("SessionId"),
            partition_key: text("PartitionKey"),
            dead_letter_source: text("DeadLetterSource"),
            application_properties,
        })
    }

    /// Encode as the host does: scalars as JSON text in strings, dates as plain strings, nulls
    /// dropped, both the current and the legacy names (`Subject`/`Label`,
    /// `ApplicationProperties`/`UserProperties`).
    pub fn to_metadata(&self) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, date) in [
            ("EnqueuedTimeUtc", &self.enqueued_time_utc),
            ("EnqueuedTime", &self.enqueued_time),
            ("ExpiresAtUtc", &self.expires_at_utc),
            ("ExpiresAt", &self.expires_at),
        ] {
            if let Some(d) = date {
                out.insert(key.to_owned(), Value::String(d.clone()));
            }
        }
        let mut put = |key: &str, value: Value| {
            if let Some(v) = encode_metadata_value(&value) {
                out.insert(key.to_owned(), v);
            }
        };
        let s = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        put("MessageId", s(&self.message_id));
        put(
            "DeliveryCount",
            self.delivery_count.map_or(Value::Null, Value::from),
        );
        put(
            "SequenceNumber",
            self.sequence_number.map_or(Value::Null, Value::from),
        );
        put("LockToken", s(&self.lock_token));
        put("ContentType", s(&self.content_type));
        put("CorrelationId", s(&self.correlation_id));
        put("Subject", s(&self.subject));
        put("Label", s(&self.subject));
        put("ReplyTo", s(&self.reply_to));
        put("To", s(&self.to));
        put("SessionId", s(&self.session_id));
        put("PartitionKey", s(&self.partition_key));
        put("DeadLetterSource", s(&self.dead_letter_source));
        let props = Value::Object(self.application_properties.clone());
        put("ApplicationProperties", props.clone());
        put("UserProperties", props);
        out
    }
}

/// A Service Bus trigger input: the message body text and its metadata.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceBusMessage {
    /// Body text, with the host's double encoding removed.
    pub body: String,
    /// Decoded trigger metadata.
    pub metadata: ServiceBusMetadata,
}

impl ServiceBusMessage {
    /// Decode a `string`-typed trigger input (the default `dataType`).
    ///
    /// The host sends the body double-encoded (`"\"{\\\"a\\\":1}\""`); a single-encoded string or
    /// a JSON object is accepted as well (see [`crate::encoding::decode_text_body`]).
    pub fn from_wire(
        binding: &str,
        data: &Value,
        metadata: &Map<String, Value>,
    ) -> Result<Self, WireError> {
        let body = decode_text_body(data).ok_or_else(|| WireError::MalformedBinding {
            binding: binding.to_owned(),
            reason: "message body is null".to_owned(),
        })?;
        Ok(Self {
            body,
            metadata: ServiceBusMetadata::from_metadata(metadata)?,
        })
    }

    /// Decode a `binary`-typed trigger input (`"dataType": "binary"`): base64 of the raw bytes.
    pub fn binary_body(binding: &str, data: &Value) -> Result<Vec<u8>, WireError> {
        let malformed = |reason: String| WireError::MalformedBinding {
            binding: binding.to_owned(),
            reason,
        };
        let text = data
            .as_str()
            .ok_or_else(|| malformed("expected a base64 string".to_owned()))?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| malformed(format!("invalid base64: {e}")))
    }

    /// The `Data` value the host would send for this body (double-encoded string).
    pub fn data_value(&self) -> Value {
        encode_text_body(&self.body)
    }
}

/// The message bodies the host sends for one `serviceBus` output binding value, or why the
/// invocation fails.
///
/// The host's pipeline, step by step (`Azure/azure-functions-host`):
/// 1. `Workers/Http/HttpScriptInvocationResultExtensions.GetBindingValue`: a **top-level** string
///    that is valid base64 becomes `byte[]`, which reaches the queue as the literal text
///    `System.Byte[]` (array elements are never converted);
/// 2. `Binding/FunctionBinding.BindAsyncCollectorAsync<string>` / `ReadAsEnumerable` (the
///    Service Bus output binds as `IAsyncCollector<string>`): an array sends one message per
///    element; a string that looks like JSON (`Utility.IsJson`: trimmed, `{..}` or `[..]`) is
///    parsed, an array giving one message per element and an object one message, and **text that
///    looks like JSON but is not fails the invocation**; `null` sends nothing;
/// 3. each message is `ToString()` of its value ([`JToken::to_text`]): objects indented in the
///    reply's member order, `True`/`False`, strings raw, a `null` element an empty body.
pub fn service_bus_output_bodies(value: &JToken) -> Result<Vec<String>, OutputError> {
    match value {
        JToken::Null => Ok(Vec::new()),
        JToken::String(s) if is_base64(s) => Ok(vec!["System.Byte[]".to_owned()]),
        JToken::String(s) if looks_like_json(s) => match JToken::parse(s.trim()) {
            Ok(JToken::Array(items)) => Ok(items.iter().map(JToken::to_text).collect()),
            Ok(parsed) => Ok(vec![parsed.to_text()]),
            Err(e) => Err(OutputError::InvalidJson(e.to_string())),
        },
        JToken::Array(items) => Ok(items.iter().map(JToken::to_text).collect()),
        other => Ok(vec![other.to_text()]),
    }
}

/// Why the host fails an invocation over a `serviceBus` output value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutputError {
    /// A string output that looks like JSON (`{...}` / `[...]`) but does not parse.
    #[error("the output string looks like JSON but is not: {0}")]
    InvalidJson(String),
}

/// `Utility.IsJson` in the host: trimmed text that starts with `{` and ends with `}`, or `[` / `]`.
fn looks_like_json(s: &str) -> bool {
    let t = s.trim();
    (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'))
}

fn is_base64(s: &str) -> bool {
    !s.is_empty() && base64::engine::general_purpose::STANDARD.decode(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn host_metadata() -> Map<String, Value> {
        json!({
            "MessageId": "\"088f2d6c\"",
            "DeliveryCount": "3",
            "SequenceNumber": "42",
            "EnqueuedTimeUtc": "2024-05-01T10:00:00",
            "EnqueuedTime": "2024-05-01T10:00:00+00:00",
            "LockToken": "\"5b1c\"",
            "ContentType": "\"application/json\"",
            "CorrelationId": "\"corr-1\"",
            "ApplicationProperties": {"attempt": 2},
            "sys": {"MethodName": "ProcessJob"}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    #[test]
    fn decodes_host_encoded_metadata() {
        let m = ServiceBusMetadata::from_metadata(&host_metadata()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("088f2d6c"));
        assert_eq!(m.delivery_count, Some(3));
        assert_eq!(m.sequence_number, Some(42));
        assert_eq!(m.enqueued_time_utc.as_deref(), Some("2024-05-01T10:00:00"));
        assert_eq!(
            m.enqueued_time.as_deref(),
            Some("2024-05-01T10:00:00+00:00")
        );
        let older = ServiceBusMetadata::from_metadata(
            json!({"EnqueuedTimeUtc": "\"2024-05-01T10:00:00Z\""})
                .as_object()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            older.enqueued_time_utc.as_deref(),
            Some("2024-05-01T10:00:00Z"),
            "a double-encoded date is accepted too"
        );
        assert_eq!(m.correlation_id.as_deref(), Some("corr-1"));
        assert_eq!(m.application_properties.get("attempt"), Some(&json!(2)));
    }

    #[test]
    fn metadata_round_trips_through_host_encoding() {
        let m = ServiceBusMetadata::from_metadata(&host_metadata()).unwrap();
        let wire = m.to_metadata();
        assert_eq!(wire.get("DeliveryCount"), Some(&json!("3")));
        assert_eq!(wire.get("MessageId"), Some(&json!("\"088f2d6c\"")));
        assert_eq!(
            wire.get("EnqueuedTimeUtc"),
            Some(&json!("2024-05-01T10:00:00")),
            "dates are not double-encoded"
        );
        assert!(!wire.contains_key("SessionId"), "nulls are dropped");
        assert_eq!(ServiceBusMetadata::from_metadata(&wire).unwrap(), m);
    }

    #[test]
    fn bad_delivery_count_is_an_error() {
        let mut md = host_metadata();
        md.insert("DeliveryCount".into(), json!("\"many\""));
        assert!(matches!(
            ServiceBusMetadata::from_metadata(&md),
            Err(WireError::MalformedMetadata { key, .. }) if key == "DeliveryCount"
        ));
        md.insert("DeliveryCount".into(), json!("-1"));
        assert!(ServiceBusMetadata::from_metadata(&md).is_err());
    }

    #[test]
    fn double_encoded_body_is_decoded() {
        let msg =
            ServiceBusMessage::from_wire("msg", &json!("\"{\\\"a\\\":1}\""), &host_metadata())
                .unwrap();
        assert_eq!(msg.body, "{\"a\":1}");
        assert_eq!(msg.data_value(), json!("\"{\\\"a\\\":1}\""));
        assert!(ServiceBusMessage::from_wire("msg", &Value::Null, &Map::new()).is_err());
    }

    #[test]
    fn output_bodies_follow_host_rules() {
        let bodies = |text: &str| service_bus_output_bodies(&JToken::parse(text).unwrap());
        assert_eq!(
            bodies(r#"{"b":1,"a":{"z":true}}"#).unwrap(),
            vec!["{\n  \"b\": 1,\n  \"a\": {\n    \"z\": true\n  }\n}"]
        );
        assert_eq!(
            bodies(r#"[{"b":1}, true, "aGVsbG8=", "plain", 5, null]"#).unwrap(),
            vec!["{\n  \"b\": 1\n}", "True", "aGVsbG8=", "plain", "5", ""]
        );
        assert_eq!(bodies(r#""[1,2]""#).unwrap(), vec!["1", "2"]);
        assert_eq!(bodies(r#""{\"a\":1}""#).unwrap(), vec!["{\n  \"a\": 1\n}"]);
        assert_eq!(bodies(r#""aGVsbG8=""#).unwrap(), vec!["System.Byte[]"]);
        assert_eq!(bodies("true").unwrap(), vec!["True"]);
        assert_eq!(bodies(r#""hello world""#).unwrap(), vec!["hello world"]);
        assert!(bodies("[]").unwrap().is_empty());
        assert!(bodies("null").unwrap().is_empty());
        assert!(matches!(
            bodies(r#""{oops}""#),
            Err(OutputError::InvalidJson(_))
        ));
    }
}
