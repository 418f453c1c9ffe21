//! The bounded telemetry store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

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
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Box<RawValue>>,
    dropped: u64,
}

impl Capture {
    /// A capture keeping at most `capacity` envelopes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::default(),
            capacity: capacity.max(1),
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

    /// Record the host's own `Request` for one invocation.
    pub fn host_request(&self, function: &str, duration: Duration, status: u16, success: bool) {
        let base = RequestData {
            ver: 2,
            id: short_id(),
            name: function,
            duration: breeze_duration(duration),
            response_code: status.to_string(),
            success,
            properties: HostProperties {
                source: "host",
                function: None,
            },
        };
        self.extend_raw(envelope("Request", "RequestData", &base));
    }

    /// Record the host's own `RemoteDependency` for messages an output binding sent to `queue`.
    pub fn host_send(&self, function: &str, queue: &str, count: usize) {
        let name = format!("{queue} send");
        let items: Vec<_> = (0..count)
            .filter_map(|_| {
                let base = DependencyData {
                    ver: 2,
                    id: short_id(),
                    name: &name,
                    kind: "Azure Service Bus",
                    target: queue,
                    duration: "00:00:00.000",
                    success: true,
                    properties: HostProperties {
                        source: "host",
                        function: Some(function),
                    },
                };
                envelope("RemoteDependency", "RemoteDependencyData", &base)
            })
            .collect();
        self.extend_raw(items);
    }
}

fn short_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id
}

#[derive(Serialize)]
struct HostProperties<'a> {
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    function: Option<&'a str>,
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
    kind: &'static str,
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
    ikey: &'static str,
    tags: Tags,
    data: Data<'a, B>,
}

#[derive(Serialize)]
struct Tags {
    #[serde(rename = "ai.cloud.role")]
    role: &'static str,
    #[serde(rename = "ai.cloud.roleInstance")]
    instance: &'static str,
}

#[derive(Serialize)]
struct Data<'a, B> {
    #[serde(rename = "baseType")]
    base_type: &'static str,
    #[serde(rename = "baseData")]
    base_data: &'a B,
}

/// One host-side Breeze envelope as JSON text.
fn envelope<B: Serialize>(kind: &str, base_type: &'static str, base: &B) -> Option<Box<RawValue>> {
    let envelope = Envelope {
        name: format!("Microsoft.ApplicationInsights.{kind}"),
        time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ikey: "devhost",
        tags: Tags {
            role: "devhost",
            instance: HOST_INSTANCE,
        },
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
        let c = Capture::new(10);
        c.host_request("IngestJob", Duration::from_millis(3), 200, true);
        c.host_send("IngestJob", "jobs", 2);
        let items = c.snapshot();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0]["name"], "Microsoft.ApplicationInsights.Request");
        assert_eq!(items[0]["data"]["baseType"], "RequestData");
        assert_eq!(items[0]["data"]["baseData"]["duration"], "00:00:00.003000");
        assert_eq!(items[0]["data"]["baseData"]["responseCode"], "200");
        assert_eq!(items[0]["tags"]["ai.cloud.role"], "devhost");
        assert_eq!(
            items[0]["data"]["baseData"]["id"].as_str().map(str::len),
            Some(16)
        );
        assert_eq!(items[1]["data"]["baseType"], "RemoteDependencyData");
        assert_eq!(items[1]["data"]["baseData"]["type"], "Azure Service Bus");
        assert_eq!(items[1]["data"]["baseData"]["name"], "jobs send");
        assert_eq!(
            items[1]["data"]["baseData"]["properties"]["function"],
            "IngestJob"
        );
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
