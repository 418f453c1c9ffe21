//! How requests are authorized: a Microsoft Entra ID bearer token from an `azure_identity`
//! credential (`ManagedIdentityCredential` in Azure, `DeveloperToolsCredential` on a workstation),
//! or nothing, for a loopback stand-in.
//!
//! The token is requested per call; the credentials cache it until shortly before it expires.
//! (`azure_core`'s own bearer policy would refuse the stand-in's `http://` URL, hence this small
//! wrapper.)

use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};

use crate::ServiceBusError;

/// The Entra ID scope of the Service Bus data plane.
pub const SCOPE: &str = "https://servicebus.azure.net/.default";

/// How requests are authorized.
#[derive(Debug, Clone)]
pub enum Auth {
    /// A bearer token from this credential.
    Entra(Arc<dyn TokenCredential>),
    /// No `Authorization` header (a loopback stand-in only).
    None,
}

impl Auth {
    /// The app's managed identity: system-assigned, or the user-assigned one with `client_id`.
    pub fn managed_identity(client_id: Option<String>) -> Result<Self, ServiceBusError> {
        let options = ManagedIdentityCredentialOptions {
            user_assigned_id: client_id.map(UserAssignedId::ClientId),
            ..ManagedIdentityCredentialOptions::default()
        };
        let credential = ManagedIdentityCredential::new(Some(options))
            .map_err(|e| ServiceBusError::Credential(e.to_string()))?;
        Ok(Self::Entra(credential))
    }

    /// The developer's own sign-in (Azure CLI, then Azure Developer CLI).
    pub fn developer_tools() -> Result<Self, ServiceBusError> {
        let credential = DeveloperToolsCredential::new(None)
            .map_err(|e| ServiceBusError::Credential(e.to_string()))?;
        Ok(Self::Entra(credential))
    }

    /// The `Authorization` header value, if any.
    pub async fn authorization(&self) -> Result<Option<String>, ServiceBusError> {
        match self {
            Self::None => Ok(None),
            Self::Entra(credential) => {
                let token = credential
                    .get_token(&[SCOPE], None)
                    .await
                    .map_err(|e| ServiceBusError::Credential(e.to_string()))?;
                Ok(Some(format!("Bearer {}", token.token.secret())))
            }
        }
    }
}
