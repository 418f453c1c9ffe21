use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::encoding::{decode_scalar, decode_string};
use crate::{HttpRequestData, ServiceBusMessage, WireError};

/// The body of an invocation request: `POST /{FunctionName}` from the host to the handler.
///
/// `Data` holds one entry per input binding, keyed by binding name; `Metadata` holds trigger
/// metadata plus `sys`. Built by `HttpScriptInvocationContext` / `ToHttpScriptInvocationContext`
/// in `Azure/azure-functions-host` (`src/WebJobs.Script/Workers/Http/`). Unknown keys are kept,
/// never rejected: the host adds metadata over time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationRequest {
    /// Input binding values keyed by binding name.
    #[serde(rename = "Data", default)]
    pub data: Map<String, Value>,
    /// Trigger metadata keyed by name, plus `sys`.
    #[serde(rename = "Metadata", default)]
    pub metadata: Map<String, Value>,
}

/// `Metadata.sys`: what the host adds to every invocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SysMetadata {
    /// The function name (`MethodName`).
    #[serde(rename = "MethodName", default)]
    pub method_name: Option<String>,
    /// Invocation time on the host, ISO 8601 (`UtcNow`).
    #[serde(rename = "UtcNow", default)]
    pub utc_now: Option<String>,
    /// A random GUID per invocation (`RandGuid`).
    #[serde(rename = "RandGuid", default)]
    pub rand_guid: Option<String>,
}

impl InvocationRequest {
    /// The HTTP trigger input bound under `binding` (usually `req`).
    pub fn http_trigger(&self, binding: &str) -> Result<HttpRequestData, WireError> {
        let value = self
            .data
            .get(binding)
            .ok_or_else(|| WireError::MissingBinding(binding.to_owned()))?;
        HttpRequestData::from_value(value).map_err(|e| WireError::MalformedBinding {
            binding: binding.to_owned(),
            reason: e.to_string(),
        })
    }

    /// The Service Bus trigger input bound under `binding`, with its decoded metadata.
    pub fn service_bus_trigger(&self, binding: &str) -> Result<ServiceBusMessage, WireError> {
        let value = self
            .data
            .get(binding)
            .ok_or_else(|| WireError::MissingBinding(binding.to_owned()))?;
        ServiceBusMessage::from_wire(binding, value, &self.metadata)
    }

    /// `Metadata.sys`, if the host sent it. Tolerates string-encoded members.
    pub fn sys(&self) -> Option<SysMetadata> {
        let sys = self.metadata.get("sys")?.as_object()?;
        let field = |k: &str| sys.get(k).and_then(decode_string);
        Some(SysMetadata {
            method_name: field("MethodName"),
            utc_now: field("UtcNow"),
            rand_guid: field("RandGuid"),
        })
    }

    /// A metadata value decoded from the host's scalar encoding.
    pub fn metadata_value(&self, key: &str) -> Option<Value> {
        self.metadata.get(key).map(decode_scalar)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_host_shape_and_ignores_unknown_fields() {
        let req: InvocationRequest = serde_json::from_value(json!({
            "Data": {"req": {"Url": "http://localhost/api/x", "Method": "POST"}},
            "Metadata": {"sys": {"MethodName": "X", "UtcNow": "2024-01-01T00:00:00Z", "RandGuid": "g"}},
            "Extra": true
        }))
        .unwrap();
        let sys = req.sys().unwrap();
        assert_eq!(sys.method_name.as_deref(), Some("X"));
        assert!(req.http_trigger("req").is_ok());
        assert!(matches!(
            req.http_trigger("other"),
            Err(WireError::MissingBinding(_))
        ));
    }

    #[test]
    fn missing_sections_default_to_empty() {
        let req: InvocationRequest = serde_json::from_str("{}").unwrap();
        assert!(req.data.is_empty() && req.metadata.is_empty() && req.sys().is_none());
    }
}
