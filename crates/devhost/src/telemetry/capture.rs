//! The bounded telemetry store.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// Role instance the devhost's own (host-side) telemetry carries.
pub const HOST_INSTANCE: &str = "devhost";

/// Captured Breeze envelopes, oldest dropped first beyond the capacity. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Capture {
    inner: Arc<Mutex<Inner>>,
    capacity: usize,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<Value>,
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

    /// Add envelopes.
    pub fn extend(&self, items: impl IntoIterator<Item = Value>) {
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

    /// A copy of everything captured.
    pub fn snapshot(&self) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .items
            .iter()
            .cloned()
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
        let mut out = String::new();
        for item in self.snapshot() {
            out.push_str(&item.to_string());
            out.push('\n');
        }
        out
    }

    /// Record the host's own `Request` for one invocation.
    pub fn host_request(&self, function: &str, duration: Duration, status: u16, success: bool) {
        self.extend([envelope(
            "Request",
            json!({"ver": 2, "id": uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(), "name": function,
                   "duration": breeze_duration(duration), "responseCode": status.to_string(), "success": success,
                   "properties": {"source": "host"}}),
        )]);
    }

    /// Record the host's own `RemoteDependency` for messages an output binding sent to `queue`.
    pub fn host_send(&self, function: &str, queue: &str, count: usize) {
        let items = (0..count).map(|_| {
            envelope(
                "RemoteDependency",
                json!({"ver": 2, "id": uuid::Uuid::new_v4().simple().to_string()[..16].to_owned(), "name": format!("{queue} send"),
                       "type": "Azure Service Bus", "target": queue, "duration": "00:00:00.000", "success": true,
                       "properties": {"source": "host", "function": function}}),
            )
        });
        self.extend(items.collect::<Vec<_>>());
    }
}

fn envelope(kind: &str, base: Value) -> Value {
    json!({
        "name": format!("Microsoft.ApplicationInsights.{kind}"),
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "iKey": "devhost",
        "tags": {"ai.cloud.role": "devhost", "ai.cloud.roleInstance": HOST_INSTANCE},
        "data": {"baseType": format!("{kind}Data"), "baseData": base},
    })
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
