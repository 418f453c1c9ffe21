//! `testhandler`: a custom handler for the devhost's own tests, for what the real handler cannot
//! be made to show on demand. It records, as JSON lines in `TESTHANDLER_RECORD`, how it was
//! started (arguments, working directory, host environment) and every request it gets (path,
//! headers, body), and answers as its settings say:
//!
//! * `GET /` answers 404: any answer means "ready" to the host.
//! * `POST /{Function}` answers `TESTHANDLER_STATUS_{Function}` (default 200) with the body
//!   `TESTHANDLER_REPLY_{Function}` (default `{}`), as `application/json`, after
//!   `TESTHANDLER_DELAY_MS_{Function}` (default 0).
//! * `TESTHANDLER_FAIL_FIRST_START=<path>`: if `<path>` does not exist, create it and exit with
//!   status 3 before listening (a handler that crashes on its first start).
//!
//! A library with one entry, [`main`]: the devhost's tests run it as their `testhandler` binary
//! (crates/devhost/fixtures/testhandler.rs), which Cargo builds for them.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use axum::Router;
use axum::body::Bytes;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Map, Value, json};

fn record(entry: &Value) {
    let Some(path) = std::env::var_os("TESTHANDLER_RECORD") else {
        return;
    };
    let line = format!("{entry}\n");
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = written {
        eprintln!(
            "testhandler: cannot record to {}: {e}",
            PathBuf::from(path).display()
        );
    }
}

async fn invoke(Path(function): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let headers: Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::String(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    let body: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    record(&json!({"kind": "invocation", "function": function, "headers": headers, "body": body}));
    let status = std::env::var(format!("TESTHANDLER_STATUS_{function}"))
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let reply =
        std::env::var(format!("TESTHANDLER_REPLY_{function}")).unwrap_or_else(|_| "{}".into());
    if let Some(ms) = std::env::var(format!("TESTHANDLER_DELAY_MS_{function}"))
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    (status, [(header::CONTENT_TYPE, "application/json")], reply).into_response()
}

/// The executable: record the start, then serve on `FUNCTIONS_CUSTOMHANDLER_PORT` until killed.
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> ExitCode {
    let env: Map<String, Value> = std::env::vars()
        .filter(|(k, _)| {
            k.starts_with("FUNCTIONS_") || k.starts_with("TESTHANDLER_") || k == "MY_SETTING"
        })
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    record(&json!({"kind": "start", "args": args, "cwd": cwd, "env": env}));

    if let Some(marker) = std::env::var_os("TESTHANDLER_FAIL_FIRST_START")
        && std::fs::metadata(&marker).is_err()
    {
        let _ = std::fs::write(&marker, "started once");
        eprintln!("testhandler: failing my first start on purpose");
        return ExitCode::from(3);
    }
    let port: u16 = match std::env::var("FUNCTIONS_CUSTOMHANDLER_PORT").map(|p| p.parse()) {
        Ok(Ok(p)) => p,
        _ => {
            eprintln!("testhandler: FUNCTIONS_CUSTOMHANDLER_PORT is not set");
            return ExitCode::from(2);
        }
    };
    let app = Router::new()
        .route("/{function}", post(invoke))
        .fallback(|| async { StatusCode::NOT_FOUND });
    let listener =
        match tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("testhandler: cannot listen on {port}: {e}");
                return ExitCode::from(2);
            }
        };
    match axum::serve(listener, app).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("testhandler: {e}");
            ExitCode::FAILURE
        }
    }
}
