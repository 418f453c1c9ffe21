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

use crate::front::Front;
use crate::problem::Problem;
use broker::store::{NewMessage, Selection, StoreError};

/// `/admin/...` routes.
pub fn router() -> axum::Router<Front> {
    axum::Router::new()
        .route("/admin/queues", get(queues))
        .route("/admin/queues/{queue}/messages", post(send))
        .route("/admin/queues/{queue}/deadletters", get(dead_letters))
        .route("/admin/queues/{queue}/deadletters/resubmit", post(resubmit))
}

pub(crate) fn store_problem(e: &StoreError) -> Response {
    Problem::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "Queue store unavailable",
        e.to_string(),
    )
    .into_response()
}

/// Every queue the app binds plus any the store has seen.
pub(crate) fn app_queues(front: &Front) -> Vec<String> {
    front
        .app
        .functions
        .iter()
        .flat_map(|f| {
            f.service_bus_trigger()
                .map(|(_, q)| q.to_owned())
                .into_iter()
                .chain(f.service_bus_outputs().map(|(_, q)| q.to_owned()))
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// `Err` with a 404 problem unless a function binds `queue` or the store holds messages of it (an
/// unknown entity is a 404 on Service Bus too; it also catches typos).
pub(crate) async fn known(front: &Front, queue: &str) -> Result<(), Response> {
    if app_queues(front).iter().any(|q| q == queue) {
        return Ok(());
    }
    match front.store.stats(Vec::new()).await {
        Ok(stats) if stats.iter().any(|s| s.name == queue) => Ok(()),
        Ok(_) => Err(Problem::new(
            StatusCode::NOT_FOUND,
            "No such queue",
            format!(
                "no function binds queue `{queue}` (bound: {})",
                app_queues(front).join(", ")
            ),
        )
        .into_response()),
        Err(e) => Err(store_problem(&e)),
    }
}

async fn queues(State(front): State<Front>) -> Response {
    match front.store.stats(app_queues(&front)).await {
        Ok(stats) => Json(json!({"queues": stats})).into_response(),
        Err(e) => store_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
struct Limit {
    limit: Option<usize>,
}

async fn dead_letters(
    State(front): State<Front>,
    Path(queue): Path<String>,
    Query(q): Query<Limit>,
) -> Response {
    if let Err(problem) = known(&front, &queue).await {
        return problem;
    }
    match front
        .store
        .dead_letters(&queue, q.limit.unwrap_or(100).min(10_000))
        .await
    {
        Ok(items) => Json(json!({"queue": queue, "deadLetters": items})).into_response(),
        Err(e) => store_problem(&e),
    }
}

#[derive(Debug, Deserialize)]
struct ResubmitBody {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    ids: Vec<String>,
}

async fn resubmit(State(front): State<Front>, Path(queue): Path<String>, body: Bytes) -> Response {
    if let Err(problem) = known(&front, &queue).await {
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
    match front.store.resubmit(&queue, selection).await {
        Ok(n) => {
            front.wake.notify_waiters();
            Json(json!({"queue": queue, "resubmitted": n})).into_response()
        }
        Err(e) => store_problem(&e),
    }
}

async fn send(
    State(front): State<Front>,
    Path(queue): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(problem) = known(&front, &queue).await {
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
    match front.store.send(vec![message]).await {
        Ok(seqs) => {
            front.wake.notify_waiters();
            (
                StatusCode::CREATED,
                Json(json!({"queue": queue, "sequenceNumber": seqs.first()})),
            )
                .into_response()
        }
        Err(e) => store_problem(&e),
    }
}
