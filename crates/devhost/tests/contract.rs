//! The host side of the custom-handler contract, observed from inside a handler: the
//! `testhandler` fixture records how the devhost starts it and every request it sends.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{Devhost, Method, free_port, testhandler_binary};
use serde_json::{Value, json};

const ECHO_REPLY: &str = r#"{"Outputs":{"res":{"statusCode":201,"body":"made","headers":{"X-A":"b"}},"out":[{"n":1},"aGVsbG8="]},"Logs":["hello from Echo"],"ReturnValue":null}"#;

fn write(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, value.to_string()).unwrap();
}

/// A script root running `testhandler`: `Echo` (HTTP POST, `res`, Service Bus out to `relay`),
/// `Relay` (Service Bus trigger on `relay`) and `Fail` (HTTP, any method, answered 503).
fn fixture_root(dir: &Path) -> (PathBuf, PathBuf) {
    let root = dir.join("app");
    let record = dir.join("record.jsonl");
    write(
        &root.join("host.json"),
        &json!({
            "version": "2.0",
            "functionTimeout": "00:00:30",
            "customHandler": {"description": {
                "defaultExecutablePath": "testhandler",
                "arguments": ["--mode", "%MY_SETTING%", "--literal", "%NOT_A_SETTING%"],
                "workingDirectory": "wd"
            }},
            "extensions": {"http": {"routePrefix": "api"}, "serviceBus": {"maxConcurrentCalls": 4}}
        }),
    );
    write(
        &root.join("Echo/function.json"),
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req", "methods": ["post"], "authLevel": "function"},
            {"type": "http", "direction": "out", "name": "res"},
            {"type": "serviceBus", "direction": "out", "name": "out", "queueName": "relay", "connection": "C"}
        ]}),
    );
    write(
        &root.join("Relay/function.json"),
        &json!({"bindings": [
            {"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "relay", "connection": "C"}
        ]}),
    );
    write(
        &root.join("Fail/function.json"),
        &json!({"bindings": [
            {"type": "httpTrigger", "direction": "in", "name": "req"},
            {"type": "http", "direction": "out", "name": "res"}
        ]}),
    );
    std::fs::create_dir_all(root.join("wd")).unwrap();
    std::fs::copy(testhandler_binary(), root.join("testhandler")).unwrap();
    write(
        &root.join("local.settings.json"),
        &json!({"IsEncrypted": false, "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "custom",
            "C": common::LOCAL_CONNECTION_STRING,
            "MY_SETTING": "fast",
            "TESTHANDLER_RECORD": record,
            "TESTHANDLER_REPLY_Echo": ECHO_REPLY,
            "TESTHANDLER_STATUS_Fail": "503",
            "TESTHANDLER_FAIL_FIRST_START": dir.join("started-once"),
        }}),
    );
    (root.canonicalize().unwrap(), record)
}

fn records(path: &Path, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["kind"] == kind)
        .collect()
}

#[tokio::test]
async fn the_handler_is_started_invoked_and_answered_as_the_host_does() {
    let dir = tempfile::tempdir().unwrap();
    let (root, record) = fixture_root(dir.path());
    let d = Devhost::start(&root, &dir.path().join("data"), free_port(), 10).await;

    // HTTP trigger: the first handler start crashes; the request waits for the restarted one.
    let res = d
        .post(
            "/api/Echo?x=1&code=secret",
            Some("application/json"),
            r#"{"jobType":"t","n":2}"#,
        )
        .await;
    assert_eq!(res.status(), 201, "Outputs.res.statusCode");
    assert_eq!(res.headers()["x-a"], "b", "Outputs.res.headers");
    assert_eq!(res.text().await.unwrap(), "made", "Outputs.res.body");

    let get = d.call(Method::GET, "/api/Echo").await;
    assert_eq!(get.status(), 404, "GET is not in methods: no route");
    for method in [Method::POST, Method::DELETE] {
        let fail = d.call(method, "/api/Fail").await;
        assert_eq!(fail.status(), 500, "a non-2xx answer fails the invocation");
        assert_eq!(fail.headers()["content-type"], "application/problem+json");
    }

    // The operator endpoints know the app's queues only.
    let unknown = d.call(Method::GET, "/admin/queues/nope/deadletters").await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.headers()["content-type"],
        "application/problem+json"
    );

    // Both Service Bus outputs reach `relay` and are delivered to Relay and completed.
    d.queue_until("relay", Duration::from_secs(30), |q| q["completed"] == 2)
        .await;

    // How the handler was started: twice (the first start crashed), as the host starts it.
    let starts = records(&record, "start");
    assert_eq!(starts.len(), 2, "{starts:?}");
    for s in &starts {
        assert_eq!(
            s["args"],
            json!(["--mode", "fast", "--literal"]),
            "%SETTING% expanded, unresolved placeholders removed (SanitizeExpandedArgument)"
        );
        assert_eq!(
            Path::new(s["cwd"].as_str().unwrap()),
            root.join("wd"),
            "workingDirectory"
        );
        assert_eq!(s["env"]["FUNCTIONS_APP_ROOT_PATH"].as_str(), root.to_str());
        assert_eq!(s["env"]["MY_SETTING"], "fast", "app settings are env");
        assert!(
            s["env"]["FUNCTIONS_CUSTOMHANDLER_PORT"]
                .as_str()
                .unwrap()
                .parse::<u16>()
                .is_ok()
        );
    }
    assert_ne!(
        starts[0]["env"]["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"],
        starts[1]["env"]["FUNCTIONS_CUSTOMHANDLER_WORKER_ID"]
    );

    // The HTTP invocation request.
    let invocations = records(&record, "invocation");
    let echo = invocations
        .iter()
        .find(|i| i["function"] == "Echo")
        .unwrap();
    let headers = &echo["headers"];
    assert_eq!(
        headers["x-azure-functions-invocationid"]
            .as_str()
            .unwrap()
            .len(),
        36
    );
    assert!(
        !headers["x-azure-functions-hostversion"]
            .as_str()
            .unwrap()
            .is_empty()
    );
    assert!(
        headers["user-agent"]
            .as_str()
            .unwrap()
            .starts_with("Azure-Functions-Host/")
    );
    assert!(
        headers["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let req = &echo["body"]["Data"]["req"];
    assert_eq!(req["Method"], "POST");
    assert!(
        req["Url"]
            .as_str()
            .unwrap()
            .ends_with("/api/Echo?x=1&code=secret")
    );
    assert_eq!(req["Query"], json!({"x": "1", "code": "secret"}));
    assert_eq!(req["Headers"]["Content-Type"], json!(["application/json"]));
    assert_eq!(req["Body"], r#"{"jobType":"t","n":2}"#);
    let md = &echo["body"]["Metadata"];
    assert_eq!(md["jobType"], "\"t\"", "body fields, host-encoded");
    assert_eq!(
        md["n"], "\"2\"",
        "(string)JValue, then serialised, as Utility.ApplyBindingData does"
    );
    assert_eq!(md["x"], "\"1\"", "query parameters");
    assert!(md.get("code").is_none(), "the function key is never bound");
    assert_eq!(md["Query"]["x"], "1");
    assert_eq!(md["Headers"]["Content-Type"], "application/json");
    assert_eq!(md["sys"]["MethodName"], "Echo");

    // The Service Bus invocations: an array output is one message per element, each its
    // `ToString()` (an object indented); only a top-level base64-looking string becomes the
    // literal `System.Byte[]` (`GetBindingValue`), so an array element is sent as it is.
    let mut relayed: Vec<&Value> = invocations
        .iter()
        .filter(|i| i["function"] == "Relay")
        .collect();
    relayed.sort_by_key(|i| {
        i["body"]["Metadata"]["SequenceNumber"]
            .as_str()
            .map(str::to_owned)
    });
    let bodies: Vec<&Value> = relayed.iter().map(|i| &i["body"]["Data"]["msg"]).collect();
    assert_eq!(
        bodies,
        [
            &json!(serde_json::to_string("{\n  \"n\": 1\n}").unwrap()),
            &json!("\"aGVsbG8=\"")
        ],
        "double-encoded bodies; an object output is sent as Newtonsoft's indented text"
    );
    let md = &relayed[0]["body"]["Metadata"];
    assert_eq!(md["DeliveryCount"], "1");
    assert!(md["MessageId"].as_str().unwrap().starts_with('"'));
    assert!(!md["EnqueuedTimeUtc"].as_str().unwrap().starts_with('"'));
    assert_eq!(md["n"], "\"1\"", "JSON body fields are metadata too");
    assert_eq!(md["sys"]["MethodName"], "Relay");
}

#[tokio::test]
async fn invocations_timing_out_together_restart_the_handler_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    let record = dir.path().join("record.jsonl");
    write(
        &root.join("host.json"),
        &json!({
            "version": "2.0",
            "functionTimeout": "00:00:01",
            "customHandler": {"description": {"defaultExecutablePath": "testhandler"}},
        }),
    );
    write(
        &root.join("Slow/function.json"),
        &json!({"bindings": [
            {"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "slow", "connection": "C"}
        ]}),
    );
    std::fs::copy(testhandler_binary(), root.join("testhandler")).unwrap();
    write(
        &root.join("local.settings.json"),
        &json!({"Values": {"C": common::LOCAL_CONNECTION_STRING, "TESTHANDLER_RECORD": record, "TESTHANDLER_DELAY_MS_Slow": "30000"}}),
    );
    let d = Devhost::start(&root, &dir.path().join("data"), free_port(), 2).await;
    for i in 0..3 {
        let sent = d
            .post(
                "/admin/queues/slow/messages",
                None,
                format!("{{\"i\":{i}}}"),
            )
            .await;
        assert_eq!(sent.status(), 201);
    }
    // Each round of three concurrent deliveries times out together: one restart per round.
    d.queue_until("slow", Duration::from_secs(30), |q| q["deadLettered"] == 3)
        .await;
    // Wait for the last restart to land, then count the starts.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let starts = records(&record, "start").len();
    assert_eq!(
        starts, 3,
        "the first start and one restart per round of timeouts"
    );
}
