//! The function app as the host sees it: `host.json`, `<Function>/function.json`, and
//! `local.settings.json`, read from a script root laid out like the real host's.
//!
//! A malformed file stops start-up with an error naming the file and the field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use thiserror::Error;

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

/// The custom handler process description (`host.json` `customHandler.description`).
#[derive(Debug, Clone, PartialEq)]
pub struct HandlerProcess {
    /// Executable: a path relative to the script root if that file exists, else a command on PATH.
    pub executable: PathBuf,
    /// Arguments, `%SETTING%` already expanded.
    pub arguments: Vec<String>,
    /// Working directory (default: the script root).
    pub working_directory: PathBuf,
}

/// `host.json` `extensions.serviceBus` settings the devhost honours.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBusOptions {
    /// `maxConcurrentCalls` per Service Bus-triggered function (default 16, as the host's default
    /// on one core is 16 x cores).
    pub max_concurrent_calls: usize,
    /// `autoCompleteMessages` (default true). Custom handlers cannot settle messages themselves,
    /// so with `false` nothing ever completes or abandons a message: its lock lapses and it is
    /// redelivered (faithful, and almost certainly a mistake: the devhost warns at start-up).
    pub auto_complete_messages: bool,
    /// `maxAutoLockRenewalDuration` (default 5 minutes): how long the runtime keeps renewing the
    /// lock of a message whose invocation is still running.
    pub max_auto_lock_renewal: Duration,
}

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
    /// `local.settings.json` `Values`, passed to the handler as environment.
    pub settings: BTreeMap<String, String>,
}

impl App {
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
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect()
    }

    /// Load a script root.
    pub fn load(root: &Path) -> Result<Self, ConfigError> {
        let root = &std::fs::canonicalize(root).map_err(|source| ConfigError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let settings = load_settings(&root.join("local.settings.json"))?;
        let host_path = root.join("host.json");
        let host = read_json(&host_path)?;
        let field = |field: &str, problem: &str| ConfigError::Field {
            path: host_path.clone(),
            field: field.to_owned(),
            problem: problem.to_owned(),
        };

        let desc = host
            .pointer("/customHandler/description")
            .and_then(Value::as_object)
            .ok_or_else(|| {
                field(
                    "customHandler.description",
                    "is required and must be an object",
                )
            })?;
        let exe = desc
            .get("defaultExecutablePath")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| {
                field(
                    "customHandler.description.defaultExecutablePath",
                    "must be a non-empty string",
                )
            })?;
        let exe = expand(exe, &settings);
        let executable = if root.join(&exe).is_file() {
            root.join(&exe)
        } else {
            PathBuf::from(&exe)
        };
        let arguments = match desc.get("arguments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|a| a.as_str().map(|s| expand(s, &settings)))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    field(
                        "customHandler.description.arguments",
                        "must be an array of strings",
                    )
                })?,
            Some(_) => {
                return Err(field(
                    "customHandler.description.arguments",
                    "must be an array of strings",
                ));
            }
        };
        let working_directory = match desc.get("workingDirectory").and_then(Value::as_str) {
            Some(dir) if !dir.trim().is_empty() => root.join(expand(dir, &settings)),
            _ => root.to_path_buf(),
        };

        let sb = host.pointer("/extensions/serviceBus");
        let max_concurrent_calls = match sb.and_then(|s| s.get("maxConcurrentCalls")) {
            None => 16,
            Some(v) => v
                .as_u64()
                .filter(|n| (1..=10_000).contains(n))
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| {
                    field(
                        "extensions.serviceBus.maxConcurrentCalls",
                        "must be an integer from 1 to 10000",
                    )
                })?,
        };
        let auto_complete_messages = match sb.and_then(|s| s.get("autoCompleteMessages")) {
            None => true,
            Some(v) => v.as_bool().ok_or_else(|| {
                field(
                    "extensions.serviceBus.autoCompleteMessages",
                    "must be a boolean",
                )
            })?,
        };
        let max_auto_lock_renewal = match sb.and_then(|s| s.get("maxAutoLockRenewalDuration")) {
            None => Duration::from_secs(300),
            Some(v) => v.as_str().and_then(parse_timespan).ok_or_else(|| {
                field(
                    "extensions.serviceBus.maxAutoLockRenewalDuration",
                    "must be a timespan like \"00:05:00\"",
                )
            })?,
        };
        let function_timeout = match host.get("functionTimeout") {
            None => Duration::from_secs(300),
            Some(v) => v
                .as_str()
                .and_then(parse_timespan)
                .ok_or_else(|| field("functionTimeout", "must be a timespan like \"00:05:00\""))?,
        };
        let route_prefix = match host.pointer("/extensions/http/routePrefix") {
            None => "api".to_owned(),
            Some(v) => v
                .as_str()
                .map(|s| s.trim_matches('/').to_owned())
                .ok_or_else(|| field("extensions.http.routePrefix", "must be a string"))?,
        };

        let functions = load_functions(root)?;
        Ok(Self {
            root: root.to_path_buf(),
            handler: HandlerProcess {
                executable,
                arguments,
                working_directory,
            },
            functions,
            service_bus: ServiceBusOptions {
                max_concurrent_calls,
                auto_complete_messages,
                max_auto_lock_renewal,
            },
            function_timeout,
            route_prefix,
            settings,
        })
    }
}

fn load_functions(root: &Path) -> Result<Vec<Function>, ConfigError> {
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
            Value::Bool(b) => b.to_string(),
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

/// Parse a .NET timespan `[d.]hh:mm:ss[.fff]`.
pub fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, rest) = match text.split_once('.') {
        Some((d, r)) if r.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, text),
    };
    let mut parts = rest.split(':');
    let (h, m, s) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (h, m, s): (u64, u64, f64) = (h.parse().ok()?, m.parse().ok()?, s.parse().ok()?);
    if m >= 60 || !(0.0..60.0).contains(&s) {
        return None;
    }
    Some(Duration::from_secs(days * 86_400 + h * 3_600 + m * 60) + Duration::from_secs_f64(s))
}

/// Parse a duration as an operator writes it: ISO 8601 as in Terraform and the Service Bus API
/// (`PT1M`, `P14D`, `PT0.5S`, `P1DT12H`), a .NET timespan as in `host.json` (`00:01:00`,
/// `14.00:00:00`), or a number with an optional unit (`60`, `60s`, `500ms`, `5m`, `2h`, `14d`;
/// no unit means seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "`{text}` is not a duration: use ISO 8601 (PT1M, P14D), a timespan (00:01:00) or seconds (60, 60s, 5m)"
        )
    };
    if let Some(iso) = t.strip_prefix(['P', 'p']) {
        return parse_iso8601(iso).ok_or_else(bad);
    }
    if t.contains(':') {
        return parse_timespan(t).ok_or_else(bad);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1_000.0,
        "m" => n * 60.0,
        "h" => n * 3_600.0,
        "d" => n * 86_400.0,
        _ => return Err(bad()),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| bad())
}

/// The part of an ISO 8601 duration after `P`: `[nD][T[nH][nM][nS]]` (weeks as `nW`).
fn parse_iso8601(text: &str) -> Option<Duration> {
    let (date, time) = match text.split_once(['T', 't']) {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (text, ""),
    };
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let mut seconds = 0.0;
    for (part, units) in [
        (date, &[('W', 604_800.0), ('D', 86_400.0)][..]),
        (time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut rest = part;
        let mut next_unit = 0;
        while !rest.is_empty() {
            let end = rest.find(|c: char| c.is_ascii_alphabetic())?;
            let n: f64 = rest[..end].parse().ok()?;
            let unit = rest[end..].chars().next()?.to_ascii_uppercase();
            let idx = units[next_unit..].iter().position(|(u, _)| *u == unit)? + next_unit;
            seconds += n * units[idx].1;
            next_unit = idx + 1;
            rest = &rest[end + 1..];
        }
    }
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    const HOST: &str = r#"{"version":"2.0","functionTimeout":"00:01:30","customHandler":{"description":{"defaultExecutablePath":"handler","arguments":["--x","%MODE%"]}},"extensions":{"serviceBus":{"maxConcurrentCalls":4}}}"#;
    const HTTP_FN: &str = r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["post"]},{"type":"http","direction":"out","name":"res"},{"type":"serviceBus","direction":"out","name":"job","queueName":"jobs","connection":"C"}]}"#;
    const SB_FN: &str = r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"jobs","connection":"C"}]}"#;

    #[test]
    fn loads_a_script_root() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "host.json", HOST);
        write(dir.path(), "IngestJob/function.json", HTTP_FN);
        write(dir.path(), "ProcessJob/function.json", SB_FN);
        write(dir.path(), "handler", "");
        write(
            dir.path(),
            "local.settings.json",
            r#"{"Values":{"MODE":"fast","N":3}}"#,
        );
        let app = App::load(dir.path()).unwrap();
        assert_eq!(app.handler.executable, dir.path().join("handler"));
        assert_eq!(app.handler.arguments, ["--x", "fast"]);
        assert_eq!(app.service_bus.max_concurrent_calls, 4);
        assert!(app.service_bus.auto_complete_messages);
        assert_eq!(
            app.service_bus.max_auto_lock_renewal,
            Duration::from_secs(300)
        );
        assert_eq!(app.function_timeout, Duration::from_secs(90));
        assert_eq!(app.route_prefix, "api");
        assert_eq!(app.settings.get("N").map(String::as_str), Some("3"));
        assert_eq!(app.functions[0].http_trigger().unwrap().1, ["POST"]);
        assert_eq!(
            app.functions[0].service_bus_outputs().collect::<Vec<_>>(),
            [("job", "jobs")]
        );
        assert_eq!(
            app.functions[1].service_bus_trigger(),
            Some(("msg", "jobs"))
        );
    }

    #[test]
    fn malformed_files_name_file_and_field() {
        let cases = [
            (
                r#"{"customHandler":{}}"#,
                HTTP_FN,
                "host.json",
                "customHandler.description",
            ),
            (
                r#"{"customHandler":{"description":{"defaultExecutablePath":""}}}"#,
                HTTP_FN,
                "host.json",
                "defaultExecutablePath",
            ),
            (
                r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"maxConcurrentCalls":0}}}"#,
                HTTP_FN,
                "host.json",
                "maxConcurrentCalls",
            ),
            (
                r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}},"functionTimeout":"soon"}"#,
                HTTP_FN,
                "host.json",
                "functionTimeout",
            ),
            (
                r#"{"customHandler":{"description":{"defaultExecutablePath":"h"}},"extensions":{"serviceBus":{"maxAutoLockRenewalDuration":5}}}"#,
                HTTP_FN,
                "host.json",
                "maxAutoLockRenewalDuration",
            ),
            (HOST, r#"{"bindings":[]}"#, "function.json", "bindings"),
            (
                HOST,
                r#"{"bindings":[{"type":"serviceBus","direction":"out","name":"x"}]}"#,
                "function.json",
                "bindings[0].queueName",
            ),
            (
                HOST,
                r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"x"}]}"#,
                "function.json",
                "bindings[0].type",
            ),
            (HOST, "{nope", "function.json", "not valid JSON"),
        ];
        for (host, func, file, field) in cases {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), "host.json", host);
            write(dir.path(), "F/function.json", func);
            let err = App::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(file) && err.contains(field), "{err}");
        }
    }

    #[test]
    fn timespans_and_expansion() {
        assert_eq!(parse_timespan("00:05:00"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_timespan("1.00:00:01"),
            Some(Duration::from_secs(86_401))
        );
        assert_eq!(
            parse_timespan("00:00:00.5"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_timespan("5m"), None);
        for (text, secs) in [
            ("PT1M", 60.0),
            ("P14D", 1_209_600.0),
            ("PT0.5S", 0.5),
            ("P1DT12H", 129_600.0),
            ("PT5M30S", 330.0),
            ("00:01:00", 60.0),
            ("14.00:00:00", 1_209_600.0),
            ("60", 60.0),
            ("60s", 60.0),
            ("500ms", 0.5),
            ("5m", 300.0),
            ("2h", 7_200.0),
            ("14d", 1_209_600.0),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_secs_f64(secs)),
                "{text}"
            );
        }
        for bad in ["", "P", "PT", "PT1X", "P1M1D", "-5", "5y", "soon", "PTM"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        let s: BTreeMap<String, String> = [("A".to_owned(), "1".to_owned())].into();
        assert_eq!(
            expand("x%A%y%UNKNOWN_DEVHOST_VAR%z", &s),
            "x1y%UNKNOWN_DEVHOST_VAR%z"
        );
    }
}
