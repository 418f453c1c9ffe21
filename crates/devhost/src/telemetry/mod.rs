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
pub mod ingest;
pub mod map;
pub mod operation;
pub mod page;

pub use capture::Capture;
pub use operation::{HostIdentity, Operation};
