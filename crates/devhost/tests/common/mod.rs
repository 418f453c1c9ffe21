//! Runs the real devhost binary over the real handler binary in a temporary script root.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A Service Bus connection string for the bindings' `connection` setting (the devhost serves every
/// binding from its local Service Bus whatever the value).
pub const LOCAL_CONNECTION_STRING: &str =
    "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=devhost;SharedAccessKey=devhost";

pub const SAMPLE_JOB: &str = r#"{"jobType":"report","version":1,"tenantId":"contoso","payload":{"reportName":"daily-sales","rows":100}}"#;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The real handler binary, built once per test process (`cargo build -p handler`), found in the
/// same target folder as this test executable.
pub fn handler_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("handler"))
}

/// The `testhandler` fixture (crates/testhandler), for behaviours the real handler cannot show.
pub fn testhandler_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("testhandler"))
}

/// The operator CLI (crates/jobctl).
pub fn jobctl_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| workspace_binary("jobctl"))
}

/// Build a workspace binary (package and binary of the same name) with the profile of this test
/// executable and return its path. A no-op when it is up to date.
fn workspace_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test> -> target/<profile>/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut build = Command::new(cargo);
    // Cargo sets these for the test process; a nested build that inherits them sees a different
    // environment from the outer build (ring's build script tracks CARGO_MANIFEST_DIR), rebuilds
    // half the dependency graph, and makes the next outer build rebuild it again. Clear them so
    // the nested build is a no-op when nothing changed.
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy();
        let set_by_cargo_for_tests = [
            "CARGO_MANIFEST_",
            "CARGO_PKG_",
            "CARGO_BIN_",
            "CARGO_CRATE_NAME",
            "CARGO_PRIMARY_PACKAGE",
            "CARGO_TARGET_TMPDIR",
            "CARGO_RUSTC_CURRENT_DIR",
            "OUT_DIR",
        ];
        if set_by_cargo_for_tests.iter().any(|p| var.starts_with(p)) {
            build.env_remove(var.as_ref());
        }
    }
    build
        .current_dir(repo_root())
        .args(["build", "--quiet", "--package", name, "--bin", name]);
    if profile_dir.file_name().is_some_and(|p| p == "release") {
        build.arg("--release");
    }
    let status = build.status().expect("cargo runs");
    assert!(status.success(), "building {name} failed");
    let bin = profile_dir.join(name);
    assert!(
        bin.is_file(),
        "{name} binary not found at {}",
        bin.display()
    );
    bin
}

/// A staged script root like `cargo xtask stage --local`, with the given handler settings.
pub fn script_root(dir: &Path, settings: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("app");
    let repo = repo_root();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(repo.join("host.json"), root.join("host.json")).unwrap();
    for f in ["IngestJob", "ProcessJob"] {
        std::fs::create_dir_all(root.join(f)).unwrap();
        std::fs::copy(
            repo.join(format!("functions/{f}/function.json")),
            root.join(f).join("function.json"),
        )
        .unwrap();
    }
    for t in ["report", "thumbnail"] {
        let from = repo.join("job-types").join(t);
        std::fs::create_dir_all(root.join("job-types").join(t)).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), root.join("job-types").join(t).join(e.file_name())).unwrap();
        }
    }
    std::fs::copy(handler_binary(), root.join("handler")).unwrap();
    write_settings(&root, settings);
    root
}

pub fn write_settings(root: &Path, settings: &[(&str, &str)]) {
    let mut values = serde_json::Map::new();
    values.insert("FUNCTIONS_WORKER_RUNTIME".into(), json!("custom"));
    // The bindings' `connection` must name a setting, as under the host (docs/PARITY.md).
    values.insert(
        "ServiceBusConnection".into(),
        json!(LOCAL_CONNECTION_STRING),
    );
    values.insert("LOG_FORMAT".into(), json!("json"));
    values.insert("RUST_LOG".into(), json!("warn"));
    // The handler's ingest protection would refuse the load tests' thousands of requests from one
    // client: lift it unless a test sets its own limits.
    for (k, v) in [
        ("RATE_LIMIT_CLIENT_BURST", "10000000"),
        ("RATE_LIMIT_GLOBAL_PER_MINUTE", "10000000"),
        ("VELOCITY_FLAG_PER_MINUTE", "10000000"),
    ] {
        values.insert(k.into(), json!(v));
    }
    for (k, v) in settings {
        values.insert((*k).into(), json!(v));
    }
    let text = json!({"IsEncrypted": false, "Values": values}).to_string();
    std::fs::write(root.join("local.settings.json"), text).unwrap();
}

/// Change one field of the script root's `host.json` (a JSON pointer such as `/functionTimeout`).
pub fn edit_host_json(root: &Path, pointer: &str, value: Value) {
    let path = root.join("host.json");
    let mut host: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    *host.pointer_mut(pointer).unwrap() = value;
    std::fs::write(path, host.to_string()).unwrap();
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running devhost, killed on drop (with its handler).
pub struct Devhost {
    pub child: Child,
    pub url: String,
    pub client: reqwest::Client,
    /// The AMQP port (random, as every test picks its own).
    pub amqp_port: u16,
}

impl Devhost {
    pub async fn start(root: &Path, data: &Path, port: u16, max_delivery_count: u32) -> Self {
        Self::start_with(
            root,
            data,
            port,
            &["--max-delivery-count", &max_delivery_count.to_string()],
        )
        .await
    }

    /// Start with further `devhost start` flags. `DEVHOST_TEST_LOGS=1` shows the devhost's and
    /// the handler's output.
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
        let child = Command::new(env!("CARGO_BIN_EXE_devhost"))
            .args(["start", "--script-root"])
            .arg(root)
            .arg("--data-dir")
            .arg(data)
            .args(["--port", &port.to_string()])
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

    /// POST a job; the HTTP status and JSON body.
    pub async fn submit(&self, job: &str) -> Result<(u16, Value), reqwest::Error> {
        let res = self
            .client
            .post(format!("{}/api/IngestJob", self.url))
            .header("content-type", "application/json")
            .body(job.to_owned())
            .send()
            .await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// GET a devhost path and return the body text.
    pub async fn get_text(&self, path: &str) -> String {
        let res = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        res.text().await.unwrap()
    }

    /// GET a devhost path and return the body as JSON.
    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

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

    pub async fn dead_letters(&self) -> Vec<Value> {
        let v: Value = self
            .client
            .get(format!(
                "{}/admin/queues/jobs/deadletters?limit=10000",
                self.url
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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

    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let child = std::mem::replace(&mut self.child, Command::new("true").spawn().unwrap());
        let mut child = child;
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

/// Stage `tests/fixtures/pyhandler` (a generic Python custom handler that is not the project's)
/// into `dir/app`, with `values` added to its `local.settings.json`. Variants stay in
/// `app/variants` until [`add_pyhandler_variant`] copies one in.
pub fn pyhandler_root(dir: &Path, values: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("app");
    copy_tree(&repo_root().join("tests/fixtures/pyhandler"), &root);
    let path = root.join("local.settings.json");
    let mut settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (k, v) in values {
        settings["Values"][*k] = json!(v);
    }
    std::fs::write(path, settings.to_string()).unwrap();
    root
}

/// Copy `variants/<name>` of the staged pyhandler into the script root as a function.
pub fn add_pyhandler_variant(root: &Path, name: &str) {
    copy_tree(&root.join("variants").join(name), &root.join(name));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Run `devhost start` on a script root that must fail to start: the exit status and stderr.
pub fn devhost_start_fails(root: &Path, data: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_devhost"))
        .args(["start", "--script-root"])
        .arg(root)
        .arg("--data-dir")
        .arg(data)
        .args(["--port", &free_port().to_string()])
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
            use std::io::Read as _;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
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
