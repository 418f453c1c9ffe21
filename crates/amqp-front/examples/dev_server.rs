//! Development only: serve the AMQP front end over the in-memory backend with the queues named
//! on the command line, and print the connection string. `RUST_LOG=amqp_front=trace` shows
//! every frame. Usage: `cargo run -p amqp-front --example dev_server -- [PORT] [QUEUE...]`.

#![allow(missing_docs)]

use std::sync::Arc;
use std::time::Duration;

use amqp_front::memory::MemoryBackend;
use amqp_front::{Config, QueueProperties, SasKey, Server, connection_string};

#[tokio::main]
async fn main() -> std::io::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(5672);
    let mut queues: Vec<String> = args.collect();
    if queues.is_empty() {
        queues.push("jobs".into());
    }
    let backend = Arc::new(MemoryBackend::new());
    for name in queues {
        backend.add_queue(QueueProperties {
            name,
            lock_duration: Duration::from_secs(60),
            max_delivery_count: 10,
            default_message_time_to_live: Duration::from_secs(14 * 24 * 3600),
            dead_lettering_on_message_expiration: false,
            requires_session: false,
            max_message_size_kb: 256,
        });
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let config = Config {
        sas: SasKey {
            name: "RootManageSharedAccessKey".into(),
            key: "SAS_KEY_VALUE".into(),
        },
        container_id: "amqp-front-dev".into(),
    };
    println!("{}", connection_string(listener.local_addr()?, &config));
    let _server = Server::start(listener, backend, config)?;
    tokio::signal::ctrl_c().await
}
