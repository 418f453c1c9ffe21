//! Sending invocations to the handler as the host does: `POST {handler}/{function}` with the
//! host's headers, the `functionTimeout` (which restarts the handler), and the handler's `Logs`
//! written as the invocation's log lines.

use std::time::Duration;

use serde_json::{Value, json};
use thiserror::Error;
use tracing::{info, warn};
use wire::InvocationRequest;

use super::reply::Reply;
use super::supervisor::Handler;
use crate::telemetry::Operation;

/// The host version the devhost reports (`X-Azure-Functions-HostVersion`).
pub const HOST_VERSION: &str = "4.1040.0-devhost";

/// Why an invocation failed. Every variant fails the invocation (the message is abandoned; an HTTP
/// client gets 500).
#[derive(Debug, Error)]
pub enum InvokeError {
    /// No handler is running (starting or restarting).
    #[error("the handler is not running")]
    Unavailable,
    /// The handler did not answer within `functionTimeout`; it is being restarted.
    #[error("timed out after {0:?}: the handler is being restarted")]
    Timeout(Duration),
    /// The connection failed (the handler crashed mid-invocation).
    #[error("transport error: {0}")]
    Transport(String),
    /// The handler answered non-2xx.
    #[error("the handler answered {status}: {body}")]
    Failed {
        /// HTTP status.
        status: u16,
        /// Body text (truncated).
        body: String,
    },
    /// The handler answered 2xx with something the host does not read as an invocation result
    /// (see [`super::reply`]).
    #[error("the handler's answer is not an invocation response: {0}")]
    BadResponse(String),
}

/// Sends invocations to the supervised handler.
#[derive(Debug, Clone)]
pub struct Invoker {
    handler: Handler,
    client: reqwest::Client,
    timeout: Duration,
}

impl Invoker {
    /// An invoker with the app's `functionTimeout`.
    pub fn new(handler: Handler, timeout: Duration) -> Self {
        Self {
            handler,
            client: reqwest::Client::new(),
            timeout,
        }
    }

    /// `POST {handler}/{function}` with the invocation, in `op`'s trace; a timeout restarts the
    /// handler.
    pub async fn invoke(
        &self,
        function: &str,
        request: &InvocationRequest,
        op: &Operation,
    ) -> Result<Invoked, InvokeError> {
        let worker = self
            .handler
            // `WorkerFunctionInvoker.DelayUntilFunctionDispatcherInitializedOrShutdown`: an
            // invocation arriving while the worker restarts waits up to
            // (errors before shutdown + 1) x the start timeout = 120 s (a Service Bus message's
            // lock is renewed meanwhile), then fails.
            .worker(self.handler.restart_wait())
            .await
            .ok_or(InvokeError::Unavailable)?;
        let base = &worker.url;
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let call = self
            .client
            .post(format!("{base}/{function}"))
            .header("X-Azure-Functions-InvocationId", &invocation_id)
            .header("X-Azure-Functions-HostVersion", HOST_VERSION)
            .header("User-Agent", format!("Azure-Functions-Host/{HOST_VERSION}"));
        let call = trace_headers(call, op, &reqwest::header::HeaderMap::new())
            .json(request)
            .send();
        let exchange = async {
            let response = call.await?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok::<_, reqwest::Error>((status, content_type, response.text().await?))
        };
        let started = tokio::time::Instant::now();
        let (status, content_type, text) = match tokio::time::timeout(self.timeout, exchange).await
        {
            Err(_) => {
                self.handler.restart(worker.generation);
                return Err(InvokeError::Timeout(self.timeout));
            }
            Ok(Err(e)) => return Err(InvokeError::Transport(e.to_string())),
            Ok(Ok(answer)) => answer,
        };
        if !status.is_success() {
            return Err(InvokeError::Failed {
                status: status.as_u16(),
                body: text.chars().take(2_000).collect(),
            });
        }
        let reply = Reply::parse(content_type.as_deref(), &text)
            .map_err(|e| InvokeError::BadResponse(e.to_string()))?;
        let Some(reply) = reply else {
            // The host reads this as no result and never completes the invocation: it hangs
            // until the function timeout, which restarts the handler. Do the same, but say why.
            warn!(
                function,
                invocation_id,
                "the handler answered {status} with no result (an empty body or `null`): like the Functions host, the devhost waits for the function timeout ({:?}); always answer a JSON object",
                self.timeout
            );
            tokio::time::sleep(self.timeout.saturating_sub(started.elapsed())).await;
            self.handler.restart(worker.generation);
            return Err(InvokeError::Timeout(self.timeout));
        };
        // As the host does: each `Logs` line becomes an information line of the invocation.
        for line in &reply.logs {
            info!(target: "function", function, invocation_id, "{line}");
        }
        Ok(Invoked {
            invocation_id,
            reply,
        })
    }
}

impl Invoker {
    /// `enableForwardingHttpRequest` (`H Workers/Http/DefaultHttpWorkerService.
    /// ProcessHttpInAndOutInvocationRequest`): the client's request sent as it is to the handler
    /// at its original path (`GetPathValue`, the route prefix included), query re-added, headers
    /// copied, the body only with `Content-Length > 0`, plus the host's headers; redirects are not
    /// followed and the handler's answer, whatever its status, is the client's response.
    pub async fn forward(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        headers: &axum::http::HeaderMap,
        body: Vec<u8>,
        op: &Operation,
    ) -> Result<reqwest::Response, InvokeError> {
        let worker = self
            .handler
            .worker(self.handler.restart_wait())
            .await
            .ok_or(InvokeError::Unavailable)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| InvokeError::Transport(e.to_string()))?;
        let mut call = client.request(method, format!("{}{path_and_query}", worker.url));
        for (name, value) in headers {
            if name != axum::http::header::HOST && name != axum::http::header::CONTENT_LENGTH {
                call = call.header(name.as_str(), value.as_bytes());
            }
        }
        let invocation_id = uuid::Uuid::new_v4().to_string();
        call = call
            .header("X-Azure-Functions-InvocationId", &invocation_id)
            .header("X-Azure-Functions-HostVersion", HOST_VERSION)
            .header("User-Agent", format!("Azure-Functions-Host/{HOST_VERSION}"));
        call = trace_headers(call, op, headers);
        if !body.is_empty() {
            call = call.body(body);
        }
        match tokio::time::timeout(self.timeout, call.send()).await {
            Err(_) => {
                self.handler.restart(worker.generation);
                Err(InvokeError::Timeout(self.timeout))
            }
            Ok(Err(e)) => Err(InvokeError::Transport(e.to_string())),
            Ok(Ok(response)) => Ok(response),
        }
    }
}

/// A completed invocation: its id and the handler's answer.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// `X-Azure-Functions-InvocationId` (also the `$AzureWebJobsParentId` of output messages).
    pub invocation_id: String,
    /// The answer, as the host reads it.
    pub reply: Reply,
}

/// The trace context .NET's `HttpClient` adds to the host's requests to the handler
/// (`System.Net.Http` `DiagnosticsHandler`, part of the `HttpClientHandler` that
/// `H Workers/Http/DefaultHttpWorkerService.CreateHttpClient` builds): with Application Insights on
/// (always, locally: the devhost is the ingestion endpoint) the outgoing request is a child span of
/// the invocation's operation, `traceparent` its W3C id and `tracestate` the operation's; a
/// `traceparent` or `tracestate` already on the request (a forwarded client's) is never replaced.
fn trace_headers(
    mut call: reqwest::RequestBuilder,
    op: &Operation,
    already: &axum::http::HeaderMap,
) -> reqwest::RequestBuilder {
    if !already.contains_key("traceparent") {
        call = call.header("traceparent", op.child().0);
    }
    if let Some(state) = &op.trace_state
        && !already.contains_key("tracestate")
    {
        call = call.header("tracestate", state);
    }
    call
}

/// `Metadata.sys`.
pub(crate) fn sys_metadata(function: &str) -> Value {
    json!({
        "MethodName": function,
        "UtcNow": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "RandGuid": uuid::Uuid::new_v4().to_string(),
    })
}
