//! The REST front's parsing and rendering, without a server (the routes are exercised over
//! loopback in `tests/rest.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::entity::{empty_feed, entry};
use super::messages::new_message;
use crate::store::QueueStats;

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

#[test]
fn entry_counts_locked_messages_as_active() {
    let s = QueueStats {
        name: "jobs".into(),
        active: 4,
        locked: 2,
        dead_lettered: 1,
        scheduled: 3,
        ..QueueStats::default()
    };
    let xml = entry("http://127.0.0.1:1/servicebus", &s);
    assert!(xml.starts_with("<entry xmlns=\"http://www.w3.org/2005/Atom\">"));
    for part in [
        "<d2p1:ActiveMessageCount>6</d2p1:ActiveMessageCount>",
        "<d2p1:DeadLetterMessageCount>1</d2p1:DeadLetterMessageCount>",
        "<d2p1:ScheduledMessageCount>3</d2p1:ScheduledMessageCount>",
        "<MessageCount>10</MessageCount>",
    ] {
        assert!(xml.contains(part), "{part} missing: {xml}");
    }
    assert!(empty_feed("x").starts_with("<feed "));
}
