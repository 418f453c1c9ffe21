//! The Service Bus REST messaging subset, beside the entity read in [`crate::entity`] under the
//! same prefix, mapped onto the durable store:
//!
//! * `POST /servicebus/{queue}/messages`: send. `BrokerProperties` (JSON) may set `MessageId`,
//!   `CorrelationId`, `ScheduledEnqueueTimeUtc` (RFC 1123) and `TimeToLive` (seconds);
//!   `Content-Type` is the content type; every other non-transport header is a custom property
//!   (its value read as JSON when it parses, else as text). Answers `201`.
//! * `POST /servicebus/{queue}/messages/head?timeout=N`: peek-lock the next message; `201` with
//!   the body, `BrokerProperties`, `Location` and custom properties, or `204` after `N` seconds
//!   (at most 60) without one.
//! * `DELETE` (complete) / `PUT` (unlock) `/servicebus/{queue}/messages/{id}/{lockToken}`:
//!   `200`, or `410 Gone` when the lock is lost.
//! * The same three on `/servicebus/{queue}/$DeadLetterQueue/...` (no send: the REST API cannot
//!   dead-letter); `DeadLetterReason` and `DeadLetterErrorDescription` arrive as custom properties.
//!
//! No authorization: a loopback stand-in.

use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::admin::{known, store_problem};
use crate::front::Front;
use crate::problem::Problem;
use broker::store::{Delivery, NewMessage, StoreError};

/// The routes, under [`crate::entity::PREFIX`].
pub fn router() -> axum::Router<Front> {
    axum::Router::new()
        .route("/servicebus/{queue}/messages", post(send))
        .route("/servicebus/{queue}/messages/head", post(receive_active))
        .route(
            "/servicebus/{queue}/messages/{id}/{lock}",
            axum::routing::delete(settle_active).put(settle_active),
        )
        .route(
            "/servicebus/{queue}/$DeadLetterQueue/messages/head",
            post(receive_dead),
        )
        .route(
            "/servicebus/{queue}/$DeadLetterQueue/messages/{id}/{lock}",
            axum::routing::delete(settle_dead).put(settle_dead),
        )
}

/// Request headers that are transport, not custom properties.
const TRANSPORT: &[&str] = &[
    "host",
    "authorization",
    "brokerproperties",
    "content-type",
    "content-length",
    "accept",
    "accept-encoding",
    "user-agent",
    "connection",
    "transfer-encoding",
    "expect",
    "traceparent",
    "tracestate",
    "x-ms-retrypolicy",
];

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct BrokerIn {
    message_id: Option<String>,
    correlation_id: Option<String>,
    scheduled_enqueue_time_utc: Option<String>,
    time_to_live: Option<f64>,
}

fn bad_request(detail: impl Into<String>) -> Response {
    Problem::new(StatusCode::BAD_REQUEST, "Bad Service Bus request", detail).into_response()
}

/// Parse a message send request into a store message.
fn new_message(queue: &str, headers: &HeaderMap, body: String) -> Result<NewMessage, Response> {
    let broker: BrokerIn = match headers.get("brokerproperties") {
        None => BrokerIn::default(),
        Some(v) => {
            let text = v
                .to_str()
                .map_err(|_| bad_request("BrokerProperties is not ASCII"))?;
            serde_json::from_str(text)
                .map_err(|e| bad_request(format!("BrokerProperties is not a JSON object: {e}")))?
        }
    };
    let scheduled_for = match broker.scheduled_enqueue_time_utc.as_deref() {
        None => None,
        Some(text) => Some(
            DateTime::parse_from_rfc2822(text.trim())
                .map_err(|e| {
                    bad_request(format!(
                        "ScheduledEnqueueTimeUtc {text:?} is not an RFC 1123 time: {e}"
                    ))
                })?
                .with_timezone(&Utc),
        ),
    };
    let time_to_live = match broker.time_to_live {
        None => None,
        Some(secs) if secs.is_finite() && secs > 0.0 => {
            Some(Duration::from_secs_f64(secs.min(1e9)))
        }
        Some(secs) => return Err(bad_request(format!("TimeToLive {secs} must be positive"))),
    };
    let mut properties = Map::new();
    for (name, value) in headers {
        if TRANSPORT.contains(&name.as_str()) {
            continue;
        }
        let Ok(text) = value.to_str() else {
            return Err(bad_request(format!("custom property {name} is not ASCII")));
        };
        let value =
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()));
        properties.insert(name.as_str().to_owned(), value);
    }
    Ok(NewMessage {
        queue: queue.to_owned(),
        body,
        message_id: broker.message_id.filter(|s| !s.is_empty()),
        content_type: headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        correlation_id: broker.correlation_id,
        properties,
        scheduled_for,
        time_to_live,
    })
}

async fn send(
    State(front): State<Front>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Err(r) = known(&front, &queue).await {
        return r;
    }
    let message = match new_message(&queue, &headers, body) {
        Ok(m) => m,
        Err(r) => return r,
    };
    match front.store.send(vec![message]).await {
        Ok(_) => {
            front.wake.notify_waiters();
            StatusCode::CREATED.into_response()
        }
        Err(e) => store_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
struct Head {
    timeout: Option<u64>,
}

async fn receive_active(
    State(front): State<Front>,
    Path(queue): Path<String>,
    Query(head): Query<Head>,
) -> Response {
    receive(front, queue, false, head).await
}

async fn receive_dead(
    State(front): State<Front>,
    Path(queue): Path<String>,
    Query(head): Query<Head>,
) -> Response {
    receive(front, queue, true, head).await
}

async fn receive(front: Front, queue: String, dead: bool, head: Head) -> Response {
    if let Err(r) = known(&front, &queue).await {
        return r;
    }
    let wait = Duration::from_secs(head.timeout.unwrap_or(60).min(60));
    let started = Instant::now();
    loop {
        let got = if dead {
            front.store.lock_dead_letter(&queue).await
        } else {
            front.store.receive(&queue, 1).await.map(|mut v| v.pop())
        };
        match got {
            Ok(Some(d)) => return delivered(&front, &queue, dead, &d),
            Ok(None) if started.elapsed() >= wait => {
                return StatusCode::NO_CONTENT.into_response();
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return store_problem(&e),
        }
    }
}

fn rfc1123(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The `201` answer of a peek-lock receive.
fn delivered(front: &Front, queue: &str, dead: bool, d: &Delivery) -> Response {
    let entity = if dead {
        format!("{queue}/$DeadLetterQueue")
    } else {
        queue.to_owned()
    };
    let ttl = (d.expires_at - d.enqueued_at).num_milliseconds() as f64 / 1000.0;
    let broker = json!({
        "MessageId": d.message_id,
        "CorrelationId": d.correlation_id,
        "SequenceNumber": d.sequence_number,
        "DeliveryCount": d.delivery_count,
        "LockToken": d.lock_token,
        "LockedUntilUtc": rfc1123(d.locked_until),
        "EnqueuedTimeUtc": rfc1123(d.enqueued_at),
        "EnqueuedSequenceNumber": d.sequence_number,
        "State": if dead { "Deadlettered" } else { "Active" },
        "TimeToLive": ttl,
    });
    let location = format!(
        "{}{}/{entity}/messages/{}/{}",
        front.base_url,
        crate::entity::PREFIX,
        d.sequence_number,
        d.lock_token
    );
    let mut out = HeaderMap::new();
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(v) = HeaderValue::from_str(value) {
            out.insert(name, v);
        }
    };
    put(
        HeaderName::from_static("brokerproperties"),
        &broker.to_string(),
    );
    put(header::LOCATION, &location);
    if let Some(kind) = &d.content_type {
        put(header::CONTENT_TYPE, kind);
    }
    for (name, value) in &d.properties {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if TRANSPORT.contains(&name.as_str()) || name == header::LOCATION {
            continue;
        }
        put(name, &value.to_string());
    }
    (StatusCode::CREATED, out, d.body.clone()).into_response()
}

async fn settle_active(
    State(front): State<Front>,
    method: Method,
    Path((queue, _id, lock)): Path<(String, String, String)>,
) -> Response {
    let outcome = if method == Method::DELETE {
        front.store.complete(&lock).await
    } else {
        let r = front
            .store
            .abandon(&lock, "unlocked by a Service Bus REST client")
            .await
            .map(|_| ());
        front.wake.notify_waiters();
        r
    };
    settled(&queue, outcome)
}

async fn settle_dead(
    State(front): State<Front>,
    method: Method,
    Path((queue, _id, lock)): Path<(String, String, String)>,
) -> Response {
    let outcome = front
        .store
        .settle_dead_letter(&lock, method == Method::DELETE)
        .await;
    settled(&queue, outcome)
}

fn settled(queue: &str, outcome: Result<(), StoreError>) -> Response {
    match outcome {
        Ok(()) => StatusCode::OK.into_response(),
        Err(StoreError::LockLost(token)) => Problem::new(
            StatusCode::GONE,
            "Message lock lost",
            format!("no message of {queue} is locked with {token} (expired, or settled already)"),
        )
        .into_response(),
        Err(e) => store_problem(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn reads_broker_properties_and_custom_headers() {
        let h = headers(&[
            (
                "brokerproperties",
                r#"{"MessageId":"j:2","CorrelationId":"j","ScheduledEnqueueTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT","TimeToLive":90}"#,
            ),
            ("content-type", "application/json"),
            ("attempt", "\"2\""),
            ("plain", "text"),
            ("user-agent", "x"),
        ]);
        let m = new_message("jobs", &h, "{}".into()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some("j:2"));
        assert_eq!(m.correlation_id.as_deref(), Some("j"));
        assert_eq!(
            m.scheduled_for.unwrap().to_rfc3339(),
            "1994-11-06T08:49:37+00:00"
        );
        assert_eq!(m.time_to_live, Some(Duration::from_secs(90)));
        assert_eq!(m.content_type.as_deref(), Some("application/json"));
        assert_eq!(
            Value::Object(m.properties),
            json!({"attempt": "2", "plain": "text"})
        );
    }

    #[test]
    fn rejects_bad_broker_properties() {
        for bad in [
            "not json",
            r#"{"ScheduledEnqueueTimeUtc":"2026-01-01T00:00:00Z"}"#,
            r#"{"TimeToLive":-1}"#,
        ] {
            let r = new_message(
                "jobs",
                &headers(&[("brokerproperties", bad)]),
                String::new(),
            );
            assert_eq!(r.unwrap_err().status(), StatusCode::BAD_REQUEST, "{bad}");
        }
    }
}
