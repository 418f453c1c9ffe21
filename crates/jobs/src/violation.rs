use serde::Serialize;

/// One reason a submission is invalid, located by a JSON pointer (RFC 6901) into the request body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// JSON pointer to the offending value; `""` is the whole document.
    pub pointer: String,
    /// What is wrong, for people.
    pub detail: String,
}

impl Violation {
    /// A violation at `pointer`.
    pub fn new(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            pointer: pointer.into(),
            detail: detail.into(),
        }
    }
}

/// Turn one schema validation error into violations under `prefix`.
///
/// `additionalProperties` and `required` errors are reported at the member they are about
/// (`/payload/extra`, `/tenantId`) rather than at the enclosing object, so a client can highlight
/// the field.
pub(crate) fn from_schema_error(
    error: &jsonschema::ValidationError<'_>,
    prefix: &str,
) -> Vec<Violation> {
    use jsonschema::error::ValidationErrorKind as Kind;
    let at = format!("{prefix}{}", error.instance_path());
    match error.kind() {
        Kind::AdditionalProperties { unexpected } | Kind::UnevaluatedProperties { unexpected } => {
            unexpected
                .iter()
                .map(|name| {
                    Violation::new(
                        format!("{at}/{}", escape(name)),
                        format!("unexpected property \"{name}\""),
                    )
                })
                .collect()
        }
        Kind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_owned);
            vec![Violation::new(
                format!("{at}/{}", escape(&name)),
                format!("\"{name}\" is required"),
            )]
        }
        _ => vec![Violation::new(at, error.to_string())],
    }
}

/// Escape a member name for use as a JSON pointer segment (RFC 6901 section 3).
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn member_errors_point_at_the_member() {
        let v = jsonschema::validator_for(&json!({
            "type": "object", "required": ["a/b"], "additionalProperties": false,
            "properties": {"a/b": {}}
        }))
        .unwrap();
        let instance = json!({"x~y": 1});
        let mut got: Vec<_> = v
            .iter_errors(&instance)
            .flat_map(|e| from_schema_error(&e, "/p"))
            .collect();
        got.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(got[0].pointer, "/p/a~1b");
        assert_eq!(got[1].pointer, "/p/x~0y");
    }
}
