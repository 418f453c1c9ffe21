//! Send one message: `POST /{queue}/messages`. Broker properties travel as JSON in the
//! `BrokerProperties` header (`MessageId`, `CorrelationId`, `ScheduledEnqueueTimeUtc` in
//! RFC 1123 form, `TimeToLive` in seconds), the content type as `Content-Type`, and each custom
//! (application) property as its own header whose value is JSON (a string is quoted).
//! Service Bus answers `201 Created`. Needs the "Azure Service Bus Data Sender" role.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::{ServiceBusClient, ServiceBusError};

/// A message to send.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OutgoingMessage {
    /// The body text.
    pub body: String,
    /// `MessageId` (the broker makes one up when absent).
    pub message_id: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `Content-Type` of the body.
    pub content_type: Option<String>,
    /// `ScheduledEnqueueTimeUtc`: the message stays invisible until then.
    pub scheduled_enqueue_time: Option<DateTime<Utc>>,
    /// `TimeToLive` (whole seconds on the wire).
    pub time_to_live: Option<Duration>,
    /// Custom (application) properties, sent as headers.
    pub properties: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BrokerProperties<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    scheduled_enqueue_time_utc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    time_to_live: Option<u64>,
}

/// A time in the RFC 1123 form Service Bus uses, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn rfc1123(time: DateTime<Utc>) -> String {
    time.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Headers that cannot carry a custom property (they mean something else on the wire).
const RESERVED: &[&str] = &[
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "host",
];

impl OutgoingMessage {
    /// A message with this body and nothing else set.
    pub fn new(body: impl Into<String>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// The request headers: `BrokerProperties`, `Content-Type`, one per custom property.
    pub fn headers(&self) -> Result<Vec<(String, String)>, ServiceBusError> {
        let broker = BrokerProperties {
            message_id: self.message_id.as_deref(),
            correlation_id: self.correlation_id.as_deref(),
            scheduled_enqueue_time_utc: self.scheduled_enqueue_time.map(rfc1123),
            time_to_live: self.time_to_live.map(|d| d.as_secs().max(1)),
        };
        let broker = serde_json::to_string(&broker)
            .map_err(|e| ServiceBusError::Malformed(e.to_string()))?;
        let mut headers = vec![("BrokerProperties".to_owned(), broker)];
        if let Some(kind) = &self.content_type {
            headers.push(("Content-Type".to_owned(), kind.clone()));
        }
        for (name, value) in &self.properties {
            let valid = !name.is_empty()
                && name
                    .bytes()
                    // An HTTP token (RFC 9110 section 5.6.2): the Functions host's own
                    // `$AzureWebJobsParentId` property is one.
                    .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
                && !RESERVED.contains(&name.to_ascii_lowercase().as_str());
            if !valid {
                return Err(ServiceBusError::InvalidMessage(format!(
                    "custom property name {name:?} cannot be an HTTP header"
                )));
            }
            let encoded = serde_json::to_string(value)
                .map_err(|e| ServiceBusError::Malformed(e.to_string()))?;
            if !encoded.bytes().all(|b| (0x20..0x7f).contains(&b)) {
                return Err(ServiceBusError::InvalidMessage(format!(
                    "custom property {name} must be printable ASCII"
                )));
            }
            headers.push((name.clone(), encoded));
        }
        Ok(headers)
    }
}

impl ServiceBusClient {
    /// Send `message` to `queue`. Transient failures are retried (see [`crate::RetryOptions`]);
    /// with a `MessageId` and duplicate detection on the queue a retried send stays single.
    pub async fn send(
        &self,
        queue: &str,
        message: &OutgoingMessage,
    ) -> Result<(), ServiceBusError> {
        let headers = message.headers()?;
        let path = format!("{queue}/messages");
        let answer = self
            .call(reqwest::Method::POST, &path, &headers, Some(&message.body))
            .await?;
        match answer.status {
            200..=299 => Ok(()),
            404 => Err(ServiceBusError::NotFound(queue.to_owned())),
            status => Err(crate::unexpected(status, &answer.body)),
        }
    }
}

/// Service Bus caps `MessageId` at 128 characters (Microsoft's "Service Bus quotas": message
/// ID, maximum size 128).
pub const MAX_MESSAGE_ID: usize = 128;

/// `<base><suffix>` as a `MessageId`. One that would pass [`MAX_MESSAGE_ID`] keeps the start of
/// `base` (cut at a character boundary), then `~` and a hash of the whole `base` (16 hex digits
/// of FNV-1a), then `suffix`: deterministic, so a retried send still meets duplicate detection,
/// and distinct bases that share a long start stay distinct. `suffix` must be shorter than 111
/// bytes.
pub fn capped_message_id(base: &str, suffix: &str) -> String {
    if base.len() + suffix.len() <= MAX_MESSAGE_ID {
        return format!("{base}{suffix}");
    }
    let hash = format!("~{:016x}", fnv64(base));
    let mut keep = MAX_MESSAGE_ID.saturating_sub(suffix.len() + hash.len());
    while !base.is_char_boundary(keep) {
        keep -= 1;
    }
    format!("{}{hash}{suffix}", &base[..keep])
}

/// FNV-1a, 64 bits: stable across Rust releases (std's hasher is not).
fn fnv64(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn broker_properties_carry_ids_and_rfc1123_schedule() {
        let at = DateTime::parse_from_rfc3339("1994-11-06T08:49:37Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut m = OutgoingMessage::new("{}");
        m.message_id = Some("job-1:2".into());
        m.correlation_id = Some("job-1".into());
        m.content_type = Some("application/json".into());
        m.scheduled_enqueue_time = Some(at);
        m.time_to_live = Some(Duration::from_millis(1500));
        m.properties.insert("attempt".into(), "2".into());
        let h = m.headers().unwrap();
        let broker: serde_json::Value = serde_json::from_str(&h[0].1).unwrap();
        assert_eq!(h[0].0, "BrokerProperties");
        assert_eq!(broker["MessageId"], "job-1:2");
        assert_eq!(broker["CorrelationId"], "job-1");
        assert_eq!(
            broker["ScheduledEnqueueTimeUtc"],
            "Sun, 06 Nov 1994 08:49:37 GMT"
        );
        assert_eq!(broker["TimeToLive"], 1);
        assert!(h.contains(&("Content-Type".into(), "application/json".into())));
        assert!(h.contains(&("attempt".into(), "\"2\"".into())));
    }

    #[test]
    fn absent_properties_are_left_out() {
        let h = OutgoingMessage::new("x").headers().unwrap();
        assert_eq!(h, vec![("BrokerProperties".into(), "{}".into())]);
    }

    #[test]
    fn property_names_must_be_plain_headers() {
        for bad in ["", "a b", "Content-Type", "BrokerProperties", "é"] {
            let mut m = OutgoingMessage::new("x");
            m.properties.insert(bad.into(), "v".into());
            assert!(
                matches!(m.headers(), Err(ServiceBusError::InvalidMessage(_))),
                "{bad}"
            );
        }
        let mut m = OutgoingMessage::new("x");
        m.properties.insert("k".into(), "line\nbreak".into());
        assert!(m.headers().is_ok(), "a newline is JSON-escaped");
        m.properties.insert("k".into(), "café".into());
        assert!(m.headers().is_err());
    }

    #[test]
    fn message_ids_past_the_cap_keep_their_start_a_hash_and_the_suffix() {
        assert_eq!(capped_message_id("job-1", ":2"), "job-1:2");
        let exact = "a".repeat(MAX_MESSAGE_ID - 2);
        assert_eq!(capped_message_id(&exact, ":2"), format!("{exact}:2"));
        let (long, other) = ("é".repeat(100), format!("{}x", "é".repeat(99)));
        let (a, b) = (
            capped_message_id(&long, "/r7"),
            capped_message_id(&other, "/r7"),
        );
        for id in [&a, &b] {
            assert!(id.len() <= MAX_MESSAGE_ID && id.ends_with("/r7"), "{id}");
            assert!(id.starts_with("éé"), "{id}");
        }
        assert_ne!(a, b, "the hash tells apart bases with the same start");
        assert_eq!(a, capped_message_id(&long, "/r7"), "deterministic");
        assert_eq!(fnv64("a"), 0xaf63_dc4c_8601_ec8c);
    }
}
