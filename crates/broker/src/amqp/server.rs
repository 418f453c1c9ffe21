//! The listener: one task per accepted connection. With the administration API
//! ([`Server::start_with_admin`]), a connection that opens with a TLS handshake is handed to it
//! (the SDKs' administration clients call `https://` on the AMQP port).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::admin::Https;
use crate::amqp::backend::Backend;
use crate::amqp::connection::{self, Config};
use crate::amqp::sas::SasKey;

/// A running AMQP listener; dropping it does not stop it, [`Server::stop`] does.
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

/// The connection string clients use, in the form Microsoft's emulator documents, for the
/// primary rule.
pub fn connection_string(addr: SocketAddr, config: &Config) -> String {
    rule_connection_string(addr, &config.sas)
}

/// The connection string of one authorization rule.
pub fn rule_connection_string(addr: SocketAddr, rule: &SasKey) -> String {
    format!(
        "Endpoint=sb://{addr};SharedAccessKeyName={};SharedAccessKey={};UseDevelopmentEmulator=true",
        rule.name, rule.key
    )
}

impl Server {
    /// Serve AMQP on `listener` with `backend`.
    pub fn start<B: Backend>(
        listener: TcpListener,
        backend: Arc<B>,
        config: Config,
    ) -> std::io::Result<Self> {
        Self::serve(listener, backend, config, None)
    }

    /// Serve AMQP on `listener` with `backend`, and the administration API to TLS clients.
    pub fn start_with_admin<B: Backend>(
        listener: TcpListener,
        backend: Arc<B>,
        config: Config,
        admin: Https,
    ) -> std::io::Result<Self> {
        Self::serve(listener, backend, config, Some(Arc::new(admin)))
    }

    fn serve<B: Backend>(
        listener: TcpListener,
        backend: Arc<B>,
        config: Config,
        admin: Option<Arc<Https>>,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let config = Arc::new(config);
        let task = tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "AMQP accept failed");
                        continue;
                    }
                };
                let (backend, config, admin) = (backend.clone(), config.clone(), admin.clone());
                tokio::spawn(async move {
                    if let Some(admin) = admin {
                        let mut first = [0u8; 1];
                        if matches!(stream.peek(&mut first).await, Ok(1) if Https::is_tls(first[0]))
                        {
                            return admin.serve(stream).await;
                        }
                    }
                    match connection::run(stream, backend, config).await {
                        Ok(()) => tracing::debug!(%peer, "AMQP connection closed"),
                        Err(e) => tracing::info!(%peer, error = %e, "AMQP connection ended"),
                    }
                });
            }
        });
        Ok(Self { addr, task })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting (open connections end with their tasks when the runtime stops).
    pub fn stop(self) {
        self.task.abort();
    }
}
