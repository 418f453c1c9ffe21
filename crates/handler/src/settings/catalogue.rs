//! Every setting the handler reads: the catalogue the reader takes its names from, so a setting
//! is named in exactly one place. The README's configuration table lists the same settings (a
//! test holds the two together, both ways).

use super::reader::{Setting, SettingDefault};

const fn setting(name: &'static str, default: SettingDefault, about: &'static str) -> Setting {
    Setting {
        name,
        default,
        about,
    }
}

/// `FUNCTIONS_CUSTOMHANDLER_PORT`: the Functions host sets it; set it yourself to run the handler standalone.
pub const PORT: Setting = setting(
    "FUNCTIONS_CUSTOMHANDLER_PORT",
    SettingDefault::Required,
    "the Functions host sets it; set it yourself to run the handler standalone",
);
/// `FUNCTIONS_APP_ROOT_PATH`: the app root the host sets; JOB_TYPES_DIR is relative to it.
pub const APP_ROOT: Setting = setting(
    "FUNCTIONS_APP_ROOT_PATH",
    SettingDefault::Unset,
    "the app root the host sets; JOB_TYPES_DIR is relative to it",
);
/// `CHAOS_FAILURE_RATE`: fraction of processing attempts that fail on purpose.
pub const CHAOS_FAILURE_RATE: Setting = setting(
    "CHAOS_FAILURE_RATE",
    SettingDefault::Value("0.2"),
    "fraction of processing attempts that fail on purpose",
);
/// `CHAOS_SEED`: makes chaos outcomes reproducible.
pub const CHAOS_SEED: Setting = setting(
    "CHAOS_SEED",
    SettingDefault::Unset,
    "makes chaos outcomes reproducible",
);
/// `PROCESSING_DELAY_MS`: simulated work per processing attempt.
pub const PROCESSING_DELAY_MS: Setting = setting(
    "PROCESSING_DELAY_MS",
    SettingDefault::Value("200"),
    "simulated work per processing attempt",
);
/// `JOB_TYPES_DIR`: folder of job type schemas.
pub const JOB_TYPES_DIR: Setting = setting(
    "JOB_TYPES_DIR",
    SettingDefault::Value("job-types"),
    "folder of job type schemas",
);
/// `LOG_FORMAT`: console log format.
pub const LOG_FORMAT: Setting = setting(
    "LOG_FORMAT",
    SettingDefault::Value("auto"),
    "console log format",
);
/// `RUST_LOG`: console log filter.
pub const RUST_LOG: Setting = setting(
    "RUST_LOG",
    SettingDefault::Value("info"),
    "console log filter",
);
/// `SHUTDOWN_GRACE_SECS`: how long in-flight invocations may drain after SIGTERM.
pub const SHUTDOWN_GRACE_SECS: Setting = setting(
    "SHUTDOWN_GRACE_SECS",
    SettingDefault::Value("25"),
    "how long in-flight invocations may drain after SIGTERM",
);
/// `APPLICATIONINSIGHTS_CONNECTION_STRING`: where telemetry is exported.
pub const CONNECTION_STRING: Setting = setting(
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    SettingDefault::Unset,
    "where telemetry is exported",
);
/// `WEBSITE_CLOUD_ROLENAME`: cloud role name of the telemetry.
pub const CLOUD_ROLE_NAME: Setting = setting(
    "WEBSITE_CLOUD_ROLENAME",
    SettingDefault::Unset,
    "cloud role name of the telemetry",
);
/// `WEBSITE_SITE_NAME`: the app's name; its lower case is the role name without WEBSITE_CLOUD_ROLENAME.
pub const SITE_NAME: Setting = setting(
    "WEBSITE_SITE_NAME",
    SettingDefault::Unset,
    "the app's name; its lower case is the role name without WEBSITE_CLOUD_ROLENAME",
);
/// `WEBSITE_INSTANCE_ID`: role instance of the telemetry.
pub const INSTANCE_ID: Setting = setting(
    "WEBSITE_INSTANCE_ID",
    SettingDefault::Unset,
    "role instance of the telemetry",
);
/// `APPLICATIONINSIGHTS_AUTHENTICATION_STRING`: `Authorization=AAD[;ClientId=...]` sends an Entra ID token with telemetry.
pub const AUTHENTICATION_STRING: Setting = setting(
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    SettingDefault::Unset,
    "Authorization=AAD[;ClientId=...] sends an Entra ID token with telemetry",
);
/// `OTEL_METRIC_EXPORT_INTERVAL`: metric export interval.
pub const METRIC_EXPORT_INTERVAL: Setting = setting(
    "OTEL_METRIC_EXPORT_INTERVAL",
    SettingDefault::Value("60000"),
    "metric export interval",
);
/// `SERVICEBUS_MAX_DELIVERY_COUNT`: the jobs queue's MaxDeliveryCount.
pub const MAX_DELIVERY_COUNT: Setting = setting(
    "SERVICEBUS_MAX_DELIVERY_COUNT",
    SettingDefault::Value("10"),
    "the jobs queue's MaxDeliveryCount",
);
/// `RATE_LIMIT_CLIENT_BURST`: tokens in each client's bucket.
pub const CLIENT_BURST: Setting = setting(
    "RATE_LIMIT_CLIENT_BURST",
    SettingDefault::Value("100"),
    "tokens in each client's bucket",
);
/// `RATE_LIMIT_CLIENT_REFILL_PER_SECOND`: tokens added to a client's bucket per second.
pub const CLIENT_REFILL: Setting = setting(
    "RATE_LIMIT_CLIENT_REFILL_PER_SECOND",
    SettingDefault::Value("10"),
    "tokens added to a client's bucket per second",
);
/// `RATE_LIMIT_GLOBAL_PER_MINUTE`: requests per minute one instance admits.
pub const GLOBAL_PER_MINUTE: Setting = setting(
    "RATE_LIMIT_GLOBAL_PER_MINUTE",
    SettingDefault::Value("10000"),
    "requests per minute one instance admits",
);
/// `RATE_LIMIT_GLOBAL_BURST`: how many of those may arrive at once (default: the per-minute rate).
pub const GLOBAL_BURST: Setting = setting(
    "RATE_LIMIT_GLOBAL_BURST",
    SettingDefault::Unset,
    "how many of those may arrive at once (default: the per-minute rate)",
);
/// `CLIENT_IP_HOPS`: which X-Forwarded-For entry, from the right, is the client.
pub const CLIENT_IP_HOPS: Setting = setting(
    "CLIENT_IP_HOPS",
    SettingDefault::Value("1"),
    "which X-Forwarded-For entry, from the right, is the client",
);
/// `VELOCITY_FLAG_PER_MINUTE`: requests a minute above which a client's jobs are flagged.
pub const VELOCITY: Setting = setting(
    "VELOCITY_FLAG_PER_MINUTE",
    SettingDefault::Value("10"),
    "requests a minute above which a client's jobs are flagged",
);
/// `BACKPRESSURE_LOW_THRESHOLD`: queue depth above which low-priority jobs are shed.
pub const LOW_THRESHOLD: Setting = setting(
    "BACKPRESSURE_LOW_THRESHOLD",
    SettingDefault::Value("5000"),
    "queue depth above which low-priority jobs are shed",
);
/// `BACKPRESSURE_NORMAL_THRESHOLD`: queue depth above which normal-priority jobs are shed.
pub const NORMAL_THRESHOLD: Setting = setting(
    "BACKPRESSURE_NORMAL_THRESHOLD",
    SettingDefault::Value("10000"),
    "queue depth above which normal-priority jobs are shed",
);
/// `BACKPRESSURE_REFRESH_MS`: how often the queue depth is read.
pub const REFRESH: Setting = setting(
    "BACKPRESSURE_REFRESH_MS",
    SettingDefault::Value("5000"),
    "how often the queue depth is read",
);
/// `BACKPRESSURE_RETRY_AFTER_SECS`: Retry-After of a shed request.
pub const SHED_RETRY_AFTER: Setting = setting(
    "BACKPRESSURE_RETRY_AFTER_SECS",
    SettingDefault::Value("10"),
    "Retry-After of a shed request",
);
/// `JOB_TYPE_PRIORITIES`: job type priorities for backpressure.
pub const PRIORITIES: Setting = setting(
    "JOB_TYPE_PRIORITIES",
    SettingDefault::Unset,
    "job type priorities for backpressure",
);
/// `SERVICEBUS_ENDPOINT`: the Service Bus endpoint (else https:// + the namespace).
pub const SERVICEBUS_ENDPOINT: Setting = setting(
    "SERVICEBUS_ENDPOINT",
    SettingDefault::Unset,
    "the Service Bus endpoint (else https:// + the namespace)",
);
/// `ServiceBusConnection__fullyQualifiedNamespace`: the Service Bus namespace of the bindings' identity connection.
pub const NAMESPACE: Setting = setting(
    "ServiceBusConnection__fullyQualifiedNamespace",
    SettingDefault::Unset,
    "the Service Bus namespace of the bindings' identity connection",
);
/// `SERVICEBUS_QUEUE`: the queue whose depth is read and backoff copies go to.
pub const QUEUE: Setting = setting(
    "SERVICEBUS_QUEUE",
    SettingDefault::Value("jobs"),
    "the queue whose depth is read and backoff copies go to",
);
/// `IDENTITY_ENDPOINT`: set by Azure where a managed identity is available.
pub const IDENTITY_ENDPOINT: Setting = setting(
    "IDENTITY_ENDPOINT",
    SettingDefault::Unset,
    "set by Azure where a managed identity is available",
);
/// `ServiceBusConnection__clientId`: client id of a user-assigned managed identity.
pub const CLIENT_ID: Setting = setting(
    "ServiceBusConnection__clientId",
    SettingDefault::Unset,
    "client id of a user-assigned managed identity",
);
/// `RETRY_BACKOFF`: backoff mode on or off.
pub const RETRY_BACKOFF: Setting = setting(
    "RETRY_BACKOFF",
    SettingDefault::Value("on"),
    "backoff mode on or off",
);
/// `RETRY_BASE_MS`: backoff base delay.
pub const RETRY_BASE_MS: Setting = setting(
    "RETRY_BASE_MS",
    SettingDefault::Value("1000"),
    "backoff base delay",
);
/// `RETRY_CAP_MS`: largest single backoff delay.
pub const RETRY_CAP_MS: Setting = setting(
    "RETRY_CAP_MS",
    SettingDefault::Value("60000"),
    "largest single backoff delay",
);
/// `RETRY_MAX_ATTEMPTS`: processing attempts per job, the first included.
pub const RETRY_MAX_ATTEMPTS: Setting = setting(
    "RETRY_MAX_ATTEMPTS",
    SettingDefault::Value("5"),
    "processing attempts per job, the first included",
);

/// Every setting above, in the order the README lists them.
pub const ALL: &[Setting] = &[
    PORT,
    APP_ROOT,
    CHAOS_FAILURE_RATE,
    CHAOS_SEED,
    PROCESSING_DELAY_MS,
    JOB_TYPES_DIR,
    LOG_FORMAT,
    RUST_LOG,
    SHUTDOWN_GRACE_SECS,
    CONNECTION_STRING,
    CLOUD_ROLE_NAME,
    SITE_NAME,
    INSTANCE_ID,
    AUTHENTICATION_STRING,
    METRIC_EXPORT_INTERVAL,
    MAX_DELIVERY_COUNT,
    CLIENT_BURST,
    CLIENT_REFILL,
    GLOBAL_PER_MINUTE,
    GLOBAL_BURST,
    CLIENT_IP_HOPS,
    VELOCITY,
    LOW_THRESHOLD,
    NORMAL_THRESHOLD,
    REFRESH,
    SHED_RETRY_AFTER,
    PRIORITIES,
    SERVICEBUS_ENDPOINT,
    NAMESPACE,
    QUEUE,
    IDENTITY_ENDPOINT,
    CLIENT_ID,
    RETRY_BACKOFF,
    RETRY_BASE_MS,
    RETRY_CAP_MS,
    RETRY_MAX_ATTEMPTS,
];
