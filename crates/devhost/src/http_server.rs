//! The devhost's HTTP front end with the limits Kestrel applies under `func start` (the host
//! changes only the body limit: `H WebJobs.Script.WebHost/Program.CreateWebHostBuilder`;
//! the rest are `KestrelServerLimits` defaults):
//!
//! * `RequestHeadersTimeout` 30 s: a connection that does not deliver a request's headers in time
//!   is closed (here hyper's header read timeout, which also runs while a kept-alive connection
//!   waits for its next request: Kestrel's `KeepAliveTimeout` there is 130 s, so an idle connection
//!   closes sooner here);
//! * `MaxRequestHeadersTotalSize` 32 KiB and `MaxRequestHeaderCount` 100: 431;
//! * `MaxRequestLineSize` 8 KiB: 414 (checked on the parsed request line).
//!
//! HTTP/1.1 only, as `func start` serves plain HTTP.

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;
use tracing::debug;

use crate::handler::stopped;

/// `KestrelServerLimits.RequestHeadersTimeout`.
pub const REQUEST_HEADERS_TIMEOUT: Duration = Duration::from_secs(30);
/// `KestrelServerLimits.MaxRequestHeadersTotalSize` (the request line included here).
pub const MAX_REQUEST_HEADERS_TOTAL_SIZE: usize = 32 * 1024;
/// `KestrelServerLimits.MaxRequestHeaderCount`.
pub const MAX_REQUEST_HEADER_COUNT: usize = 100;
/// `KestrelServerLimits.MaxRequestLineSize`.
pub const MAX_REQUEST_LINE_SIZE: usize = 8 * 1024;

/// Serve `router` on `listener` until `close` turns true, then let open connections finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    mut close: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let (closing_tx, closing) = watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut close) => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: wait, as axum's loop does.
                debug!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        while connections.try_join_next().is_some() {}
        let router = router.clone();
        let mut closing = closing.clone();
        connections.spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    if request_line_len(&req) > MAX_REQUEST_LINE_SIZE {
                        return Ok::<Response, Infallible>(
                            StatusCode::URI_TOO_LONG.into_response(),
                        );
                    }
                    router.oneshot(req).await
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(REQUEST_HEADERS_TIMEOUT)
                .max_headers(MAX_REQUEST_HEADER_COUNT)
                .max_header_size(MAX_REQUEST_HEADERS_TOTAL_SIZE);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                result = conn.as_mut() => {
                    if let Err(e) = result {
                        debug!(%peer, "connection ended: {e}");
                    }
                    return;
                }
                () = stopped(&mut closing) => conn.as_mut().graceful_shutdown(),
            }
            if let Err(e) = conn.await {
                debug!(%peer, "connection ended: {e}");
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// `METHOD SP request-target SP HTTP/1.1 CRLF`.
fn request_line_len<B>(req: &Request<B>) -> usize {
    let target = req.uri().path_and_query().map_or(1, |p| p.as_str().len());
    req.method().as_str().len() + 1 + target + 1 + "HTTP/1.1\r\n".len()
}
