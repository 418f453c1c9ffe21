//! The function app as the host sees it, read from a script root laid out like the real host's:
//! [`host_json`], every [`function_json`], and `local.settings.json` (its `Values` become the
//! handler's environment). Durations are parsed in [`duration`].
//!
//! A malformed file stops start-up with an error naming the file and the field.

pub mod connection;
pub mod duration;
pub mod function_json;
pub mod host_json;
mod host_keys;
pub mod http_options;
pub mod sb_config;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

pub use duration::{parse_duration, parse_timespan};
pub use function_json::{AuthLevel, Binding, Function};
pub use host_json::{HandlerProcess, ServiceBusOptions};

/// A configuration error, naming the file and the field at fault.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not JSON.
    #[error("{path}: not valid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A field is missing or has the wrong shape.
    #[error("{path}: field `{field}`: {problem}")]
    Field {
        /// The file.
        path: PathBuf,
        /// JSON path of the field, e.g. `customHandler.description.defaultExecutablePath`.
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// Everything the devhost reads from a script root.
#[derive(Debug, Clone)]
pub struct App {
    /// The script root.
    pub root: PathBuf,
    /// The handler process.
    pub handler: HandlerProcess,
    /// Functions, sorted by name.
    pub functions: Vec<Function>,
    /// Service Bus options.
    pub service_bus: ServiceBusOptions,
    /// `functionTimeout` (default 5 minutes).
    pub function_timeout: Duration,
    /// `extensions.http.routePrefix` (default `api`).
    pub route_prefix: String,
    /// `customHandler.enableForwardingHttpRequest`: HTTP-only functions get the raw request.
    pub forward_http: bool,
    /// `extensions.http` throttles and custom headers.
    pub http: http_options::HttpOptions,
    /// The app settings as `func start` makes them: `local.settings.json` `Values`, where the
    /// devhost's own environment does not already set the name ([`shell_wins`]). Passed to the
    /// handler as environment.
    pub settings: BTreeMap<String, String>,
}

impl App {
    /// Load a script root.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let root = &std::fs::canonicalize(root).map_err(|source| ConfigError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let settings = shell_wins(load_settings(&root.join("local.settings.json"))?, |k| {
            std::env::var(k).ok()
        });
        let host = host_json::load(root, &settings)?;
        let functions = function_json::load_all(root, &settings)?;
        warn_if_func_start_needs_storage(&functions, &settings);
        Ok(Self {
            root: root.to_path_buf(),
            handler: host.handler,
            functions,
            service_bus: host.service_bus,
            function_timeout: host.function_timeout,
            route_prefix: host.route_prefix,
            forward_http: host.forward_http,
            http: host.http,
            settings,
        })
    }

    /// Every queue a function binds (trigger or output), sorted, each once.
    pub fn queues(&self) -> Vec<String> {
        self.functions
            .iter()
            .flat_map(|f| {
                f.service_bus_trigger()
                    .map(|(_, q)| q.to_owned())
                    .into_iter()
                    .chain(f.service_bus_outputs().map(|(_, q)| q.to_owned()))
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// The functions with an HTTP trigger, in name order.
    pub fn http_triggered(&self) -> impl Iterator<Item = &Function> {
        self.functions.iter().filter(|f| f.http_trigger().is_some())
    }

    /// The functions with a Service Bus trigger, in name order.
    pub fn queue_triggered(&self) -> impl Iterator<Item = &Function> {
        self.functions
            .iter()
            .filter(|f| f.service_bus_trigger().is_some())
    }
}

/// `CT src/Cli/func/Actions/HostActions/StartHostAction.UpdateEnvironmentVariables` (Azure
/// Functions Core Tools @3ee97a63): a `Values` entry is put into the environment only when the
/// environment does not already hold a non-empty value for it ("Skipping 'X' from local settings as
/// it's already defined in current environment variables."); an empty entry is set as an empty
/// variable (`EnvironmentNativeMethods.SetEnvironmentVariable`), so it exists, with no value.
pub fn shell_wins(
    values: BTreeMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in values {
        match env(&k).filter(|e| !e.is_empty()) {
            Some(shell) => {
                tracing::warn!(
                    "Skipping '{k}' from local settings as it's already defined in current environment variables."
                );
                out.insert(k, shell);
            }
            None => {
                out.insert(k, v);
            }
        }
    }
    out
}

/// `CT src/Cli/func/Actions/HostActions/StartHostAction.CheckNonOptionalSettings`: `func start`
/// refuses to start when `AzureWebJobsStorage` is blank (and no `AzureWebJobsStorage__...`
/// section exists) while a trigger other than `httpTrigger` (or Kafka, RabbitMQ, ...) is present.
/// The devhost needs no storage, so it only warns, with Core Tools' words.
fn warn_if_func_start_needs_storage(functions: &[Function], settings: &BTreeMap<String, String>) {
    let needs_storage = functions.iter().any(|f| f.service_bus_trigger().is_some());
    let has_storage = settings
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .chain(std::env::vars())
        .any(|(k, v)| {
            let k = k.replace("__", ":").to_ascii_lowercase();
            (k == "azurewebjobsstorage" && !v.trim().is_empty())
                || k.starts_with("azurewebjobsstorage:")
        });
    if needs_storage && !has_storage {
        tracing::warn!(
            "Missing value for AzureWebJobsStorage in local.settings.json. This is required for all triggers other than httptrigger, kafkatrigger, rabbitmqtrigger (and a few more). `func start` refuses to start without it; the devhost needs no storage and carries on (see docs/PARITY.md)"
        );
    }
}

fn load_settings(path: &Path) -> Result<BTreeMap<String, String>, ConfigError> {
    if !path.is_file() {
        return Ok(BTreeMap::new());
    }
    let json = read_json(path)?;
    let Some(values) = json.get("Values") else {
        return Ok(BTreeMap::new());
    };
    let values = values.as_object().ok_or_else(|| ConfigError::Field {
        path: path.to_path_buf(),
        field: "Values".into(),
        problem: "must be an object of strings".into(),
    })?;
    let mut out = BTreeMap::new();
    for (k, v) in values {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            // Core Tools reads `Values` as strings with Newtonsoft, which writes a bool as .NET does.
            Value::Bool(b) => if *b { "True" } else { "False" }.to_owned(),
            _ => {
                return Err(ConfigError::Field {
                    path: path.to_path_buf(),
                    field: format!("Values.{k}"),
                    problem: "must be a string".into(),
                });
            }
        };
        out.insert(k.clone(), text);
    }
    Ok(out)
}

fn read_json(path: &Path) -> Result<Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| ConfigError::Json {
        path: path.to_path_buf(),
        source,
    })
}

/// Expand `%SETTING%` from the app settings, then the process environment; unknown names stay.
pub fn expand(text: &str, settings: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else { break };
        let name = &after[..end];
        let value = settings
            .get(name)
            .cloned()
            .or_else(|| std::env::var(name).ok());
        out.push_str(&rest[..start]);
        match value {
            Some(v) if !name.is_empty() => out.push_str(&v),
            _ => out.push_str(&rest[start..start + end + 2]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
