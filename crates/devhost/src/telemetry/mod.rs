//! A local Application Insights: the ingestion endpoint, a bounded in-memory capture, and the
//! Application Map drawn from it.
//!
//! The devhost points the handler's `APPLICATIONINSIGHTS_CONNECTION_STRING` at itself (unless the
//! app settings name a real one), so the production exporter path runs unchanged. Like the real
//! host, the devhost also records its own telemetry: one `Request` per invocation and, per message an
//! output binding sends, the `Message` and `ServiceBusSender.Send` dependencies, with the app's role
//! and the operation the host would continue ([`operation`]); tagged
//! `ai.cloud.roleInstance = devhost`.

pub mod capture;
pub mod charts;
pub mod history;
pub mod ingest;
pub mod map;
pub mod operation;
pub mod page;

pub use capture::Capture;
pub use operation::{HostIdentity, Operation};

/// The app the telemetry unit tests read: `IngestJob` (HTTP, output to `jobs`) and `ProcessJob`
/// (triggered by `jobs`).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_app() -> crate::config::App {
    let dir = tempfile::tempdir().unwrap();
    let w = |rel: &str, text: &str| {
        let p = dir.path().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "host.json",
        r#"{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"h"}}}"#,
    );
    w(
        "IngestJob/function.json",
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"res"},{"type":"serviceBus","direction":"out","name":"job","queueName":"jobs"}]}"#,
    );
    w(
        "ProcessJob/function.json",
        r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"jobs"}]}"#,
    );
    w(
        "local.settings.json",
        r#"{"Values":{"AzureWebJobsServiceBus":"Endpoint=sb://127.0.0.1/"}}"#,
    );
    crate::config::App::load(dir.path()).unwrap()
}
