use std::collections::BTreeMap;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// HTTP trigger input as the host sends it in `Data.<binding>`.
///
/// Built by `GetRequestAsJObject` in `Azure/azure-functions-host`
/// `src/WebJobs.Script/Extensions/HttpRequestExtensions.cs`: `Url` (scheme, host, path and query
/// string), `Method`, `Query` (`GetQueryCollectionAsJObject`: an object of strings; older hosts sent
/// `GetQueryCollectionAsString`, a JSON string: both are accepted), `Headers` (`JObject.FromObject`
/// of the header dictionary: each name maps to an *array* of strings; a single string is accepted
/// too), `Params` (route data, only when the route has some), `Identities` and `Body` (only when
/// `Content-Length > 0`: text, or for `application/octet-stream` and `multipart/*` the bytes,
/// which serialise as base64). Header names are compared case-insensitively by
/// [`HttpRequestData::header`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpRequestData {
    /// Full request URL.
    #[serde(rename = "Url", default)]
    pub url: String,
    /// HTTP method, upper case as the client sent it.
    #[serde(rename = "Method", default)]
    pub method: String,
    /// Query parameters.
    #[serde(rename = "Query", default, deserialize_with = "query_map")]
    pub query: BTreeMap<String, String>,
    /// Request headers; each name maps to its values.
    #[serde(rename = "Headers", default, deserialize_with = "header_map")]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Route parameters.
    #[serde(rename = "Params", default, deserialize_with = "string_map")]
    pub params: BTreeMap<String, String>,
    /// Claims identities, passed through as the host sends them.
    #[serde(rename = "Identities", default, skip_serializing_if = "Value::is_null")]
    pub identities: Value,
    /// Request body text, if any.
    #[serde(
        rename = "Body",
        default,
        deserialize_with = "body_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<String>,
}

impl HttpRequestData {
    /// Decode from the binding value (tolerant of the host variations listed on the type).
    pub fn from_value(value: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(value)
    }

    /// First value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }
}

/// `Outputs.<http output binding>`: the HTTP response the host returns to the client.
///
/// Read by `GetHttpOutputBindingResponse` in `Azure/azure-functions-host`
/// `src/WebJobs.Script/Workers/Http/HttpScriptInvocationResultExtensions.cs`, which deserialises it
/// (case-insensitively, Newtonsoft) as `HttpOutputBindingResponse { StatusCode, Status, Body, Headers }`:
/// `statusCode` (or `status`) may be a number or a string and defaults to 200, `body` a string (an
/// object is written out as indented JSON), `headers` a map of single string values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpResponseData {
    /// HTTP status code.
    #[serde(
        rename = "statusCode",
        alias = "StatusCode",
        alias = "status",
        alias = "Status",
        default = "ok",
        deserialize_with = "status_code",
        serialize_with = "status_code_out"
    )]
    pub status_code: u16,
    /// Response body text.
    #[serde(
        alias = "Body",
        default,
        deserialize_with = "response_body",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<String>,
    /// Response headers.
    #[serde(alias = "Headers", default, deserialize_with = "string_map")]
    pub headers: BTreeMap<String, String>,
}

impl HttpResponseData {
    /// A response with a status, a body and a `Content-Type`.
    pub fn new(status_code: u16, content_type: &str, body: impl Into<String>) -> Self {
        let mut headers = BTreeMap::new();
        headers.insert("Content-Type".to_owned(), content_type.to_owned());
        Self {
            status_code,
            body: Some(body.into()),
            headers,
        }
    }

    /// Add or replace a header.
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_owned(), value.into());
        self
    }

    /// A header by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn string_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(map)) => Ok(map
            .iter()
            .filter_map(|(k, v)| scalar_text(v).map(|s| (k.clone(), s)))
            .collect()),
        Some(other) => Err(de::Error::custom(format!(
            "expected an object of strings, got {other}"
        ))),
    }
}

fn query_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        // Pre-2020 hosts sent the query as a JSON string holding an object.
        Some(Value::String(text)) if text.trim().is_empty() => Ok(BTreeMap::new()),
        Some(Value::String(text)) => {
            let inner: Value = serde_json::from_str(&text)
                .map_err(|e| de::Error::custom(format!("Query is a string but not JSON: {e}")))?;
            string_map(inner).map_err(de::Error::custom)
        }
        Some(v) => string_map(v).map_err(de::Error::custom),
        None => Ok(BTreeMap::new()),
    }
}

fn header_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let Some(Value::Object(map)) = Option::<Value>::deserialize(d)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (name, v) in map {
        let values = match v {
            Value::Array(items) => items.iter().filter_map(scalar_text).collect(),
            other => scalar_text(&other).into_iter().collect(),
        };
        out.insert(name, values);
    }
    Ok(out)
}

fn body_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        // Some hosts hand a JSON body through as JSON: keep its text.
        Some(other) => Some(other.to_string()),
    })
}

fn response_body<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        // The host writes an object body out as indented JSON.
        Some(other) => Some(serde_json::to_string_pretty(&other).map_err(de::Error::custom)?),
    })
}

fn status_code<'de, D: Deserializer<'de>>(d: D) -> Result<u16, D::Error> {
    let v = Value::deserialize(d)?;
    let code = match &v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    };
    code.and_then(|c| u16::try_from(c).ok())
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| de::Error::custom(format!("statusCode must be an HTTP status, got {v}")))
}

fn ok() -> u16 {
    200
}

fn status_code_out<S: Serializer>(code: &u16, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u16(*code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn request_accepts_query_object_or_string_and_header_arrays() {
        let a = HttpRequestData::from_value(&json!({
            "Url": "http://h/api/IngestJob?x=1", "Method": "POST",
            "Query": {"x": "1"},
            "Headers": {"Content-Type": ["application/json"], "X-One": "single"},
            "Params": {}, "Identities": [], "Body": "{}"
        }))
        .unwrap();
        let b = HttpRequestData::from_value(&json!({
            "Url": "http://h/api/IngestJob?x=1", "Method": "POST",
            "Query": "{\"x\":\"1\"}", "Headers": {"content-type": ["application/json"]}
        }))
        .unwrap();
        assert_eq!(a.query, b.query);
        assert_eq!(a.header("content-type"), Some("application/json"));
        assert_eq!(b.header("Content-Type"), Some("application/json"));
        assert_eq!(a.header("x-one"), Some("single"));
        assert_eq!(a.body.as_deref(), Some("{}"));
        assert_eq!(b.body, None);
    }

    #[test]
    fn response_status_may_be_string_and_body_object() {
        let r: HttpResponseData = serde_json::from_value(
            json!({"statusCode": "202", "body": {"a": 1}, "headers": {"X": "y"}}),
        )
        .unwrap();
        assert_eq!(r.status_code, 202);
        assert_eq!(r.body.as_deref(), Some("{\n  \"a\": 1\n}"));
        assert!(serde_json::from_value::<HttpResponseData>(json!({"statusCode": "abc"})).is_err());
        assert!(serde_json::from_value::<HttpResponseData>(json!({"statusCode": 70000})).is_err());
        let pascal: HttpResponseData =
            serde_json::from_value(json!({"StatusCode": 201, "Body": "x", "Headers": {"A": "b"}}))
                .unwrap();
        assert_eq!(
            (
                pascal.status_code,
                pascal.body.as_deref(),
                pascal.header("a")
            ),
            (201, Some("x"), Some("b"))
        );
        assert_eq!(
            serde_json::from_value::<HttpResponseData>(json!({}))
                .unwrap()
                .status_code,
            200
        );
    }

    #[test]
    fn response_serialises_status_as_number() {
        let r = HttpResponseData::new(202, "application/json", "{}").with_header("Location", "/x");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v,
            json!({"statusCode": 202, "body": "{}", "headers": {"Content-Type": "application/json", "Location": "/x"}})
        );
    }
}
