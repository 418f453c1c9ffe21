//! Application Insights connection strings.

use thiserror::Error;

/// Where the ingestion endpoint is when a connection string names none.
pub const DEFAULT_INGESTION_ENDPOINT: &str = "https://dc.services.visualstudio.com";

/// The parts of `APPLICATIONINSIGHTS_CONNECTION_STRING` the exporter needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionString {
    /// `InstrumentationKey`.
    pub instrumentation_key: String,
    /// `IngestionEndpoint`, without a trailing slash. Kept exactly as given, `http://` included, so
    /// a loopback endpoint (the devhost's) works; the exporter appends `/v2/track`.
    pub ingestion_endpoint: String,
    /// `AADAudience`: the Entra ID token audience for ingestion, given in sovereign clouds'
    /// connection strings ("Microsoft Entra authentication for Application Insights", Token
    /// audience); `None` means the public cloud's.
    pub aad_audience: Option<String>,
    raw: String,
}

/// A connection string the handler cannot use.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConnectionStringError {
    /// A `;`-separated part (1-based position; its text is not echoed) is not `Key=Value`.
    #[error("part {0} is not Key=Value")]
    BadPart(usize),
    /// `InstrumentationKey` is missing or empty.
    #[error("InstrumentationKey is missing")]
    MissingKey,
    /// `IngestionEndpoint` is not an http(s) URL.
    #[error("IngestionEndpoint {0:?} is not an http(s) URL")]
    BadEndpoint(String),
}

impl ConnectionString {
    /// Parse `Key=Value;Key=Value` (keys case-insensitive, unknown keys ignored).
    pub fn parse(text: &str) -> Result<Self, ConnectionStringError> {
        let mut key = None;
        let mut endpoint = None;
        let mut aad_audience = None;
        for part in key_values(text) {
            let (k, v) = part.map_err(ConnectionStringError::BadPart)?;
            match k.as_str() {
                "instrumentationkey" => key = Some(v.to_owned()),
                "ingestionendpoint" => endpoint = Some(v.trim_end_matches('/').to_owned()),
                "aadaudience" => aad_audience = Some(v.to_owned()).filter(|a| !a.is_empty()),
                _ => {}
            }
        }
        let instrumentation_key = key
            .filter(|k| !k.is_empty())
            .ok_or(ConnectionStringError::MissingKey)?;
        let ingestion_endpoint = endpoint.unwrap_or_else(|| DEFAULT_INGESTION_ENDPOINT.to_owned());
        let scheme_ok =
            ingestion_endpoint.starts_with("https://") || ingestion_endpoint.starts_with("http://");
        if !scheme_ok || ingestion_endpoint.len() <= "https://".len() {
            return Err(ConnectionStringError::BadEndpoint(ingestion_endpoint));
        }
        Ok(Self {
            instrumentation_key,
            ingestion_endpoint,
            aad_audience,
            raw: text.trim().to_owned(),
        })
    }

    /// The connection string as given.
    pub fn raw(&self) -> &str {
        &self.raw
    }
}

/// The parts of a `Key=Value;Key=Value` string (empty parts skipped), each key in lower case and
/// both sides trimmed; `Err(n)` for part `n` (1-based) that is not `Key=Value`.
pub(super) fn key_values(text: &str) -> impl Iterator<Item = Result<(String, &str), usize>> {
    let parts = text.split(';').map(str::trim).filter(|p| !p.is_empty());
    parts.enumerate().map(|(i, part)| {
        let (k, v) = part.split_once('=').ok_or(i + 1)?;
        Ok((k.trim().to_ascii_lowercase(), v.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_azure_and_loopback_forms() {
        let azure = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://westeurope.livediagnostics.monitor.azure.com/;ApplicationId=x";
        let cs = ConnectionString::parse(azure).unwrap();
        assert_eq!(
            cs.ingestion_endpoint,
            "https://westeurope-5.in.applicationinsights.azure.com"
        );
        let local = ConnectionString::parse(
            "instrumentationkey=k; IngestionEndpoint=http://127.0.0.1:7071/",
        )
        .unwrap();
        assert_eq!(
            (
                cs.instrumentation_key.len(),
                local.ingestion_endpoint.as_str()
            ),
            (36, "http://127.0.0.1:7071")
        );
        assert_eq!(
            ConnectionString::parse("InstrumentationKey=k")
                .unwrap()
                .ingestion_endpoint,
            DEFAULT_INGESTION_ENDPOINT
        );
        assert_eq!(cs.aad_audience, None);
        let gov = ConnectionString::parse(
            "InstrumentationKey=k;IngestionEndpoint=https://usgovvirginia-1.in.applicationinsights.azure.us/;AADAudience=https://monitor.azure.us/",
        )
        .unwrap();
        assert_eq!(
            gov.aad_audience.as_deref(),
            Some("https://monitor.azure.us/")
        );
    }

    #[test]
    fn rejects_unusable_strings() {
        assert_eq!(
            ConnectionString::parse("IngestionEndpoint=https://x"),
            Err(ConnectionStringError::MissingKey)
        );
        assert!(matches!(
            ConnectionString::parse("garbage"),
            Err(ConnectionStringError::BadPart(_))
        ));
        assert!(matches!(
            ConnectionString::parse("InstrumentationKey=k;IngestionEndpoint=ftp://x"),
            Err(ConnectionStringError::BadEndpoint(_))
        ));
    }
}
