//! Every setting the handler reads: the catalogue the reader takes its names from, so a setting
//! is named in exactly one place. The README's configuration table lists the same settings (a
//! test holds the two together, both ways).

use super::reader::Setting;
use super::reader::SettingDefault::{Required, Unset, Value};

/// Declares each setting as a constant (documented with its name and what it does) and [`ALL`],
/// in the order given: `CONST = "NAME", default, "what it does";`.
macro_rules! catalogue {
    ($($id:ident = $name:literal, $default:expr, $about:literal;)*) => {
        $(
            #[doc = concat!("`", $name, "`: ", $about, ".")]
            pub const $id: Setting = Setting { name: $name, default: $default, about: $about };
        )*
        /// Every setting above, in the order the README lists them.
        pub const ALL: &[Setting] = &[$($id),*];
    };
}

catalogue! {
    PORT = "FUNCTIONS_CUSTOMHANDLER_PORT", Required,
        "the Functions host sets it; set it yourself to run the handler standalone";
    APP_ROOT = "FUNCTIONS_APP_ROOT_PATH", Unset,
        "the app root the host sets; JOB_TYPES_DIR is relative to it";
    CHAOS_FAILURE_RATE = "CHAOS_FAILURE_RATE", Value("0.2"),
        "fraction of processing attempts that fail on purpose";
    CHAOS_SEED = "CHAOS_SEED", Unset,
        "makes chaos outcomes reproducible";
    PROCESSING_DELAY_MS = "PROCESSING_DELAY_MS", Value("200"),
        "simulated work per processing attempt";
    JOB_TYPES_DIR = "JOB_TYPES_DIR", Value("job-types"),
        "folder of job type schemas";
    LOG_FORMAT = "LOG_FORMAT", Value("auto"),
        "console log format";
    RUST_LOG = "RUST_LOG", Value("info"),
        "console log filter";
    SHUTDOWN_GRACE_SECS = "SHUTDOWN_GRACE_SECS", Value("25"),
        "how long in-flight invocations may drain after SIGTERM";
    CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING", Unset,
        "where telemetry is exported";
    CLOUD_ROLE_NAME = "WEBSITE_CLOUD_ROLENAME", Unset,
        "cloud role name of the telemetry";
    SITE_NAME = "WEBSITE_SITE_NAME", Unset,
        "the app's name; its lower case is the role name without WEBSITE_CLOUD_ROLENAME";
    INSTANCE_ID = "WEBSITE_INSTANCE_ID", Unset,
        "role instance of the telemetry";
    AUTHENTICATION_STRING = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING", Unset,
        "Authorization=AAD[;ClientId=...] sends an Entra ID token with telemetry";
    METRIC_EXPORT_INTERVAL = "OTEL_METRIC_EXPORT_INTERVAL", Value("60000"),
        "metric export interval";
    MAX_DELIVERY_COUNT = "SERVICEBUS_MAX_DELIVERY_COUNT", Value("10"),
        "the jobs queue's MaxDeliveryCount";
    CLIENT_BURST = "RATE_LIMIT_CLIENT_BURST", Value("100"),
        "tokens in each client's bucket";
    CLIENT_REFILL = "RATE_LIMIT_CLIENT_REFILL_PER_SECOND", Value("10"),
        "tokens added to a client's bucket per second";
    GLOBAL_PER_MINUTE = "RATE_LIMIT_GLOBAL_PER_MINUTE", Value("10000"),
        "requests per minute one instance admits";
    GLOBAL_BURST = "RATE_LIMIT_GLOBAL_BURST", Unset,
        "how many of those may arrive at once (default: the per-minute rate)";
    CLIENT_IP_HOPS = "CLIENT_IP_HOPS", Value("1"),
        "which X-Forwarded-For entry, from the right, is the client";
    VELOCITY = "VELOCITY_FLAG_PER_MINUTE", Value("10"),
        "requests a minute above which a client's jobs are flagged";
    LOW_THRESHOLD = "BACKPRESSURE_LOW_THRESHOLD", Value("5000"),
        "queue depth above which low-priority jobs are shed";
    NORMAL_THRESHOLD = "BACKPRESSURE_NORMAL_THRESHOLD", Value("10000"),
        "queue depth above which normal-priority jobs are shed";
    REFRESH = "BACKPRESSURE_REFRESH_MS", Value("5000"),
        "how often the queue depth is read";
    SHED_RETRY_AFTER = "BACKPRESSURE_RETRY_AFTER_SECS", Value("10"),
        "Retry-After of a shed request";
    PRIORITIES = "JOB_TYPE_PRIORITIES", Unset,
        "job type priorities for backpressure";
    SERVICEBUS_ENDPOINT = "SERVICEBUS_ENDPOINT", Unset,
        "the Service Bus endpoint (else https:// + the namespace)";
    NAMESPACE = "ServiceBusConnection__fullyQualifiedNamespace", Unset,
        "the Service Bus namespace of the bindings' identity connection";
    QUEUE = "SERVICEBUS_QUEUE", Value("jobs"),
        "the queue whose depth is read and backoff copies go to";
    IDENTITY_ENDPOINT = "IDENTITY_ENDPOINT", Unset,
        "set by Azure where a managed identity is available";
    CLIENT_ID = "ServiceBusConnection__clientId", Unset,
        "client id of a user-assigned managed identity";
    RETRY_BACKOFF = "RETRY_BACKOFF", Value("on"),
        "backoff mode on or off";
    RETRY_BASE_MS = "RETRY_BASE_MS", Value("1000"),
        "backoff base delay";
    RETRY_CAP_MS = "RETRY_CAP_MS", Value("60000"),
        "largest single backoff delay";
    RETRY_MAX_ATTEMPTS = "RETRY_MAX_ATTEMPTS", Value("5"),
        "processing attempts per job, the first included";
}
