//! The handler's answer to an invocation, read as the host reads it.
//!
//! `Azure/azure-functions-host` `src/WebJobs.Script/Workers/Http/DefaultHttpWorkerService.cs`
//! (`ProcessDefaultInvocationRequest`, `GetHttpScriptInvocationResult`) reads a 2xx answer with
//! WebApi's `ReadAsAsync<HttpScriptInvocationResult>` and its default formatters:
//! * only a JSON media type (`application/json`, `text/json`) has a formatter; a body with no or
//!   another content type fails the invocation (`UnsupportedMediaTypeException`, pinned by the
//!   host's test `ProcessDefaultInvocationRequest_InvalidMediaType_Throws`); the devhost reads no
//!   XML either, so `application/xml` fails too;
//! * an empty body (any content type) or the JSON `null` is no result at all: the invocation is
//!   never completed and waits for the function timeout (see [`super::invoker`]);
//! * Newtonsoft matches `Outputs`, `Logs` and `ReturnValue` **ignoring case** (a name given twice:
//!   the last wins); output names inside `Outputs` are exact (`GetOutputValue`), and values keep
//!   their member order ([`JToken`]).
//!
//! Then `src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs` binds the return value:
//! with a `$return` output binding `ReturnValue` becomes that output (`HandleReturnParameter`,
//! overwriting an `Outputs["$return"]`); without one, an object `ReturnValue` is merged into the
//! outputs member by member, overwriting (`HandleOutputDictionary`).

use wire::newtonsoft::JToken;

/// A parsed invocation answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reply {
    /// `Outputs`; `None` when absent or `null` (which the HTTP response rules tell apart from `{}`).
    pub outputs: Option<Vec<(String, JToken)>>,
    /// `Logs`.
    pub logs: Vec<String>,
    /// `ReturnValue` (`None` for absent or `null`).
    pub return_value: Option<JToken>,
}

/// Why an answer is not an invocation result (the invocation fails).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReplyError {
    /// A body with a content type no JSON formatter reads.
    #[error(
        "Invalid HttpResponseMessage: no formatter reads content type {0:?} (the host reads application/json or text/json only)"
    )]
    UnsupportedMediaType(String),
    /// JSON that is not an `HttpScriptInvocationResult`.
    #[error("the answer is not an invocation result: {0}")]
    Malformed(String),
}

/// Whether the media type of a `Content-Type` value is one the host's JSON formatter reads.
pub fn is_json_media_type(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/json")
}

impl Reply {
    /// Read a 2xx answer. `Ok(None)` is "no result" (empty body, or `null`).
    pub fn parse(content_type: Option<&str>, body: &str) -> Result<Option<Self>, ReplyError> {
        if body.trim().is_empty() {
            return Ok(None);
        }
        let content_type = content_type.unwrap_or("application/octet-stream");
        if !is_json_media_type(content_type) {
            return Err(ReplyError::UnsupportedMediaType(content_type.to_owned()));
        }
        let token = JToken::parse(body).map_err(|e| ReplyError::Malformed(e.to_string()))?;
        let JToken::Object(_) = token else {
            return match token {
                JToken::Null => Ok(None),
                other => Err(ReplyError::Malformed(format!(
                    "expected a JSON object, got {}",
                    other.indented()
                ))),
            };
        };
        let outputs = match token.get_ignore_case("Outputs") {
            None | Some(JToken::Null) => None,
            Some(JToken::Object(members)) => Some(members.clone()),
            Some(other) => {
                return Err(ReplyError::Malformed(format!(
                    "`Outputs` must be an object, got {}",
                    other.indented()
                )));
            }
        };
        let logs = match token.get_ignore_case("Logs") {
            None | Some(JToken::Null) => Vec::new(),
            Some(JToken::Array(items)) => items
                .iter()
                .map(|item| match item {
                    JToken::Object(_) | JToken::Array(_) => Err(ReplyError::Malformed(
                        "`Logs` must be an array of strings".to_owned(),
                    )),
                    other => Ok(other.to_text()),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ReplyError::Malformed(
                    "`Logs` must be an array of strings".to_owned(),
                ));
            }
        };
        let return_value = token
            .get_ignore_case("ReturnValue")
            .filter(|v| **v != JToken::Null)
            .cloned();
        Ok(Some(Self {
            outputs,
            logs,
            return_value,
        }))
    }

    /// Bind `ReturnValue` as the host does for a function with (or without) a `$return` binding.
    pub fn bind_return_value(&mut self, has_return_binding: bool) {
        if has_return_binding {
            let value = self.return_value.clone().unwrap_or(JToken::Null);
            let outputs = self.outputs.get_or_insert_with(Vec::new);
            set(outputs, "$return", value);
        } else if let Some(JToken::Object(members)) = &self.return_value {
            let outputs = self.outputs.get_or_insert_with(Vec::new);
            for (name, value) in members {
                set(outputs, name, value.clone());
            }
        }
    }

    /// The output named exactly `name`.
    pub fn output(&self, name: &str) -> Option<&JToken> {
        self.outputs
            .as_ref()?
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn set(outputs: &mut Vec<(String, JToken)>, name: &str, value: JToken) {
    match outputs.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => outputs.push((name.to_owned(), value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_json_content_types_are_read() {
        let body = r#"{"Outputs":{}}"#;
        assert!(Reply::parse(Some("application/json; charset=utf-8"), body).is_ok());
        assert!(Reply::parse(Some("Text/JSON"), body).is_ok());
        for ct in [Some("text/plain"), None, Some("application/problem+json")] {
            assert!(matches!(
                Reply::parse(ct, body),
                Err(ReplyError::UnsupportedMediaType(_))
            ));
        }
        assert_eq!(Reply::parse(Some("text/plain"), ""), Ok(None));
        assert_eq!(Reply::parse(Some("application/json"), "null"), Ok(None));
    }

    #[test]
    fn property_names_ignore_case_output_names_do_not() {
        let r = Reply::parse(
            Some("application/json"),
            r#"{"outputs":{"res":1,"RES":2},"LOGS":["a",3],"returnvalue":{"x":true}}"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.output("res"), Some(&JToken::Integer(1)));
        assert_eq!(r.output("Res"), None);
        assert_eq!(r.logs, vec!["a", "3"]);
        assert!(r.return_value.is_some());
    }

    #[test]
    fn return_value_binds_to_dollar_return_or_merges() {
        let parse = |t: &str| Reply::parse(Some("application/json"), t).unwrap().unwrap();
        let mut with = parse(r#"{"Outputs":{"$return":1},"ReturnValue":null}"#);
        with.bind_return_value(true);
        assert_eq!(with.output("$return"), Some(&JToken::Null));
        let mut merged = parse(r#"{"Outputs":{"res":1,"a":2},"ReturnValue":{"res":3}}"#);
        merged.bind_return_value(false);
        assert_eq!(merged.output("res"), Some(&JToken::Integer(3)));
        assert_eq!(merged.output("a"), Some(&JToken::Integer(2)));
        let mut scalar = parse(r#"{"ReturnValue":5}"#);
        scalar.bind_return_value(false);
        assert_eq!(scalar.outputs, None);
    }
}
