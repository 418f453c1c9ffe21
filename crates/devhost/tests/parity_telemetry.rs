//! docs/PARITY.md, "The host's own telemetry" rows: the role, instrumentation key and operation
//! of the devhost's request and dependency rows, and the `Diagnostic-Id` it puts on output
//! messages, as the Functions host and the Service Bus SDK write them. The real devhost binary
//! hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Devhost, Method, free_port, pyhandler_root};
use serde_json::Value;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN: &str = "00f067aa0ba902b7";
const IKEY: &str = "11111111-2222-3333-4444-555555555555";

async fn host_rows(d: &Devhost) -> Vec<Value> {
    d.get_text("/admin/telemetry")
        .await
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|i| i["data"]["baseData"]["properties"]["source"] == "host")
        .collect()
}

#[tokio::test]
async fn host_rows_carry_the_apps_role_and_continue_the_operation() {
    let dir = tempfile::tempdir().unwrap();
    let connection = format!("InstrumentationKey={IKEY};IngestionEndpoint=http://127.0.0.1:9");
    let root = pyhandler_root(
        dir.path(),
        &[
            ("WEBSITE_SITE_NAME", "PyhApp"),
            ("APPLICATIONINSIGHTS_CONNECTION_STRING", &connection),
        ],
    );
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let sent = d.request(Method::POST, "/api/Send");
    let sent = sent.header("content-type", "application/json");
    let sent = sent.header("traceparent", format!("00-{TRACE}-{SPAN}-01"));
    let sent = sent.body(r#"{"out": {"a": 1}}"#).send().await.unwrap();
    assert_eq!(sent.status().as_u16(), 202);
    assert_eq!(
        d.call(Method::GET, "/api/Echo").await.status().as_u16(),
        200
    );

    // Wait for the Receive invocation and its request row.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (received, rows) = loop {
        let recorded = d
            .get_json("/api/Recorded?event=invocation&function=Receive")
            .await;
        let rows = host_rows(&d).await;
        let receive_row = rows
            .iter()
            .any(|r| r["data"]["baseData"]["name"] == "Receive");
        if let Some(r) = recorded.as_array().unwrap().first()
            && receive_row
        {
            break (r.clone(), rows);
        }
        assert!(Instant::now() < deadline, "no Receive yet: {rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let find = |kind: &str, name: &str| -> &Value {
        rows.iter()
            .find(|r| r["data"]["baseType"] == kind && r["data"]["baseData"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in {rows:?}"))
    };
    for r in &rows {
        assert_eq!(r["tags"]["ai.cloud.role"], "pyhapp", "{r}");
        assert_eq!(r["iKey"], IKEY, "{r}");
    }

    // The HTTP request continues the client's traceparent.
    let send = find("RequestData", "Send");
    assert_eq!(send["tags"]["ai.operation.id"], TRACE);
    assert_eq!(send["tags"]["ai.operation.parentId"], SPAN);
    assert_eq!(send["tags"]["ai.operation.name"], "Send");
    let send_id = send["data"]["baseData"]["id"].as_str().unwrap();

    // The message: a `Message` span under the request, whose id is the message's Diagnostic-Id.
    let message = find("RemoteDependencyData", "Message");
    assert_eq!(
        message["data"]["baseData"]["type"],
        "Queue Message | Azure Service Bus"
    );
    assert_eq!(
        message["data"]["baseData"]["target"],
        "sb://127.0.0.1/pyh-out"
    );
    assert_eq!(message["tags"]["ai.operation.id"], TRACE);
    assert_eq!(message["tags"]["ai.operation.parentId"], send_id);
    let message_id = message["data"]["baseData"]["id"].as_str().unwrap();
    let sender = find("RemoteDependencyData", "ServiceBusSender.Send");
    assert_eq!(sender["data"]["baseData"]["type"], "Azure Service Bus");
    assert_eq!(sender["tags"]["ai.operation.parentId"], send_id);
    assert_eq!(
        received["metadata"]["ApplicationProperties"]["Diagnostic-Id"],
        format!("00-{TRACE}-{message_id}-01"),
        "{received}"
    );

    // The Service Bus trigger's request continues the message's Diagnostic-Id.
    let receive = find("RequestData", "Receive");
    assert_eq!(receive["tags"]["ai.operation.id"], TRACE);
    assert_eq!(receive["tags"]["ai.operation.parentId"], message_id);

    // Without a traceparent: a new operation, no parent.
    let echo = find("RequestData", "Echo");
    let op = echo["tags"]["ai.operation.id"].as_str().unwrap();
    assert!(op.len() == 32 && op != TRACE, "{echo}");
    assert!(
        echo["tags"].get("ai.operation.parentId").is_none(),
        "{echo}"
    );
}

/// The value of `name` among `[[name, value], ...]` request headers (ignoring case).
fn header_of(headers: &Value, name: &str) -> Option<String> {
    headers.as_array()?.iter().find_map(|kv| {
        kv[0]
            .as_str()?
            .eq_ignore_ascii_case(name)
            .then(|| kv[1].as_str().unwrap().to_owned())
    })
}

/// `00-<trace>-<span>-<flags>` split into trace and span.
fn trace_and_span(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00");
    assert_eq!((parts[1].len(), parts[2].len()), (32, 16), "{traceparent}");
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test]
async fn invocation_requests_carry_the_operations_trace_context() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let sent = d
        .client
        .post(format!("{}/api/Send", d.url))
        .header("content-type", "application/json")
        .header("traceparent", format!("00-{TRACE}-{SPAN}-01"))
        .header("tracestate", "congo=t61rcWkgMzE")
        .body(r#"{"out": {"a": 1}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status().as_u16(), 202);

    // The HTTP invocation: a child span of the client's trace, its tracestate kept; the client's
    // own headers stay in `Data.req.Headers`.
    let recorded = d
        .get_json("/api/Recorded?event=invocation&function=Send")
        .await;
    let send = &recorded[0];
    let headers = &send["requestHeaders"];
    let (trace, span) = trace_and_span(&header_of(headers, "traceparent").unwrap());
    assert_eq!(trace, TRACE);
    assert_ne!(span, SPAN, "the outgoing request is a span of its own");
    assert_eq!(
        header_of(headers, "tracestate").as_deref(),
        Some("congo=t61rcWkgMzE")
    );
    assert_eq!(
        send["data"]["req"]["Headers"]["Traceparent"][0],
        format!("00-{TRACE}-{SPAN}-01")
    );

    // The Service Bus invocation continues the message's trace.
    let deadline = Instant::now() + Duration::from_secs(30);
    let receive = loop {
        let r = d
            .get_json("/api/Recorded?event=invocation&function=Receive")
            .await;
        if let Some(r) = r.as_array().unwrap().first() {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no Receive yet");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let (trace, _) = trace_and_span(&header_of(&receive["requestHeaders"], "traceparent").unwrap());
    assert_eq!(trace, TRACE);
    assert!(header_of(&receive["requestHeaders"], "tracestate").is_none());

    // Without a client traceparent: a new trace, still sent.
    let echo: Value = d.get_json("/api/Echo").await;
    let (trace, _) = trace_and_span(&header_of(&echo["requestHeaders"], "traceparent").unwrap());
    assert_ne!(trace, TRACE);
}
