//! docs/PARITY.md, "HTTP front" rows: the request data the host builds and its body limit. The
//! real devhost binary hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read as _, Write as _};

use common::{Devhost, Method, free_port, pyhandler_root};
use serde_json::{Value, json};

/// A raw HTTP/1.1 exchange (for what reqwest will not send: a chunked body), `Connection: close`.
fn raw(url: &str, request: &str) -> (u16, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().unwrap();
    let body = out.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

#[tokio::test]
async fn http_request_data_is_the_hosts() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1000")]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let echo = d
        .post_json(
            "/api/Echo?a=1&a=2",
            &[("host", "example.test:1234")],
            &json!({"k": 1}),
        )
        .await;
    let req = &echo["data"]["req"];
    assert_eq!(req["Query"]["a"], "1,2", "repeated keys joined");
    assert_eq!(
        echo["metadata"]["a"], "\"2\"",
        "binding data: the last value"
    );
    assert_eq!(req["Url"], "http://example.test:1234/api/Echo?a=1&a=2");
    assert_eq!(req["Body"], r#"{"k":1}"#);

    // A chunked body has no Content-Length: the host sends no `Body` (nor its fields).
    let (status, body) = tokio::task::spawn_blocking({
        let url = d.url.clone();
        move || {
            raw(
                &url,
                "POST /api/Echo HTTP/1.1\r\nHost: h\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n7\r\n{\"k\":1}\r\n0\r\n\r\n",
            )
        }
    })
    .await
    .unwrap();
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(body.trim()).unwrap();
    assert!(echo["data"]["req"].get("Body").is_none(), "{echo}");
    assert!(echo["metadata"].get("k").is_none());

    // FUNCTIONS_REQUEST_BODY_SIZE_LIMIT (default 100 MiB): over it, 413 before the handler.
    let over = d.post("/api/Echo", None, "x".repeat(1001)).await;
    assert_eq!(over.status().as_u16(), 413);
    let at = d.post("/api/Echo", None, "x".repeat(1000)).await;
    assert_eq!(at.status().as_u16(), 200);
}

#[tokio::test]
async fn forwarding_sends_the_raw_request_for_http_only_functions() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    std::fs::copy(
        root.join("variants/host.forwarding.json"),
        root.join("host.json"),
    )
    .unwrap();
    common::add_pyhandler_variant(&root, "Forwarded");
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let res = d.request(Method::POST, "/api/fwd/x?a=1");
    let res = res.header("x-pyh-status", "418").body("raw body").send();
    let res = res.await.unwrap();
    assert_eq!(res.status().as_u16(), 418, "any status, returned as it is");
    assert_eq!(res.headers()["x-pyh-forwarded"], "1");
    let echo: Value = res.json().await.unwrap();
    assert_eq!(
        echo["path"], "/api/fwd/x",
        "the original path, route prefix included"
    );
    assert_eq!(echo["query"], "a=1");
    assert_eq!(echo["body"], "raw body");
    let headers = echo["headers"].to_string().to_ascii_lowercase();
    assert!(
        headers.contains("x-azure-functions-invocationid"),
        "{headers}"
    );
    // A function with another output binding still gets an invocation request.
    let sent = d
        .post("/api/Send", Some("application/json"), r#"{"out": 1}"#)
        .await;
    assert_eq!(sent.status().as_u16(), 202);
    assert!(sent.headers().get("x-pyh-forwarded").is_none());
}

/// `GET {url}/api/{path}` with an optional `x-functions-key`; the status.
async fn status_with_key(d: &Devhost, path: &str, header_key: Option<&str>) -> u16 {
    let mut req = d.client.get(format!("{}/api/{path}", d.url));
    if let Some(k) = header_key {
        req = req.header("x-functions-key", k);
    }
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn keys_are_enforced_only_with_enable_auth_as_under_func_start() {
    // Without the flag (`func start` without --enableAuth): a function-level function is open.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    std::fs::create_dir_all(root.join("Admin")).unwrap();
    std::fs::write(
        root.join("Admin/function.json"),
        json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "Admin"},
            {"type": "http", "direction": "out", "name": "res"}]})
        .to_string(),
    )
    .unwrap();
    let data = dir.path().join("data");
    let d = Devhost::start_with(&root, &data, free_port(), &[]).await;
    assert_eq!(status_with_key(&d, "Keyed", None).await, 200);
    assert_eq!(status_with_key(&d, "Admin", None).await, 200);
    drop(d);

    // The function's own key, in the host's file format, next to the generated host keys.
    std::fs::create_dir_all(data.join("secrets")).unwrap();
    std::fs::write(
        data.join("secrets/keyed.json"),
        r#"{"keys": [{"name": "own", "value": "keyed-own-key", "encrypted": false}]}"#,
    )
    .unwrap();
    let d = Devhost::start_with(&root, &data, free_port(), &["--enable-auth"]).await;
    let secrets: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("secrets/host.json")).unwrap())
            .unwrap();
    let master = secrets["masterKey"]["value"].as_str().unwrap();
    let default = secrets["functionKeys"][0]["value"].as_str().unwrap();
    assert_eq!(secrets["functionKeys"][0]["name"], "default");

    // `authLevel` missing = `function`.
    let res = d.call(Method::GET, "/api/Keyed").await;
    assert_eq!(res.status().as_u16(), 401);
    assert_eq!(status_with_key(&d, "Keyed", Some(default)).await, 200);
    assert_eq!(status_with_key(&d, "Keyed", Some(master)).await, 200);
    assert_eq!(
        status_with_key(&d, "Keyed", Some("keyed-own-key")).await,
        200
    );
    assert_eq!(status_with_key(&d, "Keyed", Some("nope")).await, 401);
    assert_eq!(
        status_with_key(&d, &format!("Keyed?code={default}"), None).await,
        200
    );
    // The header wins over `code`.
    assert_eq!(
        status_with_key(&d, &format!("Keyed?code={default}"), Some("nope")).await,
        401
    );
    // `admin` needs the master key; a function's own key is for that function only.
    assert_eq!(status_with_key(&d, "Admin", Some(default)).await, 401);
    assert_eq!(
        status_with_key(&d, "Admin", Some("keyed-own-key")).await,
        401
    );
    assert_eq!(status_with_key(&d, "Admin", Some(master)).await, 200);
    // `anonymous` needs nothing; `code` is never bound into Metadata.
    let echo = d.get_json(&format!("/api/Echo?code={default}")).await;
    assert!(echo["metadata"].get("code").is_none(), "{echo}");
    drop(d);

    // A second start keeps the keys.
    let _d = Devhost::start_with(&root, &data, free_port(), &["--enable-auth"]).await;
    let again: Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("secrets/host.json")).unwrap())
            .unwrap();
    assert_eq!(again["masterKey"]["value"], master);
}

#[tokio::test]
async fn kestrel_limits_apply_to_the_front_end() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}Connection: close\r\n\r\n")
    };
    // `MaxRequestLineSize` 8 KiB: 414.
    let long = format!("/api/Echo?q={}", "a".repeat(8_200));
    assert_eq!(raw(&d.url, &get(&long, "")).0, 414);
    let fits = format!("/api/Echo?q={}", "a".repeat(7_000));
    assert_eq!(raw(&d.url, &get(&fits, "")).0, 200);
    // `MaxRequestHeadersTotalSize` 32 KiB and `MaxRequestHeaderCount` 100: 431.
    let big = format!("X-Big: {}\r\n", "b".repeat(33 * 1024));
    assert_eq!(raw(&d.url, &get("/api/Echo", &big)).0, 431);
    let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw(&d.url, &get("/api/Echo", &many)).0, 431);
    let some: String = (0..90).map(|i| format!("X-H{i}: v\r\n")).collect();
    assert_eq!(raw(&d.url, &get("/api/Echo", &some)).0, 200);

    // `RequestHeadersTimeout` 30 s: a connection that never completes its headers, and one that
    // sends nothing, are closed (not before 25 s; no upper speed target beyond "closed").
    let addr = d.url.trim_start_matches("http://").to_owned();
    let started = std::time::Instant::now();
    let waits: Vec<_> = ["GET /api/Echo HTTP/1.1\r\nHost: x\r\n", ""]
        .into_iter()
        .map(|partial| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.set_read_timeout(Some(std::time::Duration::from_secs(90)))
                    .unwrap();
                s.write_all(partial.as_bytes()).unwrap();
                let mut buf = Vec::new();
                // EOF (or a reset) is the close.
                let _ = s.read_to_end(&mut buf);
                started.elapsed()
            })
        })
        .collect();
    for w in waits {
        let after = w.join().unwrap();
        assert!(
            after >= std::time::Duration::from_secs(25)
                && after < std::time::Duration::from_secs(85),
            "closed after {after:?}"
        );
    }
}
