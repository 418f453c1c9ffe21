//! The Service Bus namespace the handler itself talks to (besides the bindings, which the host
//! owns): backpressure reads the queue depth there and backoff mode sends rescheduled copies
//! there. Which endpoint, which queue, and which credential authorizes the calls.

use servicebus::{Auth, ServiceBusClient, ServiceBusError};

/// Where the handler's own Service Bus calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBusTarget {
    /// Namespace endpoint: `SERVICEBUS_ENDPOINT`, else `https://` +
    /// `ServiceBusConnection__fullyQualifiedNamespace`.
    pub endpoint: String,
    /// `SERVICEBUS_QUEUE` (default `jobs`).
    pub queue: String,
    /// How requests are authorized.
    pub credential: CredentialKind,
}

/// Which credential authorizes the handler's Service Bus calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialKind {
    /// None: a plain-`http` loopback endpoint (the devhost).
    None,
    /// The app's managed identity (in Azure: `IDENTITY_ENDPOINT` is set); user-assigned when
    /// `ServiceBusConnection__clientId` is set.
    ManagedIdentity {
        /// Client id of a user-assigned identity.
        client_id: Option<String>,
    },
    /// Azure CLI / Azure Developer CLI sign-in (a workstation).
    DeveloperTools,
}

impl CredentialKind {
    /// The credential for `endpoint`: none over plain `http` (loopback only; the client refuses
    /// anything else), the managed identity where Azure provides one, else the developer's
    /// sign-in.
    pub fn choose(endpoint: &str, identity_endpoint: bool, client_id: Option<String>) -> Self {
        if endpoint.starts_with("http://") {
            Self::None
        } else if identity_endpoint {
            Self::ManagedIdentity { client_id }
        } else {
            Self::DeveloperTools
        }
    }
}

impl ServiceBusTarget {
    /// A REST client for the target's namespace.
    pub fn client(&self) -> Result<ServiceBusClient, ServiceBusError> {
        let auth = match &self.credential {
            CredentialKind::None => Auth::None,
            CredentialKind::ManagedIdentity { client_id } => {
                Auth::managed_identity(client_id.clone())?
            }
            CredentialKind::DeveloperTools => Auth::developer_tools()?,
        };
        ServiceBusClient::new(&self.endpoint, auth)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_follows_the_endpoint_and_the_environment() {
        assert_eq!(
            CredentialKind::choose("http://127.0.0.1:1/servicebus", true, None),
            CredentialKind::None
        );
        assert_eq!(
            CredentialKind::choose("https://sb.servicebus.windows.net", true, Some("c".into())),
            CredentialKind::ManagedIdentity {
                client_id: Some("c".into())
            }
        );
        assert_eq!(
            CredentialKind::choose("https://sb.servicebus.windows.net", false, None),
            CredentialKind::DeveloperTools
        );
    }
}
