//! The bounded telemetry store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::operation::{HostIdentity, Operation};

/// Role instance the devhost's own (host-side) telemetry carries.
pub const HOST_INSTANCE: &str = "devhost";

/// Captured Breeze envelopes, oldest dropped first beyond the capacity. Cheap to clone.
///
/// Envelopes are kept as their compact JSON text, not as parsed trees: ingestion only has to find
/// where each envelope starts and ends, and an envelope costs its length in memory. Readers parse
/// on demand ([`Capture::snapshot`]).
#[derive(Debug, Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
    identity: Arc<HostIdentity>,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Box<RawValue>>,
    dropped: u64,
}

impl Capture {
    /// A capture keeping at most `capacity` envelopes.
    pub fn new(capacity: usize) -> Self {
        Self::with_identity(capacity, HostIdentity::default())
    }

    /// A capture whose host rows carry the app's role name and instrumentation key.
    pub fn with_identity(capacity: usize, identity: HostIdentity) -> Self {
        Self {
            inner: Arc::default(),
            capacity: capacity.max(1),
            identity: Arc::new(identity),
        }
    }

    /// Add envelopes given as JSON text.
    pub fn extend_raw(&self, items: impl IntoIterator<Item = Box<RawValue>>) {
        let mut inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for item in items {
            if inner.items.len() == self.capacity {
                inner.items.pop_front();
                inner.dropped += 1;
            }
            inner.items.push_back(item);
        }
    }

    /// Add envelopes.
    pub fn extend(&self, items: impl IntoIterator<Item = Value>) {
        self.extend_raw(
            items
                .into_iter()
                .filter_map(|v| serde_json::value::to_raw_value(&v).ok()),
        );
    }

    /// Everything captured, parsed.
    pub fn snapshot(&self) -> Vec<Value> {
        let raw: Vec<Box<RawValue>> = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .items
            .iter()
            .cloned()
            .collect();
        raw.iter()
            .filter_map(|r| serde_json::from_str(r.get()).ok())
            .collect()
    }

    /// Envelopes dropped because the capture was full.
    pub fn dropped(&self) -> u64 {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .dropped
    }

    /// Everything captured, as JSON lines.
    pub fn to_jsonl(&self) -> String {
        let inner = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = String::with_capacity(inner.items.iter().map(|r| r.get().len() + 1).sum());
        for item in &inner.items {
            out.push_str(item.get());
            out.push('\n');
        }
        out
    }

    /// Record the host's own `Request` for one invocation, in `op`.
    pub fn host_request(
        &self,
        function: &str,
        op: &Operation,
        duration: Duration,
        status: u16,
        success: bool,
    ) {
        let base = RequestData {
            ver: 2,
            id: op.request_id.clone(),
            name: function,
            duration: breeze_duration(duration),
            response_code: status.to_string(),
            success,
            properties: HostProperties {
                source: "host",
                function: None,
                queue: None,
            },
        };
        let tags = self.tags(op, op.parent_id.as_deref(), function);
        self.extend_raw(envelope(
            "Request",
            "RequestData",
            &self.identity.ikey,
            tags,
            &base,
        ));
    }

    /// Record what the Service Bus SDK reports to Application Insights for one message an output
    /// binding sent to `queue` at `target` (`<endpoint>/<queue>`), in the invocation's `op`: the
    /// message's `Message` span `span` (`Queue Message | Azure Service Bus`, its id the message's
    /// `Diagnostic-Id`) and the `ServiceBusSender.Send` call (`Azure Service Bus`), both children
    /// of the invocation's request (names and types as Application Insights'
    /// `AzureSdkDiagnosticsEventHandler` derives them from the SDK's activities).
    pub fn host_message(
        &self,
        function: &str,
        op: &Operation,
        queue: &str,
        target: &str,
        span: &str,
    ) {
        let rows = [
            (
                "Message",
                "Queue Message | Azure Service Bus",
                span.to_owned(),
            ),
            (
                "ServiceBusSender.Send",
                "Azure Service Bus",
                super::operation::span_id(),
            ),
        ];
        let items: Vec<_> = rows
            .iter()
            .filter_map(|(name, kind, id)| {
                let base = DependencyData {
                    ver: 2,
                    id: id.clone(),
                    name,
                    kind,
                    target,
                    duration: "00:00:00.000",
                    success: true,
                    properties: HostProperties {
                        source: "host",
                        function: Some(function),
                        queue: Some(queue),
                    },
                };
                let tags = self.tags(op, Some(&op.request_id), function);
                envelope(
                    "RemoteDependency",
                    "RemoteDependencyData",
                    &self.identity.ikey,
                    tags,
                    &base,
                )
            })
            .collect();
        self.extend_raw(items);
    }

    /// A host row's tags: the app's role, the operation and the row's parent span.
    fn tags<'a>(
        &'a self,
        op: &'a Operation,
        parent: Option<&'a str>,
        function: &'a str,
    ) -> Tags<'a> {
        Tags {
            role: &self.identity.role,
            instance: HOST_INSTANCE,
            operation_id: &op.trace_id,
            operation_parent: parent,
            operation_name: function,
        }
    }
}

#[derive(Serialize)]
struct HostProperties<'a> {
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    queue: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestData<'a> {
    ver: u8,
    id: String,
    name: &'a str,
    duration: String,
    response_code: String,
    success: bool,
    properties: HostProperties<'a>,
}

#[derive(Serialize)]
struct DependencyData<'a> {
    ver: u8,
    id: String,
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    target: &'a str,
    duration: &'static str,
    success: bool,
    properties: HostProperties<'a>,
}

#[derive(Serialize)]
struct Envelope<'a, B> {
    name: String,
    time: String,
    #[serde(rename = "iKey")]
    ikey: &'a str,
    tags: Tags<'a>,
    data: Data<'a, B>,
}

#[derive(Serialize)]
struct Tags<'a> {
    #[serde(rename = "ai.cloud.role")]
    role: &'a str,
    #[serde(rename = "ai.cloud.roleInstance")]
    instance: &'static str,
    #[serde(rename = "ai.operation.id")]
    operation_id: &'a str,
    #[serde(
        rename = "ai.operation.parentId",
        skip_serializing_if = "Option::is_none"
    )]
    operation_parent: Option<&'a str>,
    #[serde(rename = "ai.operation.name")]
    operation_name: &'a str,
}

#[derive(Serialize)]
struct Data<'a, B> {
    #[serde(rename = "baseType")]
    base_type: &'static str,
    #[serde(rename = "baseData")]
    base_data: &'a B,
}

/// One host-side Breeze envelope as JSON text.
fn envelope<B: Serialize>(
    kind: &str,
    base_type: &'static str,
    ikey: &str,
    tags: Tags<'_>,
    base: &B,
) -> Option<Box<RawValue>> {
    let envelope = Envelope {
        name: format!("Microsoft.ApplicationInsights.{kind}"),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ikey,
        tags,
        data: Data {
            base_type,
            base_data: base,
        },
    };
    serde_json::value::to_raw_value(&envelope).ok()
}

/// `hh:mm:ss.ffffff` (days prefixed when over a day).
pub fn breeze_duration(d: Duration) -> String {
    let micros = d.as_micros();
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let (days, h, m, s) = (
        secs / 86_400,
        (secs / 3_600) % 24,
        (secs / 60) % 60,
        secs % 60,
    );
    if days > 0 {
        format!("{days}.{h:02}:{m:02}:{s:02}.{frac:06}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:06}")
    }
}

/// Parse a Breeze duration (`[d.]hh:mm:ss[.fffffff]`) to milliseconds.
pub fn parse_duration_ms(text: &str) -> Option<f64> {
    crate::config::parse_timespan(text).map(|d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_envelopes_have_the_breeze_shape() {
        let c = Capture::with_identity(
            10,
            HostIdentity {
                role: "app".into(),
                ikey: "key".into(),
            },
        );
        let op = Operation::continue_from(Some(
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ));
        c.host_request("IngestJob", &op, Duration::from_millis(3), 200, true);
        let (_, span) = op.child();
        c.host_message("IngestJob", &op, "jobs", "sb://ns/jobs", &span);
        let items = c.snapshot();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["name"], "Microsoft.ApplicationInsights.Request");
        assert_eq!(items[0]["iKey"], "key");
        assert_eq!(items[0]["data"]["baseType"], "RequestData");
        assert_eq!(items[0]["data"]["baseData"]["duration"], "00:00:00.003000");
        assert_eq!(items[0]["data"]["baseData"]["responseCode"], "200");
        assert_eq!(items[0]["data"]["baseData"]["id"], op.request_id.as_str());
        let tags = &items[0]["tags"];
        assert_eq!(tags["ai.cloud.role"], "app");
        assert_eq!(tags["ai.operation.id"], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(tags["ai.operation.parentId"], "b7ad6b7169203331");
        assert_eq!(tags["ai.operation.name"], "IngestJob");
        let message = &items[1]["data"]["baseData"];
        assert_eq!(items[1]["data"]["baseType"], "RemoteDependencyData");
        assert_eq!(message["type"], "Queue Message | Azure Service Bus");
        assert_eq!(message["name"], "Message");
        assert_eq!(message["id"], span.as_str());
        assert_eq!(message["target"], "sb://ns/jobs");
        assert_eq!(message["properties"]["function"], "IngestJob");
        assert_eq!(
            items[1]["tags"]["ai.operation.parentId"],
            op.request_id.as_str()
        );
        assert_eq!(
            items[2]["data"]["baseData"]["name"],
            "ServiceBusSender.Send"
        );
        assert_eq!(items[2]["data"]["baseData"]["type"], "Azure Service Bus");
        assert_eq!(c.to_jsonl().lines().count(), 3);
    }

    #[test]
    fn bounded_and_durations_round_trip() {
        let c = Capture::new(2);
        c.extend([json!(1), json!(2), json!(3)]);
        assert_eq!((c.snapshot(), c.dropped()), (vec![json!(2), json!(3)], 1));
        assert_eq!(c.to_jsonl(), "2\n3\n");
        let d = Duration::from_micros(3_723_004_005);
        assert_eq!(breeze_duration(d), "01:02:03.004005");
        assert_eq!(parse_duration_ms(&breeze_duration(d)), Some(3_723_004.005));
        assert_eq!(parse_duration_ms("1.00:00:00.5"), Some(86_400_500.0));
    }
}
