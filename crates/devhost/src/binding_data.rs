//! The host's binding data is a case-insensitive dictionary (`StringComparer.OrdinalIgnoreCase`):
//! a key equal but for case replaces the value and keeps the first spelling. Both triggers build
//! their `Metadata` through these (docs/PARITY.md, "binding data").

use serde_json::{Map, Value};

/// Whether `map` has `key`, ignoring case.
pub(crate) fn contains_ignoring_case(map: &Map<String, Value>, key: &str) -> bool {
    map.keys().any(|k| k.eq_ignore_ascii_case(key))
}

/// Insert as the host's dictionary does: replace the value of a key equal but for case, keeping
/// its spelling.
pub(crate) fn insert_ignoring_case(map: &mut Map<String, Value>, key: String, value: Value) {
    let existing = map
        .keys()
        .find(|k| k.eq_ignore_ascii_case(&key))
        .cloned()
        .unwrap_or(key);
    map.insert(existing, value);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_key_equal_but_for_case_keeps_its_first_spelling() {
        let mut map = Map::new();
        insert_ignoring_case(&mut map, "CorrelationId".into(), json!("a"));
        insert_ignoring_case(&mut map, "correlationId".into(), json!("b"));
        assert_eq!(map.len(), 1);
        assert_eq!(map["CorrelationId"], "b");
        assert!(contains_ignoring_case(&map, "CORRELATIONID"));
        assert!(!contains_ignoring_case(&map, "MessageId"));
    }
}
