//! Starts the real `handler` binary on a free loopback port and talks to it as the host does.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A running handler process, killed on drop.
pub struct Handler {
    pub child: Child,
    pub base: String,
    pub client: reqwest::Client,
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Command line for the handler with a port and the repo's job types.
pub fn command(env: &[(&str, &str)]) -> (Command, u16) {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_handler"));
    cmd.env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("JOB_TYPES_DIR", repo_root().join("job-types"))
        .env("LOG_FORMAT", "json")
        .env("RUST_LOG", "warn")
        .env("PROCESSING_DELAY_MS", "0")
        .env("CHAOS_FAILURE_RATE", "0")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    (cmd, port)
}

impl Handler {
    /// GET a handler path and return the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Start the handler and wait until it answers `GET /`, as the host's readiness probe does.
    pub async fn start(env: &[(&str, &str)]) -> Self {
        // reqwest is built with rustls and no default crypto provider (see the handler's main).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (mut cmd, port) = command(env);
        let child = cmd.spawn().expect("handler binary starts");
        let handler = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
        };
        until_ready(&handler.client, &handler.base).await;
        handler
    }

    /// POST an invocation to `/{function}` and return (status, JSON body).
    pub async fn invoke(&self, function: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}/{function}", self.base))
            .header("X-Azure-Functions-InvocationId", uuid_like())
            .header("X-Azure-Functions-HostVersion", "4.1040.0")
            .header("User-Agent", "Azure-Functions-Host/4.1040.0")
            .json(body)
            .send()
            .await
            .expect("invocation answered");
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("answer is not JSON ({e}): {text}"));
        (status, json)
    }
}

/// Wait until the handler at `base` answers `GET /`, as the host's readiness probe does.
pub async fn until_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while client.get(base).send().await.is_err() {
        assert!(Instant::now() < deadline, "handler did not become ready");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Send SIGTERM to a process.
pub fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -TERM failed");
}

impl Drop for Handler {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uuid_like() -> String {
    format!("{:032x}", rand_u128())
}

fn rand_u128() -> u128 {
    use std::hash::{BuildHasher, RandomState};
    let s = RandomState::new();
    (u128::from(s.hash_one(1u8)) << 64) | u128::from(s.hash_one(2u8))
}

/// An HTTP-trigger invocation exactly as the host builds it: headers as arrays, body as a string,
/// `Metadata` with `Query`, `Headers`, `sys`.
pub fn http_invocation(method: &str, headers: &[(&str, &str)], body: Option<&str>) -> Value {
    let mut hdrs = serde_json::Map::new();
    for (k, v) in headers {
        hdrs.insert((*k).to_owned(), json!([v]));
    }
    hdrs.insert("Host".into(), json!(["localhost:7071"]));
    let mut req = json!({
        "Url": "http://localhost:7071/api/IngestJob",
        "Method": method,
        "Query": {},
        "Headers": hdrs,
        "Params": {},
        "Identities": [{"AuthenticationType": null, "IsAuthenticated": false, "Claims": []}],
    });
    if let Some(b) = body {
        req["Body"] = json!(b);
    }
    json!({
        "Data": {"req": req},
        "Metadata": {
            "Query": {},
            "Headers": hdrs,
            "sys": {"MethodName": "IngestJob", "UtcNow": "2026-11-24T10:00:00.000Z", "RandGuid": "5d2f7c36-7c6b-4d6f-9a8e-1f0f2a3b4c5d"}
        }
    })
}

/// A Service Bus trigger invocation exactly as the host builds it for `dataType` string: the body
/// serialised once more and sent as a JSON string; metadata scalars as JSON text in strings.
pub fn sb_invocation(body_text: &str, delivery_count: u32, message_id: &str) -> Value {
    let double_encoded = serde_json::to_string(body_text).unwrap();
    json!({
        "Data": {"msg": double_encoded},
        "Metadata": {
            "MessageId": format!("\"{message_id}\""),
            "DeliveryCount": delivery_count.to_string(),
            "SequenceNumber": "17",
            "EnqueuedTimeUtc": "\"2026-11-24T10:00:00Z\"",
            "ExpiresAtUtc": "\"2026-12-08T10:00:00Z\"",
            "LockToken": "\"0f4b7c1e-8a1d-4d55-9c55-2f7f1e7a9b10\"",
            "ContentType": "\"application/json\"",
            "ApplicationProperties": {},
            "UserProperties": {},
            "sys": {"MethodName": "ProcessJob", "UtcNow": "2026-11-24T10:00:01.000Z", "RandGuid": "0b0c0d0e-0000-4000-8000-000000000000"}
        }
    })
}

/// The sample job from the README.
pub const SAMPLE_JOB: &str = r#"{"jobType":"report","version":1,"tenantId":"contoso","payload":{"reportName":"daily-sales","rows":100}}"#;

/// The HTTP response a client would get: `Outputs.res`.
pub fn res(answer: &Value) -> &Value {
    &answer["Outputs"]["res"]
}

/// `Outputs.res.body` parsed as JSON.
pub fn res_body(answer: &Value) -> Value {
    serde_json::from_str(res(answer)["body"].as_str().expect("res.body is a string"))
        .expect("res.body is JSON")
}
