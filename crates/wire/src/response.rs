use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::HttpResponseData;

/// The handler's answer to an invocation request.
///
/// Read by the host as `HttpScriptInvocationResult` (`Azure/azure-functions-host`,
/// `src/WebJobs.Script/Workers/Http/HttpScriptInvocationResult.cs`) in
/// `DefaultHttpWorkerService.ProcessDefaultInvocationRequest`, which first calls
/// `EnsureSuccessStatusCode`: any non-2xx fails the invocation and its `Outputs` and `Logs` are never
/// read. `Logs` become the invocation's user log lines (`ProcessLogsFromHttpResponse`). Output
/// names are case-sensitive and must match `function.json`; a string output value that is valid
/// base64 is turned into bytes (`GetBindingValue`), see [`crate::service_bus_output_bodies`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvocationResponse {
    /// Output binding values keyed by binding name.
    #[serde(rename = "Outputs", default, deserialize_with = "null_as_default")]
    pub outputs: Map<String, Value>,
    /// Log lines the host records as the invocation's user logs.
    #[serde(rename = "Logs", default, deserialize_with = "null_as_default")]
    pub logs: Vec<String>,
    /// The function's return value (bound to a `$return` output, if any).
    #[serde(rename = "ReturnValue", default)]
    pub return_value: Option<Value>,
}

impl InvocationResponse {
    /// Set an output binding value.
    pub fn with_output(mut self, binding: &str, value: Value) -> Self {
        self.outputs.insert(binding.to_owned(), value);
        self
    }

    /// Set the HTTP output binding.
    pub fn with_http(self, binding: &str, res: &HttpResponseData) -> Self {
        let value = serde_json::to_value(res).unwrap_or(Value::Null);
        self.with_output(binding, value)
    }

    /// Append a log line.
    pub fn log(&mut self, line: impl Into<String>) {
        self.logs.push(line.into());
    }

    /// The HTTP output binding, decoded (tolerant of the host's accepted variants).
    pub fn http(&self, binding: &str) -> Option<Result<HttpResponseData, serde_json::Error>> {
        self.outputs.get(binding).map(HttpResponseData::deserialize)
    }
}

/// An invocation response with typed outputs, serialised in one pass.
///
/// The same JSON as [`InvocationResponse`] (`Outputs`, `Logs`, `ReturnValue: null`) for a handler
/// that knows its output bindings: `outputs` is any value that serialises as an object keyed by
/// binding name, so no `serde_json::Value` tree is built on the way out.
#[derive(Debug, Clone, Serialize)]
pub struct TypedInvocationResponse<O> {
    /// Output binding values, as an object keyed by binding name.
    #[serde(rename = "Outputs")]
    pub outputs: O,
    /// Log lines the host records as the invocation's user logs.
    #[serde(rename = "Logs")]
    pub logs: Vec<String>,
    /// Always `null`: the contract's functions bind no `$return`.
    #[serde(rename = "ReturnValue")]
    pub return_value: Option<Value>,
}

impl<O> TypedInvocationResponse<O> {
    /// Outputs and log lines, no return value.
    pub fn new(outputs: O, logs: Vec<String>) -> Self {
        Self {
            outputs,
            logs,
            return_value: None,
        }
    }
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn tolerates_nulls_and_reads_http_output() {
        let r: InvocationResponse = serde_json::from_value(json!({
            "Outputs": {"res": {"statusCode": 202, "body": "{}"}}, "Logs": null, "ReturnValue": null
        }))
        .unwrap();
        assert!(r.logs.is_empty());
        assert_eq!(r.http("res").unwrap().unwrap().status_code, 202);
        assert!(r.http("missing").is_none());
    }

    #[test]
    fn typed_response_is_the_same_json() {
        #[derive(Serialize)]
        struct Outputs {
            job: Value,
        }
        let typed = TypedInvocationResponse::new(
            Outputs {
                job: json!({"a": 1}),
            },
            vec!["hello".into()],
        );
        let mut untyped = InvocationResponse::default().with_output("job", json!({"a": 1}));
        untyped.log("hello");
        assert_eq!(
            serde_json::to_string(&typed).unwrap(),
            serde_json::to_string(&untyped).unwrap()
        );
    }

    #[test]
    fn serialises_pascal_case() {
        let mut r = InvocationResponse::default().with_output("job", json!({"a": 1}));
        r.log("hello");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"Outputs": {"job": {"a": 1}}, "Logs": ["hello"], "ReturnValue": null})
        );
    }
}
