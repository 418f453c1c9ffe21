//! The client's calls go through `azure_core`'s pipeline: transient answers are retried up to the
//! configured tries, other answers are final at once. A scripted loopback server answers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use servicebus::{Auth, OutgoingMessage, RetryOptions, ServiceBusClient, ServiceBusError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// Serve `statuses` in order (the last one repeats); count the requests.
async fn scripted(statuses: &[u16]) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sb", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let (statuses, counter) = (statuses.to_vec(), hits.clone());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let status = statuses[n.min(statuses.len() - 1)];
            let mut buf = vec![0u8; 64 * 1024];
            let mut seen = Vec::new();
            // Read the head, then the body its content-length announces.
            loop {
                let read = socket.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..read]);
                let text = String::from_utf8_lossy(&seen).to_lowercase();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if seen.len() >= end + 4 + length {
                        break;
                    }
                }
                if read == 0 {
                    break;
                }
            }
            let answer =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    (url, hits)
}

fn client(url: &str, max_tries: u32) -> ServiceBusClient {
    let _ = rustls::crypto::ring::default_provider().install_default();
    ServiceBusClient::new(url, Auth::None)
        .unwrap()
        .with_retry(RetryOptions {
            max_tries,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
            try_timeout: Duration::from_secs(5),
        })
        .unwrap()
}

/// Send one message to a namespace answering `statuses` in turn, with `max_tries`: the outcome
/// and how many requests were made.
async fn send_through(statuses: &[u16], max_tries: u32) -> (Result<(), ServiceBusError>, usize) {
    let (url, hits) = scripted(statuses).await;
    let sent = client(&url, max_tries)
        .send("jobs", &OutgoingMessage::new("x"))
        .await;
    (sent, hits.load(Ordering::SeqCst))
}

/// The send failed with the answer `status`.
fn assert_status(sent: Result<(), ServiceBusError>, status: u16) {
    match sent {
        Err(ServiceBusError::Status { status: got, .. }) if got == status => {}
        other => panic!("expected a {status} answer, got {other:?}"),
    }
}

#[tokio::test]
async fn transient_answers_are_retried_until_success() {
    let (sent, hits) = send_through(&[503, 500, 201], 3).await;
    sent.unwrap();
    assert_eq!(hits, 3);
}

#[tokio::test]
async fn retries_stop_at_the_configured_tries() {
    let (sent, hits) = send_through(&[503], 2).await;
    assert_status(sent, 503);
    assert_eq!(hits, 2);
}

#[tokio::test]
async fn other_answers_are_final_at_once() {
    let (sent, hits) = send_through(&[401], 3).await;
    assert_status(sent, 401);
    assert_eq!(hits, 1);
}
