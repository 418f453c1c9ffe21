//! Entra ID telemetry ingestion through the real exporter pipeline: a loopback ingestion endpoint
//! (HTTPS with a test CA, or plain HTTP like the devhost's) records every track request's path and
//! headers; a test credential (azure_core's `TokenCredential`) hands out a known token and counts
//! its calls.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use azure_core::credentials::{AccessToken, TokenCredential, TokenRequestOptions};
use handler::telemetry::{
    ConnectionString, Ingestion, IngestionAuth, IngestionClient, Telemetry, TelemetryConfig,
};
use opentelemetry_http::{Bytes, HttpClient, Request};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

const TOKEN: &str = "test-token-7f3a";

/// A credential that answers one fixed token and records the scopes it was asked for.
#[derive(Debug, Default)]
struct TestCredential {
    calls: AtomicUsize,
    scopes: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl TokenCredential for TestCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
        _options: Option<TokenRequestOptions<'_>>,
    ) -> azure_core::Result<AccessToken> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.scopes
            .lock()
            .unwrap()
            .extend(scopes.iter().map(|s| (*s).to_owned()));
        let expires =
            azure_core::time::OffsetDateTime::now_utc() + azure_core::time::Duration::hours(1);
        Ok(AccessToken::new(TOKEN, expires))
    }
}

/// One recorded request: path and headers (names lower-cased).
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Answer HTTP/1.1 requests on one connection (keep-alive) like Breeze does: 200 with a
/// track response.
fn serve(stream: impl Read + Write, log: &Log) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((n, v)) = h.split_once(':') {
                headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        log.lock().unwrap().push(Seen { path, headers });
        let answer = r#"{"itemsReceived":1,"itemsAccepted":1,"errors":[]}"#;
        let response = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if reader.get_mut().write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A loopback ingestion endpoint; `tls` gives it a certificate for 127.0.0.1 from a test CA.
/// Answers the endpoint URL, the request log, and (for TLS) the CA to trust.
fn ingestion_endpoint(tls: bool) -> (String, Log, Option<reqwest::Certificate>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log: Log = Arc::default();
    let (config, ca) = if tls {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(leaf.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            )
            .unwrap();
        let ca = reqwest::Certificate::from_der(ca_cert.der()).unwrap();
        (Some(Arc::new(config)), Some(ca))
    } else {
        (None, None)
    };
    let server_log = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let (log, config) = (server_log.clone(), config.clone());
            std::thread::spawn(move || match config {
                Some(config) => {
                    let conn = rustls::ServerConnection::new(config).unwrap();
                    serve(rustls::StreamOwned::new(conn, stream), &log);
                }
                None => serve(stream, &log),
            });
        }
    });
    let scheme = if tls { "https" } else { "http" };
    (format!("{scheme}://127.0.0.1:{port}"), log, ca)
}

fn config(endpoint: &str, authentication: Option<IngestionAuth>) -> TelemetryConfig {
    let cs = format!(
        "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint={endpoint}/"
    );
    TelemetryConfig {
        connection: Some(ConnectionString::parse(&cs).unwrap()),
        role_name: "func-test".to_owned(),
        role_instance: None,
        metric_interval: Duration::from_secs(3600),
        authentication,
    }
}

fn entra() -> Option<IngestionAuth> {
    Some(IngestionAuth::parse("Authorization=AAD", true).unwrap())
}

/// Record one metric and flush it: one track request.
fn export_once(telemetry: &Telemetry) {
    telemetry
        .instruments()
        .metrics()
        .ingestion_start("report", 1);
    telemetry.shutdown(Duration::from_secs(10));
}

fn http_client(ca: Option<reqwest::Certificate>) -> reqwest::blocking::Client {
    let mut builder = reqwest::blocking::Client::builder().timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        builder = builder.add_root_certificate(ca);
    }
    builder.build().unwrap()
}

/// Telemetry initialised against a fresh ingestion endpoint (`tls` or plain http) with
/// `authentication` and a credential that records its calls, then one export: the ingestion mode
/// chosen, the requests the endpoint saw, and the credential.
fn export_through(
    tls: bool,
    authentication: Option<IngestionAuth>,
) -> (Ingestion, Vec<Seen>, Arc<TestCredential>) {
    let (endpoint, log, ca) = ingestion_endpoint(tls);
    let credential = Arc::new(TestCredential::default());
    let config = config(&endpoint, authentication);
    let telemetry =
        Telemetry::init_with(&config, http_client(ca), Some(credential.clone())).unwrap();
    let ingestion = telemetry.ingestion();
    export_once(&telemetry);
    let seen = log.lock().unwrap().clone();
    (ingestion, seen, credential)
}

#[test]
fn an_entra_token_reaches_an_https_endpoint_as_a_bearer_header_on_v2_1_track() {
    let (ingestion, seen, credential) = export_through(true, entra());
    assert_eq!(ingestion, Ingestion::EntraId);
    assert!(!seen.is_empty(), "no track request arrived");
    for request in &seen {
        assert_eq!(request.path, "/v2.1/track", "v2/track refuses Entra ID");
        assert_eq!(
            request.header("authorization"),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(request.header("content-encoding"), Some("gzip"));
    }
    assert!(credential.calls.load(Ordering::SeqCst) >= 1);
    let scopes = credential.scopes.lock().unwrap().clone();
    assert!(
        scopes
            .iter()
            .all(|s| s == "https://monitor.azure.com//.default"),
        "{scopes:?}"
    );
}

#[test]
fn a_sovereign_audience_from_the_connection_string_sets_the_scope() {
    let (endpoint, log, ca) = ingestion_endpoint(true);
    let credential = Arc::new(TestCredential::default());
    let mut config = config(&endpoint, entra());
    config.connection = Some(
        ConnectionString::parse(&format!(
            "InstrumentationKey=k;IngestionEndpoint={endpoint}/;AADAudience=https://monitor.azure.us/"
        ))
        .unwrap(),
    );
    let telemetry =
        Telemetry::init_with(&config, http_client(ca), Some(credential.clone())).unwrap();
    export_once(&telemetry);
    assert!(!log.lock().unwrap().is_empty());
    let scopes = credential.scopes.lock().unwrap().clone();
    assert_eq!(
        scopes.first().map(String::as_str),
        Some("https://monitor.azure.us//.default")
    );
}

#[test]
fn plain_http_gets_telemetry_but_never_the_token() {
    // The devhost's loopback capture: http, no token wanted. Even with the authentication string
    // set, the handler exports without a token (and logs why) instead of leaking it.
    let (ingestion, seen, credential) = export_through(false, entra());
    assert_eq!(ingestion, Ingestion::Key);
    assert!(
        !seen.is_empty(),
        "the loopback capture still gets telemetry"
    );
    for request in &seen {
        assert_eq!(request.path, "/v2/track");
        assert_eq!(
            request.header("authorization"),
            None,
            "a token went over http"
        );
    }
    assert_eq!(
        credential.calls.load(Ordering::SeqCst),
        0,
        "no token was even fetched"
    );
}

#[test]
fn without_the_authentication_string_no_token_is_sent_over_https_either() {
    let (ingestion, seen, credential) = export_through(true, None);
    assert_eq!(ingestion, Ingestion::Key);
    assert!(!seen.is_empty());
    assert!(seen.iter().all(|r| r.header("authorization").is_none()));
    assert_eq!(credential.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn the_client_refuses_to_put_a_token_on_an_http_request() {
    let (endpoint, log, _) = ingestion_endpoint(false);
    let credential = Arc::new(TestCredential::default());
    let client = IngestionClient::entra(
        http_client(None),
        credential.clone(),
        "https://monitor.azure.com//.default".to_owned(),
    )
    .unwrap();
    let request = Request::post(format!("{endpoint}/v2/track"))
        .body(Bytes::from_static(b"[]"))
        .unwrap();
    let error = futures_executor::block_on(client.send_bytes(request)).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("refusing to send a Microsoft Entra token over plain http"),
        "{error}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        log.lock().unwrap().is_empty(),
        "the request must not be sent at all"
    );
    assert_eq!(credential.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn a_bad_authentication_string_stops_start_up_naming_it() {
    let (mut cmd, _) = common::command(&[(
        "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
        "Authorization=Basic",
    )]);
    let out = cmd.output().expect("handler runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("APPLICATIONINSIGHTS_AUTHENTICATION_STRING") && stderr.contains("only AAD"),
        "{stderr}"
    );
}
