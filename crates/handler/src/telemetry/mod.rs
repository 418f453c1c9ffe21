//! Telemetry to Application Insights: custom metrics and the job's distributed trace.
//!
//! Exported through `opentelemetry-application-insights` when `APPLICATIONINSIGHTS_CONNECTION_STRING`
//! is set, with the cloud role name of the function app so the handler's telemetry lands on the
//! app's node of the Application Map. Export never sits on the request path: spans go through a
//! bounded batch queue (dropped, not blocked on, when full) and metrics through a periodic reader,
//! each on its own thread; both are flushed on shutdown. Without a connection string spans still
//! get real ids (they carry the job's `traceparent`) but nothing is exported. With
//! `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` every export carries a Microsoft Entra ID token
//! (see [`auth`]), never over plain `http`.

pub mod auth;
mod connection;
mod flush;
pub mod metrics;
mod spans;

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_application_insights::Exporter;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use thiserror::Error;
use tracing::{info, warn};

pub use auth::{AuthStringError, IngestionAuth, IngestionClient};
pub use connection::{ConnectionString, ConnectionStringError};
pub use flush::Flusher;
pub use metrics::{AttemptEnd, FailureKind, JobAudit, JobMetrics};
pub use spans::{IngestSpan, ProcessSpan};

/// Instrumentation scope name of the handler's spans and metrics.
pub const SCOPE: &str = "resilient-jobs-handler";

/// Telemetry settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Where to export; `None` for console-only.
    pub connection: Option<ConnectionString>,
    /// Cloud role name (`ai.cloud.role`).
    pub role_name: String,
    /// Role instance (`ai.cloud.roleInstance`).
    pub role_instance: Option<String>,
    /// How often metrics are exported.
    pub metric_interval: Duration,
    /// `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`: send a Microsoft Entra ID token; `None` for
    /// the instrumentation key alone.
    pub authentication: Option<IngestionAuth>,
}

/// Telemetry could not be set up.
#[derive(Debug, Error)]
pub enum TelemetryError {
    /// The HTTP client for the exporter could not be built.
    #[error("cannot build the telemetry HTTP client: {0}")]
    Client(String),
    /// The ingestion endpoint was rejected by the exporter.
    #[error("APPLICATIONINSIGHTS_CONNECTION_STRING: {0}")]
    Endpoint(String),
    /// The Entra ID credential could not be set up.
    #[error("APPLICATIONINSIGHTS_AUTHENTICATION_STRING: {0}")]
    Auth(#[from] auth::AuthError),
}

/// How exported telemetry is authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ingestion {
    /// Nothing is exported.
    Off,
    /// The instrumentation key alone (a loopback capture, or Application Insights with local
    /// authentication on).
    Key,
    /// A Microsoft Entra ID bearer token on every request.
    EntraId,
}

/// The live telemetry pipeline; call [`Telemetry::shutdown`] before exit to flush it.
#[derive(Debug)]
pub struct Telemetry {
    tracer_provider: SdkTracerProvider,
    meter_provider: SdkMeterProvider,
    instruments: Instruments,
    ingestion: Ingestion,
}

/// What request code records with: a tracer and the metric catalogue. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Instruments {
    tracer: opentelemetry_sdk::trace::SdkTracer,
    metrics: JobMetrics,
    flusher: Flusher,
}

impl Instruments {
    /// The metric catalogue.
    pub fn metrics(&self) -> &JobMetrics {
        &self.metrics
    }

    /// Export what was recorded so far before answering (see [`Flusher`]).
    pub async fn flush(&self) {
        self.flusher.flush().await;
    }
}

impl Telemetry {
    /// Build the pipeline. Must run outside an async runtime: the exporter uses a blocking HTTP
    /// client on the exporter threads. The Entra ID credential, when the authentication string
    /// asks for one, is the app's managed identity in Azure, else the developer's sign-in.
    pub fn init(config: &TelemetryConfig) -> Result<Self, TelemetryError> {
        let credential = match &config.authentication {
            Some(auth) if config.connection.is_some() => Some(auth.credential()?),
            _ => None,
        };
        Self::init_with(config, http_client()?, credential)
    }

    /// [`Telemetry::init`] with a given HTTP client and Entra ID credential (tests use a loopback
    /// HTTPS endpoint and a credential of their own). The credential is used only when
    /// `config.authentication` is set and the ingestion endpoint is `https`.
    pub fn init_with(
        config: &TelemetryConfig,
        http: reqwest::blocking::Client,
        credential: Option<std::sync::Arc<dyn azure_core::credentials::TokenCredential>>,
    ) -> Result<Self, TelemetryError> {
        let mut attributes = vec![KeyValue::new("service.version", env!("CARGO_PKG_VERSION"))];
        if let Some(instance) = &config.role_instance {
            attributes.push(KeyValue::new("service.instance.id", instance.clone()));
        }
        let resource = Resource::builder_empty()
            .with_service_name(config.role_name.clone())
            .with_attributes(attributes)
            .build();
        let mut tracer_builder = SdkTracerProvider::builder().with_resource(resource.clone());
        let mut meter_builder = SdkMeterProvider::builder().with_resource(resource);
        let mut ingestion = Ingestion::Off;

        if let Some(cs) = &config.connection {
            let client = ingestion_client(config, cs, http, credential)?;
            ingestion = if client.is_authenticated() {
                Ingestion::EntraId
            } else {
                Ingestion::Key
            };
            let exporter = exporter(cs, client)?;
            let batch = BatchConfigBuilder::default()
                .with_max_queue_size(4096)
                .with_scheduled_delay(Duration::from_secs(2))
                .build();
            tracer_builder = tracer_builder.with_span_processor(
                BatchSpanProcessor::builder(exporter.clone())
                    .with_batch_config(batch)
                    .build(),
            );
            meter_builder = meter_builder.with_reader(
                PeriodicReader::builder(exporter)
                    .with_interval(config.metric_interval)
                    .build(),
            );
            info!(endpoint = %cs.ingestion_endpoint, role = %config.role_name, entra_id = ingestion == Ingestion::EntraId, "exporting telemetry to Application Insights");
        } else {
            info!(
                "APPLICATIONINSIGHTS_CONNECTION_STRING is not set: telemetry goes to the console only"
            );
        }
        let tracer_provider = tracer_builder.build();
        let meter_provider = meter_builder.build();
        let flusher = match ingestion {
            Ingestion::Off => Flusher::off(),
            _ => Flusher::new(tracer_provider.clone(), meter_provider.clone()),
        };
        let instruments = Instruments {
            flusher,
            tracer: tracer_provider.tracer(SCOPE),
            metrics: JobMetrics::new(&opentelemetry::metrics::MeterProvider::meter(
                &meter_provider,
                SCOPE,
            )),
        };
        Ok(Self {
            tracer_provider,
            meter_provider,
            instruments,
            ingestion,
        })
    }

    /// How exported telemetry is authenticated.
    pub fn ingestion(&self) -> Ingestion {
        self.ingestion
    }

    /// What request code records with.
    pub fn instruments(&self) -> Instruments {
        self.instruments.clone()
    }

    /// Flush and stop exporting, waiting at most `timeout` for each pipeline.
    pub fn shutdown(&self, timeout: Duration) {
        if let Err(e) = self.tracer_provider.shutdown_with_timeout(timeout) {
            warn!("span export did not flush cleanly: {e}");
        }
        if let Err(e) = self.meter_provider.shutdown_with_timeout(timeout) {
            warn!("metric export did not flush cleanly: {e}");
        }
    }
}

/// The exporter's blocking HTTP client (10 s per request).
fn http_client() -> Result<reqwest::blocking::Client, TelemetryError> {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| TelemetryError::Client(e.to_string()))
}

/// The client for `cs`: with a token when the authentication string asks for one and the
/// endpoint is `https`; without one, and saying so, when the endpoint is plain `http`.
fn ingestion_client(
    config: &TelemetryConfig,
    cs: &ConnectionString,
    http: reqwest::blocking::Client,
    credential: Option<std::sync::Arc<dyn azure_core::credentials::TokenCredential>>,
) -> Result<IngestionClient, TelemetryError> {
    let (Some(_), Some(credential)) = (&config.authentication, credential) else {
        return Ok(IngestionClient::unauthenticated(http));
    };
    if !cs.ingestion_endpoint.starts_with("https://") {
        warn!(
            endpoint = %cs.ingestion_endpoint,
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING asks for Microsoft Entra ID, but the ingestion endpoint is plain http: sending telemetry without a token (a token never goes over http)"
        );
        return Ok(IngestionClient::unauthenticated(http));
    }
    let scope = auth::scope(cs.aad_audience.as_deref());
    Ok(IngestionClient::entra(http, credential, scope)?)
}

/// The Application Insights exporter for a connection string.
///
/// An `https://` endpoint (Azure) goes through `new_from_connection_string`. The crate rewrites
/// every `http://` endpoint to `https://` there, which would break the devhost's loopback
/// ingestion endpoint, so a plain-`http` endpoint is set explicitly with the older API.
fn exporter(
    cs: &ConnectionString,
    client: IngestionClient,
) -> Result<Exporter<IngestionClient>, TelemetryError> {
    let endpoint =
        |e: Box<dyn std::error::Error + Send + Sync>| TelemetryError::Endpoint(e.to_string());
    if cs.ingestion_endpoint.starts_with("https://") {
        Exporter::new_from_connection_string(cs.raw(), client).map_err(endpoint)
    } else {
        #[allow(deprecated)] // the only way to keep an http:// (loopback) endpoint as it is
        Exporter::new(cs.instrumentation_key.clone(), client)
            .with_endpoint(&cs.ingestion_endpoint)
            .map_err(endpoint)
    }
}
