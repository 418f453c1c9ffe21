//! Shared by the SDK-driven tests: a server on loopback with a fresh `jobs` queue, and a runner
//! for one scenario script.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use broker::amqp::memory::MemoryBackend;
use broker::amqp::{Config, QueueProperties, SasKey, Server, connection_string};
use tokio::net::TcpListener;

/// The `jobs` queue the scenarios use.
pub fn queue(name: &str) -> QueueProperties {
    QueueProperties {
        name: name.to_owned(),
        lock_duration: Duration::from_secs(30),
        max_delivery_count: 10,
        default_message_time_to_live: Duration::from_secs(3600),
        dead_lettering_on_message_expiration: false,
        requires_session: false,
        max_message_size_kb: 256,
    }
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
    let backend = Arc::new(MemoryBackend::new());
    backend.add_queue(queue("jobs"));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config {
        sas: SasKey {
            name: "RootManageSharedAccessKey".into(),
            key: "SAS_KEY_VALUE".into(),
        },
        container_id: "amqp-test".into(),
    };
    let conn = connection_string(listener.local_addr().unwrap(), &config);
    let server = Server::start(listener, backend, config).unwrap();
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .arg(name)
        .env("SB_CONNECTION_STRING", &conn)
        .env("SB_QUEUE", "jobs")
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
