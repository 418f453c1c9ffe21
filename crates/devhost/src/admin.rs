//! Operator endpoints outside `/api`: queue counts, dead letters, resubmit, and a raw send (for
//! operators and tests: it is how a poison message gets onto the queue).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use crate::host::Host;
use broker::rest::{Problem, require_queue};
use broker::store::{NewMessage, Selection};

/// `/admin/...` routes.
pub fn router() -> axum::Router<Host> {
    axum::Router::new()
        .route("/admin/queues", get(queues))
        .route("/admin/queues/{queue}/messages", post(send))
        .route("/admin/queues/{queue}/deadletters", get(dead_letters))
        .route("/admin/queues/{queue}/deadletters/resubmit", post(resubmit))
}

/// `Err` with a 404 problem unless `queue` exists: a function binds it or the store holds
/// messages of it (an unknown entity is a 404 on Service Bus too; it also catches typos).
pub(crate) async fn known(host: &Host, queue: &str) -> Result<(), Response> {
    require_queue(&host.namespace, queue, StatusCode::NOT_FOUND, |bound| {
        format!("no function binds queue `{queue}` (bound: {bound})")
    })
    .await
}

async fn queues(State(host): State<Host>) -> Response {
    Problem::answer(host.namespace.stats().await, |stats| {
        Json(json!({"queues": stats})).into_response()
    })
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn dead_letters(
    State(host): State<Host>,
    Path(queue): Path<String>,
    Query(q): Query<Limit>,
) -> Response {
    if let Err(problem) = known(&host, &queue).await {
        return problem;
    }
    let limit = q.limit.unwrap_or(100).min(10_000);
    let found = host.namespace.store().dead_letters(&queue, limit).await;
    Problem::answer(found, |items| {
        Json(json!({"queue": queue, "deadLetters": items})).into_response()
    })
}

#[derive(Debug, Deserialize)]
struct ResubmitBody {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    ids: Vec<String>,
}

async fn resubmit(State(host): State<Host>, Path(queue): Path<String>, body: Bytes) -> Response {
    if let Err(problem) = known(&host, &queue).await {
        return problem;
    }
    let parsed: ResubmitBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid resubmit request",
                format!("expected {{\"all\": true}} or {{\"ids\": [...]}}: {e}"),
            )
            .into_response();
        }
    };
    let selection = match (parsed.all, parsed.ids.is_empty()) {
        (true, true) => Selection::All,
        (false, false) => Selection::Ids(parsed.ids),
        _ => {
            return Problem::new(
                StatusCode::BAD_REQUEST,
                "Invalid resubmit request",
                "give either \"all\": true or a non-empty \"ids\" list",
            )
            .into_response();
        }
    };
    let resubmitted = host.namespace.store().resubmit(&queue, selection).await;
    Problem::answer(resubmitted, |n| {
        Json(json!({"queue": queue, "resubmitted": n})).into_response()
    })
}

async fn send(
    State(host): State<Host>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(problem) = known(&host, &queue).await {
        return problem;
    }
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Problem::new(
            StatusCode::BAD_REQUEST,
            "Invalid message",
            "the body must be UTF-8 text",
        )
        .into_response();
    };
    let message = NewMessage {
        queue: queue.clone(),
        body: text,
        message_id: header("x-message-id"),
        content_type: header("content-type"),
        correlation_id: header("x-correlation-id"),
        ..NewMessage::default()
    };
    let sent = host.namespace.store().send(vec![message]).await;
    Problem::answer(sent, |seqs| {
        let first = seqs.first();
        (
            StatusCode::CREATED,
            Json(json!({"queue": queue, "sequenceNumber": first})),
        )
            .into_response()
    })
}
