//! The real `jobctl` binary against a scripted loopback server whose peek-lock answer the HTTP
//! client cannot parse (more headers than it accepts, as a dead letter with very many
//! application properties would give): jobctl must fail loudly, naming the queue and the
//! failure, and must not retry the peek-lock (a retry would lock the next dead letter and leave
//! this one locked and unseen).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A server answering every peek-lock with a `201` of `headers` custom-property headers (and
/// anything else with `200`); it records each request line.
async fn server(headers: usize) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/sb", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let (log, url) = (seen.clone(), base.clone());
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = vec![0u8; 16 * 1024];
            while !String::from_utf8_lossy(&got).contains("\r\n\r\n") {
                let n = socket.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
            }
            let line = String::from_utf8_lossy(&got)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            log.lock().unwrap().push(line.clone());
            let answer = if line.starts_with("POST") && line.contains("/messages/head") {
                let mut a = format!(
                    "HTTP/1.1 201 Created\r\nbrokerproperties: {{\"LockToken\":\"0b7c\",\"MessageId\":\"m-1\",\"SequenceNumber\":5}}\r\nlocation: {url}/jobs/$DeadLetterQueue/messages/5/0b7c\r\n"
                );
                for i in 0..headers {
                    a.push_str(&format!("p{i}: \"{i}\"\r\n"));
                }
                a + "content-length: 0\r\nconnection: close\r\n\r\n"
            } else {
                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            };
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    (base, seen)
}

async fn jobctl(endpoint: &str, args: &[&str]) -> (i32, String) {
    let state = std::env::temp_dir().join(format!("jobctl-unreadable-{}", std::process::id()));
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobctl"))
        .arg("--endpoint")
        .arg(endpoint)
        .args(args)
        .env("JOBCTL_STATE_DIR", &state)
        .env_remove("SERVICEBUS_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn too_many_headers_fail_loudly_without_a_retry() {
    let (url, seen) = server(servicebus::MAX_RESPONSE_HEADERS + 20).await;
    let (code, stderr) = jobctl(&url, &["dlq", "peek", "--max", "1"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("peek-lock on jobs/$DeadLetterQueue failed"),
        "{stderr}"
    );
    assert!(stderr.contains("not retried"), "{stderr}");
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        ["POST /sb/jobs/$DeadLetterQueue/messages/head?timeout=1 HTTP/1.1"],
        "one peek-lock, no retry"
    );

    // A redrive stops at the same answer: non-zero, nothing sent.
    let (code, stderr) = jobctl(&url, &["dlq", "resubmit", "--all"]).await;
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("jobs/$DeadLetterQueue"), "{stderr}");
    assert!(
        !seen
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST /sb/jobs/messages ")),
        "no copy was sent"
    );
}

#[tokio::test]
async fn two_hundred_application_properties_are_read() {
    let (url, seen) = server(200).await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobctl"))
        .args(["--endpoint", &url, "--json", "dlq", "peek", "--max", "1"])
        .env_remove("SERVICEBUS_ENDPOINT")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["sequenceNumber"], 5);
    assert_eq!(rows[0]["properties"].as_object().unwrap().len(), 200);
    // It was unlocked again.
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("PUT /sb/jobs/$DeadLetterQueue/messages/5/0b7c")),
        "{:?}",
        seen.lock().unwrap()
    );
}
