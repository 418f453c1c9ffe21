//! A peek-lock is not idempotent: each request locks a message. A scripted loopback server
//! answers the way Service Bus does (or breaks the way a too-large answer breaks the client) and
//! records every request, to show which answers are retried and which fail at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use servicebus::{
    Auth, MAX_RESPONSE_HEADERS, RetryOptions, ServiceBusClient, ServiceBusError, dead_letter_path,
};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

const BROKER: &str = r#"{"DeliveryCount":2,"LockToken":"7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547","MessageId":"job-1:2","SequenceNumber":11,"EnqueuedTimeUtc":"Sun, 06 Nov 1994 08:49:37 GMT"}"#;

/// What the server saw: `METHOD path` per request.
type Seen = Arc<Mutex<Vec<String>>>;

/// Serve each request with `answer(index, request line)` (a full HTTP/1.1 answer head + body).
async fn scripted(answer: fn(usize, &str, &str) -> String) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sb", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut got = Vec::new();
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let text = String::from_utf8_lossy(&got).into_owned();
            let line = text.lines().next().unwrap_or_default().to_owned();
            let index = {
                let mut log = log.lock().unwrap();
                let mut parts = line.split(' ');
                log.push(format!(
                    "{} {}",
                    parts.next().unwrap_or_default(),
                    parts.next().unwrap_or_default()
                ));
                log.len() - 1
            };
            let base = url_of(&socket);
            let _ = socket
                .write_all(answer(index, &line, &base).as_bytes())
                .await;
            let _ = socket.shutdown().await;
        }
    });
    (url, seen)
}

fn url_of(socket: &tokio::net::TcpStream) -> String {
    format!("http://{}/sb", socket.local_addr().unwrap())
}

/// A `201` peek-lock answer with `properties` custom-property headers.
fn locked(properties: usize, base: &str) -> String {
    let mut head = format!(
        "HTTP/1.1 201 Created\r\nbrokerproperties: {BROKER}\r\ncontent-type: application/json\r\nlocation: {base}/jobs/$DeadLetterQueue/messages/11/7da9cfd5-40d5-4bb1-8d64-ec5a52e1c547\r\n"
    );
    for i in 0..properties {
        head.push_str(&format!("p{i}: \"v{i}\"\r\n"));
    }
    head.push_str("content-length: 2\r\nconnection: close\r\n\r\n{}");
    head
}

fn status(code: u16) -> String {
    format!("HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

fn client(url: &str) -> ServiceBusClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ServiceBusClient::new(url, Auth::None)
        .unwrap()
        .with_retry(RetryOptions {
            max_tries: 3,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            try_timeout: Duration::from_secs(5),
        })
        .unwrap()
}

fn seen(s: &Seen) -> Vec<String> {
    s.lock().unwrap().clone()
}

const HEAD: &str = "POST /sb/jobs/$DeadLetterQueue/messages/head?timeout=1";

#[tokio::test]
async fn a_message_with_200_application_properties_is_read() {
    // hyper's default of 100 headers would fail ~95 properties plus the broker's own headers.
    let (url, log) = scripted(|_, _, base| locked(200, base)).await;
    let m = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.sequence_number, 11);
    assert_eq!(m.properties.len(), 200, "{:?}", m.properties.keys());
    assert_eq!(m.property("p199"), Some("v199"));
    assert_eq!(seen(&log), [HEAD]);
}

#[tokio::test]
async fn an_answer_the_client_cannot_parse_is_not_retried_and_names_the_queue() {
    // More headers than the client accepts: the answer fails to parse after the service locked
    // the message. Retrying would lock the next one and leave this one locked and unseen.
    let (url, log) = scripted(|_, _, base| locked(MAX_RESPONSE_HEADERS + 10, base)).await;
    let err = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ServiceBusError::ReceiveUncertain { entity, .. } if entity == "jobs/$DeadLetterQueue"),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("jobs/$DeadLetterQueue"), "{text}");
    assert!(text.contains("not retried"), "{text}");
    assert_eq!(seen(&log), [HEAD], "exactly one peek-lock request");
}

#[tokio::test]
async fn a_broken_connection_after_the_request_is_not_retried() {
    let (url, log) = scripted(|_, _, _| String::new()).await;
    let err = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceBusError::ReceiveUncertain { .. }),
        "{err:?}"
    );
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn server_busy_is_retried_because_nothing_was_locked() {
    let (url, log) =
        scripted(|i, _, base| if i == 0 { status(503) } else { locked(0, base) }).await;
    let m = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap();
    assert_eq!(m.map(|m| m.sequence_number), Some(11));
    assert_eq!(seen(&log), [HEAD, HEAD]);
}

#[tokio::test]
async fn an_internal_error_is_final_at_once() {
    // A 500 may come after the lock was taken: no retry.
    let (url, log) = scripted(|_, _, _| status(500)).await;
    let err = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ServiceBusError::Status { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(seen(&log).len(), 1);
}

#[tokio::test]
async fn a_locked_message_that_cannot_be_read_is_unlocked_and_named() {
    let (url, log) = scripted(|i, _, base| {
        if i == 0 {
            format!(
                "HTTP/1.1 201 Created\r\nbrokerproperties: not json\r\nlocation: {base}/jobs/$DeadLetterQueue/messages/11/tok\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            )
        } else {
            status(200)
        }
    })
    .await;
    let err = client(&url)
        .peek_lock(&dead_letter_path("jobs"), 1)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ServiceBusError::Unreadable { .. }), "{err:?}");
    assert!(
        text.contains("/jobs/$DeadLetterQueue/messages/11/tok"),
        "{text}"
    );
    assert!(text.contains("unlocked again"), "{text}");
    assert_eq!(
        seen(&log),
        [
            HEAD.to_owned(),
            "PUT /sb/jobs/$DeadLetterQueue/messages/11/tok".to_owned()
        ]
    );
}
