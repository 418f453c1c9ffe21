//! Messaging, mapped onto the store:
//!
//! * `POST /servicebus/{queue}/messages`: send. `BrokerProperties` (JSON) may set `MessageId`,
//!   `CorrelationId`, `ScheduledEnqueueTimeUtc` (RFC 1123) and `TimeToLive` (seconds);
//!   `Content-Type` is the content type; every other non-transport header is a custom property
//!   (its value read as JSON when it parses, else as text). Answers `201`. With `Content-Type:
//!   application/vnd.microsoft.servicebus.json` the body is a batch (Microsoft's "Send Message
//!   Batch" page): a JSON array of `{"Body", "BrokerProperties", "UserProperties"}`, stored all
//!   or nothing.
//! * `POST /servicebus/{queue}/messages/head?timeout=N`: peek-lock the next message; `201` with
//!   the body, `BrokerProperties`, `Location` and custom properties, or `204` after `N` seconds
//!   (at most 60) without one.
//! * `DELETE` (complete) / `PUT` (unlock) `/servicebus/{queue}/messages/{id}/{lockToken}`, where
//!   `{id}` is the sequence number (as in `Location`) or the `MessageId`: `200`; `404` unless that
//!   message of that queue is locked with that token; `410` for a queue that does not exist
//!   (Microsoft's "Delete Message" and "Unlock Message" REST pages).
//! * The same three on `/servicebus/{queue}/$DeadLetterQueue/...` (no send: the REST API cannot
//!   dead-letter); `DeadLetterReason` and `DeadLetterErrorDescription` arrive as custom properties.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Path, Query, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{PREFIX, Problem, Rest, require_queue};
use crate::store::{Delivery, LockRef, NewMessage, StoreError};

/// The messaging routes.
pub(super) fn routes() -> axum::Router<Rest> {
    axum::Router::new()
        .route("/servicebus/{queue}/messages", post(send))
        .route("/servicebus/{queue}/messages/head", post(receive))
        .route(
            "/servicebus/{queue}/messages/{id}/{lock}",
            axum::routing::delete(settle).put(settle),
        )
        .route(
            "/servicebus/{queue}/$DeadLetterQueue/messages/head",
            post(receive),
        )
        .route(
            "/servicebus/{queue}/$DeadLetterQueue/messages/{id}/{lock}",
            axum::routing::delete(settle).put(settle),
        )
}

/// Whether the route a request took names the queue's dead-letter subqueue.
fn dead_letter(route: &MatchedPath) -> bool {
    route.as_str().contains("/$DeadLetterQueue/")
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

/// The largest message a Standard-tier queue takes, payload and properties together (Microsoft's
/// "Service Bus quotas": "Maximum message size ... 256 KB for Standard tier"): every queue's
/// limit unless it was created with its own `MaxMessageSizeInKilobytes`
/// ([`crate::store::Store::max_message_bytes`]); the AMQP front end enforces the same on the
/// encoded message. A batch send is held to it as a whole.
pub const MAX_MESSAGE_BYTES: usize = crate::store::STANDARD_MAX_MESSAGE_SIZE_KB as usize * 1024;

/// The content type of a batch send.
const BATCH: &str = "application/vnd.microsoft.servicebus.json";

/// One message of a batch send.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct BatchItem {
    body: String,
    #[serde(default)]
    broker_properties: BrokerIn,
    #[serde(default)]
    user_properties: Map<String, Value>,
}

/// Parse a batch send's body into store messages.
pub(super) fn batch(queue: &str, body: &str) -> Result<Vec<NewMessage>, Response> {
    let items: Vec<BatchItem> = serde_json::from_str(body).map_err(|e| {
        bad_request(format!(
            "a batch ({BATCH}) is a JSON array of {{\"Body\", \"BrokerProperties\", \"UserProperties\"}}: {e}"
        ))
    })?;
    items
        .into_iter()
        .map(|item| {
            from_broker(
                queue,
                item.broker_properties,
                None,
                item.user_properties,
                item.body,
            )
        })
        .collect()
}

/// Parse a message send request into a store message.
pub(super) fn new_message(
    queue: &str,
    headers: &HeaderMap,
    body: String,
) -> Result<NewMessage, Response> {
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
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    from_broker(queue, broker, content_type, properties, body)
}

/// A store message from its broker properties, content type, custom properties and body.
fn from_broker(
    queue: &str,
    broker: BrokerIn,
    content_type: Option<String>,
    properties: Map<String, Value>,
    body: String,
) -> Result<NewMessage, Response> {
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
    Ok(NewMessage {
        queue: queue.to_owned(),
        body,
        message_id: broker.message_id.filter(|s| !s.is_empty()),
        content_type,
        correlation_id: broker.correlation_id,
        properties,
        scheduled_for,
        time_to_live,
    })
}

/// `Err` with the answer Service Bus gives when `queue` does not exist: `status` is `404` for a
/// send or receive, `410` for a settlement ("Specified queue or subscription does not exist").
async fn exists(rest: &Rest, queue: &str, status: StatusCode) -> Result<(), Response> {
    require_queue(&rest.namespace, queue, status, |declared| {
        format!("queue `{queue}` does not exist (declared: {declared})")
    })
    .await
}

async fn send(
    State(rest): State<Rest>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if let Err(r) = exists(&rest, &queue, StatusCode::NOT_FOUND).await {
        return r;
    }
    let is_batch = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(';')
                .next()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case(BATCH))
        });
    // The payload, every custom property and the broker properties count (not the transport).
    let size = body.len()
        + headers
            .iter()
            .filter(|(name, _)| {
                !TRANSPORT.contains(&name.as_str()) || name.as_str() == "brokerproperties"
            })
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum::<usize>();
    // The queue's `MaxMessageSizeInKilobytes`: 256 KB (Standard tier) unless the queue was
    // created with another through the administration API.
    let limit = rest.namespace.store().max_message_bytes(&queue);
    if size > limit {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Message too large",
            format!(
                "the message is {size} bytes with its properties; queue {queue} takes at most {limit} ({} KB, its MaxMessageSizeInKilobytes)",
                limit / 1024
            ),
        )
        .into_response();
    }
    let messages = if is_batch {
        batch(&queue, &body)
    } else {
        new_message(&queue, &headers, body).map(|m| vec![m])
    };
    let messages = match messages {
        Ok(m) => m,
        Err(r) => return r,
    };
    let sent = rest.namespace.store().send(messages).await;
    Problem::answer(sent, |_| StatusCode::CREATED.into_response())
}

#[derive(Debug, Deserialize)]
struct Head {
    timeout: Option<u64>,
}

/// Peek-lock the oldest message of the queue or its dead-letter subqueue, waiting up to `timeout`
/// seconds (at most 60) for one.
async fn receive(
    State(rest): State<Rest>,
    route: MatchedPath,
    Path(queue): Path<String>,
    Query(head): Query<Head>,
) -> Response {
    let dead = dead_letter(&route);
    if let Err(r) = exists(&rest, &queue, StatusCode::NOT_FOUND).await {
        return r;
    }
    let store = rest.namespace.store();
    let wait = Duration::from_secs(head.timeout.unwrap_or(60).min(60));
    let started = Instant::now();
    loop {
        let got = if dead {
            store.lock_dead_letter(&queue).await
        } else {
            store.receive(&queue, 1).await.map(|mut v| v.pop())
        };
        match got {
            Ok(Some(d)) => return delivered(&rest.base_url, &queue, dead, &d),
            Ok(None) if started.elapsed() >= wait => {
                return StatusCode::NO_CONTENT.into_response();
            }
            Ok(None) => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => return Problem::from(&e).into_response(),
        }
    }
}

fn rfc1123(t: DateTime<Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// The `201` answer of a peek-lock receive.
fn delivered(base_url: &str, queue: &str, dead: bool, d: &Delivery) -> Response {
    let entity = if dead {
        format!("{queue}/$DeadLetterQueue")
    } else {
        queue.to_owned()
    };
    let ttl = (d.message.expires_at - d.message.enqueued_at).num_milliseconds() as f64 / 1000.0;
    let broker = json!({
        "MessageId": d.message.message_id,
        "CorrelationId": d.message.correlation_id,
        "SequenceNumber": d.message.sequence_number,
        "DeliveryCount": d.message.delivery_count,
        "LockToken": d.lock_token,
        "LockedUntilUtc": rfc1123(d.locked_until),
        "EnqueuedTimeUtc": rfc1123(d.message.enqueued_at),
        "EnqueuedSequenceNumber": d.message.sequence_number,
        "State": if dead { "Deadlettered" } else { "Active" },
        "TimeToLive": ttl,
    });
    let location = format!(
        "{}{}/{entity}/messages/{}/{}",
        base_url, PREFIX, d.message.sequence_number, d.lock_token
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
    if let Some(kind) = &d.message.content_type {
        put(header::CONTENT_TYPE, kind);
    }
    for (name, value) in &d.message.properties {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            continue;
        };
        if TRANSPORT.contains(&name.as_str()) || name == header::LOCATION {
            continue;
        }
        put(name, &value.to_string());
    }
    (StatusCode::CREATED, out, d.message.body.clone()).into_response()
}

/// On the queue `DELETE` completes and `PUT` unlocks (an abandon: the delivery counts); on the
/// dead-letter subqueue `DELETE` deletes the dead letter and `PUT` unlocks it.
async fn settle(
    State(rest): State<Rest>,
    route: MatchedPath,
    method: Method,
    Path((queue, id, token)): Path<(String, String, String)>,
) -> Response {
    let lock = match lock_of(&rest, queue, id, token).await {
        Ok(lock) => lock,
        Err(r) => return r,
    };
    let store = rest.namespace.store();
    let delete = method == Method::DELETE;
    let outcome = if dead_letter(&route) {
        store.settle_dead_letter(&lock, delete).await
    } else if delete {
        store.complete(&lock).await
    } else {
        let reason = "unlocked by a Service Bus REST client";
        store.abandon(&lock, reason).await.map(|_| ())
    };
    settled(outcome)
}

/// The lock a settlement names, once its queue is known to exist (`410` otherwise, as Service Bus
/// answers for a queue that does not exist).
async fn lock_of(
    rest: &Rest,
    queue: String,
    id: String,
    token: String,
) -> Result<LockRef, Response> {
    exists(rest, &queue, StatusCode::GONE).await?;
    Ok(LockRef {
        queue,
        message: Some(id),
        token,
    })
}

fn settled(outcome: Result<(), StoreError>) -> Response {
    Problem::answer(outcome, |()| StatusCode::OK.into_response())
}
