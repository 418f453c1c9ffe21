//! Scalar and body encodings used by the host.
//!
//! The host converts every non-HTTP input and every metadata value with
//! `GetHttpScriptInvocationContextValue` in `Azure/azure-functions-host`
//! `src/WebJobs.Script/Workers/ScriptInvocationContextExtensions.cs`: `byte[]` becomes base64;
//! anything `JObject.FromObject` accepts (objects, dictionaries) stays a JSON object; **everything
//! else (strings, numbers, booleans, and also arrays) goes through `JsonConvert.SerializeObject` and
//! is sent as a string**. Null metadata values are skipped (`ToHttpScriptInvocationContext`). The
//! functions here undo (and, for the local host stand-in, redo) that encoding.

use serde_json::Value;

/// Encode a value the way the host does: objects stay objects, anything else becomes its JSON
/// text inside a JSON string (arrays included: `JObject.FromObject` rejects them); `null` stays
/// `null` (the host drops null metadata entries altogether, see [`encode_metadata_value`]).
pub fn encode_scalar(value: &Value) -> Value {
    match value {
        Value::Object(_) | Value::Null => value.clone(),
        other => Value::String(other.to_string()),
    }
}

/// Encode a metadata value as the host does, or `None` when the host would drop it (null).
pub fn encode_metadata_value(value: &Value) -> Option<Value> {
    (!value.is_null()).then(|| encode_scalar(value))
}

/// A top-level member of a JSON trigger body as the host puts it into the binding data, or `None`
/// when the host skips it.
///
/// `Azure/azure-functions-host` `src/WebJobs.Script/Utility.cs` `ApplyBindingData` (called from
/// `WorkerFunctionInvoker.TransformInput` and, for HTTP bodies, by the HTTP extension's
/// `GetRequestBindingData`): arrays and nulls are skipped, objects stay objects, and every other
/// value becomes `(string)JValue` (`true` -> `True`, `2` -> `2`), which the invocation then
/// carries `JsonConvert.SerializeObject`-encoded: `"\"True\""`, `"\"2\""`.
pub fn body_field_metadata_value(value: &Value) -> Option<Value> {
    match value {
        Value::Null | Value::Array(_) => None,
        Value::Object(_) => Some(value.clone()),
        scalar => {
            let text = crate::newtonsoft::JToken::from(scalar).to_text();
            Some(Value::String(Value::String(text).to_string()))
        }
    }
}

/// Whether the host leaves a binding-data key out of `Metadata`: it skips every name ending in
/// `trigger`, any case (`ScriptInvocationContextExtensions.ToHttpScriptInvocationContext`).
pub fn is_skipped_metadata_key(key: &str) -> bool {
    key.len() >= 7
        && key.is_char_boundary(key.len() - 7)
        && key[key.len() - 7..].eq_ignore_ascii_case("trigger")
}

/// Decode a scalar the host encoded with [`encode_scalar`].
///
/// Tolerant: a string that is not JSON text is returned as that string (older hosts and other
/// bindings pass plain strings), and non-string values are returned as they are.
pub fn decode_scalar(value: &Value) -> Value {
    match value {
        Value::String(text) => {
            serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone()))
        }
        other => other.clone(),
    }
}

/// Decode a scalar expected to be a string (e.g. `MessageId`), tolerating both encodings.
pub fn decode_string(value: &Value) -> Option<String> {
    match decode_scalar(value) {
        Value::String(s) => Some(s),
        Value::Null => None,
        // A number or bool where a string is expected: keep its text rather than fail.
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(_) | Value::Array(_) => None,
    }
}

/// Decode a string-typed message or request body, tolerating every shape hosts use.
///
/// * a JSON string whose content is itself a JSON string (the double-encoded Service Bus body,
///   `"\"{\\\"a\\\":1}\""`): the inner string is the body text;
/// * a JSON string whose content is other JSON text or plain text: that text is the body;
/// * a JSON object or array (a host that passed the body through as JSON): its JSON text.
pub fn decode_text_body(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(Value::String(inner)) => Some(inner),
            _ => Some(text.clone()),
        },
        other => Some(other.to_string()),
    }
}

/// Encode a message body text as the host sends it to a custom handler for a `string` trigger:
/// serialised once (`JsonConvert.SerializeObject(string)`) and then carried as a JSON string.
pub fn encode_text_body(text: &str) -> Value {
    Value::String(Value::String(text.to_owned()).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_serialised_to_strings() {
        assert_eq!(encode_scalar(&json!(1)), json!("1"));
        assert_eq!(encode_scalar(&json!("abc")), json!("\"abc\""));
        assert_eq!(encode_scalar(&json!({"a": 1})), json!({"a": 1}));
        assert_eq!(encode_scalar(&json!([1, "x"])), json!("[1,\"x\"]"));
        assert_eq!(encode_metadata_value(&Value::Null), None);
    }

    #[test]
    fn body_fields_become_dotnet_strings() {
        assert_eq!(
            body_field_metadata_value(&json!(true)),
            Some(json!("\"True\""))
        );
        assert_eq!(body_field_metadata_value(&json!(2)), Some(json!("\"2\"")));
        assert_eq!(body_field_metadata_value(&json!("c")), Some(json!("\"c\"")));
        assert_eq!(
            body_field_metadata_value(&json!({"x": 1})),
            Some(json!({"x": 1}))
        );
        assert_eq!(body_field_metadata_value(&json!([1])), None);
        assert_eq!(body_field_metadata_value(&Value::Null), None);
        assert!(is_skipped_metadata_key("myTrigger") && is_skipped_metadata_key("TRIGGER"));
        assert!(!is_skipped_metadata_key("triggered"));
    }

    #[test]
    fn scalars_round_trip() {
        for v in [
            json!(1),
            json!("abc"),
            json!(true),
            json!(-2.5),
            json!("\"quoted\""),
        ] {
            assert_eq!(decode_scalar(&encode_scalar(&v)), v);
        }
    }

    #[test]
    fn plain_strings_are_tolerated() {
        assert_eq!(decode_string(&json!("not json")), Some("not json".into()));
        assert_eq!(decode_string(&json!("\"json\"")), Some("json".into()));
        assert_eq!(decode_string(&json!("7")), Some("7".into()));
    }

    #[test]
    fn double_encoded_body_is_unwrapped_once() {
        let wire = json!("\"{\\\"a\\\":1}\"");
        assert_eq!(decode_text_body(&wire), Some("{\"a\":1}".into()));
        assert_eq!(encode_text_body("{\"a\":1}"), wire);
    }

    #[test]
    fn single_encoded_and_object_bodies_are_tolerated() {
        assert_eq!(
            decode_text_body(&json!("{\"a\":1}")),
            Some("{\"a\":1}".into())
        );
        assert_eq!(decode_text_body(&json!({"a": 1})), Some("{\"a\":1}".into()));
        assert_eq!(
            decode_text_body(&json!("plain text")),
            Some("plain text".into())
        );
    }
}
