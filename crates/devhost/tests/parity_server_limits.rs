//! docs/PARITY.md, "HTTP front" row "Server limits": Kestrel's connection timeouts and minimum
//! request body data rate on the devhost's front end. The real devhost binary hosting
//! `tests/fixtures/pyhandler`, driven over raw sockets (what an HTTP client library will not do:
//! stall mid-request, send a body slowly).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use common::{Devhost, free_port, pyhandler_root};

const GET_ECHO: &str = "GET /api/Echo HTTP/1.1\r\nHost: x\r\n\r\n";

fn connect(url: &str) -> TcpStream {
    let s = TcpStream::connect(url.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(200))).unwrap();
    s
}

/// Read one response's status line and headers, then its `Content-Length` body.
fn read_response(s: &mut TcpStream) -> Option<(u16, String)> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let status = head.get(9..12)?.parse().ok()?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    s.read_exact(&mut body).ok()?;
    Some((status, String::from_utf8_lossy(&body).into_owned()))
}

/// Whether the peer closed the connection (EOF or reset), waiting at most the read timeout.
fn closed(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.read(&mut buf), Ok(0) | Err(_))
}

#[tokio::test]
async fn kestrel_connection_timeouts_with_their_default_values() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let url = d.url.clone();
    let started = Instant::now();
    // Half a request: `RequestHeadersTimeout` (30 s) from its first byte, then 408 and close.
    let slow_headers = {
        let url = url.clone();
        thread::spawn(move || {
            let mut s = connect(&url);
            s.write_all(b"GET /api/Echo HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            let answer = read_response(&mut s);
            (answer, started.elapsed(), closed(&mut s))
        })
    };
    // Nothing sent for 35 s, and a kept-alive connection idle for 35 s after a request: both
    // still serve a request, as `KeepAliveTimeout` is 130 s (the header timeout does not run
    // while a connection waits).
    let idle_new = {
        let url = url.clone();
        thread::spawn(move || {
            let mut s = connect(&url);
            thread::sleep(Duration::from_secs(35));
            s.write_all(GET_ECHO.as_bytes()).unwrap();
            read_response(&mut s).map(|r| r.0)
        })
    };
    let idle_kept = thread::spawn(move || {
        let mut s = connect(&url);
        s.write_all(GET_ECHO.as_bytes()).unwrap();
        let first = read_response(&mut s).map(|r| r.0);
        thread::sleep(Duration::from_secs(35));
        s.write_all(GET_ECHO.as_bytes()).unwrap();
        (first, read_response(&mut s).map(|r| r.0))
    });
    let (answer, after, then_closed) = tokio::task::spawn_blocking(move || slow_headers.join())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer.map(|a| a.0), Some(408), "after {after:?}");
    assert!(
        after >= Duration::from_secs(29) && after < Duration::from_secs(45),
        "408 after {after:?}"
    );
    assert!(then_closed);
    let new = tokio::task::spawn_blocking(move || idle_new.join().unwrap());
    assert_eq!(new.await.unwrap(), Some(200));
    let kept = tokio::task::spawn_blocking(move || idle_kept.join().unwrap());
    assert_eq!(kept.await.unwrap(), (Some(200), Some(200)));
}

#[tokio::test]
async fn idle_connections_close_at_the_keep_alive_timeout_and_slow_headers_at_theirs() {
    // The same timers, shortened for the test (the defaults are checked above and in
    // `http_server::limits::tests`): keep-alive 4 s, request headers 1 s.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with_env(
        &root,
        &dir.path().join("data"),
        free_port(),
        &[],
        &[(
            "DEVHOST_TEST_SERVER_LIMITS",
            "keep-alive=4s,request-headers=1s",
        )],
    )
    .await;
    let url = d.url.clone();
    let checks = thread::spawn(move || {
        // Idle 2 s (past the header timeout, within keep-alive), then a request: served. After
        // its response the connection is idle again and closes 4 s later, with no answer.
        let mut s = connect(&url);
        thread::sleep(Duration::from_secs(2));
        s.write_all(GET_ECHO.as_bytes()).unwrap();
        assert_eq!(read_response(&mut s).map(|r| r.0), Some(200));
        let answered = Instant::now();
        assert!(closed(&mut s));
        let idle = answered.elapsed();
        assert!(
            idle >= Duration::from_millis(3500) && idle < Duration::from_secs(10),
            "closed after {idle:?} idle"
        );
        // A request line, then nothing: 408 about 1 s after its first byte.
        let mut s = connect(&url);
        thread::sleep(Duration::from_secs(2));
        let first_byte = Instant::now();
        s.write_all(b"POST /api/Echo HTTP/1.1\r\n").unwrap();
        assert_eq!(read_response(&mut s).map(|r| r.0), Some(408));
        let after = first_byte.elapsed();
        assert!(
            after >= Duration::from_millis(900) && after < Duration::from_secs(5),
            "408 after {after:?}"
        );
        assert!(closed(&mut s));
    });
    tokio::task::spawn_blocking(move || checks.join().unwrap())
        .await
        .unwrap();
}

/// POST a body of `length` bytes to Echo, of which `send` are sent, `chunk` bytes every `every`;
/// the answer (`None`: closed first) and the connection. Everything sent is read by the server
/// before it answers, so a close is a clean one.
fn trickle(
    url: &str,
    length: usize,
    send: usize,
    chunk: usize,
    every: Duration,
) -> (Option<(u16, String)>, TcpStream) {
    let mut s = connect(url);
    let head = format!(
        "POST /api/Echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: {length}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).unwrap();
    let mut sent = 0;
    while sent < send {
        let n = chunk.min(send - sent);
        s.write_all(&vec![b'x'; n]).unwrap();
        sent += n;
        thread::sleep(every);
    }
    (read_response(&mut s), s)
}

#[tokio::test]
async fn a_body_slower_than_kestrels_minimum_rate_is_cut_with_the_hosts_500() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let (slow_url, fine_url) = (d.url.clone(), d.url.clone());
    let started = Instant::now();
    // 40 bytes/s for 4 s, then nothing: under 240 bytes/s once the 5 s grace period is over.
    let slow = thread::spawn(move || {
        let (answer, mut s) = trickle(&slow_url, 2_000, 160, 10, Duration::from_millis(250));
        let after = started.elapsed();
        ((answer, closed(&mut s)), after)
    });
    // 400 bytes/s for about 8 s: over the minimum, served.
    let fine =
        thread::spawn(move || trickle(&fine_url, 3_200, 3_200, 100, Duration::from_millis(250)));
    let ((answer, then_closed), after) = tokio::task::spawn_blocking(move || slow.join().unwrap())
        .await
        .unwrap();
    let (status, body) = answer.expect("an answer before the close");
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("MinRequestBodyDataRate"), "{body}");
    assert!(then_closed, "the connection closes after the answer");
    assert!(
        after >= Duration::from_millis(4500) && after < Duration::from_secs(15),
        "cut after {after:?}"
    );
    let (answer, _) = tokio::task::spawn_blocking(move || fine.join().unwrap())
        .await
        .unwrap();
    let (status, body) = answer.unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&"x".repeat(3_200)),
        "the whole body reached the handler"
    );
}
