//! `jobctl job` and `jobctl audit` against Application Insights, through the real binary: a
//! loopback server answers as the query API does (`POST /v1/apps/{app-id}/query`, tables of
//! columns and rows with `customDimensions` as JSON text, `{"error": {"code", "message"}}` with
//! 401, 403 and 404), and a loopback managed-identity endpoint (App Service's protocol, which
//! `azure_identity`'s `ManagedIdentityCredential` speaks when `IDENTITY_ENDPOINT` is set) hands
//! out the token. Checked: the request's shape, its `Authorization`, the token's resource, the
//! timeline read from the rows, and each failure's message and exit code.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

const TOKEN: &str = "query-token-5d1e";
const JOB: &str = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b";

/// One query request: app id, `Authorization`, `Content-Type`, JSON body.
type QueryRequest = (String, Option<String>, Option<String>, Value);
/// One token request: `resource`, `X-IDENTITY-HEADER`.
type TokenRequest = (String, Option<String>);

#[derive(Debug, Clone, Default)]
struct Seen {
    queries: Arc<Mutex<Vec<QueryRequest>>>,
    tokens: Arc<Mutex<Vec<TokenRequest>>>,
}

/// What Application Insights stores for one handler span (a `requests` or `dependencies` row).
fn row(at: &str, item: &str, name: &str, ms: f64, ok: bool, dims: Value) -> Value {
    json!([
        at,
        item,
        name,
        ms,
        ok,
        if ok { "200" } else { "500" },
        dims.to_string()
    ])
}

fn job_rows() -> Vec<Value> {
    vec![
        row(
            "2026-12-01T10:00:00.1000000Z",
            "dependency",
            "IngestJob",
            1.2,
            true,
            json!({"job.id": JOB, "job.type": "report", "job.version": "1", "job.tenant_id": "contoso", "job.correlation_id": "order-42"}),
        ),
        row(
            "2026-12-01T10:00:00.2000000Z",
            "request",
            "ProcessJob",
            3.5,
            false,
            json!({"job.id": JOB, "job.type": "report", "job.tenant_id": "contoso", "job.attempt": "1",
                   "messaging.servicebus.message.delivery_count": "1", "job.failure_kind": "simulated",
                   "job.failure_reason": "simulated crash", "job.end": "rescheduled", "job.retry.attempt": "2",
                   "job.retry.delay_ms": "731", "job.retry.scheduled_for": "2026-12-01T10:00:01.000Z"}),
        ),
        row(
            "2026-12-01T10:00:01.0500000Z",
            "request",
            "ProcessJob",
            2.0,
            true,
            json!({"job.id": JOB, "job.type": "report", "job.tenant_id": "contoso", "job.attempt": "2",
                   "messaging.servicebus.message.delivery_count": "2", "job.end": "completed"}),
        ),
    ]
}

async fn query(
    State(seen): State<Seen>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    seen.queries.lock().unwrap().push((
        app.clone(),
        header("authorization"),
        header("content-type"),
        request.clone(),
    ));
    let error = |status: StatusCode, code: &str, message: &str| {
        (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    };
    if header("authorization").as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    }
    match app.as_str() {
        "forbidden-app" => error(
            StatusCode::FORBIDDEN,
            "InsufficientAccessError",
            "The provided credentials have insufficient access to perform the requested operation",
        ),
        "expired-app" => error(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            "The access token is expired.",
        ),
        "good-app" => {
            let q = request["query"].as_str().unwrap_or_default();
            let rows = if q.contains(JOB) || q.starts_with("requests") {
                job_rows()
            } else {
                Vec::new()
            };
            let rows: Vec<Value> = if q.starts_with("requests") {
                rows.into_iter().filter(|r| r[1] == "request").collect()
            } else {
                rows
            };
            Json(json!({"tables": [{"name": "PrimaryResult", "columns": [
                {"name": "timestamp", "type": "datetime"}, {"name": "itemType", "type": "string"},
                {"name": "name", "type": "string"}, {"name": "duration", "type": "real"},
                {"name": "success", "type": "bool"}, {"name": "resultCode", "type": "string"},
                {"name": "customDimensions", "type": "dynamic"}], "rows": rows}]}))
            .into_response()
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "PathNotFoundError",
            "The requested path does not exist",
        ),
    }
}

async fn identity(
    State(seen): State<Seen>,
    Query(params): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let secret = headers
        .get("x-identity-header")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let resource = params.get("resource").cloned().unwrap_or_default();
    seen.tokens.lock().unwrap().push((resource.clone(), secret));
    let expires = chrono_free_epoch() + 3600;
    Json(json!({"access_token": TOKEN, "expires_on": expires.to_string(), "resource": resource, "token_type": "Bearer"}))
        .into_response()
}

fn chrono_free_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn servers() -> (String, String, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route("/v1/apps/{app}/query", post(query))
        .route("/msi/token", get(identity))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base.clone(), format!("{base}/msi/token"), seen)
}

async fn jobctl(endpoint: &str, identity: &str, args: &[&str]) -> (i32, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_jobctl"))
        .args(["--query-endpoint", endpoint])
        .args(args)
        .env("IDENTITY_ENDPOINT", identity)
        .env("IDENTITY_HEADER", "msi-secret")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("APPLICATIONINSIGHTS_APP_ID")
        .env_remove("SERVICEBUS_ENDPOINT")
        .env_remove("DEVHOST_URL")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn a_jobs_timeline_from_the_query_api() {
    let (endpoint, identity, seen) = servers().await;
    let (code, out, err) = jobctl(
        &endpoint,
        &identity,
        &["--app-id", "good-app", "--json", "job", JOB],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let t: Value = serde_json::from_str(&out).unwrap();
    let events: Vec<&str> = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        [
            "ingested",
            "attempt",
            "rescheduled",
            "unrecorded",
            "attempt",
            "completed"
        ],
        "{t:#}"
    );
    assert_eq!(
        (t["state"].as_str(), t["tenantId"].as_str()),
        (Some("completed"), Some("contoso"))
    );
    assert_eq!(t["events"][2]["delayMs"], 731);
    assert_eq!(
        t["events"][3]["deliveryCount"], 1,
        "delivery 1 of attempt 2 left no span: {t:#}"
    );
    assert_eq!(t["events"][4]["latencyMs"], 2.0);

    // The request: one POST per question (the API does not page), JSON with the Kusto query and
    // a timespan, the token for the query API's resource.
    let queries = seen.queries.lock().unwrap().clone();
    assert_eq!(queries.len(), 1, "{queries:?}");
    let (app, auth, content_type, body) = &queries[0];
    assert_eq!(app, "good-app");
    assert_eq!(auth.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert!(
        content_type
            .as_deref()
            .is_some_and(|c| c.starts_with("application/json"))
    );
    assert_eq!(body["timespan"], "P30D");
    let q = body["query"].as_str().unwrap();
    assert!(q.starts_with("union requests, dependencies"), "{q}");
    assert!(
        q.contains(&format!(
            "tostring(customDimensions[\"job.id\"]) == \"{JOB}\""
        )),
        "{q}"
    );
    let tokens = seen.tokens.lock().unwrap().clone();
    assert_eq!(
        tokens[0],
        (
            "https://api.applicationinsights.io".to_owned(),
            Some("msi-secret".to_owned())
        )
    );

    // The audit reads every processing span.
    let (code, out, err) = jobctl(
        &endpoint,
        &identity,
        &["--app-id", "good-app", "--json", "audit"],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let a: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(a["rows"][0]["tenantId"], "contoso");
    assert_eq!(
        (
            a["total"]["received"].as_u64(),
            a["total"]["completed"].as_u64(),
            a["total"]["reschedules"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    let last = seen.queries.lock().unwrap().last().cloned().unwrap();
    assert!(
        last.3["query"]
            .as_str()
            .unwrap()
            .starts_with("requests\n| where name == \"ProcessJob\"")
    );
}

#[tokio::test]
async fn each_failure_has_its_message_and_exit_code() {
    let (endpoint, identity, _) = servers().await;
    let cases: [(&[&str], i32, &str); 5] = [
        (&["--app-id", "forbidden-app", "job", JOB], 9, "Reader"),
        (
            &["--app-id", "missing-app", "job", JOB],
            10,
            "no Application Insights app missing-app",
        ),
        (
            &["--app-id", "expired-app", "job", JOB],
            8,
            "InvalidAuthenticationToken",
        ),
        (
            &[
                "--app-id",
                "good-app",
                "job",
                "0193a1b2-c3d4-7e5f-8a9b-000000000000",
            ],
            6,
            "no telemetry of job",
        ),
        (&["--app-id", "good-app", "job", "42"], 2, "is not a job id"),
    ];
    for (args, want, says) in cases {
        let (code, _, err) = jobctl(&endpoint, &identity, args).await;
        assert_eq!(code, want, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // Nothing listens: unreachable.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let (code, _, err) = jobctl(&closed, &identity, &["--app-id", "good-app", "job", JOB]).await;
    assert_eq!(code, 7, "{err}");
    assert!(
        err.contains("unreachable") && err.contains(&closed),
        "{err}"
    );
    // A token never goes over plain http to another host.
    let (code, _, err) = jobctl(
        "http://example.com",
        &identity,
        &["--app-id", "good-app", "job", JOB],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("only over https"), "{err}");
    // The identity endpoint refuses: no token, exit 8.
    let (code, _, err) = jobctl(
        &endpoint,
        &format!("{endpoint}/nothing-here"),
        &["--app-id", "good-app", "job", JOB],
    )
    .await;
    assert_eq!(code, 8, "{err}");
}
