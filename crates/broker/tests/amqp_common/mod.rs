//! Shared by the AMQP tests: the durable store with a fresh `jobs` queue behind a server on a
//! random loopback port, a runner for one SDK scenario script, and ([`fe2o3`]) the Rust client's
//! connections.

#![allow(dead_code, unused_imports, unused_macros)]

pub mod fe2o3;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use broker::Namespace;
use broker::amqp::{
    Config, DurableBackend, SasKey, Server, connection_string, rule_connection_string,
};
use broker::store::{QueueConfig, QueueOptions, Store};
use tokio::net::TcpListener;

/// One `#[tokio::test]` per SDK scenario, `test_name => "scenario"`: each runs the file's own
/// `scenario(name)` (which script, with which runtime).
macro_rules! scenarios {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[tokio::test]
            async fn $test() {
                scenario($name).await;
            }
        )*
    };
}
pub(crate) use scenarios;

/// The queue options the scenarios expect (Service Bus defaults but a 30 s lock).
pub fn options() -> QueueOptions {
    QueueOptions {
        max_delivery_count: 10,
        lock_duration: Duration::from_secs(30),
        time_to_live: Duration::from_secs(3600),
        dead_letter_on_expiration: false,
        duplicate_detection: None,
    }
}

/// The durable store in a fresh directory with `queues` declared, behind the AMQP backend; the
/// store's sweeper runs (lock and time-to-live expiry) while the returned guard lives.
pub struct Durable {
    /// The backend to serve.
    pub backend: Arc<DurableBackend>,
    /// The namespace (for REST or direct store checks).
    pub namespace: Namespace,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::watch::Sender<bool>,
}

/// The queue with duplicate detection every scenario may use, and its window: shorter than
/// Service Bus's 20 s minimum, which the devhost enforces where queues are configured
/// (`--sb-config`); the store itself takes any window.
pub const DEDUP_QUEUE: (&str, Duration) = ("dedup", Duration::from_secs(5));

/// A queue that dead-letters expired messages (the others drop them).
pub const EXPIRING_QUEUE: &str = "expiring";

/// Open a durable store for a test, with [`DEDUP_QUEUE`] and [`EXPIRING_QUEUE`] configured
/// (declared when listed).
pub fn durable(queues: &[&str]) -> Durable {
    let dir = tempfile::tempdir().unwrap();
    let mut config = QueueConfig::from(options());
    config.queues.insert(
        DEDUP_QUEUE.0.to_owned(),
        QueueOptions {
            duplicate_detection: Some(DEDUP_QUEUE.1),
            ..options()
        },
    );
    config.queues.insert(
        EXPIRING_QUEUE.to_owned(),
        QueueOptions {
            dead_letter_on_expiration: true,
            ..options()
        },
    );
    let store = Store::open(&dir.path().join("queues.db"), config).unwrap();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let sweeper = store.clone();
    tokio::spawn(async move {
        sweeper
            .sweep_until(Duration::from_millis(200), stopped)
            .await;
    });
    let namespace = Namespace::new(store, queues.iter().map(|q| (*q).to_owned()));
    Durable {
        backend: Arc::new(DurableBackend::new(namespace.clone())),
        namespace,
        _dir: dir,
        _stop: stop,
    }
}

/// A rule that may only send (`--sas-rule` form).
pub const SEND_ONLY: &str = "sender:Send:sender-key";
/// A rule that may only receive.
pub const LISTEN_ONLY: &str = "listener:Listen:listener-key";

/// The server's configuration: the emulator's key name and key, a send-only and a listen-only
/// rule, and `container_id`.
pub fn config(container_id: &str) -> Config {
    Config {
        sas: SasKey::root("RootManageSharedAccessKey", fe2o3::KEY),
        rules: vec![SEND_ONLY.parse().unwrap(), LISTEN_ONLY.parse().unwrap()],
        container_id: container_id.into(),
    }
}

/// Serve `durable` over AMQP on a random loopback port; the server and its address.
pub async fn serve(durable: &Durable, container_id: &str) -> (Server, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = Server::start(listener, durable.backend.clone(), config(container_id)).unwrap();
    (server, addr)
}

/// The connection string an SDK uses for a server at `addr` (`UseDevelopmentEmulator=true`).
pub fn sdk_connection_string(addr: SocketAddr) -> String {
    connection_string(addr, &config(""))
}

/// The connection string of a `--sas-rule`-form rule at `addr`.
pub fn rule_string(addr: SocketAddr, rule: &str) -> String {
    rule_connection_string(addr, &rule.parse().unwrap())
}

/// Microsoft's Python SDK: `SB_PYTHON`, else the virtual environment `.ci/run` creates.
pub fn python() -> PathBuf {
    tool(
        "SB_PYTHON",
        &cache("venv-sdk/bin/python"),
        "python3 -m venv ~/.cache/resilient-jobs/venv-sdk && ~/.cache/resilient-jobs/venv-sdk/bin/pip install azure-servicebus==7.15.0",
    )
}

/// A tool from an environment variable, else a default path that must exist.
pub fn tool(var: &str, default: &Path, install: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return p.into();
    }
    assert!(
        default.exists(),
        "{} is missing: {install} (as .ci/run does) or set {var}",
        default.display()
    );
    default.to_owned()
}

/// `~/.cache/resilient-jobs/<rest>`.
pub fn cache(rest: &str) -> PathBuf {
    PathBuf::from(std::env::var_os("HOME").expect("HOME"))
        .join(".cache/resilient-jobs")
        .join(rest)
}

/// Start a server, run `program args... scenario` with the connection string, assert it held.
pub async fn run_scenario(program: &Path, args: &[PathBuf], envs: &[(&str, PathBuf)], name: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let durable = durable(&["jobs", DEDUP_QUEUE.0, EXPIRING_QUEUE]);
    let (server, addr) = serve(&durable, "amqp-test").await;
    let conn = sdk_connection_string(addr);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .arg(name)
        .env("SB_CONNECTION_STRING", &conn)
        .env("SB_QUEUE", "jobs")
        .env("SB_DEDUP_QUEUE", DEDUP_QUEUE.0)
        .env("SB_DEDUP_WINDOW", DEDUP_QUEUE.1.as_secs().to_string())
        .env("SB_EXPIRING_QUEUE", EXPIRING_QUEUE)
        .env("SB_SEND_ONLY", rule_string(addr, SEND_ONLY))
        .env("SB_LISTEN_ONLY", rule_string(addr, LISTEN_ONLY))
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), cmd.output())
        .await
        .expect("scenario timed out")
        .unwrap();
    server.stop();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scenario {name} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.contains(&format!("scenario held: {name}")),
        "{stdout}"
    );
}

/// `tests/amqp/<file>` at the repository root.
pub fn script(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/amqp")
        .join(file)
}
