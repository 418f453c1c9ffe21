//! The `host.json` sections whose keys the devhost checks one by one: `customHandler` (the host's
//! `HttpWorkerOptions`), `customHandler.description` (`HttpWorkerDescription`),
//! `extensions.serviceBus` (the Service Bus extension's `ServiceBusOptions`) and `extensions.http`
//! (the HTTP extension's `HttpOptions` with the host's `customHeaders` and `hsts`). Each key is honoured,
//! accepted with a start-up warning saying it has no effect locally, or refused naming it. The host
//! binds these sections with the .NET configuration binder, which ignores case and unknown keys;
//! the devhost also ignores case but refuses unknown keys (a typo would otherwise pass silently).

use serde_json::Value;
use tracing::warn;

/// A key of a JSON object, ignoring case (as `IConfiguration` does).
pub(super) fn get<'a>(object: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    object?
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// How the devhost treats one key.
#[derive(Clone, Copy)]
enum Key {
    /// Read and acted on.
    Honoured,
    /// Accepted; a warning says why it changes nothing locally.
    NoEffect(&'static str),
    /// Refused unless it has its default value (given as JSON text).
    OnlyDefault(&'static str, &'static str),
}

/// `H Workers/Http/HttpWorkerOptions` (properties bound from `customHandler`).
const CUSTOM_HANDLER: &[(&str, Key)] = &[
    ("description", Key::Honoured),
    ("enableForwardingHttpRequest", Key::Honoured),
    ("initializationTimeout", Key::Honoured),
    (
        "enableProxyingHttpRequest",
        Key::OnlyDefault("false", "proxying HTTP requests to the handler (YARP)"),
    ),
];

/// `H Workers/Http/HttpWorkerDescription` (and its `WorkerDescription` base).
const DESCRIPTION: &[(&str, Key)] = &[
    ("defaultExecutablePath", Key::Honoured),
    ("arguments", Key::Honoured),
    ("workingDirectory", Key::Honoured),
    (
        "defaultWorkerPath",
        Key::OnlyDefault("null", "a worker path appended to the command line"),
    ),
    (
        "workerArguments",
        Key::OnlyDefault("null", "arguments after the worker path"),
    ),
];

const NO_CLIENT: &str = "it configures the client's connection to Service Bus, and the devhost's bindings use its local Service Bus in-process";
const NO_SESSIONS: &str = "it applies to session-enabled triggers, which the devhost refuses";
const NO_BATCH_WAIT: &str =
    "it applies only with minMessageBatchSize above 1, which the devhost refuses";

/// SB `Config/ServiceBusOptions` (extension 5.x), as bound from `extensions.serviceBus`.
const SERVICE_BUS: &[(&str, Key)] = &[
    ("maxConcurrentCalls", Key::Honoured),
    ("autoCompleteMessages", Key::Honoured),
    ("maxAutoLockRenewalDuration", Key::Honoured),
    (
        "prefetchCount",
        Key::NoEffect(
            "the devhost receives from its local store on demand; prefetched messages whose locks lapse in the client's buffer are not emulated",
        ),
    ),
    ("clientRetryOptions", Key::NoEffect(NO_CLIENT)),
    ("transportType", Key::NoEffect(NO_CLIENT)),
    ("webProxy", Key::NoEffect(NO_CLIENT)),
    ("maxConcurrentSessions", Key::NoEffect(NO_SESSIONS)),
    ("maxConcurrentCallsPerSession", Key::NoEffect(NO_SESSIONS)),
    ("sessionIdleTimeout", Key::NoEffect(NO_SESSIONS)),
    ("maxMessageBatchSize", Key::Honoured),
    (
        "minMessageBatchSize",
        Key::OnlyDefault(
            "1",
            "waiting for a minimum batch (minMessageBatchSize above 1)",
        ),
    ),
    ("maxBatchWaitTime", Key::NoEffect(NO_BATCH_WAIT)),
    (
        "enableCrossEntityTransactions",
        Key::NoEffect(
            "the devhost already sends one invocation's output messages in one local transaction",
        ),
    ),
    (
        "jsonSerializerSettings",
        Key::NoEffect("it applies to binding .NET types, and a custom handler receives strings"),
    ),
];

/// EXT `Config/HttpOptions` (`extensions.http`), plus the host's `customHeaders` and `hsts`
/// (H `Config/ConfigurationSectionNames`).
const HTTP: &[(&str, Key)] = &[
    ("routePrefix", Key::Honoured),
    ("maxConcurrentRequests", Key::Honoured),
    ("maxOutstandingRequests", Key::Honoured),
    (
        "dynamicThrottlesEnabled",
        Key::OnlyDefault(
            "false",
            "rejecting requests when the host's performance counters are over their thresholds (dynamicThrottlesEnabled)",
        ),
    ),
    ("customHeaders", Key::Honoured),
    (
        "hsts",
        Key::NoEffect(
            "ASP.NET Core's HSTS middleware adds its header to HTTPS responses only, and the devhost serves HTTP, as func start does",
        ),
    ),
];

/// Check the four sections; `(field, problem)` for the first key refused.
pub(super) fn check(host: &Value) -> Result<(), (String, String)> {
    let custom = host.get("customHandler");
    section(custom, "customHandler", CUSTOM_HANDLER)?;
    section(
        get(custom, "description"),
        "customHandler.description",
        DESCRIPTION,
    )?;
    section(
        get(host.get("extensions"), "serviceBus"),
        "extensions.serviceBus",
        SERVICE_BUS,
    )?;
    section(get(host.get("extensions"), "http"), "extensions.http", HTTP)?;
    // SDK `ConcurrencyOptions.DynamicConcurrencyEnabled`: the extension then ignores
    // `maxConcurrentCalls` and adjusts concurrency itself (SB `ServiceBusOptions.MaxConcurrentCalls`).
    if get(get(Some(host), "concurrency"), "dynamicConcurrencyEnabled").and_then(Value::as_bool)
        == Some(true)
    {
        return Err((
            "concurrency.dynamicConcurrencyEnabled".into(),
            "dynamic concurrency is not supported by the devhost (see docs/PARITY.md): set maxConcurrentCalls instead".into(),
        ));
    }
    Ok(())
}

fn section(
    object: Option<&Value>,
    path: &str,
    known: &[(&str, Key)],
) -> Result<(), (String, String)> {
    let Some(fields) = object.and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, value) in fields {
        let field = format!("{path}.{key}");
        let Some((_, how)) = known.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) else {
            let names: Vec<&str> = known.iter().map(|(k, _)| *k).collect();
            return Err((
                field,
                format!(
                    "is not a key the devhost knows in {path} ({}): not supported by the devhost (see docs/PARITY.md)",
                    names.join(", ")
                ),
            ));
        };
        match how {
            Key::Honoured => {}
            Key::NoEffect(why) => {
                warn!("host.json {field} is accepted and has no effect in the devhost: {why}");
            }
            Key::OnlyDefault(default, what) => {
                let is_default =
                    serde_json::from_str::<Value>(default).ok().as_ref() == Some(value);
                if !is_default {
                    return Err((
                        field,
                        format!("{what} is not supported by the devhost (see docs/PARITY.md)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_are_honoured_accepted_or_refused() {
        let ok = json!({"customHandler": {"Description": {"defaultExecutablePath": "h"},
            "initializationTimeout": "00:00:10", "enableProxyingHttpRequest": false},
            "extensions": {"serviceBus": {"prefetchCount": 10, "MaxConcurrentCalls": 2}}});
        assert!(check(&ok).is_ok());
        let typo = json!({"extensions": {"serviceBus": {"maxConcurentCalls": 2}}});
        let (field, problem) = check(&typo).unwrap_err();
        assert_eq!(field, "extensions.serviceBus.maxConcurentCalls");
        assert!(
            problem.contains("not supported by the devhost"),
            "{problem}"
        );
        let proxy = json!({"customHandler": {"enableProxyingHttpRequest": true}});
        assert_eq!(
            check(&proxy).unwrap_err().0,
            "customHandler.enableProxyingHttpRequest"
        );
        let worker = json!({"customHandler": {"description": {"defaultWorkerPath": "w.py"}}});
        assert_eq!(
            check(&worker).unwrap_err().0,
            "customHandler.description.defaultWorkerPath"
        );
        let dynamic = json!({"concurrency": {"dynamicConcurrencyEnabled": true}});
        assert!(check(&dynamic).is_err());
    }
}
