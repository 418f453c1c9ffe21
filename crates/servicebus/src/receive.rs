//! Peek-lock receive and settlement.
//!
//! `POST /{entity}/messages/head?timeout=N` locks the next message and answers `201` with the
//! body, a `BrokerProperties` JSON header (`MessageId`, `SequenceNumber`, `DeliveryCount`,
//! `LockToken`, `EnqueuedTimeUtc`, ...), a `Location` (the message URI) and one header per custom
//! property (JSON values). `204` means nothing arrived within the timeout. Then `DELETE` on the
//! message URI completes it and `PUT` unlocks it. The entity is a queue, or its dead-letter
//! subqueue [`dead_letter_path`]: there `DeadLetterReason` and `DeadLetterErrorDescription`
//! arrive as custom properties. Needs the "Azure Service Bus Data Receiver" role.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use reqwest::header::HeaderMap;
use serde::Deserialize;

use crate::{Answer, NoAnswer, ServiceBusClient, ServiceBusError};

/// The dead-letter subqueue of `queue`: `{queue}/$DeadLetterQueue`.
pub fn dead_letter_path(queue: &str) -> String {
    format!("{queue}/$DeadLetterQueue")
}

/// A message received under a lock.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedMessage {
    /// The entity it came from (`jobs` or `jobs/$DeadLetterQueue`).
    pub entity: String,
    /// The body text.
    pub body: String,
    /// `MessageId`.
    pub message_id: String,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `Content-Type` of the body.
    pub content_type: Option<String>,
    /// `SequenceNumber`.
    pub sequence_number: i64,
    /// `DeliveryCount`.
    pub delivery_count: u32,
    /// `LockToken`.
    pub lock_token: String,
    /// `EnqueuedTimeUtc`.
    pub enqueued_time: Option<DateTime<Utc>>,
    /// `LockedUntilUtc`.
    pub locked_until: Option<DateTime<Utc>>,
    /// Custom (application) properties, JSON string values unquoted.
    pub properties: BTreeMap<String, String>,
    /// The message URI from `Location`, if the service sent one.
    pub location: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct BrokerIn {
    message_id: Option<String>,
    correlation_id: Option<String>,
    sequence_number: Option<i64>,
    delivery_count: Option<u32>,
    lock_token: Option<String>,
    enqueued_time_utc: Option<String>,
    locked_until_utc: Option<String>,
}

/// Response headers that are transport or broker headers, not custom properties.
const NOT_PROPERTIES: &[&str] = &[
    "brokerproperties",
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "date",
    "server",
    "location",
    "keep-alive",
    "strict-transport-security",
    "vary",
    "x-ms-request-id",
];

/// Parse an RFC 1123 time (`Sun, 06 Nov 1994 08:49:37 GMT`).
pub fn parse_rfc1123(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(text.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl ReceivedMessage {
    /// Read a peek-lock answer's headers and body.
    pub fn parse(entity: &str, headers: &HeaderMap, body: String) -> Result<Self, ServiceBusError> {
        let raw = headers
            .get("BrokerProperties")
            .ok_or_else(|| ServiceBusError::Malformed("no BrokerProperties header".into()))?
            .to_str()
            .map_err(|e| ServiceBusError::Malformed(format!("BrokerProperties: {e}")))?;
        let broker: BrokerIn = serde_json::from_str(raw)
            .map_err(|e| ServiceBusError::Malformed(format!("BrokerProperties: {e}")))?;
        let lock_token = broker.lock_token.ok_or_else(|| {
            ServiceBusError::Malformed("BrokerProperties has no LockToken".into())
        })?;
        let sequence_number = broker.sequence_number.ok_or_else(|| {
            ServiceBusError::Malformed("BrokerProperties has no SequenceNumber".into())
        })?;
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let mut properties = BTreeMap::new();
        for (name, value) in headers {
            if NOT_PROPERTIES.contains(&name.as_str()) {
                continue;
            }
            let Ok(value) = value.to_str() else { continue };
            properties.insert(name.as_str().to_owned(), unquote(value));
        }
        Ok(Self {
            entity: entity.to_owned(),
            body,
            message_id: broker.message_id.unwrap_or_default(),
            correlation_id: broker.correlation_id,
            content_type: text("content-type"),
            sequence_number,
            delivery_count: broker.delivery_count.unwrap_or(0),
            lock_token,
            enqueued_time: broker.enqueued_time_utc.as_deref().and_then(parse_rfc1123),
            locked_until: broker.locked_until_utc.as_deref().and_then(parse_rfc1123),
            properties,
            location: text("location"),
        })
    }

    /// A custom property, matched without regard to case (HTTP header names are
    /// case-insensitive and arrive lowercase).
    pub fn property(&self, name: &str) -> Option<&str> {
        self.properties
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `DeadLetterReason` (dead letters only).
    pub fn dead_letter_reason(&self) -> Option<&str> {
        self.property("DeadLetterReason")
    }

    /// `DeadLetterErrorDescription` (dead letters only).
    pub fn dead_letter_description(&self) -> Option<&str> {
        self.property("DeadLetterErrorDescription")
    }

    /// The message URI relative to `endpoint`: the `Location` when it lies under the endpoint,
    /// else `{entity}/messages/{sequenceNumber}/{lockToken}`.
    pub fn message_path(&self, endpoint: &str) -> String {
        if let Some(rest) = self
            .location
            .as_deref()
            .and_then(|l| l.strip_prefix(endpoint))
            .filter(|rest| rest.starts_with('/'))
        {
            return rest.trim_start_matches('/').to_owned();
        }
        format!(
            "{}/messages/{}/{}",
            self.entity, self.sequence_number, self.lock_token
        )
    }
}

/// A custom property header value: JSON strings lose their quotes, anything else stays as sent.
fn unquote(value: &str) -> String {
    match serde_json::from_str::<serde_json::Value>(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => value.to_owned(),
    }
}

impl ServiceBusClient {
    /// Lock the next message of `entity` (a queue, or [`dead_letter_path`]), waiting up to
    /// `timeout_secs` (at most the per-try timeout less a second) for one; `None` when none
    /// arrived.
    ///
    /// Microsoft Learn, Service Bus REST "Peek-Lock Message (Non-Destructive Read)": `201` with
    /// the locked message, `204` when none arrived in time, `410` when the entity does not exist.
    /// The request is not idempotent (each one locks a message), so it is retried only when
    /// nothing can have been locked: the connection could not be made, or the service refused
    /// the call as busy or throttled (`503`, `429`). A broken connection, a timeout or an answer
    /// that does not parse is [`ServiceBusError::ReceiveUncertain`], at once; any other status
    /// is final at once too (a `500` may come after the lock was taken).
    pub async fn peek_lock(
        &self,
        entity: &str,
        timeout_secs: u32,
    ) -> Result<Option<ReceivedMessage>, ServiceBusError> {
        let retry = self.retry_options();
        // The service holds the request up to `timeout` seconds: keep that inside the per-try
        // timeout, or an empty wait would end as a timed-out (uncertain) call.
        let longest =
            u32::try_from(retry.try_timeout.as_secs().saturating_sub(1)).unwrap_or(u32::MAX);
        let path = format!(
            "{entity}/messages/head?timeout={}",
            timeout_secs.min(longest)
        );
        let mut tries = 1;
        let Answer {
            status,
            headers,
            body,
        } = loop {
            let last = tries >= retry.max_tries;
            let pause = retry
                .initial_delay
                .saturating_mul(1 << (tries - 1).min(16))
                .min(retry.max_delay);
            match self.call_once(reqwest::Method::POST, &path).await {
                Ok(a) if matches!(a.status, 429 | 503) && !last => {}
                Ok(a) => break a,
                Err(NoAnswer::NotSent(_)) if !last => {}
                Err(NoAnswer::NotSent(e)) => return Err(e),
                Err(NoAnswer::Unknown(e)) => {
                    return Err(ServiceBusError::ReceiveUncertain {
                        entity: entity.to_owned(),
                        detail: e.to_string(),
                    });
                }
            }
            tries += 1;
            azure_core::sleep::sleep(azure_core::time::Duration::milliseconds(
                i64::try_from(pause.as_millis()).unwrap_or(i64::MAX),
            ))
            .await;
        };
        match status {
            200 | 201 => match ReceivedMessage::parse(entity, &headers, body) {
                Ok(m) => Ok(Some(m)),
                Err(e) => Err(self.unreadable(entity, &headers, e).await),
            },
            204 => Ok(None),
            404 | 410 => Err(ServiceBusError::NotFound(entity.to_owned())),
            status => Err(crate::unexpected(status, &body)),
        }
    }

    /// A locked message whose answer does not parse: unlock it through its `Location` when
    /// there is one, and say which message it was and whether it is still locked.
    async fn unreadable(
        &self,
        entity: &str,
        headers: &HeaderMap,
        error: ServiceBusError,
    ) -> ServiceBusError {
        let location = headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let relative = location.as_deref().and_then(|l| {
            l.strip_prefix(self.endpoint())
                .filter(|rest| rest.starts_with('/'))
                .map(|rest| rest.trim_start_matches('/').to_owned())
        });
        let outcome = match &relative {
            Some(path) => match self.call(reqwest::Method::PUT, path, &[], None).await {
                Ok(a) if (200..300).contains(&a.status) => "it was unlocked again".to_owned(),
                Ok(a) => format!(
                    "unlocking it answered {}: it stays locked until its lock lapses",
                    a.status
                ),
                Err(e) => {
                    format!("unlocking it failed ({e}): it stays locked until its lock lapses")
                }
            },
            None => "there is no Location to unlock it by: it stays locked until its lock lapses"
                .to_owned(),
        };
        ServiceBusError::Unreadable {
            entity: entity.to_owned(),
            message: location.unwrap_or_else(|| "(no Location)".to_owned()),
            detail: error.to_string(),
            outcome,
        }
    }

    /// Complete (delete) a locked message.
    pub async fn complete(&self, message: &ReceivedMessage) -> Result<(), ServiceBusError> {
        self.settle(reqwest::Method::DELETE, message).await
    }

    /// Unlock a locked message so it can be received again.
    pub async fn unlock(&self, message: &ReceivedMessage) -> Result<(), ServiceBusError> {
        self.settle(reqwest::Method::PUT, message).await
    }

    async fn settle(
        &self,
        method: reqwest::Method,
        message: &ReceivedMessage,
    ) -> Result<(), ServiceBusError> {
        let path = message.message_path(self.endpoint());
        let answer = self.call(method, &path, &[], None).await?;
        match answer.status {
            200..=299 => Ok(()),
            404 | 410 => Err(ServiceBusError::LockLost(format!(
                "message {} (sequence {})",
                message.message_id, message.sequence_number
            ))),
            status => Err(crate::unexpected(status, &answer.body)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    const BROKER: &str = r#"{"DeliveryCount":3,"EnqueuedSequenceNumber":0,"EnqueuedTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","LockToken":"7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547","LockedUntilUtc":"Sun, 06 Nov 1994 08:50:37 GMT","MessageId":"job-1:2","CorrelationId":"job-1","SequenceNumber":11,"State":"Active","TimeToLive":922337203685.47754}"#;

    #[test]
    fn reads_broker_and_custom_properties() {
        let h = headers(&[
            ("brokerproperties", BROKER),
            ("content-type", "application/json"),
            (
                "location",
                "https://ns.servicebus.windows.net/jobs/$DeadLetterQueue/messages/11/7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547",
            ),
            ("deadletterreason", "\"MaxDeliveryCountExceeded\""),
            (
                "deadlettererrordescription",
                "\"Message could not be consumed after 10 delivery attempts.\"",
            ),
            ("attempt", "4"),
            ("date", "Sun, 06 Nov 1994 08:49:37 GMT"),
        ]);
        let m = ReceivedMessage::parse("jobs/$DeadLetterQueue", &h, "{}".into()).unwrap();
        assert_eq!(m.message_id, "job-1:2");
        assert_eq!(m.correlation_id.as_deref(), Some("job-1"));
        assert_eq!(m.sequence_number, 11);
        assert_eq!(m.delivery_count, 3);
        assert_eq!(m.lock_token, "7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547");
        assert_eq!(
            m.enqueued_time.unwrap().to_rfc3339(),
            "1994-11-06T08:49:37+00:00"
        );
        assert!(m.locked_until.unwrap() > m.enqueued_time.unwrap());
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(m.dead_letter_reason(), Some("MaxDeliveryCountExceeded"));
        assert_eq!(
            m.dead_letter_description(),
            Some("Message could not be consumed after 10 delivery attempts.")
        );
        assert_eq!(m.property("Attempt"), Some("4"));
        assert_eq!(m.properties.len(), 3, "{:?}", m.properties);
        assert_eq!(
            m.message_path("https://ns.servicebus.windows.net"),
            "jobs/$DeadLetterQueue/messages/11/7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547"
        );
        assert_eq!(
            m.message_path("http://127.0.0.1:1/servicebus"),
            "jobs/$DeadLetterQueue/messages/11/7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547",
            "a Location elsewhere is not followed"
        );
    }

    #[test]
    fn missing_or_bad_broker_properties_are_malformed() {
        for h in [
            headers(&[]),
            headers(&[("brokerproperties", "not json")]),
            headers(&[("brokerproperties", r#"{"SequenceNumber":1}"#)]),
            headers(&[("brokerproperties", r#"{"LockToken":"x"}"#)]),
        ] {
            assert!(matches!(
                ReceivedMessage::parse("jobs", &h, String::new()),
                Err(ServiceBusError::Malformed(_))
            ));
        }
    }

    #[test]
    fn rfc1123_round_trips() {
        let t = parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(crate::send::rfc1123(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert!(parse_rfc1123("yesterday").is_none());
        assert_eq!(dead_letter_path("jobs"), "jobs/$DeadLetterQueue");
    }
}
