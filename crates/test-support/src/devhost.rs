//! The real `devhost` binary on a free loopback port, over a script root (see [`crate::app`]).

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{binary, free_port};

/// A running devhost, killed on drop (with its handler).
pub struct Devhost {
    /// The devhost process.
    pub child: Child,
    /// `http://127.0.0.1:{port}`.
    pub url: String,
    /// A client for it (30 s timeout).
    pub client: reqwest::Client,
    /// The AMQP port (random, as every test picks its own).
    pub amqp_port: u16,
}

impl Devhost {
    /// `devhost start` on `root`, its store in `data`, with `--max-delivery-count`.
    pub async fn start(root: &Path, data: &Path, port: u16, max_delivery_count: u32) -> Self {
        Self::start_with(
            root,
            data,
            port,
            &["--max-delivery-count", &max_delivery_count.to_string()],
        )
        .await
    }

    /// Start with further `devhost start` flags, and wait until `/admin/queues` answers.
    /// `DEVHOST_TEST_LOGS=1` shows the devhost's and the handler's output.
    pub async fn start_with(root: &Path, data: &Path, port: u16, flags: &[&str]) -> Self {
        Self::start_with_env(root, data, port, flags, &[]).await
    }

    /// [`Devhost::start_with`], with variables added to the devhost's own environment (the shell
    /// `func start` would run in).
    pub async fn start_with_env(
        root: &Path,
        data: &Path,
        port: u16,
        flags: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let show = std::env::var_os("DEVHOST_TEST_LOGS").is_some();
        let output = || {
            if show {
                Stdio::inherit()
            } else {
                Stdio::null()
            }
        };
        let amqp_port = free_port();
        let child = start_command(root, data, port)
            .args(["--amqp-port", &amqp_port.to_string()])
            .args(flags)
            .envs(env.iter().copied())
            .env("RUST_LOG", if show { "info" } else { "warn" })
            .stdout(output())
            .stderr(output())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let devhost = Self {
            child,
            url,
            client,
            amqp_port,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while devhost
            .client
            .get(format!("{}/admin/queues", devhost.url))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "devhost did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        devhost
    }

    /// A request to a devhost path, to add headers and a body to and send.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// Send a request without a body to a devhost path; the response.
    pub async fn call(&self, method: reqwest::Method, path: &str) -> reqwest::Response {
        self.request(method, path).send().await.unwrap()
    }

    /// POST a JSON `body` to a devhost path; the HTTP status.
    pub async fn post_status(&self, path: &str, body: impl Into<String>) -> u16 {
        let res = self.post(path, Some("application/json"), body).await;
        res.status().as_u16()
    }

    /// POST a job to `IngestJob`; the HTTP status and JSON body (`null` when not JSON).
    pub async fn submit(&self, job: &str) -> Result<(u16, Value), reqwest::Error> {
        let res = self.client.post(format!("{}/api/IngestJob", self.url));
        let res = res.header("content-type", "application/json");
        let res = res.body(job.to_owned()).send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// GET a devhost path; the status.
    pub async fn status(&self, path: &str) -> u16 {
        let res = self.client.get(format!("{}{path}", self.url)).send();
        res.await.unwrap().status().as_u16()
    }

    /// GET a devhost path and return the body text.
    pub async fn get_text(&self, path: &str) -> String {
        let res = self.client.get(format!("{}{path}", self.url)).send();
        res.await.unwrap().text().await.unwrap()
    }

    /// GET a devhost path and return the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        let res = self.client.get(format!("{}{path}", self.url)).send();
        res.await.unwrap().json().await.unwrap()
    }

    /// POST `body` to a devhost path, with a `content-type` when given; the response.
    pub async fn post(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<String>,
    ) -> reqwest::Response {
        let mut req = self.client.post(format!("{}{path}", self.url));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.body(body.into()).send().await.unwrap()
    }

    /// POST `body` as JSON to a devhost path with `headers`; the answer as JSON.
    pub async fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Value {
        let mut req = self.client.post(format!("{}{path}", self.url)).json(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap().json().await.unwrap()
    }

    /// The `/admin/queues` row of queue `name` (`null` when there is none).
    pub async fn queue(&self, name: &str) -> Value {
        let v: Value = self.get_json("/admin/queues").await;
        v["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Read the `/admin/queues` row of `queue` until `settled` holds for it (at most `within`,
    /// else panic showing the row); that row.
    pub async fn queue_until(
        &self,
        queue: &str,
        within: Duration,
        settled: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let q = self.queue(queue).await;
            if settled(&q) {
                return q;
            }
            assert!(
                Instant::now() < deadline,
                "queue {queue} never settled: {q}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every dead letter of `jobs` (admin view).
    pub async fn dead_letters(&self) -> Vec<Value> {
        let v = self
            .get_json("/admin/queues/jobs/deadletters?limit=10000")
            .await;
        v["deadLetters"].as_array().cloned().unwrap_or_default()
    }

    /// Wait until nothing is active, locked or scheduled and `settled` messages are completed or
    /// dead-lettered; the final queue counts.
    pub async fn drained(&self, settled: u64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let q = self.queue("jobs").await;
            let n = |k: &str| q[k].as_u64().unwrap_or(0);
            if n("active") + n("locked") + n("scheduled") == 0
                && n("completed") + n("deadLettered") >= settled
            {
                return q;
            }
            assert!(Instant::now() < deadline, "queue did not drain: {q}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Process ids of the devhost's children (the handler).
    pub fn children(&self) -> Vec<u32> {
        let out = Command::new("pgrep")
            .args(["-P", &self.child.id().to_string()])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// SIGKILL the devhost (no shutdown of any kind), then its orphaned handler.
    pub fn kill9(&self) {
        let orphans = self.children();
        let _ = Command::new("kill")
            .args(["-9", &self.child.id().to_string()])
            .status();
        for pid in orphans {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }

    /// SIGTERM the devhost and wait for it to exit.
    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let mut child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        let _ = tokio::task::spawn_blocking(move || child.wait()).await;
    }
}

impl Drop for Devhost {
    fn drop(&mut self) {
        let orphans = self.children();
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in orphans {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
}

/// `devhost start --script-root root --data-dir data --port port`.
fn start_command(root: &Path, data: &Path, port: u16) -> Command {
    let mut cmd = Command::new(binary("devhost"));
    cmd.args(["start", "--script-root"])
        .arg(root)
        .arg("--data-dir")
        .arg(data)
        .args(["--port", &port.to_string()]);
    cmd
}

/// Run `devhost start` on a script root that must fail to start: the exit status and stderr.
pub fn devhost_start_fails(root: &Path, data: &Path) -> (Option<i32>, String) {
    let mut child = start_command(root, data, free_port())
        .args(["--amqp-port", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            let mut stderr = child.stderr.take().unwrap();
            stderr.read_to_string(&mut err).unwrap();
            return (status.code(), err);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("devhost started although it should have refused the configuration");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `devhost start` on `root` fails (non-zero exit) with every piece of `expected` on stderr;
/// the stderr.
pub fn assert_start_refused(root: &Path, data: &Path, expected: &[&str]) -> String {
    let (code, stderr) = devhost_start_fails(root, data);
    assert_ne!(code, Some(0), "{stderr}");
    for piece in expected {
        assert!(stderr.contains(piece), "expected {piece:?} in: {stderr}");
    }
    stderr
}
