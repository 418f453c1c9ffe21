//! `extensions.http.maxConcurrentRequests` / `maxOutstandingRequests`, as the host applies them
//! (`H WebJobs.Script.WebHost/Middleware/HttpThrottleMiddleware`, `HttpRequestQueue`): every
//! request but the admin API goes through one dataflow `ActionBlock` whose
//! `MaxDegreeOfParallelism` is `maxConcurrentRequests` and whose `BoundedCapacity` (requests
//! running plus waiting) is `maxOutstandingRequests`. A request the block cannot take gets `429`
//! with the header `X-FUNCTION-SCALEOUT: 1` and an empty body (`RejectRequest`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::http_options::HttpOptions;

/// The request queue of one host.
#[derive(Debug, Clone, Default)]
pub struct Throttle {
    concurrent: Option<Arc<Semaphore>>,
    outstanding: Option<(Arc<AtomicUsize>, usize)>,
}

/// A request's place in the queue, held while it runs.
pub struct Place {
    _permit: Option<OwnedSemaphorePermit>,
    _outstanding: Outstanding,
}

/// One of the `maxOutstandingRequests`, given back on drop (also while waiting for a turn).
struct Outstanding(Option<Arc<AtomicUsize>>);

impl Drop for Outstanding {
    fn drop(&mut self) {
        if let Some(count) = &self.0 {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Throttle {
    /// The queue `options` describe (none without limits).
    pub fn new(options: &HttpOptions) -> Self {
        Self {
            concurrent: options
                .max_concurrent_requests
                .map(|n| Arc::new(Semaphore::new(n))),
            outstanding: options
                .max_outstanding_requests
                .map(|n| (Arc::new(AtomicUsize::new(0)), n)),
        }
    }

    /// Enter the queue and wait for a turn; `Err` is the host's 429.
    pub async fn enter(&self) -> Result<Place, Response> {
        let outstanding = match &self.outstanding {
            Some((count, max)) => {
                let taken = count.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                    (n < *max).then_some(n + 1)
                });
                if taken.is_err() {
                    return Err(rejected());
                }
                Some(count.clone())
            }
            None => None,
        };
        let outstanding = Outstanding(outstanding);
        let permit = match &self.concurrent {
            Some(semaphore) => semaphore.clone().acquire_owned().await.ok(),
            None => None,
        };
        Ok(Place {
            _permit: permit,
            _outstanding: outstanding,
        })
    }
}

/// `HttpThrottleMiddleware.RejectRequest`.
fn rejected() -> Response {
    let mut response = StatusCode::TOO_MANY_REQUESTS.into_response();
    response
        .headers_mut()
        .insert("x-function-scaleout", HeaderValue::from_static("1"));
    response
}
