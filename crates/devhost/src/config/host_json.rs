//! `host.json`: the custom handler's process description, the Service Bus extension's options,
//! `functionTimeout` and the HTTP route prefix.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::duration::parse_timespan;
use super::host_keys::{self, get};
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
    /// `customHandler.initializationTimeout` (`HttpWorkerOptions.InitializationTimeout`, default
    /// 30 s): how long a start may take to answer `GET /`.
    pub initialization_timeout: Duration,
}

impl HandlerProcess {
    /// The arguments a start gets, as `H Workers/ProcessManagement/DefaultWorkerProcessFactory.
    /// CreateWorkerProcess` makes them: the worker variables (`%FUNCTIONS_CUSTOMHANDLER_PORT%`,
    /// `%FUNCTIONS_HTTPWORKER_PORT%`, `%FUNCTIONS_CUSTOMHANDLER_WORKER_ID%`,
    /// `%FUNCTIONS_HTTPWORKER_ID%`) substituted, every `%...%` still left removed
    /// (`SanitizeExpandedArgument`), and the command line split again on whitespace (the host joins
    /// the arguments into one line, so an empty one disappears and one with a space becomes two;
    /// quotes, which the host honours, are not).
    pub fn arguments_for(&self, port: u16, worker_id: &str) -> Vec<String> {
        let port = port.to_string();
        let vars = [
            ("%FUNCTIONS_CUSTOMHANDLER_PORT%", port.as_str()),
            ("%FUNCTIONS_HTTPWORKER_PORT%", port.as_str()),
            ("%FUNCTIONS_CUSTOMHANDLER_WORKER_ID%", worker_id),
            ("%FUNCTIONS_HTTPWORKER_ID%", worker_id),
        ];
        self.arguments
            .iter()
            .map(|a| {
                let mut a = a.clone();
                for (name, value) in vars {
                    a = a.replace(name, value);
                }
                strip_placeholders(&a)
            })
            .flat_map(|a| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }
}

/// Remove every `%...%` pair (non-greedy, as the host's `%(.+?)%`).
fn strip_placeholders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 => {
                out.push_str(&rest[..start]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str(&rest[..=start]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `host.json` `extensions.serviceBus` settings the devhost honours.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceBusOptions {
    /// `maxConcurrentCalls` per Service Bus-triggered function (default [`default_max_concurrent_calls`]).
    pub max_concurrent_calls: usize,
    /// `autoCompleteMessages` (default true). Custom handlers cannot settle messages themselves,
    /// so with `false` nothing ever completes or abandons a message: its lock lapses and it is
    /// redelivered (faithful, and almost certainly a mistake: the devhost warns at start-up).
    pub auto_complete_messages: bool,
    /// `maxAutoLockRenewalDuration` (default 5 minutes): how long the runtime keeps renewing the
    /// lock of a message whose invocation is still running.
    pub max_auto_lock_renewal: Duration,
    /// `maxMessageBatchSize` (default 1000): the most messages a `cardinality: many` invocation
    /// gets.
    pub max_message_batch_size: usize,
}

/// What `host.json` says.
#[derive(Debug, Clone, PartialEq)]
pub struct HostJson {
    /// The handler process.
    pub handler: HandlerProcess,
    /// Service Bus options.
    pub service_bus: ServiceBusOptions,
    /// `functionTimeout` (default 30 minutes, 5 on Consumption; `-1`: unbounded).
    pub function_timeout: Duration,
    /// `extensions.http.routePrefix` (default `api`).
    pub route_prefix: String,
    /// `customHandler.enableForwardingHttpRequest` (default false).
    pub forward_http: bool,
    /// `extensions.http` throttles and headers.
    pub http: super::http_options::HttpOptions,
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

    check_version(&host).map_err(|problem| field("version", &problem))?;
    if let Some(bundle) = host.get("extensionBundle") {
        check_extension_bundle(bundle).map_err(|(key, problem)| field(key, &problem))?;
    }
    host_keys::check(&host).map_err(|(key, problem)| field(&key, &problem))?;

    let custom = host.get("customHandler");
    let desc = get(custom, "description")
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

    let initialization_timeout = match get(custom, "initializationTimeout") {
        None | Some(Value::Null) => Duration::from_secs(30),
        Some(v) => v
            .as_str()
            .and_then(parse_timespan)
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                field(
                    "customHandler.initializationTimeout",
                    "must be a positive timespan like \"00:00:30\"",
                )
            })?,
    };
    let consumption =
        setting(settings, "WEBSITE_SKU").is_some_and(|sku| sku.eq_ignore_ascii_case("Dynamic"));
    let sb = get(host.get("extensions"), "serviceBus");
    // `extensions.serviceBus.<key>`: an integer from 1 to `max`, `default` when absent.
    let sb_count = |key: &str, max: u64, default: usize| match get(sb, key) {
        None => Ok(default),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=max).contains(n))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                field(
                    &format!("extensions.serviceBus.{key}"),
                    &format!("must be an integer from 1 to {max}"),
                )
            }),
    };
    let max_concurrent_calls = sb_count(
        "maxConcurrentCalls",
        10_000,
        default_max_concurrent_calls(consumption),
    )?;
    let max_message_batch_size = sb_count("maxMessageBatchSize", 100_000, 1000)?;
    let auto_complete_messages = match get(sb, "autoCompleteMessages") {
        None => true,
        Some(v) => v.as_bool().ok_or_else(|| {
            field(
                "extensions.serviceBus.autoCompleteMessages",
                "must be a boolean",
            )
        })?,
    };
    let max_auto_lock_renewal = match get(sb, "maxAutoLockRenewalDuration") {
        None => Duration::from_secs(300),
        // `ServiceBusOptions.MaxAutoLockRenewalDuration`: `Timeout.InfiniteTimeSpan`, written
        // `-00:00:00.0010000` in host.json, renews for as long as the invocation runs.
        Some(Value::String(t))
            if t.trim().starts_with('-')
                && parse_timespan(&t.trim()[1..]) == Some(Duration::from_millis(1)) =>
        {
            Duration::from_secs(100 * 365 * 86_400)
        }
        Some(v) => v.as_str().and_then(parse_timespan).ok_or_else(|| {
            field(
                "extensions.serviceBus.maxAutoLockRenewalDuration",
                "must be a timespan like \"00:05:00\" (or -00:00:00.0010000: no limit)",
            )
        })?,
    };
    let function_timeout = function_timeout(host.get("functionTimeout"), consumption)
        .map_err(|problem| field("functionTimeout", &problem))?;
    let forward_http = match host.pointer("/customHandler/enableForwardingHttpRequest") {
        None | Some(Value::Null) => false,
        Some(v) => v.as_bool().ok_or_else(|| {
            field(
                "customHandler.enableForwardingHttpRequest",
                "must be a boolean",
            )
        })?,
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
            initialization_timeout,
        },
        service_bus: ServiceBusOptions {
            max_concurrent_calls,
            auto_complete_messages,
            max_auto_lock_renewal,
            max_message_batch_size,
        },
        function_timeout,
        route_prefix,
        forward_http,
        http: super::http_options::parse(&host).map_err(|(key, problem)| field(&key, &problem))?,
    })
}

/// An app setting (names ignore case) or, failing that, an environment variable.
fn setting(settings: &BTreeMap<String, String>, name: &str) -> Option<String> {
    settings
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var(name).ok())
}

/// SB `Config/ServiceBusOptions.MaxConcurrentCalls` default: 16 x `Utility.GetProcessorCount()`,
/// which is 1 on Consumption (`WEBSITE_SKU` `Dynamic`) and `Environment.ProcessorCount` elsewhere.
pub fn default_max_concurrent_calls(consumption: bool) -> usize {
    let processors = if consumption {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
    };
    16 * processors
}

/// `H Config/HostJsonFileConfigurationSource.InitializeHostConfig`: `version` is required and must
/// be `"2.0"` (the host's messages).
fn check_version(host: &Value) -> Result<(), String> {
    match host.get("version") {
        None => Err("The host.json file is missing the required 'version' property.".to_owned()),
        Some(Value::String(v)) if v == "2.0" => Ok(()),
        Some(other) => {
            let v = other
                .as_str()
                .map_or_else(|| other.to_string(), str::to_owned);
            Err(format!(
                "'{v}' is an invalid value for host.json 'version' property. We recommend you set the 'version' property to '2.0'."
            ))
        }
    }
}

/// `H Config/ExtensionBundleConfigurationHelper`: `id` and `version` (a NuGet version range) are
/// required. The devhost emulates the Service Bus extension 5.x, shipped in bundles 3.x and 4.x:
/// a range that admits neither is refused.
fn check_extension_bundle(bundle: &Value) -> Result<(), (&'static str, String)> {
    let invalid = |key: &'static str| {
        (
            key,
            format!(
                "The value of {} property in extensionBundle section of host.json file is invalid or missing.",
                key.rsplit('.').next().unwrap_or(key)
            ),
        )
    };
    let id = bundle.get("id").and_then(Value::as_str).unwrap_or("");
    if id.is_empty()
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
    {
        return Err(invalid("extensionBundle.id"));
    }
    let version = bundle.get("version").and_then(Value::as_str).unwrap_or("");
    let range = VersionRange::parse(version).ok_or_else(|| invalid("extensionBundle.version"))?;
    if !range.admits_major(3) && !range.admits_major(4) {
        return Err((
            "extensionBundle.version",
            format!(
                "the range {version} admits no bundle 3.x or 4.x: other bundles are not supported by the devhost (it emulates the Service Bus extension 5.x they ship)"
            ),
        ));
    }
    Ok(())
}

/// A NuGet version range: `1.2.3` (at least), `[1.2.3]`, `[a, b)`, `(a, b]`, `[a, )`, with
/// floating `4.*` versions.
#[derive(Debug, Clone, Copy, PartialEq)]
struct VersionRange {
    min: Option<(u64, u64, u64, bool)>,
    max: Option<(u64, u64, u64, bool)>,
}

impl VersionRange {
    fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let version = |v: &str| -> Option<(u64, u64, u64)> {
            let v = v.trim();
            let mut parts = v.split('.');
            let mut next = || -> Option<u64> {
                match parts.next() {
                    None | Some("*") => Some(0),
                    Some(p) => p.parse().ok(),
                }
            };
            let out = (next()?, next()?, next()?);
            (!v.is_empty() && parts.next().is_none()).then_some(out)
        };
        let Some(open) = t.chars().next().filter(|c| matches!(c, '[' | '(')) else {
            let (a, b, c) = version(t)?;
            return Some(Self {
                min: Some((a, b, c, true)),
                max: None,
            });
        };
        let close = t.chars().last().filter(|c| matches!(c, ']' | ')'))?;
        let inner = &t[1..t.len() - 1];
        let (lo, hi) = match inner.split_once(',') {
            Some((lo, hi)) => (lo.trim(), hi.trim()),
            None if open == '[' && close == ']' => (inner.trim(), inner.trim()),
            None => return None,
        };
        let bound = |v: &str, inclusive: bool| -> Option<Option<(u64, u64, u64, bool)>> {
            if v.is_empty() {
                return Some(None);
            }
            let (a, b, c) = version(v)?;
            Some(Some((a, b, c, inclusive)))
        };
        let range = Self {
            min: bound(lo, open == '[')?,
            max: bound(hi, close == ']')?,
        };
        (range.min.is_some() || range.max.is_some()).then_some(range)
    }

    /// Whether some version `major.x.y` lies in the range: the range meets
    /// `[major.0.0, major+1.0.0)`.
    fn admits_major(&self, major: u64) -> bool {
        let (mut lo, mut lo_in) = ((major, 0, 0), true);
        if let Some((a, b, c, inclusive)) = self.min {
            if (a, b, c) > lo {
                (lo, lo_in) = ((a, b, c), inclusive);
            } else if (a, b, c) == lo {
                lo_in = inclusive;
            }
        }
        let (mut hi, mut hi_in) = ((major + 1, 0, 0), false);
        if let Some((a, b, c, inclusive)) = self.max
            && (a, b, c) < hi
        {
            (hi, hi_in) = ((a, b, c), inclusive);
        }
        lo < hi || (lo == hi && lo_in && hi_in)
    }
}

/// `H Config/ScriptJobHostOptionsSetup.ConfigureFunctionTimeout` and the docs' timeout table
/// (`functions-scale`): unset is 30 minutes, or 5 on Consumption (`WEBSITE_SKU` `Dynamic`); `-1`
/// is unbounded except on Consumption; otherwise at least 1 second, and at most 10 minutes on
/// Consumption.
fn function_timeout(value: Option<&Value>, consumption: bool) -> Result<Duration, String> {
    const UNBOUNDED: Duration = Duration::from_secs(100 * 365 * 86_400);
    let bounds = if consumption {
        "FunctionTimeout must be greater than 00:00:01 and less than 00:10:00."
    } else {
        "FunctionTimeout must be greater than 00:00:01."
    };
    let Some(value) = value else {
        return Ok(Duration::from_secs(if consumption { 300 } else { 1_800 }));
    };
    let text = value
        .as_str()
        .ok_or_else(|| "must be a timespan like \"00:05:00\"".to_owned())?;
    if text.trim() == "-1" {
        return if consumption {
            Err(format!(
                "{bounds} (\"-1\", unbounded, is not allowed on Consumption: WEBSITE_SKU is Dynamic)"
            ))
        } else {
            Ok(UNBOUNDED)
        };
    }
    let timeout = parse_timespan(text)
        .ok_or_else(|| "must be a timespan like \"00:05:00\" or \"-1\"".to_owned())?;
    let too_long = consumption && timeout > Duration::from_secs(600);
    if timeout < Duration::from_secs(1) || too_long {
        return Err(bounds.to_owned());
    }
    Ok(timeout)
}

#[cfg(test)]
mod checks {
    use super::*;
    use serde_json::json;

    #[test]
    fn arguments_are_sanitised_as_the_host_does() {
        let p = HandlerProcess {
            executable: "h".into(),
            arguments: vec![
                "--port".into(),
                "%FUNCTIONS_CUSTOMHANDLER_PORT%".into(),
                "%UNSET%".into(),
                "a b".into(),
                "50% off 60%x".into(),
            ],
            working_directory: ".".into(),
            initialization_timeout: Duration::from_secs(30),
        };
        assert_eq!(
            p.arguments_for(7, "id"),
            vec!["--port", "7", "a", "b", "50x"]
        );
    }

    #[test]
    fn bundle_ranges() {
        let ok = |v: &str| {
            check_extension_bundle(
                &json!({"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": v}),
            )
        };
        assert!(ok("[4.*, 5.0.0)").is_ok());
        assert!(ok("[3.3.0, 4.0.0)").is_ok());
        assert!(ok("3.3.0").is_ok());
        assert!(ok("[4.0.0]").is_ok());
        assert!(ok("[2.*, 3.0.0)").is_err());
        assert!(ok("[5.*, 6.0.0)").is_err());
        assert!(ok("not-a-range").is_err());
        assert!(ok("").is_err());
    }

    #[test]
    fn timeouts() {
        let t = |v: Option<&str>, c| function_timeout(v.map(|s| json!(s)).as_ref(), c);
        assert_eq!(t(None, false), Ok(Duration::from_secs(1_800)));
        assert_eq!(t(None, true), Ok(Duration::from_secs(300)));
        assert!(t(Some("-1"), false).unwrap() > Duration::from_secs(86_400 * 365));
        assert!(t(Some("-1"), true).is_err());
        assert!(t(Some("00:11:00"), true).is_err());
        assert_eq!(t(Some("00:11:00"), false), Ok(Duration::from_secs(660)));
        assert!(t(Some("00:00:00"), false).is_err());
    }
}
