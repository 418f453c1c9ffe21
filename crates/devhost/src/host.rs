//! The running host: what its routes and tasks share.

use std::sync::Arc;

use broker::Namespace;

use crate::config::App;
use crate::handler::Invoker;
use crate::telemetry::Capture;
use crate::telemetry::history::History;

/// The running host: the app it loaded, the handler it invokes, the local Service Bus its
/// bindings use, and the telemetry it captures. Cheap to clone (the state of every route).
#[derive(Debug, Clone)]
pub struct Host {
    /// The app.
    pub app: Arc<App>,
    /// Handler invoker.
    pub invoker: Invoker,
    /// The local Service Bus namespace (the queues the functions bind, and their store).
    pub namespace: Namespace,
    /// Public base URL, e.g. `http://127.0.0.1:7071`.
    pub base_url: String,
    /// Captured telemetry (the local Application Insights).
    pub capture: Capture,
    /// Queue counts sampled over the last 15 minutes (the map's charts).
    pub history: History,
    /// True once the devhost is shutting down: no new invocations.
    pub shutting_down: tokio::sync::watch::Receiver<bool>,
    /// The function keys, when enforced (`devhost start --enable-auth`).
    pub keys: Option<Arc<crate::http_trigger::auth::Keys>>,
    /// `extensions.http.maxConcurrentRequests` / `maxOutstandingRequests`.
    pub throttle: crate::http_trigger::throttle::Throttle,
}
