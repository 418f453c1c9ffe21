//! docs/PARITY.md, "Handler process" rows: how the host starts, restarts and gives up on the
//! custom handler. The real devhost binary hosting `tests/fixtures/pyhandler`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{
    Devhost, Method, assert_start_refused, counts, devhost_start_fails, eventually, free_port,
    invocations, pyhandler_root,
};
use serde_json::Value;

/// How often the pyhandler was started (its record of start events).
fn starts(root: &std::path::Path) -> usize {
    std::fs::read_to_string(root.join("pyh-records.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"event\": \"start\""))
        .count()
}

fn is_guid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && s.len() == 36
}

async fn env_of(d: &Devhost) -> Value {
    d.get_json("/api/Env").await
}

#[tokio::test]
async fn handler_gets_the_hosts_environment_and_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let env = env_of(&d).await;
    let vars = &env["env"];
    let port = vars["FUNCTIONS_CUSTOMHANDLER_PORT"].as_str().unwrap();
    assert_eq!(vars["FUNCTIONS_HTTPWORKER_PORT"], port);
    let id = vars["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"].as_str().unwrap();
    assert!(is_guid(id), "{id}");
    assert_eq!(vars["FUNCTIONS_HTTPWORKER_ID"], id);
    assert!(vars["FUNCTIONS_APP_ROOT_PATH"].is_string());
    // `%PYH_TAG%` from the settings, the unresolvable `%PYH_UNSET_SETTING%` dropped, the port
    // substituted.
    let argv: Vec<&str> = env["argv"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(Value::as_str)
        .collect();
    assert_eq!(
        argv,
        [
            "handler.py",
            "--tag",
            "from-settings",
            "--unset",
            "--port",
            port
        ]
    );

    // A restart (exit code 200: asked for, not counted) keeps the port and gets a new worker id.
    let crash = d.call(Method::POST, "/api/Crash?code=200&when=after").await;
    assert_eq!(crash.status().as_u16(), 200);
    let again = eventually(
        Duration::from_secs(30),
        "the handler was not restarted",
        async || {
            let res = d.request(Method::GET, "/api/Env").send().await.ok()?;
            let env: Value = res.error_for_status().ok()?.json().await.ok()?;
            (env["env"]["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"] != id).then_some(env)
        },
    )
    .await;
    assert_eq!(again["env"]["FUNCTIONS_CUSTOMHANDLER_PORT"], port);
    assert!(is_guid(
        again["env"]["FUNCTIONS_HTTPWORKER_ID"].as_str().unwrap()
    ));
}

#[test]
fn three_failed_starts_stop_the_devhost_with_the_hosts_message() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("PYH_EXIT_AT_START", "3")]);
    let started = Instant::now();
    assert_start_refused(
        &root,
        &dir.path().join("data"),
        &["Exceeded http worker restart retry count. Shutting down Functions Host"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "restarts are immediate"
    );
    let starts = starts(&root);
    assert_eq!(
        starts, 3,
        "two restarts, then the third error stops the host"
    );
}

#[tokio::test]
async fn two_failed_starts_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(
        dir.path(),
        &[("PYH_EXIT_AT_START", "3"), ("PYH_EXIT_STARTS", "2")],
    );
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let env = env_of(&d).await;
    assert_eq!(env["starts"], 3);
}

#[tokio::test]
async fn exit_code_0_leaves_the_handler_down() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    let crash = d.call(Method::POST, "/api/Crash?code=0&when=after").await;
    assert_eq!(crash.status().as_u16(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let res = d.call(Method::GET, "/api/Env").await;
    assert_eq!(res.status().as_u16(), 500, "no handler answers");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "it fails at once: the host still routes to the dead worker"
    );
    let starts = starts(&root);
    assert_eq!(starts, 1, "not restarted");
}

/// Issue 14 item 7: while the handler restarts, deliveries wait (up to 120 s, the lock renewed)
/// instead of failing, so a restart burns at most the deliveries in flight at the crash: with
/// `maxDeliveryCount` 3 a single crash under load dead-letters nothing.
#[tokio::test]
async fn a_handler_crash_under_load_dead_letters_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let d = Devhost::start(&root, &dir.path().join("data"), free_port(), 3).await;
    let count = 40;
    let messages: Vec<String> = (0..count)
        .map(|i| format!(r#"{{"pyhSleepMs": 300, "n": {i}}}"#))
        .collect();
    let body = format!(r#"{{"out": [{}]}}"#, messages.join(","));
    let sent = d.post("/api/Send", Some("application/json"), body).await;
    assert_eq!(sent.status().as_u16(), 202);
    tokio::time::sleep(Duration::from_millis(150)).await;
    // Kill the handler with deliveries in flight (the crash itself answers nothing: 500).
    let crash = d.call(Method::POST, "/api/Crash?code=1").await;
    assert_eq!(crash.status().as_u16(), 500);
    let q = d
        .queue_until("pyh-out", Duration::from_secs(90), |q| {
            let [completed, dead, active, locked] =
                counts(q, ["completed", "deadLettered", "active", "locked"]);
            completed + dead >= count && active + locked == 0
        })
        .await;
    assert_eq!(q["deadLettered"], 0, "{q}");
    assert_eq!(q["completed"], count, "{q}");
    let most = invocations(&d, "Receive")
        .await
        .iter()
        .filter_map(|r| r["metadata"]["DeliveryCount"].as_str()?.parse::<u32>().ok())
        .max()
        .unwrap();
    assert_eq!(
        most, 2,
        "the deliveries in flight at the crash were burnt once, and only once"
    );
    let starts = d
        .get_json("/api/Recorded?event=start")
        .await
        .as_array()
        .unwrap()
        .len();
    assert_eq!(starts, 2, "the handler was restarted once");
}

#[tokio::test]
async fn the_shell_environment_beats_local_settings_as_under_func_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(
        dir.path(),
        &[
            ("PYH_FROM_FILE", "file"),
            ("PYH_EMPTY_IN_SHELL", "file"),
            ("PYH_EMPTY_IN_FILE", ""),
        ],
    );
    let d = common::Devhost::start_with_env(
        &root,
        &dir.path().join("data"),
        free_port(),
        &[],
        &[
            ("PYH_TAG", "from-shell"),
            ("PYH_EMPTY_IN_SHELL", ""),
            ("PYH_ONLY_IN_SHELL", "shell"),
        ],
    )
    .await;
    let env = env_of(&d).await;
    let vars = &env["env"];
    assert_eq!(vars["PYH_TAG"], "from-shell", "the shell wins");
    assert_eq!(vars["PYH_FROM_FILE"], "file");
    assert_eq!(
        vars["PYH_EMPTY_IN_SHELL"], "file",
        "an empty shell variable does not count"
    );
    assert_eq!(
        vars["PYH_EMPTY_IN_FILE"], "",
        "an empty value is an empty variable: {vars}"
    );
    assert_eq!(vars["PYH_ONLY_IN_SHELL"], "shell");
    // `%PYH_TAG%` in host.json's arguments expands from the same environment.
    assert_eq!(env["argv"][2], "from-shell");
}

#[test]
fn initialization_timeout_bounds_each_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[("PYH_START_DELAY_S", "5")]);
    let path = root.join("host.json");
    let mut host: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    host["customHandler"]["initializationTimeout"] = serde_json::json!("00:00:01");
    std::fs::write(&path, host.to_string()).unwrap();
    let started = Instant::now();
    let (code, stderr) = devhost_start_fails(&root, &dir.path().join("data"));
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("customHandler.initializationTimeout")
            && stderr.contains("Exceeded http worker restart retry count"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "three starts of 1 s each, not 30 s each"
    );
}

#[tokio::test]
async fn stopping_the_devhost_sends_the_handler_sigterm_where_the_host_kills_it() {
    // The host's `WorkerProcess.Dispose` kills the handler outright; the devhost, which documents
    // the difference, sends SIGTERM first (SIGKILL after 10 s), so a handler's drain and flush run
    // locally: the pyhandler records the signal.
    let dir = tempfile::tempdir().unwrap();
    let root = pyhandler_root(dir.path(), &[]);
    let mut d = Devhost::start_with(&root, &dir.path().join("data"), free_port(), &[]).await;
    assert_eq!(d.status("/api/Echo").await, 200);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &d.child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the devhost did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let records = std::fs::read_to_string(root.join("pyh-records.jsonl")).unwrap();
    assert!(
        records
            .lines()
            .any(|l| l.contains("\"event\": \"signal\"") && l.contains("SIGTERM")),
        "{records}"
    );
}
