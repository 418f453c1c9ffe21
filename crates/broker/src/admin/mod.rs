//! The administration API of the local Service Bus: the entity (Atom XML) API that the SDKs'
//! `ServiceBusAdministrationClient`s call (create, get, list, update, delete queues, their
//! runtime properties, the namespace's properties), over HTTPS on the AMQP port, as the SDKs
//! address it (`https://` + the connection string's host and port; see [`tls`]).
//!
//! The AMQP listener tells the two apart by a connection's first byte ([`Https::is_tls`]): an
//! AMQP client opens with `AMQP`, a TLS client with a handshake record (`0x16`).
//! Queues created here are entities of the store: durable, usable over AMQP and REST at once,
//! deleted with their messages.

mod atom;
mod properties;
mod routes;
pub mod tls;
mod xsd;

use chrono::{DateTime, Utc};
use tokio::net::TcpStream;

use crate::amqp::SasKey;
use crate::namespace::Namespace;
pub use tls::{Tls, TlsError};

/// What the administration API serves from.
#[derive(Debug, Clone)]
pub struct Admin {
    /// The queues.
    pub namespace: Namespace,
    /// The namespace's authorization rules; a request needs a token of one with `Manage`.
    pub keys: Vec<SasKey>,
    /// The namespace's name (in `author` and the namespace properties).
    pub name: String,
    /// When the broker started (creation time of the queues it declares).
    pub started: DateTime<Utc>,
}

/// The administration API over TLS, ready for the connections the AMQP listener hands over.
#[derive(Debug, Clone)]
pub struct Https {
    tls: Tls,
    router: axum::Router,
}

impl Https {
    /// Serve `admin` with `tls`.
    pub fn new(admin: Admin, tls: Tls) -> Self {
        Self {
            tls,
            router: routes::router(admin),
        }
    }

    /// Whether a connection that opened with `first` is a TLS client (a handshake record).
    pub fn is_tls(first: u8) -> bool {
        first == 0x16
    }

    /// The authority certificate clients trust.
    pub fn ca_file(&self) -> &std::path::Path {
        &self.tls.ca_file
    }

    /// Serve one TLS connection.
    pub async fn serve(&self, stream: TcpStream) {
        let peer = stream.peer_addr().ok();
        if let Err(e) = self.tls.serve(stream, self.router.clone()).await {
            tracing::info!(?peer, error = %e, "administration API connection ended");
        }
    }
}
