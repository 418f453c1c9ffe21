//! Start-up and graceful shutdown.

use std::time::Duration;

use jobs::Chaos;
use thiserror::Error;
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::protect::Protection;
use crate::retry::RetryScheduler;
use crate::settings::Settings;
use crate::state::AppState;
use crate::telemetry::{Instruments, TelemetryError};

/// Why the handler could not start or stopped with an error.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Telemetry could not be set up.
    #[error(transparent)]
    Telemetry(#[from] TelemetryError),
    /// The job type folder could not be loaded.
    #[error("JOB_TYPES_DIR: {0}")]
    JobTypes(#[from] crate::job_types::JobTypesError),
    /// `JOB_TYPE_PRIORITIES` names a job type the registry does not have.
    #[error("JOB_TYPE_PRIORITIES: unknown job type \"{name}\" (known: {known})")]
    UnknownPriorityType {
        /// The unknown name.
        name: String,
        /// The known job types.
        known: String,
    },
    /// A job type has schemas but no work.
    #[error(
        "JOB_TYPES_DIR: job type \"{name}\" has a schema but no work: implement jobs::Job for it and register it in crates/handler/src/shipped_jobs (job types with work: {known})"
    )]
    NoWork {
        /// The job type.
        name: String,
        /// The job types that have work.
        known: String,
    },
    /// The chaos settings are inconsistent.
    #[error("CHAOS_FAILURE_RATE: {0}")]
    Chaos(#[from] jobs::ChaosError),
    /// The port could not be bound.
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind {
        /// The port from `FUNCTIONS_CUSTOMHANDLER_PORT`.
        port: u16,
        /// The bind error.
        source: std::io::Error,
    },
    /// The server failed while running.
    #[error("server error: {0}")]
    Serve(std::io::Error),
}

/// Load state from settings: the job type registry, the work of each type with chaos layered on,
/// and telemetry instruments.
pub fn build_state(settings: &Settings, telemetry: Instruments) -> Result<AppState, ServerError> {
    let registry = crate::job_types::load(&settings.job_types_dir)?;
    let chaos = Chaos::new(settings.chaos_failure_rate, settings.chaos_seed)?;
    if let Some(name) = settings
        .protection
        .backpressure
        .priorities
        .keys()
        .find(|name| !registry.contains(name))
    {
        return Err(ServerError::UnknownPriorityType {
            name: name.clone(),
            known: registry.names().collect::<Vec<_>>().join(", "),
        });
    }
    let workers = crate::shipped_jobs::workers(settings.processing_delay)
        .layer(crate::work::chaos::Chaotic::layer(chaos));
    if let Some(name) = registry.names().find(|name| workers.get(name).is_none()) {
        return Err(ServerError::NoWork {
            name: name.to_owned(),
            known: workers.names().collect::<Vec<_>>().join(", "),
        });
    }
    let state = AppState::new(
        registry,
        workers,
        chaos,
        settings.processing_delay,
        settings.max_delivery_count,
        telemetry,
        Protection::new(&settings.protection),
    );
    state.set_retry(retry_scheduler(settings));
    Ok(state)
}

/// The backoff scheduler the settings ask for. It sends to the Service Bus target;
/// without one (or when its client cannot be built) failures fall back to broker redelivery.
fn retry_scheduler(settings: &Settings) -> RetryScheduler {
    let backoff = settings.retry.backoff;
    if !settings.retry.enabled {
        info!("RETRY_BACKOFF=off: transient failures are retried by immediate broker redelivery");
        return RetryScheduler::off(backoff);
    }
    let Some(target) = settings.service_bus.as_ref() else {
        warn!(
            "backoff is on but no Service Bus namespace is configured (SERVICEBUS_ENDPOINT or ServiceBusConnection__fullyQualifiedNamespace): transient failures fall back to broker redelivery"
        );
        return RetryScheduler::unavailable(backoff);
    };
    // Fail within a few seconds: a failed send hands the retry to the broker, which is safe.
    let options = servicebus::RetryOptions {
        max_tries: 2,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(500),
        try_timeout: Duration::from_secs(5),
    };
    match target.client().and_then(|c| c.with_retry(options)) {
        Ok(client) => {
            info!(
                endpoint = client.endpoint(),
                queue = %target.queue,
                base_ms = backoff.base().as_millis() as u64,
                cap_ms = backoff.cap().as_millis() as u64,
                max_attempts = backoff.max_attempts(),
                "backoff on: transient failures are rescheduled through the Service Bus REST API"
            );
            RetryScheduler::on(backoff, client, target.queue.clone())
        }
        Err(e) => {
            warn!(error = %e, "cannot set up the Service Bus client for backoff: transient failures fall back to broker redelivery");
            RetryScheduler::unavailable(backoff)
        }
    }
}

/// Serve until SIGTERM or Ctrl-C, then drain in-flight invocations for up to the grace period.
pub async fn run(settings: Settings, state: AppState) -> Result<(), ServerError> {
    let port = settings.port;
    let listener = TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|source| ServerError::Bind { port, source })?;
    info!(
        port,
        job_types = state.registry().names().collect::<Vec<_>>().join(","),
        chaos_failure_rate = settings.chaos_failure_rate,
        processing_delay_ms = settings.processing_delay.as_millis() as u64,
        "handler listening"
    );
    let housekeeping = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                state.protection().forget_idle();
            }
        })
    };
    let backpressure = state.protection().backpressure();
    let depth_poller = crate::protect::depth::spawn(
        settings.service_bus.as_ref(),
        backpressure.settings().refresh,
        backpressure.gauge().clone(),
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(());
    let server =
        axum::serve(listener, crate::routes::router(state)).with_graceful_shutdown(async move {
            shutdown_signal().await;
            info!("shutdown requested: draining in-flight invocations");
            let _ = stop_tx.send(());
        });
    let grace = settings.shutdown_grace;
    let result = tokio::select! {
        result = server => result.map_err(ServerError::Serve),
        () = drain_deadline(stop_rx, grace) => {
            warn!(grace_secs = grace.as_secs(), "in-flight invocations still running after the grace period; exiting");
            Ok(())
        }
    };
    housekeeping.abort();
    if let Some(poller) = depth_poller {
        poller.abort();
    }
    result
}

async fn drain_deadline(mut stop: tokio::sync::watch::Receiver<()>, grace: Duration) {
    if stop.changed().await.is_err() {
        // The sender is gone only when the server finished first; never fire.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(grace).await;
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
