//! Which Application Insights operation and role the host's own rows belong to, as the real host
//! writes them.
//!
//! * Role (SDK `Logging.ApplicationInsights/Initializers/WebJobsRoleEnvironmentTelmetryInitializer`):
//!   `WEBSITE_CLOUD_ROLENAME`, else lower-case `WEBSITE_SITE_NAME` with `-<slot>` when
//!   `WEBSITE_SLOT_NAME` is set and not `Production`; the instrumentation key is the app's
//!   `APPLICATIONINSIGHTS_CONNECTION_STRING`'s.
//! * Operation: an HTTP trigger's request continues the client's W3C `traceparent` (ASP.NET Core's
//!   request activity); a Service Bus trigger's request continues the message's `Diagnostic-Id`
//!   application property (the sending SDK's `Message` activity, which `ServiceBusProcessor.
//!   ProcessMessage` links to); without one, a new trace. Each output message gets a
//!   `Diagnostic-Id` in the invocation's trace (`Azure.Messaging.ServiceBus`
//!   `ServiceBusSender.InstrumentMessages`), so the trigger that receives it continues the sender's
//!   operation.

use std::collections::BTreeMap;

/// The application property carrying a message's trace context.
pub const DIAGNOSTIC_ID: &str = "Diagnostic-Id";

/// One invocation's place in a trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `ai.operation.id`: the W3C trace id (32 hex digits).
    pub trace_id: String,
    /// `ai.operation.parentId`: the span continued (16 hex digits), if any.
    pub parent_id: Option<String>,
    /// The request row's own id (16 hex digits).
    pub request_id: String,
    /// The W3C `tracestate` continued with the trace, if any.
    pub trace_state: Option<String>,
}

impl Operation {
    /// Continue `traceparent` (`00-<trace>-<span>-<flags>`) when it is valid, else start a trace.
    pub fn continue_from(traceparent: Option<&str>) -> Self {
        match traceparent.and_then(parse) {
            Some((trace, span)) => Self {
                trace_id: trace,
                parent_id: Some(span),
                request_id: span_id(),
                trace_state: None,
            },
            None => Self {
                trace_id: uuid::Uuid::new_v4().simple().to_string(),
                parent_id: None,
                request_id: span_id(),
                trace_state: None,
            },
        }
    }

    /// Keep `tracestate` with a continued trace (ASP.NET Core's request activity reads it with a
    /// valid `traceparent`).
    #[must_use]
    pub fn with_trace_state(mut self, trace_state: Option<&str>) -> Self {
        if self.parent_id.is_some() {
            self.trace_state = trace_state
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned);
        }
        self
    }

    /// A child span's `traceparent` in this operation, and the child's id.
    pub fn child(&self) -> (String, String) {
        let span = span_id();
        (format!("00-{}-{span}-01", self.trace_id), span)
    }
}

/// A new span id: 16 hex digits.
pub fn span_id() -> String {
    let mut id = uuid::Uuid::new_v4().simple().to_string();
    id.truncate(16);
    id
}

/// W3C `traceparent`, version `00`: the trace id and span id when both are well-formed and not
/// all zeros.
fn parse(text: &str) -> Option<(String, String)> {
    let mut parts = text.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && s.bytes().any(|b| b != b'0')
    };
    (version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(span, 16)
        && flags.len() == 2)
        .then(|| (trace.to_owned(), span.to_owned()))
}

/// The host's role name and instrumentation key for an app's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostIdentity {
    /// `ai.cloud.role`.
    pub role: String,
    /// `iKey`.
    pub ikey: String,
}

impl HostIdentity {
    /// From the handler's environment (the app settings plus what the devhost adds). Without
    /// `WEBSITE_CLOUD_ROLENAME` or `WEBSITE_SITE_NAME` (as under `func start`) the host sets no role;
    /// the devhost uses `devhost` so that its map has a name.
    pub fn from_settings(env: &BTreeMap<String, String>) -> Self {
        let get = |k: &str| env.get(k).filter(|v| !v.trim().is_empty());
        let role = get("WEBSITE_CLOUD_ROLENAME").cloned().or_else(|| {
            get("WEBSITE_SITE_NAME").map(|site| {
                let mut role = site.to_lowercase();
                if let Some(slot) = get("WEBSITE_SLOT_NAME")
                    && !slot.eq_ignore_ascii_case("production")
                {
                    role.push('-');
                    role.push_str(&slot.to_lowercase());
                }
                role
            })
        });
        let ikey = get("APPLICATIONINSIGHTS_CONNECTION_STRING")
            .and_then(|cs| {
                cs.split(';').find_map(|part| {
                    let (k, v) = part.split_once('=')?;
                    k.trim()
                        .eq_ignore_ascii_case("InstrumentationKey")
                        .then(|| v.trim().to_owned())
                })
            })
            .unwrap_or_else(|| "00000000-0000-0000-0000-000000000000".to_owned());
        Self {
            role: role.unwrap_or_else(|| "devhost".to_owned()),
            ikey,
        }
    }
}

impl Default for HostIdentity {
    fn default() -> Self {
        Self::from_settings(&BTreeMap::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_continued_when_valid() {
        let t = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let op = Operation::continue_from(Some(t));
        assert_eq!(op.trace_id, "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(op.parent_id.as_deref(), Some("b7ad6b7169203331"));
        assert_eq!(op.request_id.len(), 16);
        for bad in [
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",
            "garbage",
        ] {
            let op = Operation::continue_from(Some(bad));
            assert!(op.parent_id.is_none(), "{bad}");
            assert_eq!(op.trace_id.len(), 32);
        }
        let (tp, span) = op.child();
        assert_eq!(tp, format!("00-{}-{span}-01", op.trace_id));
        assert_eq!(Operation::continue_from(Some(&tp)).trace_id, op.trace_id);
    }

    #[test]
    fn role_and_key_follow_the_initializer() {
        let m = |p: &[(&str, &str)]| -> BTreeMap<String, String> {
            p.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
        };
        let id = HostIdentity::from_settings(&m(&[
            ("WEBSITE_SITE_NAME", "PyhApp"),
            ("WEBSITE_SLOT_NAME", "Staging"),
            (
                "APPLICATIONINSIGHTS_CONNECTION_STRING",
                "InstrumentationKey=abc;IngestionEndpoint=http://x",
            ),
        ]));
        assert_eq!(
            (id.role.as_str(), id.ikey.as_str()),
            ("pyhapp-staging", "abc")
        );
        let id = HostIdentity::from_settings(&m(&[
            ("WEBSITE_SITE_NAME", "PyhApp"),
            ("WEBSITE_SLOT_NAME", "Production"),
            ("WEBSITE_CLOUD_ROLENAME", "Named"),
        ]));
        assert_eq!(id.role, "Named");
        assert_eq!(HostIdentity::default().role, "devhost");
    }
}
