//! `devhost servicebus`: the local Service Bus alone, with no function app, for the real Functions
//! host (`func start`) and users' own producers and consumers: the durable store, its AMQP 1.0
//! front end (what the official SDKs and the host's Service Bus extension speak, with the
//! emulator connection string) and its REST subset (what the handler's backpressure and backoff
//! use through `SERVICEBUS_ENDPOINT`), on loopback, until SIGTERM / Ctrl-C.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use broker::Namespace;
use broker::rest::Rest;
use broker::store::{QueueOptions, Store};

use tokio::sync::watch;
use tracing::info;

use crate::{AmqpOptions, DevhostError, queue_config, signal, start_amqp};

/// How to run the local Service Bus alone.
#[derive(Debug, Clone)]
pub struct ServiceBusOptions {
    /// Address of the REST subset.
    pub listen: SocketAddr,
    /// Where the queue store lives.
    pub data_dir: PathBuf,
    /// Queue behaviour: every queue's, except those `sb_config` configures.
    pub queue: QueueOptions,
    /// The queues to serve (with those of `sb_config`, at least one).
    pub queues: Vec<String>,
    /// Queues with their own properties, in the emulator's `Config.json` format.
    pub sb_config: Option<PathBuf>,
    /// The AMQP listener.
    pub amqp: AmqpOptions,
}

/// Serve until SIGTERM / Ctrl-C.
pub async fn serve(opts: ServiceBusOptions) -> Result<(), DevhostError> {
    let config = queue_config(opts.queue, opts.sb_config.as_deref())?;
    if opts.queues.is_empty() && config.queues.is_empty() {
        return Err(DevhostError::NoQueues);
    }
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| DevhostError::DataDir {
        path: opts.data_dir.clone(),
        source,
    })?;
    let store = Store::open(&opts.data_dir.join("queues.db"), config)?;
    let (listener, local) = crate::bind(opts.listen).await?;
    let base_url = format!("http://{local}");
    let (stop_tx, stop_rx) = watch::channel(false);
    let sweeper = {
        let (store, stop) = (store.clone(), stop_rx.clone());
        tokio::spawn(async move { store.sweep_until(Duration::from_secs(1), stop).await })
    };
    let configured: Vec<String> = store.configured().map(str::to_owned).collect();
    let namespace = Namespace::new(store, opts.queues.into_iter().chain(configured));
    let amqp = start_amqp(&opts.amqp, &namespace, &opts.data_dir).await?;
    let router = broker::rest::router(Rest {
        namespace: namespace.clone(),
        base_url: base_url.clone(),
    });
    info!(
        "Service Bus REST subset on {base_url}/servicebus (SERVICEBUS_ENDPOINT for the handler); queues: {}",
        namespace.declared().join(", ")
    );
    let mut stopped = stop_rx;
    let server = axum::serve(listener, router).with_graceful_shutdown(async move {
        let _ = stopped.wait_for(|s| *s).await;
    });
    let server = tokio::spawn(server.into_future());
    signal().await;
    info!("shutting down the local Service Bus");
    let _ = stop_tx.send(true);
    amqp.stop();
    let _ = sweeper.await;
    match server.await {
        Ok(served) => served.map_err(DevhostError::Serve),
        Err(e) => Err(DevhostError::ServerStopped(format!(": {e}"))),
    }
}
