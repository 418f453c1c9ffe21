//! The Service Bus bindings' `connection` setting, resolved as the Service Bus extension 5.x does
//! (`Azure/azure-sdk-for-net` `sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/`):
//!
//! * `Config/ServiceBusClientFactory.ResolveConnectionInformation`: the name defaults to
//!   `ServiceBus` (`Constants.DefaultConnectionStringName`); a section that does not exist is
//!   "Service Bus account connection string '<name>' does not exist. Make sure that it is a
//!   defined App Setting."; a non-blank value is a connection string; otherwise the section's
//!   `fullyQualifiedNamespace` child (an identity-based connection, the app setting
//!   `<name>__fullyQualifiedNamespace`), and without one "Connection should have an
//!   'fullyQualifiedNamespace' property or be a string representing a connection string.".
//! * `Config/ConfigurationExtensions.GetWebJobsConnectionStringSectionServiceBus`: `<name>` first,
//!   then `AzureWebJobs<name>` (so the default also finds `AzureWebJobsServiceBus`); each through
//!   `GetConnectionStringOrSetting`: `ConnectionStrings:<name>`, then `<name>`.
//!
//! Configuration keys ignore case and `__` is the section separator `:` (the .NET configuration's
//! environment provider). The value itself is not used: the devhost's local Service Bus serves
//! every binding.

use std::collections::BTreeMap;

/// How a binding's `connection` resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    /// A connection string, in the setting named.
    ConnectionString {
        /// The configuration key it was found under.
        setting: String,
        /// Its `Endpoint` (`sb://<namespace>/`), empty when it has none.
        endpoint: String,
    },
    /// An identity-based connection to a namespace.
    Identity {
        /// The configuration section it was found under.
        setting: String,
        /// `fullyQualifiedNamespace`.
        namespace: String,
    },
}

impl Connection {
    /// The namespace endpoint, `sb://<namespace>/` (what Application Insights puts in a Service Bus
    /// dependency's target).
    pub fn endpoint(&self) -> String {
        match self {
            Self::ConnectionString { endpoint, .. } => endpoint.clone(),
            Self::Identity { namespace, .. } => format!("sb://{namespace}/"),
        }
    }
}

impl std::fmt::Display for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ConnectionString { setting, .. } => write!(f, "connection string in {setting}"),
            Self::Identity { setting, namespace } => {
                write!(f, "identity connection {setting} to {namespace}")
            }
        }
    }
}

/// Resolve `connection` (already `%setting%`-expanded; `None` when the binding names none) against
/// the app settings and the process environment, with the extension's messages.
pub fn resolve(
    connection: Option<&str>,
    settings: &BTreeMap<String, String>,
) -> Result<Connection, String> {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    resolve_in(connection, settings, &env)
}

fn resolve_in(
    connection: Option<&str>,
    settings: &BTreeMap<String, String>,
    env: &BTreeMap<String, String>,
) -> Result<Connection, String> {
    let name = connection.unwrap_or("ServiceBus");
    // The settings are the environment `func start` builds; the rest of the process environment
    // is configuration too.
    let keys: Vec<(String, &String)> = settings
        .iter()
        .chain(env.iter().filter(|(k, _)| !settings.contains_key(*k)))
        .map(|(k, v)| (k.replace("__", ":").to_ascii_lowercase(), v))
        .collect();
    let section = |key: &str| -> Option<Section<'_>> {
        let key = key.to_ascii_lowercase();
        let child = format!("{key}:");
        let value = keys
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str());
        let children: Vec<(&str, &str)> = keys
            .iter()
            .filter_map(|(k, v)| k.strip_prefix(&child).map(|c| (c, v.as_str())))
            .collect();
        (value.is_some() || !children.is_empty()).then_some(Section {
            key: key.clone(),
            value,
            children,
        })
    };
    let or_setting =
        |key: &str| section(&format!("ConnectionStrings:{key}")).or_else(|| section(key));
    let found = or_setting(name).or_else(|| or_setting(&format!("AzureWebJobs{name}")));
    let Some(found) = found else {
        return Err(format!(
            "Service Bus account connection string '{name}' does not exist. Make sure that it is a defined App Setting."
        ));
    };
    if let Some(value) = found.value.filter(|v| !v.trim().is_empty()) {
        let endpoint = value
            .split(';')
            .find_map(|part| {
                let (k, v) = part.split_once('=')?;
                k.trim().eq_ignore_ascii_case("Endpoint").then(|| {
                    let v = v.trim();
                    if v.ends_with('/') {
                        v.to_owned()
                    } else {
                        format!("{v}/")
                    }
                })
            })
            .unwrap_or_default();
        return Ok(Connection::ConnectionString {
            setting: found.key.replace(':', "__"),
            endpoint,
        });
    }
    match found
        .children
        .iter()
        .find(|(k, _)| *k == "fullyqualifiednamespace")
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
    {
        Some(namespace) => Ok(Connection::Identity {
            setting: found.key.replace(':', "__"),
            namespace: namespace.to_owned(),
        }),
        None => Err(
            "Connection should have an 'fullyQualifiedNamespace' property or be a string representing a connection string."
                .to_owned(),
        ),
    }
}

struct Section<'a> {
    key: String,
    value: Option<&'a str>,
    children: Vec<(&'a str, &'a str)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn resolves_as_the_extension_does() {
        let none = BTreeMap::new();
        let r = |c: Option<&str>, s: &[(&str, &str)]| resolve_in(c, &map(s), &none);
        assert!(matches!(
            r(Some("Sb"), &[("sb", "Endpoint=sb://x/")]),
            Ok(Connection::ConnectionString { .. })
        ));
        assert_eq!(
            r(
                Some("Sb"),
                &[("SB__fullyQualifiedNamespace", "ns.servicebus.windows.net")]
            ),
            Ok(Connection::Identity {
                setting: "sb".into(),
                namespace: "ns.servicebus.windows.net".into()
            })
        );
        // The default name, and the AzureWebJobs prefix.
        assert!(r(None, &[("AzureWebJobsServiceBus", "Endpoint=sb://x/")]).is_ok());
        assert!(
            r(
                Some("X"),
                &[("AzureWebJobsX__fullyQualifiedNamespace", "n")]
            )
            .is_ok()
        );
        assert!(r(Some("X"), &[("ConnectionStrings__X", "Endpoint=sb://x/")]).is_ok());
        let missing = r(Some("Sb"), &[("Other", "v")]).unwrap_err();
        assert_eq!(
            missing,
            "Service Bus account connection string 'Sb' does not exist. Make sure that it is a defined App Setting."
        );
        assert!(
            r(Some("Sb"), &[("Sb", " ")])
                .unwrap_err()
                .starts_with("Connection should have an 'fullyQualifiedNamespace' property")
        );
        assert!(r(Some("Sb"), &[("Sb__clientId", "c")]).is_err());
        // The environment counts too.
        let env = map(&[("Sb__fullyQualifiedNamespace", "n")]);
        assert!(resolve_in(Some("Sb"), &BTreeMap::new(), &env).is_ok());
    }
}
