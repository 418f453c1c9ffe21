//! The real `handler` binary on a free loopback port, talked to as the host does.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{binary, free_port, repo_root};

/// A running handler process, killed on drop.
pub struct Handler {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:{port}`.
    pub base: String,
    /// A client for it.
    pub client: reqwest::Client,
}

/// Command line for the handler with a free port, the repo's job types, no simulated work and no
/// chaos, then `env` (nothing else of the test's environment).
pub fn command(env: &[(&str, &str)]) -> (Command, u16) {
    let port = free_port();
    let mut cmd = Command::new(binary("handler"));
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

    /// `ProcessJob` triggered by a message of `body` on its `delivery_count`th delivery, as the
    /// host invokes it ([`crate::sb_invocation`]); (status, JSON body).
    pub async fn process(&self, body: &str, delivery_count: u32, message_id: &str) -> (u16, Value) {
        let invocation = crate::sb_invocation(body, delivery_count, message_id);
        self.invoke("ProcessJob", &invocation).await
    }

    /// POST an invocation to `/{function}` with the host's headers; (status, JSON body).
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

/// Wait until the handler at `base` answers `GET /` (any answer), as the host's readiness probe
/// does every 25 ms.
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

/// 32 hex digits, different on every call (an invocation id).
fn uuid_like() -> String {
    use std::hash::{BuildHasher, RandomState};
    let s = RandomState::new();
    format!(
        "{:032x}",
        (u128::from(s.hash_one(1u8)) << 64) | u128::from(s.hash_one(2u8))
    )
}
