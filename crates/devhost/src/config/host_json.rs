//! `host.json`: the custom handler's process description, the Service Bus extension's options,
//! `functionTimeout` and the HTTP route prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::duration::parse_timespan;
use super::{ConfigError, expand, read_json};

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

/// What `host.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    /// The handler process.
    pub handler: HandlerProcess,
    /// Service Bus options.
    pub service_bus: ServiceBusOptions,
    /// `functionTimeout` (default 5 minutes).
    pub function_timeout: Duration,
    /// `extensions.http.routePrefix` (default `api`).
    pub route_prefix: String,
}

/// Read `{root}/host.json`, expanding `%SETTING%` in the handler description from `settings`.
pub fn load(root: &Path, settings: &BTreeMap<String, String>) -> Result<HostJson, ConfigError> {
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
    let exe = expand(exe, settings);
    let executable = if root.join(&exe).is_file() {
        root.join(&exe)
    } else {
        PathBuf::from(&exe)
    };
    let arguments = match desc.get("arguments") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|a| a.as_str().map(|s| expand(s, settings)))
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
        Some(dir) if !dir.trim().is_empty() => root.join(expand(dir, settings)),
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
    Ok(HostJson {
        handler: HandlerProcess {
            executable,
            arguments,
            working_directory,
        },
        service_bus: ServiceBusOptions {
            max_concurrent_calls,
            auto_complete_messages,
            max_auto_lock_renewal,
        },
        function_timeout,
        route_prefix,
    })
}
