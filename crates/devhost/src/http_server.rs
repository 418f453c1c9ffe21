//! The devhost's HTTP front end with the limits Kestrel applies under `func start` (the host
//! changes only the body limit: `H WebJobs.Script.WebHost/Program.CreateWebHostBuilder`;
//! the rest are `KestrelServerLimits` defaults, [`limits`]):
//!
//! * `KeepAliveTimeout` 130 s for a connection waiting for a request, `RequestHeadersTimeout` 30 s
//!   from a request's first byte to the end of its headers (408), [`connection`];
//! * `MinRequestBodyDataRate` 240 bytes/s after a 5 s grace period, [`body_rate`];
//! * `MaxRequestHeadersTotalSize` 32 KiB and `MaxRequestHeaderCount` 100: 431;
//! * `MaxRequestLineSize` 8 KiB: 414 (checked on the parsed request line).
//!
//! HTTP/1.1 only, as `func start` serves plain HTTP.

pub mod body_rate;
pub mod connection;
pub mod limits;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;
use tracing::debug;

use broker::rest::Problem;

use crate::handler::stopped;
use body_rate::RateBody;
use connection::{Phase, Timed};
use limits::ServerLimits;

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
    let limits = ServerLimits::from_env();
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
            let (stream, phase) = Timed::new(stream, limits);
            let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                phase.busy();
                let too_slow = Arc::new(AtomicBool::new(false));
                let mut req =
                    req.map(|b| axum::body::Body::new(RateBody::new(b, &limits, too_slow.clone())));
                req.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                let phase = phase.clone();
                async move {
                    let response = if request_line_len(&req) > MAX_REQUEST_LINE_SIZE {
                        StatusCode::URI_TOO_LONG.into_response()
                    } else {
                        match router.oneshot(req).await {
                            Ok(response) => response,
                            Err(never) => match never {},
                        }
                    };
                    let response = if too_slow.load(Ordering::SeqCst) {
                        too_slow_response()
                    } else {
                        response
                    };
                    Ok::<Response, Infallible>(
                        response.map(|b| axum::body::Body::new(Tracked { inner: b, phase })),
                    )
                }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                // `connection::Timed` times the headers (hyper's timer would also run between
                // requests).
                .header_read_timeout(None)
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

/// The host's answer to a body cut by the minimum data rate: its `ExceptionMiddleware` turns the
/// read's exception into a 500 (empty there; the devhost's failed invocations say why), and the
/// connection closes.
fn too_slow_response() -> Response {
    let mut response = Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Request body too slow",
        format!(
            "{} (Kestrel's MinRequestBodyDataRate: 240 bytes/s after a 5 s grace period)",
            body_rate::MESSAGE
        ),
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// A response body that marks its connection idle once hyper is done with it.
struct Tracked {
    inner: axum::body::Body,
    phase: Phase,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.phase.idle();
    }
}

impl hyper::body::Body for Tracked {
    type Data = hyper::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Self::Data>, Self::Error>>> {
        std::pin::Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
