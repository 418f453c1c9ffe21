//! Kestrel's server limits as `func start` and Azure run them (`KestrelServerLimits` defaults; the
//! host changes only the body size: `H WebJobs.Script.WebHost/Program.CreateWebHostBuilder`).

use std::time::Duration;

use tracing::warn;

/// Shortens the timeouts for the devhost's own tests (`keep-alive=6s,request-headers=2s,
/// body-grace=1s`); never set otherwise.
pub const TEST_OVERRIDE_VAR: &str = "DEVHOST_TEST_SERVER_LIMITS";

/// The time-based limits of the front end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// `KeepAliveTimeout`: how long a connection may wait for the first byte of a request.
    pub keep_alive: Duration,
    /// `RequestHeadersTimeout`: from a request's first byte to the end of its headers.
    pub request_headers: Duration,
    /// `MinRequestBodyDataRate.BytesPerSecond`.
    pub body_bytes_per_second: u64,
    /// `MinRequestBodyDataRate.GracePeriod`.
    pub body_grace: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            keep_alive: Duration::from_secs(130),
            request_headers: Duration::from_secs(30),
            body_bytes_per_second: 240,
            body_grace: Duration::from_secs(5),
        }
    }
}

impl ServerLimits {
    /// Kestrel's defaults, unless [`TEST_OVERRIDE_VAR`] shortens them.
    pub fn from_env() -> Self {
        let mut limits = Self::default();
        let Ok(spec) = std::env::var(TEST_OVERRIDE_VAR) else {
            return limits;
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let parsed = part
                .split_once('=')
                .and_then(|(k, v)| Some((k, duration(v)?)));
            match parsed {
                Some(("keep-alive", d)) => limits.keep_alive = d,
                Some(("request-headers", d)) => limits.request_headers = d,
                Some(("body-grace", d)) => limits.body_grace = d,
                _ => warn!("{TEST_OVERRIDE_VAR}: ignoring `{part}`"),
            }
        }
        warn!("{TEST_OVERRIDE_VAR} set: server limits {limits:?} instead of Kestrel's");
        limits
    }
}

/// `250ms` or `6s`.
fn duration(text: &str) -> Option<Duration> {
    if let Some(ms) = text.strip_suffix("ms") {
        return ms.parse().ok().map(Duration::from_millis);
    }
    text.strip_suffix('s')?
        .parse()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_kestrels() {
        let d = ServerLimits::default();
        assert_eq!(d.keep_alive, Duration::from_secs(130));
        assert_eq!(d.request_headers, Duration::from_secs(30));
        assert_eq!(d.body_bytes_per_second, 240);
        assert_eq!(d.body_grace, Duration::from_secs(5));
        assert_eq!(duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(duration("6s"), Some(Duration::from_secs(6)));
        assert_eq!(duration("6"), None);
    }
}
