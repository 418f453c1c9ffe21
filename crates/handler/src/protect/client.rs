//! Who the client is: the rate-limit and velocity key of one request.
//!
//! The Functions host passes the client's headers through unchanged, and the Azure front end in
//! front of it appends the address it saw the connection come from to `X-Forwarded-For`. Every
//! entry left of that one is whatever the client (or a proxy of its choosing) wrote, so only the
//! entry `hops` positions from the right is trusted: 1 (the default) is the front end's own entry;
//! each further trusted proxy in front (Front Door, API Management) adds one. Without a usable
//! entry the key falls back to the job's tenant, then to one shared anonymous key.

use std::net::{IpAddr, SocketAddr};

use serde::Deserialize;
use wire::HttpRequestData;

/// The forwarded-for header the Azure front end appends to.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client a request is attributed to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// The trusted client address.
    Ip(IpAddr),
    /// No trusted address: the `tenantId` of the submitted job.
    Tenant(String),
    /// Neither: every such request shares one bucket.
    Anonymous,
}

impl std::fmt::Display for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ip(ip) => write!(f, "ip:{ip}"),
            Self::Tenant(t) => write!(f, "tenant:{t}"),
            Self::Anonymous => f.write_str("anonymous"),
        }
    }
}

/// The key of one request: the trusted forwarded address, else the body's tenant.
pub fn client_key(req: &HttpRequestData, hops: usize) -> ClientKey {
    if let Some(ip) = forwarded_client(req, hops) {
        return ClientKey::Ip(ip);
    }
    #[derive(Deserialize)]
    struct Peek {
        #[serde(rename = "tenantId")]
        tenant_id: Option<String>,
    }
    req.body
        .as_deref()
        .and_then(|b| serde_json::from_str::<Peek>(b).ok())
        .and_then(|p| p.tenant_id)
        .filter(|t| !t.is_empty() && t.len() <= 128)
        .map_or(ClientKey::Anonymous, ClientKey::Tenant)
}

/// The `hops`-th `X-Forwarded-For` entry from the right, if it is an address. Every header
/// instance counts, in order, each possibly a comma-separated list.
pub fn forwarded_client(req: &HttpRequestData, hops: usize) -> Option<IpAddr> {
    let entries: Vec<&str> = req
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(FORWARDED_FOR))
        .flat_map(|(_, values)| values.iter())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .collect();
    let entry = entries
        .len()
        .checked_sub(hops)
        .and_then(|i| entries.get(i))?;
    parse_address(entry)
}

/// `1.2.3.4`, `1.2.3.4:5678` (the front end appends the port), `2001:db8::1` or `[2001:db8::1]:443`.
fn parse_address(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .and_then(|e| e.parse().ok())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(xff: &[&str], body: Option<&str>) -> HttpRequestData {
        let mut r = HttpRequestData::default();
        if !xff.is_empty() {
            r.headers.insert(
                "X-Forwarded-For".into(),
                xff.iter().map(|s| (*s).to_owned()).collect(),
            );
        }
        r.body = body.map(str::to_owned);
        r
    }

    #[test]
    fn the_last_hop_is_trusted_and_ports_are_dropped() {
        let r = req(&["6.6.6.6, 203.0.113.7:51234"], None);
        assert_eq!(client_key(&r, 1).to_string(), "ip:203.0.113.7");
        assert_eq!(client_key(&r, 2).to_string(), "ip:6.6.6.6");
        let r = req(&["1.1.1.1", "[2001:db8::1]:443"], None);
        assert_eq!(client_key(&r, 1).to_string(), "ip:2001:db8::1");
        let r = req(&["2001:db8::2"], None);
        assert_eq!(client_key(&r, 1).to_string(), "ip:2001:db8::2");
    }

    #[test]
    fn falls_back_to_the_tenant_then_anonymous() {
        let body = r#"{"tenantId":"contoso","jobType":"report"}"#;
        assert_eq!(
            client_key(&req(&[], Some(body)), 1).to_string(),
            "tenant:contoso"
        );
        assert_eq!(
            client_key(&req(&["garbage"], Some(body)), 1).to_string(),
            "tenant:contoso"
        );
        assert_eq!(
            client_key(&req(&["1.2.3.4"], Some(body)), 2).to_string(),
            "tenant:contoso"
        );
        assert_eq!(
            client_key(&req(&[], Some("not json")), 1),
            ClientKey::Anonymous
        );
        assert_eq!(client_key(&req(&[], None), 1), ClientKey::Anonymous);
    }
}
