//! `host.json` `extensions.http`, as the host binds it (EXT `Config/HttpOptions`; H
//! `Configuration/CustomHttpHeadersOptionsSetup` for `customHeaders`, `HostHstsOptionsSetup` for
//! `hsts`). Which keys exist and how each is treated: `host_keys`.

use serde_json::Value;

use super::host_keys::get;

/// The HTTP options the devhost honours (besides `routePrefix`, read with the routes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpOptions {
    /// `maxConcurrentRequests`: HTTP requests served at once (`None`: `-1`, unbounded).
    pub max_concurrent_requests: Option<usize>,
    /// `maxOutstandingRequests`: requests served or waiting (`None`: `-1`, unbounded); beyond it
    /// the host answers 429.
    pub max_outstanding_requests: Option<usize>,
    /// `customHeaders`: added to every function response that lacks them.
    pub custom_headers: Vec<(String, String)>,
}

impl HttpOptions {
    /// Whether the host's request queue is on (`H WebJobs.Script.WebHost/HttpRequestQueue.
    /// IsEnabled`).
    pub fn throttled(&self) -> bool {
        self.max_concurrent_requests.is_some() || self.max_outstanding_requests.is_some()
    }
}

/// Read `extensions.http` (keys ignoring case); `(field, problem)` for a value of the wrong shape.
pub fn parse(host: &Value) -> Result<HttpOptions, (String, String)> {
    let http = get(host.get("extensions"), "http");
    let limit = |key: &str| -> Result<Option<usize>, (String, String)> {
        let field = format!("extensions.http.{key}");
        match get(http, key) {
            None | Some(Value::Null) => Ok(None),
            // `DataflowBlockOptions.Unbounded`.
            Some(v) if v.as_i64() == Some(-1) => Ok(None),
            Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err((
                    field,
                    "must be a positive integer, or -1 for no limit (the host's dataflow block \
                     refuses other values)"
                        .to_owned(),
                )),
            },
        }
    };
    let mut custom_headers = Vec::new();
    if let Some(headers) = get(http, "customHeaders") {
        let Some(headers) = headers.as_object() else {
            return Err((
                "extensions.http.customHeaders".into(),
                "must be an object of header names and values".into(),
            ));
        };
        for (name, value) in headers {
            let valid = axum::http::HeaderName::try_from(name.as_str()).is_ok()
                && value
                    .as_str()
                    .is_some_and(|v| axum::http::HeaderValue::try_from(v).is_ok());
            if !valid {
                return Err((
                    format!("extensions.http.customHeaders.{name}"),
                    "must be a header name with a string value".into(),
                ));
            }
            custom_headers.push((name.clone(), value.as_str().unwrap_or_default().to_owned()));
        }
    }
    Ok(HttpOptions {
        max_concurrent_requests: limit("maxConcurrentRequests")?,
        max_outstanding_requests: limit("maxOutstandingRequests")?,
        custom_headers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn limits_and_headers_are_read_as_the_host_binds_them() {
        let none = parse(&json!({})).unwrap();
        assert!(!none.throttled());
        let set = parse(&json!({"extensions": {"http": {
            "MaxConcurrentRequests": 2, "maxOutstandingRequests": -1,
            "customHeaders": {"X-Frame-Options": "DENY"}}}}))
        .unwrap();
        assert_eq!(set.max_concurrent_requests, Some(2));
        assert_eq!(set.max_outstanding_requests, None);
        assert!(set.throttled());
        assert_eq!(
            set.custom_headers,
            [("X-Frame-Options".into(), "DENY".into())]
        );
        let (field, _) =
            parse(&json!({"extensions": {"http": {"maxOutstandingRequests": 0}}})).unwrap_err();
        assert_eq!(field, "extensions.http.maxOutstandingRequests");
        let (field, _) =
            parse(&json!({"extensions": {"http": {"customHeaders": {"a": 1}}}})).unwrap_err();
        assert_eq!(field, "extensions.http.customHeaders.a");
    }
}
