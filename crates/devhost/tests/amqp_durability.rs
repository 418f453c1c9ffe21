//! Nothing a real client was told is stored is lost when the devhost is killed: messages
//! Microsoft's Python Service Bus SDK sent over AMQP survive `kill -9` of the devhost with every
//! property, and a message the SDK held locked comes back to the next receiver after the restart,
//! its delivery counted (Service Bus: a lock lost with its holder makes the message available
//! again with the delivery count kept, "Message transfers, locks, and settlement",
//! learn.microsoft.com/azure/service-bus-messaging/message-transfers-locks-settlement; the store
//! releases on reopen the locks held at a crash, since their holders' links died with it).
//!
//! The SDK comes from `SB_PYTHON`, by default the virtual environment `.ci/run` creates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Devhost, counts, free_port, pyhandler_root};
use serde_json::Value;
use test_support::sdk;

/// `pyh-out` is declared by the pyhandler's `Send` output; its trigger (`Receive`) is disabled so
/// only the SDK reads it.
const QUEUE: &str = "pyh-out";

fn sdk(devhost: &Devhost, args: &[&str]) -> tokio::process::Command {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/amqp/durability.py");
    let mut cmd = tokio::process::Command::new(sdk::python());
    cmd.arg(script)
        .args(args)
        .env(
            "SB_CONNECTION_STRING",
            sdk::connection_string(devhost.amqp_port),
        )
        .env("SB_QUEUE", QUEUE)
        .kill_on_drop(true);
    cmd
}

async fn run(devhost: &Devhost, args: &[&str]) -> String {
    let out = sdk(devhost, args).output().await.unwrap();
    assert!(
        out.status.success(),
        "durability.py {args:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

async fn start(root: &Path, data: &Path) -> Devhost {
    Devhost::start_with(root, data, free_port(), &["--lock-duration", "PT5S"]).await
}

/// A devhost over a fresh app to which the SDK has sent `n` messages: its folder, script root and
/// store (to start it again on), and the devhost.
async fn sent(n: &str) -> (tempfile::TempDir, PathBuf, PathBuf, Devhost) {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("AzureWebJobs.Receive.Disabled", "true")]);
    let data = dir.path().join("data");
    let devhost = start(&root, &data).await;
    assert_eq!(run(&devhost, &["send", n]).await.trim(), "sent");
    (dir, root, data, devhost)
}

#[tokio::test]
async fn messages_sent_by_the_sdk_survive_kill_9_with_their_properties() {
    let (_dir, root, data, devhost) = sent("20").await;
    devhost.kill9();
    drop(devhost);

    let devhost = start(&root, &data).await;
    let got: Vec<Value> = run(&devhost, &["drain", "20"])
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut ids: Vec<&str> = got
        .iter()
        .map(|m| m["messageId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    let mut want: Vec<String> = (0..20).map(|i| format!("dur-{i}")).collect();
    want.sort_unstable();
    assert_eq!(ids, want);
    for m in &got {
        let n: u64 = m["messageId"].as_str().unwrap()[4..].parse().unwrap();
        let body: Value = serde_json::from_str(m["body"].as_str().unwrap()).unwrap();
        assert_eq!(body, serde_json::json!({"n": n}), "{m}");
        assert_eq!(m["contentType"], "application/json", "{m}");
        assert_eq!(m["correlationId"], "kill-9", "{m}");
        assert_eq!(m["properties"]["tag"], "durable", "{m}");
        assert_eq!(m["properties"]["n"], n, "{m}");
        assert_eq!(m["deliveryCount"], 0, "{m}");
    }
    let q = devhost.queue(QUEUE).await;
    let outcome = counts(&q, ["active", "locked", "completed"]);
    assert_eq!(outcome, [0, 0, 20], "{q}");
}

#[tokio::test]
async fn a_message_locked_when_the_devhost_is_killed_comes_back_with_its_delivery_counted() {
    let (_dir, root, data, devhost) = sent("1").await;
    let mut holder = sdk(&devhost, &["lock"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let stdout = holder.stdout.take().unwrap();
    tokio::io::AsyncBufReadExt::read_line(&mut tokio::io::BufReader::new(stdout), &mut line)
        .await
        .unwrap();
    assert_eq!(line.trim(), "dur-0");
    assert_eq!(devhost.queue(QUEUE).await["locked"], 1);
    devhost.kill9();
    drop(devhost);
    let _ = holder.kill().await;

    let devhost = start(&root, &data).await;
    let got: Value = serde_json::from_str(run(&devhost, &["drain", "1"]).await.trim()).unwrap();
    assert_eq!(got["messageId"], "dur-0", "{got}");
    assert_eq!(got["deliveryCount"], 1, "{got}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let q = devhost.queue(QUEUE).await;
    assert_eq!(counts(&q, ["completed", "deadLettered"]), [1, 0], "{q}");
}
