//! `<Function>/function.json`: each function's bindings (the four kinds the devhost supports;
//! anything else is refused, naming the binding).

use std::path::{Path, PathBuf};

use serde_json::Value;

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
    },
    /// `serviceBus` (out).
    ServiceBusOut {
        /// Binding name.
        name: String,
        /// Queue name.
        queue: String,
    },
}

/// A function: its folder name and bindings.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Folder name: also the handler route (`POST /{name}`).
    pub name: String,
    /// Bindings in file order.
    pub bindings: Vec<Binding>,
}

impl Function {
    /// The HTTP trigger binding, if any.
    pub fn http_trigger(&self) -> Option<(&str, &[String], Option<&str>)> {
        self.bindings.iter().find_map(|b| match b {
            Binding::HttpTrigger {
                name,
                methods,
                route,
            } => Some((name.as_str(), methods.as_slice(), route.as_deref())),
            _ => None,
        })
    }

    /// The Service Bus trigger binding, if any: `(binding name, queue)`.
    pub fn service_bus_trigger(&self) -> Option<(&str, &str)> {
        self.bindings.iter().find_map(|b| match b {
            Binding::ServiceBusTrigger { name, queue } => Some((name.as_str(), queue.as_str())),
            _ => None,
        })
    }

    /// Service Bus output bindings: `(binding name, queue)`.
    pub fn service_bus_outputs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.bindings.iter().filter_map(|b| match b {
            Binding::ServiceBusOut { name, queue } => Some((name.as_str(), queue.as_str())),
            _ => None,
        })
    }

    /// The HTTP output binding name, if any.
    pub fn http_output(&self) -> Option<&str> {
        self.bindings.iter().find_map(|b| match b {
            Binding::HttpOut { name } => Some(name.as_str()),
            _ => None,
        })
    }
}

/// Every `{root}/<Function>/function.json`, sorted by folder name.
pub fn load_all(root: &Path) -> Result<Vec<Function>, ConfigError> {
    let io = |source| ConfigError::Io {
        path: root.to_path_buf(),
        source,
    };
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("function.json").is_file())
        .collect();
    dirs.sort();
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
                    Binding::HttpTrigger {
                        name,
                        methods,
                        route: text("route"),
                    }
                }
                ("http", "out") => Binding::HttpOut { name },
                ("servicebustrigger", "in") => Binding::ServiceBusTrigger {
                    name,
                    queue: need("queueName")?,
                },
                ("servicebus", "out") => Binding::ServiceBusOut {
                    name,
                    queue: need("queueName")?,
                },
                _ => {
                    return Err(field(
                        format!("bindings[{i}].type"),
                        &format!(
                            "\"{kind}\" ({direction}) is not supported by the devhost (httpTrigger, http, serviceBusTrigger, serviceBus)"
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
        functions.push(Function { name, bindings });
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
