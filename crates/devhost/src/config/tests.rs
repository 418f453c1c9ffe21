//! Loading script roots, and the duration and `%SETTING%` parsers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::*;

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

const HOST: &str = r#"{"version":"2.0","functionTimeout":"00:01:30","customHandler":{"description":{"defaultExecutablePath":"handler","arguments":["--x","%MODE%"]}},"extensions":{"serviceBus":{"maxConcurrentCalls":4}}}"#;
const HTTP_FN: &str = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["post"]},{"type":"http","direction":"out","name":"res"},{"type":"serviceBus","direction":"out","name":"job","queueName":"jobs","connection":"C"}]}"#;
const SB_FN: &str = r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"jobs","connection":"C"}]}"#;

#[test]
fn loads_a_script_root() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "host.json", HOST);
    write(dir.path(), "IngestJob/function.json", HTTP_FN);
    write(dir.path(), "ProcessJob/function.json", SB_FN);
    write(dir.path(), "handler", "");
    write(
        dir.path(),
        "local.settings.json",
        r#"{"Values":{"MODE":"fast","N":3,"B":true,"EMPTY":"","C":"Endpoint=sb://127.0.0.1/"}}"#,
    );
    let app = App::load(dir.path()).unwrap();
    assert_eq!(app.handler.executable, dir.path().join("handler"));
    assert_eq!(app.handler.arguments, ["--x", "fast"]);
    assert_eq!(app.service_bus.max_concurrent_calls, 4);
    assert!(app.service_bus.auto_complete_messages);
    assert_eq!(
        app.service_bus.max_auto_lock_renewal,
        Duration::from_secs(300)
    );
    assert_eq!(app.function_timeout, Duration::from_secs(90));
    assert_eq!(app.route_prefix, "api");
    assert_eq!(app.settings.get("N").map(String::as_str), Some("3"));
    assert_eq!(app.settings.get("B").map(String::as_str), Some("True"));
    assert_eq!(
        app.settings.get("EMPTY").map(String::as_str),
        Some(""),
        "an empty value is an empty variable"
    );
    assert_eq!(app.functions[0].http_trigger().unwrap().1, ["POST"]);
    assert_eq!(
        app.functions[0].service_bus_outputs().collect::<Vec<_>>(),
        [("job", "jobs")]
    );
    assert_eq!(
        app.functions[1].service_bus_trigger(),
        Some(("msg", "jobs"))
    );
}

#[test]
fn malformed_files_name_file_and_field() {
    let cases = [
        (
            r#"{"version":"2.0","customHandler":{}}"#,
            HTTP_FN,
            "host.json",
            "customHandler.description",
        ),
        (
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":""}}}"#,
            HTTP_FN,
            "host.json",
            "defaultExecutablePath",
        ),
        (
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"maxConcurrentCalls":0}}}"#,
            HTTP_FN,
            "host.json",
            "maxConcurrentCalls",
        ),
        (
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"functionTimeout":"soon"}"#,
            HTTP_FN,
            "host.json",
            "functionTimeout",
        ),
        (
            r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"maxAutoLockRenewalDuration":5}}}"#,
            HTTP_FN,
            "host.json",
            "maxAutoLockRenewalDuration",
        ),
        (HOST, r#"{"bindings":[]}"#, "function.json", "bindings"),
        (
            HOST,
            r#"{"bindings":[{"type":"serviceBus","direction":"out","name":"x"}]}"#,
            "function.json",
            "bindings[0].queueName",
        ),
        (
            HOST,
            r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"x"}]}"#,
            "function.json",
            "bindings[0].type",
        ),
        (HOST, "{nope", "function.json", "not valid JSON"),
    ];
    for (host, func, file, field) in cases {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "host.json", host);
        write(dir.path(), "F/function.json", func);
        let err = App::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains(file) && err.contains(field), "{err}");
    }
}

#[test]
fn timespans_and_expansion() {
    assert_eq!(parse_timespan("00:05:00"), Some(Duration::from_secs(300)));
    assert_eq!(
        parse_timespan("1.00:00:01"),
        Some(Duration::from_secs(86_401))
    );
    assert_eq!(
        parse_timespan("00:00:00.5"),
        Some(Duration::from_millis(500))
    );
    assert_eq!(parse_timespan("5m"), None);
    for (text, secs) in [
        ("PT1M", 60.0),
        ("P14D", 1_209_600.0),
        ("PT0.5S", 0.5),
        ("P1DT12H", 129_600.0),
        ("PT5M30S", 330.0),
        ("00:01:00", 60.0),
        ("14.00:00:00", 1_209_600.0),
        ("60", 60.0),
        ("60s", 60.0),
        ("500ms", 0.5),
        ("5m", 300.0),
        ("2h", 7_200.0),
        ("14d", 1_209_600.0),
    ] {
        assert_eq!(
            parse_duration(text),
            Ok(Duration::from_secs_f64(secs)),
            "{text}"
        );
    }
    for bad in ["", "P", "PT", "PT1X", "P1M1D", "-5", "5y", "soon", "PTM"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
    let s: BTreeMap<String, String> = [("A".to_owned(), "1".to_owned())].into();
    assert_eq!(
        expand("x%A%y%UNKNOWN_DEVHOST_VAR%z", &s),
        "x1y%UNKNOWN_DEVHOST_VAR%z"
    );
}

#[test]
fn the_shell_environment_beats_local_settings() {
    let values: BTreeMap<String, String> = [
        ("A".to_owned(), "file".to_owned()),
        ("B".to_owned(), "file".to_owned()),
        ("C".to_owned(), String::new()),
    ]
    .into();
    let env = |k: &str| match k {
        "A" => Some("shell".to_owned()),
        "B" => Some(String::new()),
        _ => None,
    };
    let out = shell_wins(values, env);
    assert_eq!(out["A"], "shell");
    assert_eq!(out["B"], "file", "an empty shell variable does not count");
    assert_eq!(out["C"], "", "an empty value is kept, empty");
}
