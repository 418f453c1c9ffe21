//! Where jobctl connects and how it authorizes: a URL (`https://ns.servicebus.windows.net`, or
//! the devhost's `http://127.0.0.1:7071/servicebus`) or a bare namespace (`ns`, or
//! `ns.servicebus.windows.net`). Plain `http://` gets no token (loopback only); otherwise the
//! managed identity when `IDENTITY_ENDPOINT` is set (in Azure), else the Azure CLI / Azure
//! Developer CLI sign-in.

use servicebus::{Auth, ServiceBusClient};

use crate::error::CliError;

/// The namespace URL for `--endpoint`.
pub fn resolve(endpoint: &str) -> Result<String, CliError> {
    let endpoint = endpoint.trim().trim_end_matches('/');
    if endpoint.is_empty() {
        return Err(CliError::Usage(
            "--endpoint is empty: give a namespace (mybus) or a URL".into(),
        ));
    }
    if endpoint.contains("://") {
        return Ok(endpoint.to_owned());
    }
    let valid = endpoint
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid {
        return Err(CliError::Usage(format!(
            "--endpoint {endpoint:?} is neither a URL nor a namespace name"
        )));
    }
    if endpoint.contains('.') {
        Ok(format!("https://{endpoint}"))
    } else {
        Ok(format!("https://{endpoint}.servicebus.windows.net"))
    }
}

/// A client for `endpoint` with the matching credential.
pub fn client(endpoint: &str) -> Result<ServiceBusClient, CliError> {
    let url = resolve(endpoint)?;
    let auth = if url.starts_with("http://") {
        Auth::None
    } else if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
        Auth::managed_identity(std::env::var("AZURE_CLIENT_ID").ok())?
    } else {
        Auth::developer_tools()?
    };
    Ok(ServiceBusClient::new(&url, auth)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_become_urls() {
        assert_eq!(
            resolve("mybus").unwrap(),
            "https://mybus.servicebus.windows.net"
        );
        assert_eq!(
            resolve("mybus.servicebus.windows.net/").unwrap(),
            "https://mybus.servicebus.windows.net"
        );
        assert_eq!(
            resolve("http://127.0.0.1:7071/servicebus/").unwrap(),
            "http://127.0.0.1:7071/servicebus"
        );
        assert!(matches!(resolve(" "), Err(CliError::Usage(_))));
        assert!(matches!(resolve("my bus"), Err(CliError::Usage(_))));
    }
}
