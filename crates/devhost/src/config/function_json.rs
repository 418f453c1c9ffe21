//! `<Function>/function.json`: each function's bindings (the four kinds the devhost supports;
//! anything else is refused, naming the binding).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tracing::{info, warn};

use super::{ConfigError, read_json};

/// One binding from `function.json`.
#[derive(Debug, Clone, PartialEq)]
pub enum Binding {
    /// `httpTrigger` (in).
    HttpTrigger {
        /// Binding name.
        name: String,
        /// Allowed methods, upper case; empty means all.
        methods: Vec<String>,
        /// Route template; default the function name.
        route: Option<String>,
        /// `authLevel` (default `function`, as `HttpTriggerAttribute`).
        auth_level: AuthLevel,
    },
    /// `http` (out).
    HttpOut {
        /// Binding name.
        name: String,
    },
    /// `serviceBusTrigger` (in).
    ServiceBusTrigger {
        /// Binding name.
        name: String,
        /// Queue name.
        queue: String,
        /// The `connection`'s namespace endpoint (`sb://<namespace>/`; telemetry only).
        endpoint: String,
        /// `dataType: binary`: the body arrives as base64 of its bytes, not double-encoded text.
        binary: bool,
        /// `cardinality: many`: batches of messages per invocation.
        many: bool,
    },
    /// `serviceBus` (out).
    ServiceBusOut {
        /// Binding name.
        name: String,
        /// Queue name.
        queue: String,
        /// The `connection`'s namespace endpoint (`sb://<namespace>/`; telemetry only).
        endpoint: String,
    },
}

/// An HTTP trigger's `authLevel` (EXT `HttpTriggerAttribute.AuthLevel`, default `Function`): which
/// key a request needs when keys are enforced (`devhost start --enable-auth`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthLevel {
    /// No key.
    Anonymous,
    /// A function key (the host's or this function's) or the master key.
    Function,
    /// A system key or the master key.
    System,
    /// The master key.
    Admin,
    /// An App Service Authentication (EasyAuth) user: refused under `--enable-auth`.
    User,
}

impl AuthLevel {
    fn parse(text: Option<&str>) -> Result<Self, String> {
        match text.map(str::to_ascii_lowercase).as_deref() {
            None => Ok(Self::Function),
            Some("anonymous") => Ok(Self::Anonymous),
            Some("function") => Ok(Self::Function),
            Some("system") => Ok(Self::System),
            Some("admin") => Ok(Self::Admin),
            Some("user") => Ok(Self::User),
            Some(other) => Err(format!(
                "'{other}' is not an authorization level (anonymous, function, admin, system, user)"
            )),
        }
    }
}

/// A function: its folder name and bindings.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Folder name: also the handler route (`POST /{name}`).
    pub name: String,
    /// Bindings in file order.
    pub bindings: Vec<Binding>,
    /// Disabled by `AzureWebJobs.<Name>.Disabled`. Only an HTTP function is loaded disabled (its
    /// route answers 404 but to the Admin level); a disabled trigger of another kind is not loaded.
    pub disabled: bool,
}

impl Function {
    /// The HTTP trigger binding, if any.
    pub fn http_trigger(&self) -> Option<(&str, &[String], Option<&str>)> {
        self.bindings.iter().find_map(|b| match b {
            Binding::HttpTrigger {
                name,
                methods,
                route,
                ..
            } => Some((name.as_str(), methods.as_slice(), route.as_deref())),
            _ => None,
        })
    }

    /// The HTTP trigger's `authLevel`, if it has one.
    pub fn auth_level(&self) -> Option<AuthLevel> {
        self.bindings.iter().find_map(|b| match b {
            Binding::HttpTrigger { auth_level, .. } => Some(*auth_level),
            _ => None,
        })
    }

    /// The Service Bus trigger binding, if any: `(binding name, queue)`.
    pub fn service_bus_trigger(&self) -> Option<(&str, &str)> {
        self.bindings.iter().find_map(|b| match b {
            Binding::ServiceBusTrigger { name, queue, .. } => Some((name.as_str(), queue.as_str())),
            _ => None,
        })
    }

    /// Service Bus output bindings: `(binding name, queue)`.
    pub fn service_bus_outputs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bindings.iter().filter_map(|b| match b {
            Binding::ServiceBusOut { name, queue, .. } => Some((name.as_str(), queue.as_str())),
            _ => None,
        })
    }

    /// Whether the Service Bus trigger has `cardinality: many`.
    pub fn service_bus_batch(&self) -> bool {
        self.bindings
            .iter()
            .any(|b| matches!(b, Binding::ServiceBusTrigger { many: true, .. }))
    }

    /// Whether the Service Bus trigger has `dataType: binary`.
    pub fn service_bus_binary(&self) -> bool {
        self.bindings
            .iter()
            .any(|b| matches!(b, Binding::ServiceBusTrigger { binary: true, .. }))
    }

    /// The namespace endpoint of the Service Bus binding named `binding` (empty if unknown).
    pub fn service_bus_endpoint(&self, binding: &str) -> &str {
        self.bindings
            .iter()
            .find_map(|b| match b {
                Binding::ServiceBusTrigger { name, endpoint, .. }
                | Binding::ServiceBusOut { name, endpoint, .. }
                    if name == binding =>
                {
                    Some(endpoint.as_str())
                }
                _ => None,
            })
            .unwrap_or_default()
    }

    /// Whether an output binding is named `$return` (then `ReturnValue` is bound to it).
    pub fn has_return_binding(&self) -> bool {
        self.bindings.iter().any(|b| {
            matches!(b, Binding::HttpOut { name } | Binding::ServiceBusOut { name, .. } if name == "$return")
        })
    }

    /// `IsHttpInAndOutFunction` (`H Extensions/FunctionMetadataExtensions`): exactly one input
    /// binding, an `httpTrigger`, and exactly one output binding, an `http` one.
    pub fn is_http_in_and_out(&self) -> bool {
        matches!(
            self.bindings.as_slice(),
            [Binding::HttpTrigger { .. }, Binding::HttpOut { .. }]
                | [Binding::HttpOut { .. }, Binding::HttpTrigger { .. }]
        )
    }

    /// The HTTP output binding name, if any.
    pub fn http_output(&self) -> Option<&str> {
        self.bindings.iter().find_map(|b| match b {
            Binding::HttpOut { name } => Some(name.as_str()),
            _ => None,
        })
    }
}

/// Every `{root}/<Function>/function.json`, sorted by folder name, without the functions the
/// app settings disable (`AzureWebJobs.<Name>.Disabled`).
pub fn load_all(
    root: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<Vec<Function>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("function.json").is_file())
        .collect();
    // The host orders functions by name ignoring case (`FunctionMetadataManager`); the first
    // matching route wins in that order.
    dirs.sort_by_key(|d| d.file_name().map(|n| n.to_string_lossy().to_lowercase()));
    let mut functions = Vec::new();
    for dir in dirs {
        let path = dir.join("function.json");
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let json = read_json(&path)?;
        let field = |field: String, problem: &str| ConfigError::Field {
            path: path.clone(),
            field,
            problem: problem.to_owned(),
        };
        let items = json
            .get("bindings")
            .and_then(Value::as_array)
            .filter(|b| !b.is_empty())
            .ok_or_else(|| {
                field(
                    "bindings".into(),
                    "is required and must be a non-empty array",
                )
            })?;
        if json.get("disabled").is_some() {
            warn!(
                "{}: `disabled` is not read by the Functions host (v4) and is ignored here too: set the app setting AzureWebJobs.{name}.Disabled to true instead",
                path.display()
            );
        }
        let mut bindings = Vec::new();
        for (i, b) in items.iter().enumerate() {
            let text = |key: &str| b.get(key).and_then(Value::as_str).map(str::to_owned);
            let need = |key: &str| {
                text(key)
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| field(format!("bindings[{i}].{key}"), "is required"))
            };
            let kind = need("type")?;
            let name = need("name")?;
            let direction = need("direction")?;
            refuse_unsupported(b, &kind)
                .map_err(|(key, problem)| field(format!("bindings[{i}].{key}"), &problem))?;
            let queue = || -> Result<String, ConfigError> {
                resolve_setting_names(&need("queueName")?, settings)
                    .map_err(|problem| field(format!("bindings[{i}].queueName"), &problem))
            };
            // `ServiceBusTriggerAttributeBindingProvider.TryCreateAsync` resolves `%setting%` in
            // `connection`; the client factory then needs the setting itself ([`connection`]).
            let connection = || -> Result<String, ConfigError> {
                let at = format!("bindings[{i}].connection");
                let named = match b.get("connection") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) if !s.trim().is_empty() => Some(
                        resolve_setting_names(s, settings).map_err(|p| field(at.clone(), &p))?,
                    ),
                    Some(_) => {
                        return Err(field(at, "must name an app setting (a non-empty string)"));
                    }
                };
                let resolved = super::connection::resolve(named.as_deref(), settings)
                    .map_err(|p| field(at, &p))?;
                info!(
                    "{}: bindings[{i}] uses the {resolved}; the devhost's local Service Bus serves it",
                    path.display()
                );
                Ok(resolved.endpoint())
            };
            let binding = match (
                kind.to_ascii_lowercase().as_str(),
                direction.to_ascii_lowercase().as_str(),
            ) {
                ("httptrigger", "in") => {
                    let methods = match b.get("methods") {
                        None | Some(Value::Null) => Vec::new(),
                        Some(Value::Array(m)) => m
                            .iter()
                            .map(|v| v.as_str().map(str::to_ascii_uppercase))
                            .collect::<Option<Vec<_>>>()
                            .ok_or_else(|| {
                                field(
                                    format!("bindings[{i}].methods"),
                                    "must be an array of strings",
                                )
                            })?,
                        Some(_) => {
                            return Err(field(
                                format!("bindings[{i}].methods"),
                                "must be an array of strings",
                            ));
                        }
                    };
                    let route = text("route");
                    crate::http_trigger::route::Template::parse(route.as_deref().unwrap_or(""))
                        .map_err(|problem| field(format!("bindings[{i}].route"), &problem))?;
                    let auth_level = AuthLevel::parse(text("authLevel").as_deref())
                        .map_err(|problem| field(format!("bindings[{i}].authLevel"), &problem))?;
                    Binding::HttpTrigger {
                        name,
                        methods,
                        route,
                        auth_level,
                    }
                }
                ("http", "out") => Binding::HttpOut { name },
                ("servicebustrigger", "in") => {
                    let queue = queue()?;
                    let endpoint = connection()?;
                    let option = |key: &str, value: &str| {
                        b.as_object()
                            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
                            .and_then(|(_, v)| v.as_str())
                            .is_some_and(|t| t.eq_ignore_ascii_case(value))
                    };
                    Binding::ServiceBusTrigger {
                        name,
                        queue,
                        endpoint,
                        binary: option("dataType", "binary"),
                        many: option("cardinality", "many"),
                    }
                }
                ("servicebus", "out") => {
                    let queue = queue()?;
                    let endpoint = connection()?;
                    Binding::ServiceBusOut {
                        name,
                        queue,
                        endpoint,
                    }
                }
                _ => {
                    return Err(field(
                        format!("bindings[{i}].type"),
                        &format!(
                            "The binding type(s) '{kind}' were not found in the configured extension bundle: \"{kind}\" ({direction}) is not supported by the devhost (httpTrigger, http, serviceBusTrigger, serviceBus)"
                        ),
                    ));
                }
            };
            bindings.push(binding);
        }
        let triggers = bindings
            .iter()
            .filter(|b| {
                matches!(
                    b,
                    Binding::HttpTrigger { .. } | Binding::ServiceBusTrigger { .. }
                )
            })
            .count();
        if triggers != 1 {
            return Err(field("bindings".into(), "must contain exactly one trigger"));
        }
        let disabled = is_disabled(&name, settings);
        let http = bindings
            .iter()
            .any(|b| matches!(b, Binding::HttpTrigger { .. }));
        if disabled && !http {
            info!("function {name} is disabled by the app setting AzureWebJobs.{name}.Disabled");
            continue;
        }
        if disabled {
            info!(
                "function {name} is disabled by the app setting AzureWebJobs.{name}.Disabled: it answers 404 except to requests with the Admin level (as under func start: any request to a non-anonymous function, or with a key)"
            );
        }
        functions.push(Function {
            name,
            bindings,
            disabled,
        });
    }
    if functions.is_empty() {
        return Err(ConfigError::Field {
            path: root.to_path_buf(),
            field: "<Function>/function.json".into(),
            problem:
                "no functions found: is this a staged script root (cargo xtask stage --local)?"
                    .into(),
        });
    }
    Ok(functions)
}

/// `SDK Listeners/HostListenerFactory.IsDisabled`: the app setting (or environment variable)
/// `AzureWebJobs.<Name>.Disabled` or `AzureWebJobs_<Name>_Disabled` set to `true` (or `1`)
/// disables a function: its trigger does not listen and its HTTP route answers 404 unless the
/// request has the Admin level (`H WebJobs.Script.WebHost/Middleware/FunctionInvocationMiddleware.
/// GetResultAsync`).
fn is_disabled(name: &str, settings: &BTreeMap<String, String>) -> bool {
    [
        format!("AzureWebJobs.{name}.Disabled"),
        format!("AzureWebJobs_{name}_Disabled"),
    ]
    .iter()
    .any(|key| {
        let value = settings
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(key).ok());
        value.is_some_and(|v| v.trim().eq_ignore_ascii_case("true") || v.trim() == "1")
    })
}

/// `SDK NameResolverExtensions.ResolveWholeString` (used for `queueName` by
/// `SB Triggers/ServiceBusTriggerAttributeBindingProvider.TryCreateAsync` and the output's
/// provider): every `%name%` is replaced by the app setting (names ignore case) or environment
/// variable; one that does not resolve, or a lone `%`, is an error with the host's message.
pub fn resolve_setting_names(
    text: &str,
    settings: &BTreeMap<String, String>,
) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = text;
    let mut offset = 0;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('%') else {
            return Err(format!(
                "The '%' at position {} does not have a closing '%'",
                offset + start
            ));
        };
        let name = &after[..end];
        let value = settings
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
            .filter(|_| !name.is_empty())
            .ok_or_else(|| format!("'%{name}%' does not resolve to a value."))?;
        out.push_str(&rest[..start]);
        out.push_str(&value);
        offset += start + end + 2;
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Trigger and output options the devhost does not implement: refused, naming the key, rather than
/// silently ignored. `(key, problem)`.
fn refuse_unsupported(binding: &Value, kind: &str) -> Result<(), (&'static str, String)> {
    let get = |key: &str| {
        binding
            .as_object()
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)))
            .map(|(_, v)| v)
    };
    let refuse = |key: &'static str, what: &str| {
        Err((
            key,
            format!("{what} is not supported by the devhost (see docs/PARITY.md)"),
        ))
    };
    match kind.to_ascii_lowercase().as_str() {
        "servicebustrigger" => {
            if get("isSessionsEnabled").and_then(Value::as_bool) == Some(true) {
                return refuse(
                    "isSessionsEnabled",
                    "a session-enabled trigger (ServiceBusSessionProcessor)",
                );
            }
            if let Some(c) = get("cardinality")
                && !c.as_str().is_some_and(|c| {
                    c.eq_ignore_ascii_case("one") || c.eq_ignore_ascii_case("many")
                })
            {
                return refuse("cardinality", &format!("{c} (one or many only)"));
            }
            if let Some(t) = get("dataType").and_then(Value::as_str)
                && !t.eq_ignore_ascii_case("string")
                && !t.eq_ignore_ascii_case("binary")
            {
                return refuse("dataType", &format!("\"{t}\" (string and binary only)"));
            }
            if get("autoCompleteMessages").and_then(Value::as_bool) == Some(false) {
                return refuse(
                    "autoCompleteMessages",
                    "false on the trigger (a custom handler cannot settle messages; the lock would lapse)",
                );
            }
            if get("topicName").is_some() || get("subscriptionName").is_some() {
                return refuse("topicName", "a topic subscription trigger (queues only)");
            }
        }
        "servicebus" => {
            if get("includeMetadata").and_then(Value::as_bool) == Some(true) {
                return refuse("includeMetadata", "an output carrying message properties");
            }
            if get("topicName").is_some() {
                return refuse("topicName", "a topic output (queues only)");
            }
        }
        _ => {}
    }
    Ok(())
}
