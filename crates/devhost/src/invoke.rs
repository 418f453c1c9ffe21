//! Building invocation requests exactly as the host does, and sending them to the handler.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Map, Value, json};
use thiserror::Error;
use tracing::{info, warn};
use wire::encoding::{encode_metadata_value, encode_scalar};
use wire::{
    HttpRequestData, InvocationRequest, InvocationResponse, ServiceBusMessage, ServiceBusMetadata,
};

use crate::supervisor::Handler;
use broker::store::Delivery;

/// The host version the devhost reports (`X-Azure-Functions-HostVersion`).
pub const HOST_VERSION: &str = "4.1040.0-devhost";

/// Why an invocation failed. Every variant fails the invocation (the message is abandoned; an HTTP
/// client gets 500).
#[derive(Debug, Error)]
pub enum InvokeError {
    /// No handler is running (starting or restarting).
    #[error("the handler is not running")]
    Unavailable,
    /// The handler did not answer within `functionTimeout`; it is being restarted.
    #[error("timed out after {0:?}: the handler is being restarted")]
    Timeout(Duration),
    /// The connection failed (the handler crashed mid-invocation).
    #[error("transport error: {0}")]
    Transport(String),
    /// The handler answered non-2xx.
    #[error("the handler answered {status}: {body}")]
    Failed {
        /// HTTP status.
        status: u16,
        /// Body text (truncated).
        body: String,
    },
    /// The handler answered 2xx with something that is not an invocation response.
    #[error("the handler's answer is not an invocation response: {0}")]
    BadResponse(String),
}

/// Sends invocations to the supervised handler.
#[derive(Debug, Clone)]
pub struct Invoker {
    handler: Handler,
    client: reqwest::Client,
    timeout: Duration,
}

impl Invoker {
    /// An invoker with the app's `functionTimeout`.
    pub fn new(handler: Handler, timeout: Duration) -> Self {
        Self {
            handler,
            client: reqwest::Client::new(),
            timeout,
        }
    }

    /// `POST {handler}/{function}` with the invocation; a timeout restarts the handler.
    pub async fn invoke(
        &self,
        function: &str,
        request: &InvocationRequest,
    ) -> Result<InvocationResponse, InvokeError> {
        let worker = self
            .handler
            .worker(Duration::from_secs(65))
            .await
            .ok_or(InvokeError::Unavailable)?;
        let base = &worker.url;
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let call = self
            .client
            .post(format!("{base}/{function}"))
            .header("X-Azure-Functions-InvocationId", &invocation_id)
            .header("X-Azure-Functions-HostVersion", HOST_VERSION)
            .header("User-Agent", format!("Azure-Functions-Host/{HOST_VERSION}"))
            .json(request)
            .send();
        let exchange = async {
            let response = call.await?;
            let status = response.status();
            Ok::<_, reqwest::Error>((status, response.text().await?))
        };
        let started = tokio::time::Instant::now();
        let (status, text) = match tokio::time::timeout(self.timeout, exchange).await {
            Err(_) => {
                self.handler.restart(worker.generation);
                return Err(InvokeError::Timeout(self.timeout));
            }
            Ok(Err(e)) => return Err(InvokeError::Transport(e.to_string())),
            Ok(Ok(answer)) => answer,
        };
        if !status.is_success() {
            return Err(InvokeError::Failed {
                status: status.as_u16(),
                body: text.chars().take(2_000).collect(),
            });
        }
        if matches!(text.trim(), "" | "null") {
            // The host reads this as no result and never completes the invocation: it hangs
            // until the function timeout, which restarts the handler. Do the same, but say why.
            warn!(
                function,
                invocation_id,
                "the handler answered {status} with an empty body: like the Functions host, the devhost waits for the function timeout ({:?}); always answer a JSON object",
                self.timeout
            );
            tokio::time::sleep(self.timeout.saturating_sub(started.elapsed())).await;
            self.handler.restart(worker.generation);
            return Err(InvokeError::Timeout(self.timeout));
        }
        let response: InvocationResponse =
            serde_json::from_str(&text).map_err(|e| InvokeError::BadResponse(e.to_string()))?;
        // As the host does: each `Logs` line becomes an information line of the invocation.
        for line in &response.logs {
            info!(target: "function", function, invocation_id, "{line}");
        }
        Ok(response)
    }
}

/// `Metadata.sys`.
fn sys(function: &str) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}

/// An HTTP trigger request as it reached the devhost.
#[derive(Debug, Clone)]
pub struct IncomingHttp {
    /// Full URL.
    pub url: String,
    /// Method.
    pub method: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// Headers, each name with its values.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Raw body.
    pub body: Vec<u8>,
}

/// The invocation the host builds for an HTTP trigger bound as `binding`.
///
/// `Body` is present only for a non-empty body: text for textual content, base64 for
/// `application/octet-stream` and `multipart/*`. `Metadata` holds `Query`, `Headers`, `sys`, and,
/// for a JSON object body, its top-level members (scalars encoded as the host encodes them).
pub fn http_invocation(function: &str, binding: &str, req: &IncomingHttp) -> InvocationRequest {
    let content_type = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| v.first())
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let binary = content_type.starts_with("application/octet-stream")
        || content_type.starts_with("multipart/");
    let body = (!req.body.is_empty()).then(|| {
        if binary {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&req.body)
        } else {
            String::from_utf8_lossy(&req.body).into_owned()
        }
    });
    let data = HttpRequestData {
        url: req.url.clone(),
        method: req.method.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        params: BTreeMap::new(),
        identities: json!([]),
        body: body.clone(),
    };
    // The HTTP extension's `GetRequestBindingDataAsync` (azure-webjobs-sdk-extensions): body
    // fields, then query parameters except `code` (overriding them), then `Query` and `Headers`
    // unless a field already took those names. Its dictionary ignores case: a later key replaces
    // the value of an earlier one that differs only in case, and keeps the earlier spelling.
    let mut metadata = Map::new();
    if let Some(Value::Object(fields)) = body
        .as_deref()
        .filter(|_| !binary)
        .and_then(|b| serde_json::from_str(b).ok())
    {
        for (k, v) in fields {
            if let Some(encoded) = encode_metadata_value(&v) {
                insert_ignoring_case(&mut metadata, k, encoded);
            }
        }
    }
    for (k, v) in &req.query {
        if !k.eq_ignore_ascii_case("code") {
            insert_ignoring_case(&mut metadata, k.clone(), encode_scalar(&json!(v)));
        }
    }
    if !contains_ignoring_case(&metadata, "Query") {
        metadata.insert("Query".into(), json!(req.query));
    }
    if !contains_ignoring_case(&metadata, "Headers") {
        // A dictionary of single strings: ASP.NET's `StringValues.ToString()` joins with ",".
        let joined: BTreeMap<&String, String> =
            req.headers.iter().map(|(k, v)| (k, v.join(","))).collect();
        metadata.insert("Headers".into(), json!(joined));
    }
    metadata.insert("sys".into(), sys(function));
    let mut data_map = Map::new();
    data_map.insert(
        binding.to_owned(),
        serde_json::to_value(&data).unwrap_or(Value::Null),
    );
    InvocationRequest {
        data: data_map,
        metadata,
    }
}

fn contains_ignoring_case(map: &Map<String, Value>, key: &str) -> bool {
    map.keys().any(|k| k.eq_ignore_ascii_case(key))
}

/// Insert as a case-insensitive .NET dictionary would: replace the value of a key equal but for
/// case, keeping its spelling.
fn insert_ignoring_case(map: &mut Map<String, Value>, key: String, value: Value) {
    let existing = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&key))
        .cloned()
        .unwrap_or(key);
    map.insert(existing, value);
}

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
    metadata.insert("sys".into(), sys(function));
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

    #[test]
    fn http_invocation_is_host_shaped() {
        let req = IncomingHttp {
            url: "http://127.0.0.1:7071/api/IngestJob?x=1&N=3&code=k".into(),
            method: "POST".into(),
            query: [
                ("x".to_owned(), "1".to_owned()),
                ("N".to_owned(), "3".to_owned()),
                ("code".to_owned(), "k".to_owned()),
            ]
            .into(),
            headers: [
                (
                    "Content-Type".to_owned(),
                    vec!["application/json".to_owned()],
                ),
                (
                    "Accept".to_owned(),
                    vec!["a/b".to_owned(), "c/d".to_owned()],
                ),
            ]
            .into(),
            body: br#"{"jobType":"report","n":2}"#.to_vec(),
        };
        let inv = http_invocation("IngestJob", "req", &req);
        let data = inv.http_trigger("req").unwrap();
        assert_eq!(data.body.as_deref(), Some(r#"{"jobType":"report","n":2}"#));
        assert_eq!(
            inv.data["req"]["Headers"]["Content-Type"],
            json!(["application/json"])
        );
        assert_eq!(inv.metadata["jobType"], json!("\"report\""));
        assert_eq!(
            inv.metadata["n"],
            json!("\"3\""),
            "a query parameter overrides a body field, ignoring case, keeping its spelling"
        );
        assert!(inv.metadata.get("N").is_none());
        assert_eq!(inv.metadata["x"], json!("\"1\""));
        assert!(inv.metadata.get("code").is_none(), "the key is never bound");
        assert_eq!(inv.metadata["Query"]["x"], json!("1"));
        assert_eq!(inv.metadata["Headers"]["Accept"], json!("a/b,c/d"));
        let empty = http_invocation(
            "IngestJob",
            "req",
            &IncomingHttp {
                body: vec![],
                ..req
            },
        );
        assert!(
            empty.data["req"].get("Body").is_none(),
            "no Body without content"
        );
    }
}
