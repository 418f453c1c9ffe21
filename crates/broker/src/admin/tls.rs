//! TLS for the administration API: the SDKs' administration clients always speak `https` to the
//! connection string's host and port, `UseDevelopmentEmulator=true` or not (azure-servicebus
//! `management/_generated/_client.py`: `_endpoint = "https://{endpoint}"`; `@azure/service-bus`
//! `serviceBusAtomManagementClient.js` `getUrl`: `https://${this.endpoint}/${path}`), so the
//! broker answers them with a certificate of its own.
//!
//! A local certificate authority (its key kept in the data directory, so what a user trusted
//! stays valid across restarts) issues, at each start, a server certificate for `127.0.0.1`,
//! `::1` and `localhost`. Clients trust the authority's certificate, `admin-cert.pem`:
//! `REQUESTS_CA_BUNDLE` or `connection_verify=` for Python, `NODE_EXTRA_CA_CERTS` for Node.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// Why the certificate or the TLS configuration could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file of the authority could not be read or written.
    #[error("administration API certificate: cannot use {path}: {source}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Generating or reading a key or certificate failed.
    #[error("administration API certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the certificate.
    #[error("administration API TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// What serves TLS for the administration API.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
    /// The authority's certificate (PEM) clients trust.
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::File {
        path: path.to_owned(),
        source,
    }
}

fn ca_params() -> Result<rcgen::CertificateParams, rcgen::Error> {
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "devhost local Service Bus CA");
    ca.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    Ok(ca)
}

impl Tls {
    /// The authority in `dir` (made on first use: `admin-cert.pem`, `admin-key.pem`) and a
    /// fresh server certificate it signs.
    pub fn load_or_create(dir: &Path) -> Result<Self, TlsError> {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let (ca_file, key_file) = (dir.join("admin-cert.pem"), dir.join("admin-key.pem"));
        let ca_key = match std::fs::read_to_string(&key_file) {
            Ok(pem) if ca_file.exists() => rcgen::KeyPair::from_pem(&pem)?,
            _ => {
                let key = rcgen::KeyPair::generate()?;
                let cert = ca_params()?.self_signed(&key)?;
                write_private(&key_file, &key.serialize_pem())?;
                std::fs::write(&ca_file, cert.pem()).map_err(io(&ca_file))?;
                key
            }
        };
        let issuer = rcgen::Issuer::new(ca_params()?, ca_key);
        let leaf_key = rcgen::KeyPair::generate()?;
        let mut leaf = rcgen::CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])?;
        leaf.distinguished_name
            .push(rcgen::DnType::CommonName, "devhost local Service Bus");
        let leaf = leaf.signed_by(&leaf_key, &issuer)?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_file,
        })
    }

    /// Serve one connection (whose first byte was a TLS handshake) with `router`, HTTP/1.1.
    pub async fn serve(&self, stream: TcpStream, router: axum::Router) -> Result<(), BoxError> {
        let tls = self.acceptor.accept(stream).await?;
        let service = hyper_util::service::TowerToHyperService::new(router);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
            .await?;
        Ok(())
    }
}

/// What ends a served connection.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn write_private(path: &Path, text: &str) -> Result<(), TlsError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(io(path))?;
    std::io::Write::write_all(&mut file, text.as_bytes()).map_err(io(path))
}
