//! The invocation request the host builds for an HTTP trigger.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use wire::encoding::{body_field_metadata_value, encode_scalar, is_skipped_metadata_key};
use wire::{HttpRequestData, InvocationRequest};

use crate::binding_data::{contains_ignoring_case, insert_ignoring_case};
use crate::handler::invoker::sys_metadata;

/// An HTTP trigger request as it reached the devhost.
#[derive(Debug, Clone)]
pub struct IncomingHttp {
    /// Full URL.
    pub url: String,
    /// Method.
    pub method: String,
    /// Query parameters, a repeated key's values joined with `,` (as `Data.req.Query`).
    pub query: BTreeMap<String, String>,
    /// Query parameters, the last value of a repeated key (as the binding data).
    pub query_last: BTreeMap<String, String>,
    /// Headers, each name with its values.
    pub headers: BTreeMap<String, Vec<String>>,
    /// Raw body.
    pub body: Vec<u8>,
    /// Route values (`None`: an optional parameter that did not match).
    pub params: super::route::RouteValues,
    /// The claims identities (`Data.<req>.Identities`, see `identities`).
    pub identities: Value,
}

/// The invocation the host builds for an HTTP trigger bound as `binding`.
///
/// `Body` is present only for a non-empty body: text for textual content, base64 for
/// `application/octet-stream` and `multipart/*`. `Metadata` holds `Query`, `Headers`, `sys`, and,
/// for a JSON object body, its top-level members (scalars encoded as the host encodes them).
pub fn http_invocation(function: &str, binding: &str, req: &IncomingHttp) -> InvocationRequest {
    let content_type = req
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .and_then(|(_, v)| v.first())
        .map(|v| v.to_ascii_lowercase())
        .unwrap_or_default();
    let binary = content_type.starts_with("application/octet-stream")
        || content_type.starts_with("multipart/");
    let body = (!req.body.is_empty()).then(|| {
        if binary {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&req.body)
        } else {
            String::from_utf8_lossy(&req.body).into_owned()
        }
    });
    let data = HttpRequestData {
        url: req.url.clone(),
        method: req.method.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        params: BTreeMap::new(),
        identities: req.identities.clone(),
        body: body.clone(),
    };
    // The HTTP extension's `GetRequestBindingDataAsync` (azure-webjobs-sdk-extensions): body
    // fields, then query parameters except `code` (overriding them), then `Query` and `Headers`
    // unless a field already took those names. Its dictionary ignores case: a later key replaces
    // the value of an earlier one that differs only in case, and keeps the earlier spelling.
    let mut metadata = Map::new();
    if let Some(Value::Object(fields)) = body
        .as_deref()
        .filter(|_| !binary)
        .and_then(|b| serde_json::from_str(b).ok())
    {
        for (k, v) in fields {
            if let Some(converted) = body_field_metadata_value(&v) {
                insert_ignoring_case(&mut metadata, k, converted);
            }
        }
    }
    for (k, v) in &req.query_last {
        if !k.eq_ignore_ascii_case("code") {
            insert_ignoring_case(&mut metadata, k.clone(), encode_scalar(&json!(v)));
        }
    }
    // Route values come next and override (`GetRequestBindingData`); null ones are dropped.
    for (k, v) in &req.params {
        if let Some(v) = v {
            insert_ignoring_case(&mut metadata, k.clone(), encode_scalar(&json!(v)));
        }
    }
    if !contains_ignoring_case(&metadata, "Query") {
        metadata.insert("Query".into(), json!(req.query));
    }
    if !contains_ignoring_case(&metadata, "Headers") {
        // A dictionary of single strings: ASP.NET's `StringValues.ToString()` joins with ",".
        let joined: BTreeMap<&String, String> =
            req.headers.iter().map(|(k, v)| (k, v.join(","))).collect();
        metadata.insert("Headers".into(), json!(joined));
    }
    metadata.retain(|k, _| !is_skipped_metadata_key(k));
    metadata.insert("sys".into(), sys_metadata(function));
    let mut data_value = serde_json::to_value(&data).unwrap_or(Value::Null);
    // `Params` (`FunctionInvocationMiddleware.PopulateRouteData`): every route value as a
    // string, `null` for an optional one that did not match; `{}` for a literal route.
    if let Value::Object(fields) = &mut data_value {
        fields.insert("Params".into(), json!(req.params));
    }
    let mut data_map = Map::new();
    data_map.insert(binding.to_owned(), data_value);
    InvocationRequest {
        data: data_map,
        metadata,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_invocation_is_host_shaped() {
        let req = IncomingHttp {
            url: "http://127.0.0.1:7071/api/IngestJob?x=1&N=3&code=k".into(),
            method: "POST".into(),
            query: [
                ("x".to_owned(), "1".to_owned()),
                ("N".to_owned(), "3".to_owned()),
                ("code".to_owned(), "k".to_owned()),
            ]
            .into(),
            query_last: [
                ("x".to_owned(), "1".to_owned()),
                ("N".to_owned(), "3".to_owned()),
                ("code".to_owned(), "k".to_owned()),
            ]
            .into(),
            headers: [
                (
                    "Content-Type".to_owned(),
                    vec!["application/json".to_owned()],
                ),
                (
                    "Accept".to_owned(),
                    vec!["a/b".to_owned(), "c/d".to_owned()],
                ),
            ]
            .into(),
            body: br#"{"jobType":"report","n":2}"#.to_vec(),
            params: Default::default(),
            identities: json!([]),
        };
        let inv = http_invocation("IngestJob", "req", &req);
        let data = inv.http_trigger("req").unwrap();
        assert_eq!(data.body.as_deref(), Some(r#"{"jobType":"report","n":2}"#));
        assert_eq!(
            inv.data["req"]["Headers"]["Content-Type"],
            json!(["application/json"])
        );
        assert_eq!(inv.metadata["jobType"], json!("\"report\""));
        assert_eq!(
            inv.metadata["n"],
            json!("\"3\""),
            "a query parameter overrides a body field, ignoring case, keeping its spelling"
        );
        assert!(inv.metadata.get("N").is_none());
        assert_eq!(inv.metadata["x"], json!("\"1\""));
        assert!(inv.metadata.get("code").is_none(), "the key is never bound");
        assert_eq!(inv.metadata["Query"]["x"], json!("1"));
        assert_eq!(inv.metadata["Headers"]["Accept"], json!("a/b,c/d"));
        let empty = http_invocation(
            "IngestJob",
            "req",
            &IncomingHttp {
                body: vec![],
                ..req
            },
        );
        assert!(
            empty.data["req"].get("Body").is_none(),
            "no Body without content"
        );
    }
}
