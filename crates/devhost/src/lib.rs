//! devhost: a local stand-in for the Azure Functions host, for machines without Azure.
//!
//! It reads a script root laid out like the real host's (`host.json`, `<Function>/function.json`,
//! `local.settings.json`), runs the custom handler named by `host.json` over the real custom-handler
//! wire contract (the `wire` crate), serves HTTP triggers on `/{routePrefix}/{route}`, and backs
//! Service Bus bindings with a durable, Service Bus-like queue. It knows nothing of the job domain:
//! any custom handler runs on it, and docs/PARITY.md lists, row by row, how far it matches the
//! real host (with the host's source and a test for each row).
//!
//! Grouped by what it emulates: [`config`] (the script root), [`handler`] (the custom handler's
//! process and invocations), [`http_trigger`], [`service_bus_trigger`] and [`outputs`] (the
//! bindings), over the local Service Bus of the `broker` crate; plus [`admin`] (operator
//! endpoints) and [`telemetry`] (a local Application Insights). [`host::Host`] is what they share.
//! [`servicebus`] serves the local Service Bus alone, for `func start` and users' own clients.
//! [`cli`] is the `devhost` command line.

pub mod admin;
mod binding_data;
pub mod cli;
pub mod config;
pub mod handler;
pub mod host;
pub mod http_server;
pub mod http_trigger;
pub mod outputs;
pub mod service_bus_trigger;
pub mod servicebus;
pub mod telemetry;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tracing::info;

use crate::config::{App, ConfigError};
use crate::handler::{Invoker, supervisor};
use crate::host::Host;
use broker::Namespace;
use broker::rest::Rest;
use broker::store::{QueueConfig, QueueOptions, Store, StoreError};

/// How to run the devhost.
#[derive(Debug, Clone)]
pub struct StartOptions {
    /// Script root (a staged app folder).
    pub script_root: PathBuf,
    /// Address to serve on.
    pub listen: SocketAddr,
    /// Where the queue store lives.
    pub data_dir: PathBuf,
    /// Queue behaviour: every queue's, except those `sb_config` configures.
    pub queue: QueueOptions,
    /// A Service Bus emulator `Config.json` declaring queues with their own properties
    /// ([`config::sb_config`]).
    pub sb_config: Option<PathBuf>,
    /// Telemetry envelopes kept in memory.
    pub telemetry_capacity: usize,
    /// The AMQP listener of the local Service Bus (what the official SDKs speak); `None` for none.
    pub amqp: Option<AmqpOptions>,
    /// Enforce `authLevel` with function keys from `<data_dir>/secrets`, as
    /// `func start --enableAuth` does.
    pub enable_auth: bool,
}

/// The AMQP 1.0 listener (`broker::amqp`): plain TCP, as Microsoft's emulator with
/// `UseDevelopmentEmulator=true`.
#[derive(Debug, Clone)]
pub struct AmqpOptions {
    /// Address to serve AMQP on.
    pub listen: SocketAddr,
    /// The SAS key clients sign their tokens with (or give to SASL PLAIN): every right.
    pub sas: broker::amqp::SasKey,
    /// More authorization rules with their own rights (`--sas-rule`).
    pub rules: Vec<broker::amqp::SasKey>,
}

/// The handler's environment: the app settings, plus (unless they or the devhost's own environment
/// name their own) an Application Insights connection string pointing at the devhost's ingestion
/// endpoint, a short metric export interval so the local map fills in seconds, and
/// `SERVICEBUS_ENDPOINT` pointing at the devhost's Service Bus REST subset (entity runtime
/// information, send, peek-lock).
pub fn handler_env(
    settings: &std::collections::BTreeMap<String, String>,
    base_url: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut env = settings.clone();
    let defaults = [
        (
            "APPLICATIONINSIGHTS_CONNECTION_STRING",
            format!(
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={base_url}"
            ),
        ),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5000".to_owned()),
        (
            "SERVICEBUS_ENDPOINT",
            format!("{base_url}{}", broker::rest::PREFIX),
        ),
    ];
    for (name, value) in defaults {
        if !env.contains_key(name) && std::env::var_os(name).is_none() {
            env.insert(name.to_owned(), value);
        }
    }
    env
}

/// Why the devhost could not run.
#[derive(Debug, Error)]
pub enum DevhostError {
    /// The script root is malformed.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The queue store failed to open.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The administration API's certificate could not be made.
    #[error(transparent)]
    AdminTls(#[from] broker::admin::TlsError),
    /// The data directory could not be created.
    #[error("cannot create {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listening socket could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The function keys could not be loaded (`--enable-auth`).
    #[error(transparent)]
    Keys(#[from] http_trigger::auth::KeysError),
    /// `--enable-auth` with a function whose `authLevel` the devhost cannot enforce.
    #[error("{0}")]
    Auth(String),
    /// The HTTP server failed.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The handler kept failing (three errors in a row) and the devhost shut down, as the host does.
    #[error("{0}")]
    HandlerGaveUp(String),
    /// `devhost servicebus` was given no queue to serve.
    #[error("no queue to serve: name one or more with --queue NAME")]
    NoQueues,
    /// The HTTP server stopped on its own, or its task panicked.
    #[error("the HTTP server stopped unexpectedly{0}")]
    ServerStopped(String),
}

/// Run until SIGTERM / Ctrl-C.
pub async fn run(opts: StartOptions) -> Result<(), DevhostError> {
    let app = Arc::new(App::load(&opts.script_root)?);
    if !app.service_bus.auto_complete_messages {
        tracing::warn!(
            "host.json extensions.serviceBus.autoCompleteMessages is false: a custom handler cannot settle messages, so none is ever completed; each is redelivered when its lock lapses"
        );
    }
    std::fs::create_dir_all(&opts.data_dir).map_err(|source| DevhostError::DataDir {
        path: opts.data_dir.clone(),
        source,
    })?;
    let store = Store::open(
        &opts.data_dir.join("queues.db"),
        queue_config(opts.queue, opts.sb_config.as_deref())?,
    )?;
    let keys = if opts.enable_auth {
        Some(Arc::new(load_keys(&app, &opts.data_dir)?))
    } else {
        None
    };
    let (listener, local) = bind(opts.listen).await?;
    let base_url = format!("http://{local}");

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    // The handler stops last, once in-flight deliveries have settled (as the host drains
    // invocations before it stops the worker).
    let (stop_handler_tx, stop_handler_rx) = watch::channel(false);
    let env = handler_env(&app.settings, &base_url);
    // The host's own rows carry the app's role name and instrumentation key.
    let mut seen: std::collections::BTreeMap<String, String> = std::env::vars().collect();
    seen.extend(env.clone());
    let capture = telemetry::Capture::with_identity(
        opts.telemetry_capacity,
        telemetry::HostIdentity::from_settings(&seen),
    );
    let (handler, supervisor) =
        supervisor::spawn(app.handler.clone(), env, app.root.clone(), stop_handler_rx);
    let invoker = Invoker::new(handler, app.function_timeout);

    let mut dispatchers = Vec::new();
    for function in app.queue_triggered() {
        let dispatch = service_bus_trigger::Dispatch {
            store: store.clone(),
            invoker: invoker.clone(),
            max_concurrent_calls: app.service_bus.max_concurrent_calls,
            max_auto_lock_renewal: app.service_bus.max_auto_lock_renewal,
            auto_complete_messages: app.service_bus.auto_complete_messages,
            max_message_batch_size: app.service_bus.max_message_batch_size,
            capture: capture.clone(),
        };
        dispatchers.push(tokio::spawn(service_bus_trigger::run(
            function.clone(),
            dispatch,
            shutdown_rx.clone(),
        )));
    }
    let sweeper = {
        let (store, stop) = (store.clone(), shutdown_rx.clone());
        tokio::spawn(async move { store.sweep_until(Duration::from_secs(1), stop).await })
    };

    let declared: Vec<String> = store.configured().map(str::to_owned).collect();
    let namespace = Namespace::new(store, app.queues().into_iter().chain(declared));
    let history = telemetry::history::History::default();
    let sampler = tokio::spawn(
        history
            .clone()
            .sample_until(namespace.clone(), shutdown_rx.clone()),
    );
    let amqp = match &opts.amqp {
        Some(amqp) => Some(start_amqp(amqp, &namespace, &opts.data_dir).await?),
        None => None,
    };
    let host = Host {
        app: app.clone(),
        invoker,
        namespace: namespace.clone(),
        base_url: base_url.clone(),
        capture: capture.clone(),
        history,
        shutting_down: shutdown_rx.clone(),
        keys: keys.clone(),
        throttle: http_trigger::throttle::Throttle::new(&app.http),
    };
    let ingestion = axum::Router::new()
        .route("/v2/track", axum::routing::post(telemetry::ingest::track))
        .route("/v2.1/track", axum::routing::post(telemetry::ingest::track))
        .with_state(capture);
    let body_limit = http_trigger::body_limit(&app.settings);
    let router = admin::router()
        .merge(telemetry::page::router())
        .fallback(http_trigger::serve)
        .with_state(host)
        // Kestrel's `MaxRequestBodySize` (see `http_trigger::body_limit`).
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .merge(broker::rest::router(Rest {
            namespace,
            base_url: base_url.clone(),
        }))
        .merge(ingestion);
    info!("devhost listening on {base_url} (application map: {base_url}/map)");
    for f in &app.functions {
        match f.http_trigger() {
            Some((_, methods, route)) => info!(
                "  {}: [{}] {base_url}/{}{}{}",
                f.name,
                methods.join(","),
                if app.route_prefix.is_empty() {
                    String::new()
                } else {
                    format!("{}/", app.route_prefix)
                },
                route.unwrap_or(&f.name),
                keys.as_deref()
                    .map(|k| key_query(k, f.auth_level()))
                    .unwrap_or_default()
            ),
            None => info!(
                "  {}: serviceBusTrigger on {}",
                f.name,
                f.service_bus_trigger().map_or("", |(_, q)| q)
            ),
        }
    }
    // Shutdown order: stop taking work (new HTTP invocations get 503, dispatchers stop
    // receiving), let in-flight deliveries settle, stop the handler (which may still flush its
    // telemetry to the ingestion endpoint), and only then close the listener.
    let (close_tx, close_rx) = watch::channel(false);
    let mut server = tokio::spawn(http_server::serve(listener, router, close_rx));
    let mut supervisor = supervisor;
    tokio::select! {
        () = signal() => {}
        gave_up = &mut supervisor => {
            // The handler failed three times in a row: the host shuts itself down.
            let _ = shutdown_tx.send(true);
            for d in dispatchers {
                let _ = tokio::time::timeout(Duration::from_secs(5), d).await;
            }
            let _ = close_tx.send(true);
            let _ = server.await;
            return Err(DevhostError::HandlerGaveUp(match gave_up {
                Ok(Err(reason)) => reason,
                Ok(Ok(())) => "the handler supervisor stopped".to_owned(),
                Err(e) => format!("the handler supervisor failed: {e}"),
            }));
        }
        finished = &mut server => {
            // The server stopped on its own: that is an error; stop everything else.
            let _ = shutdown_tx.send(true);
            let _ = stop_handler_tx.send(true);
            let _ = supervisor.await;
            return match finished {
                Ok(Ok(())) => Err(DevhostError::ServerStopped(String::new())),
                Ok(Err(e)) => Err(DevhostError::Serve(e)),
                Err(e) => Err(DevhostError::ServerStopped(format!(": {e}"))),
            };
        }
    }
    info!("shutting down: finishing in-flight deliveries, then stopping the handler");
    let _ = shutdown_tx.send(true);
    for d in dispatchers {
        let _ = tokio::time::timeout(app.function_timeout, d).await;
    }
    let _ = sweeper.await;
    let _ = sampler.await;
    let _ = stop_handler_tx.send(true);
    let _ = supervisor.await;
    let _ = close_tx.send(true);
    if let Some(amqp) = amqp {
        amqp.stop();
    }
    match server.await {
        Ok(served) => served.map_err(DevhostError::Serve),
        Err(e) => Err(DevhostError::ServerStopped(format!(": {e}"))),
    }
}

/// Every queue's options: `queue`, except those `sb_config` configures.
pub(crate) fn queue_config(
    queue: QueueOptions,
    sb_config: Option<&std::path::Path>,
) -> Result<QueueConfig, DevhostError> {
    Ok(QueueConfig {
        defaults: queue,
        queues: match sb_config {
            Some(path) => config::sb_config::load(path, queue)?,
            None => Default::default(),
        },
    })
}

/// `--enable-auth`: the app's keys, printed at start-up as `func start --enableAuth` prints them.
fn load_keys(
    app: &App,
    data_dir: &std::path::Path,
) -> Result<http_trigger::auth::Keys, DevhostError> {
    if let Some(f) = app
        .functions
        .iter()
        .find(|f| f.auth_level() == Some(config::AuthLevel::User))
    {
        return Err(DevhostError::Auth(format!(
            "{}/function.json: authLevel \"user\" (App Service Authentication) is not supported by the devhost with --enable-auth (see docs/PARITY.md)",
            f.name
        )));
    }
    let keys = http_trigger::auth::Keys::load_or_create(&data_dir.join("secrets"), &app.functions)?;
    info!(
        "function keys enforced (--enable-auth), from {}: master key {}, default function key {}",
        keys.dir.display(),
        keys.master(),
        keys.default_function_key().unwrap_or("(none)")
    );
    Ok(keys)
}

/// `?code=<key>` for a function's URL at start-up (the key its `authLevel` needs).
fn key_query(keys: &http_trigger::auth::Keys, level: Option<config::AuthLevel>) -> String {
    match level {
        Some(config::AuthLevel::Function) => keys
            .default_function_key()
            .map(|k| format!("?code={k}"))
            .unwrap_or_default(),
        Some(config::AuthLevel::Admin | config::AuthLevel::System) => {
            format!("?code={}", keys.master())
        }
        _ => String::new(),
    }
}

/// Bind `addr`: the listener and the address it got (port 0 picks one); failures name `addr`.
pub(crate) async fn bind(
    addr: SocketAddr,
) -> Result<(tokio::net::TcpListener, SocketAddr), DevhostError> {
    let error = |source| DevhostError::Listen { addr, source };
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(error)?;
    let local = listener.local_addr().map_err(error)?;
    Ok((listener, local))
}

/// Serve AMQP over the namespace's durable store and print the connection string SDKs use.
pub(crate) async fn start_amqp(
    amqp: &AmqpOptions,
    namespace: &Namespace,
    data_dir: &std::path::Path,
) -> Result<broker::amqp::Server, DevhostError> {
    let listen_error = |source| DevhostError::Listen {
        addr: amqp.listen,
        source,
    };
    let (listener, addr) = bind(amqp.listen).await?;
    let config = broker::amqp::Config {
        sas: amqp.sas.clone(),
        rules: amqp.rules.clone(),
        container_id: "devhost".into(),
    };
    let connection_string = broker::amqp::connection_string(addr, &config);
    let backend = Arc::new(broker::amqp::DurableBackend::new(namespace.clone()));
    // The SDKs' administration clients call `https://` on this same port (broker::admin).
    let tls = broker::admin::Tls::load_or_create(&data_dir.join("admin-tls"))?;
    let admin = broker::admin::Admin {
        namespace: namespace.clone(),
        keys: config.keys().cloned().collect(),
        name: "devhost".into(),
        started: chrono::Utc::now(),
    };
    let https = broker::admin::Https::new(admin, tls);
    let ca = https.ca_file().display().to_string();
    let server = broker::amqp::Server::start_with_admin(listener, backend, config, https)
        .map_err(listen_error)?;
    info!("Service Bus over AMQP on {addr}: {connection_string}");
    for rule in &amqp.rules {
        let rights = rule.rights;
        let connection_string = broker::amqp::rule_connection_string(addr, rule);
        info!("  rule {} ({rights}): {connection_string}", rule.name);
    }
    info!(
        "Service Bus administration API (ServiceBusAdministrationClient) on https://{addr}; trust its certificate authority {ca}: REQUESTS_CA_BUNDLE={ca} (Python) or NODE_EXTRA_CA_CERTS={ca} (Node)"
    );
    Ok(server)
}

pub(crate) async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handler_is_pointed_at_the_devhost_unless_settings_say_otherwise() {
        let mut settings = std::collections::BTreeMap::new();
        let env = handler_env(&settings, "http://127.0.0.1:7071");
        assert_eq!(
            env["SERVICEBUS_ENDPOINT"],
            "http://127.0.0.1:7071/servicebus"
        );
        assert!(
            env["APPLICATIONINSIGHTS_CONNECTION_STRING"]
                .contains("IngestionEndpoint=http://127.0.0.1:7071")
        );
        settings.insert(
            "SERVICEBUS_ENDPOINT".to_owned(),
            "https://ns.servicebus.windows.net".to_owned(),
        );
        let env = handler_env(&settings, "http://127.0.0.1:7071");
        assert_eq!(
            env["SERVICEBUS_ENDPOINT"],
            "https://ns.servicebus.windows.net"
        );
    }
}
