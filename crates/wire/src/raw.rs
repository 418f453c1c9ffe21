//! The invocation request with its binding values left as JSON text until they are read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::{HttpRequestData, ServiceBusMessage, WireError};

/// An [`InvocationRequest`](crate::InvocationRequest) whose `Data` and `Metadata` entries are kept as raw JSON text.
///
/// Parsing only checks that the body is well-formed JSON of the right outline; each binding is
/// then decoded straight into its typed form when it is read, without a `serde_json::Value` tree
/// in between. A function reads one trigger, so the entries it never reads (for an HTTP trigger,
/// the host's copy of the headers and query in `Metadata`) cost a scan and a copy, not a parse.
/// Decoding gives the same results, and the same errors, as [`InvocationRequest`](crate::InvocationRequest).
#[derive(Debug, Default, Deserialize)]
pub struct RawInvocationRequest {
    /// Input binding values keyed by binding name, as JSON text.
    #[serde(rename = "Data", default)]
    pub data: BTreeMap<String, Box<RawValue>>,
    /// Trigger metadata keyed by name (plus `sys`), as JSON text.
    #[serde(rename = "Metadata", default)]
    pub metadata: BTreeMap<String, Box<RawValue>>,
}

impl RawInvocationRequest {
    /// The HTTP trigger input bound under `binding` (see [`InvocationRequest::http_trigger`](crate::InvocationRequest::http_trigger)).
    pub fn http_trigger(&self, binding: &str) -> Result<HttpRequestData, WireError> {
        serde_json::from_str(self.binding(binding)?.get()).map_err(|e| {
            WireError::MalformedBinding {
                binding: binding.to_owned(),
                reason: e.to_string(),
            }
        })
    }

    /// The Service Bus trigger input bound under `binding`, with its decoded metadata
    /// (see [`InvocationRequest::service_bus_trigger`](crate::InvocationRequest::service_bus_trigger)).
    pub fn service_bus_trigger(&self, binding: &str) -> Result<ServiceBusMessage, WireError> {
        let data =
            parse_value(self.binding(binding)?).map_err(|e| WireError::MalformedBinding {
                binding: binding.to_owned(),
                reason: e.to_string(),
            })?;
        ServiceBusMessage::from_wire(binding, &data, &self.metadata_map()?)
    }

    fn binding(&self, binding: &str) -> Result<&RawValue, WireError> {
        self.data
            .get(binding)
            .map(AsRef::as_ref)
            .ok_or_else(|| WireError::MissingBinding(binding.to_owned()))
    }

    fn metadata_map(&self) -> Result<Map<String, Value>, WireError> {
        self.metadata
            .iter()
            .map(|(k, v)| {
                parse_value(v).map(|value| (k.clone(), value)).map_err(|e| {
                    WireError::MalformedMetadata {
                        key: k.clone(),
                        reason: e.to_string(),
                    }
                })
            })
            .collect()
    }
}

fn parse_value(raw: &RawValue) -> Result<Value, serde_json::Error> {
    serde_json::from_str(raw.get())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InvocationRequest;
    use serde_json::json;

    fn both(body: &Value) -> (InvocationRequest, RawInvocationRequest) {
        let text = body.to_string();
        (
            serde_json::from_str(&text).unwrap(),
            serde_json::from_str(&text).unwrap(),
        )
    }

    #[test]
    fn http_trigger_decodes_as_the_value_model_does() {
        let body = json!({
            "Data": {"req": {
                "Url": "http://localhost:7071/api/IngestJob?x=1", "Method": "POST",
                "Query": "{\"x\":\"1\"}", "Headers": {"Content-Type": ["application/json"], "X-One": "a"},
                "Identities": [{"IsAuthenticated": false}], "Body": "{\"a\":1}"
            }},
            "Metadata": {"Query": {"x": "1"}, "Headers": {}, "sys": {"MethodName": "IngestJob"}},
            "Extra": [1, 2]
        });
        let (value, raw) = both(&body);
        assert_eq!(
            raw.http_trigger("req").unwrap(),
            value.http_trigger("req").unwrap()
        );
        assert!(
            matches!(raw.http_trigger("nope"), Err(WireError::MissingBinding(b)) if b == "nope")
        );
    }

    #[test]
    fn service_bus_trigger_decodes_as_the_value_model_does() {
        let body = json!({
            "Data": {"msg": "\"{\\\"jobId\\\":\\\"j\\\"}\""},
            "Metadata": {"MessageId": "\"m-1\"", "DeliveryCount": "3", "UserProperties": {"a": "b"}}
        });
        let (value, raw) = both(&body);
        let from_raw = raw.service_bus_trigger("msg").unwrap();
        assert_eq!(from_raw, value.service_bus_trigger("msg").unwrap());
        assert_eq!(from_raw.body, r#"{"jobId":"j"}"#);
        assert_eq!(from_raw.metadata.delivery_count, Some(3));
    }

    #[test]
    fn malformed_bindings_are_reported_by_name() {
        let body =
            json!({"Data": {"req": [1, 2], "msg": null}, "Metadata": {"DeliveryCount": "x"}});
        let (_, raw) = both(&body);
        assert!(
            matches!(raw.http_trigger("req"), Err(WireError::MalformedBinding { binding, .. }) if binding == "req")
        );
        assert!(raw.service_bus_trigger("msg").is_err());
    }

    #[test]
    fn outline_is_checked_and_sections_default_to_empty() {
        let raw: RawInvocationRequest = serde_json::from_str("{}").unwrap();
        assert!(raw.data.is_empty() && raw.metadata.is_empty());
        assert!(serde_json::from_str::<RawInvocationRequest>(r#"{"Data": [1]}"#).is_err());
        assert!(serde_json::from_str::<RawInvocationRequest>(r#"{"Data": {"req": }"#).is_err());
    }
}
