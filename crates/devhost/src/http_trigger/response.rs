//! The HTTP response the host makes of an invocation's outputs.
//!
//! Two paths in `Azure/azure-functions-host`:
//! * an `http` output with a name (`res`): `Workers/Http/HttpScriptInvocationResultExtensions.
//!   GetHttpOutputBindingResponse` deserialises the value (an object, or a JSON string holding
//!   one) into an Expando that always carries `StatusCode`, `Status`, `Body` and `Headers`, so
//!   `Binding/Http/HttpBinding.TryParseStatusCode` only ever reads `statusCode`: **`status` is
//!   ignored**, and a value `int.TryParse` refuses (`201.5`, `"abc"`, `true`) gives 200. A reply
//!   with `Outputs` but no such output answers 200 `{}`; a reply without `Outputs` answers 204.
//! * the `$return` output: `HttpBinding.CreateResult` reads the return value itself: a string is
//!   tried as JSON, an object with a `body` is a response object (`statusCode` **or** `status`,
//!   any case), an object without one is the JSON body, anything else is the body text.
//!
//! Bodies are `ToString()` of the value (an object indented, `True` for a boolean); header values
//! likewise; with no `Content-Type` header the body is `text/plain; charset=utf-8`
//! (`RawScriptResult`, ASP.NET's `StringOutputFormatter`).

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use wire::newtonsoft::JToken;

use crate::handler::Reply;

const DEFAULT_CONTENT_TYPE: &str = "text/plain; charset=utf-8";

/// The response for a function whose HTTP output is `binding` (`None`: no HTTP output).
pub fn http_response(binding: Option<&str>, reply: &Reply) -> Result<Response, String> {
    match binding {
        None => empty(StatusCode::NO_CONTENT),
        Some("$return") => match reply.output("$return") {
            None | Some(JToken::Null) => empty(StatusCode::NO_CONTENT),
            Some(value) => return_value_response(value),
        },
        Some(name) => match (&reply.outputs, reply.output(name)) {
            (None, _) => empty(StatusCode::NO_CONTENT),
            (Some(_), None) => build(StatusCode::OK, None, "{}".to_owned()),
            (Some(_), Some(value)) => res_response(value),
        },
    }
}

/// A named `http` output (`GetHttpOutputBindingResponse`).
fn res_response(value: &JToken) -> Result<Response, String> {
    const NOT_EXPECTED: &str = "Failed while trying to Deserialize to httpOutputBindingResponse. Output is not in expected format";
    let parsed;
    let object = match value {
        JToken::Object(_) => value,
        JToken::String(text) => {
            parsed = JToken::parse(text).map_err(|_| NOT_EXPECTED.to_owned())?;
            if !matches!(parsed, JToken::Object(_)) {
                return Err(NOT_EXPECTED.to_owned());
            }
            &parsed
        }
        _ => return Err(NOT_EXPECTED.to_owned()),
    };
    let status = parse_status(object.get_ignore_case("statusCode"));
    response_object(object, status)
}

/// The `$return` value (`HttpBinding.CreateResult`).
fn return_value_response(value: &JToken) -> Result<Response, String> {
    let parsed;
    let value = match value {
        JToken::String(text) => match JToken::parse(text) {
            Ok(object @ JToken::Object(_)) => {
                parsed = object;
                &parsed
            }
            _ => return build(StatusCode::OK, None, text.clone()),
        },
        other => other,
    };
    match value {
        JToken::Object(_) if value.get_ignore_case("body").is_some() => {
            let status = value
                .get_ignore_case("statusCode")
                .or_else(|| value.get_ignore_case("status"));
            response_object(value, parse_status(status))
        }
        JToken::Object(_) | JToken::Array(_) => build(
            StatusCode::OK,
            Some("application/json; charset=utf-8"),
            value.indented(),
        ),
        other => build(StatusCode::OK, None, other.to_text()),
    }
}

/// `int.TryParse` of the value's text; 200 when absent or not an integer.
fn parse_status(value: Option<&JToken>) -> u16 {
    value
        .filter(|v| **v != JToken::Null)
        .and_then(|v| v.to_text().trim().parse::<i32>().ok())
        .and_then(|n| u16::try_from(n).ok())
        .unwrap_or(200)
}

fn response_object(object: &JToken, status: u16) -> Result<Response, String> {
    let status = StatusCode::from_u16(status).map_err(|e| format!("statusCode {status}: {e}"))?;
    let body = object
        .get_ignore_case("body")
        .map(JToken::to_text)
        .unwrap_or_default();
    let mut builder = Response::builder().status(status);
    let mut has_content_type = false;
    match object.get_ignore_case("headers") {
        None | Some(JToken::Null) => {}
        Some(JToken::Object(members)) => {
            for (name, value) in members {
                if *value == JToken::Null {
                    return Err(format!("header {name:?} is null"));
                }
                let name = HeaderName::try_from(name.as_str())
                    .map_err(|e| format!("header name {name:?}: {e}"))?;
                let text = value.to_text();
                let value = HeaderValue::try_from(text.as_str())
                    .map_err(|e| format!("header {name}: {text:?}: {e}"))?;
                has_content_type |= name == header::CONTENT_TYPE;
                builder = builder.header(name, value);
            }
        }
        Some(other) => {
            return Err(format!(
                "`headers` must be an object, got {}",
                other.indented()
            ));
        }
    }
    if !has_content_type {
        builder = builder.header(header::CONTENT_TYPE, DEFAULT_CONTENT_TYPE);
    }
    builder.body(Body::from(body)).map_err(|e| e.to_string())
}

fn build(status: StatusCode, content_type: Option<&str>, body: String) -> Result<Response, String> {
    Response::builder()
        .status(status)
        .header(
            header::CONTENT_TYPE,
            content_type.unwrap_or(DEFAULT_CONTENT_TYPE),
        )
        .body(Body::from(body))
        .map_err(|e| e.to_string())
}

fn empty(status: StatusCode) -> Result<Response, String> {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(text: &str, has_return: bool) -> Reply {
        let mut r = Reply::parse(Some("application/json"), text)
            .unwrap()
            .unwrap();
        r.bind_return_value(has_return);
        r
    }

    fn status(binding: &str, text: &str) -> u16 {
        let has_return = binding == "$return";
        http_response(Some(binding), &reply(text, has_return))
            .map(|r| r.status().as_u16())
            .unwrap_or(500)
    }

    #[test]
    fn res_rules() {
        assert_eq!(status("res", r#"{"Outputs":{}}"#), 200);
        assert_eq!(status("res", r#"{"Logs":[]}"#), 204);
        assert_eq!(status("res", r#"{"Outputs":{"res":{"status":201}}}"#), 200);
        assert_eq!(
            status("res", r#"{"Outputs":{"res":{"statusCode":"201"}}}"#),
            201
        );
        assert_eq!(
            status("res", r#"{"Outputs":{"res":{"StatusCode":201.5}}}"#),
            200
        );
        assert_eq!(
            status("res", r#"{"Outputs":{"res":"{\"statusCode\":203}"}}"#),
            203
        );
        assert_eq!(status("res", r#"{"Outputs":{"res":"x"}}"#), 500);
        assert_eq!(
            status("$return", r#"{"ReturnValue":{"status":201,"body":"b"}}"#),
            201
        );
        assert_eq!(
            status("$return", r#"{"Outputs":{"$return":{"body":"b"}}}"#),
            204
        );
    }
}
