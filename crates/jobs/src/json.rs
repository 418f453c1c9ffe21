//! Strict JSON for submissions: `serde_json`'s parser, building the same [`Value`] tree, with two
//! differences that matter to anyone reading the job after us.
//!
//! * A member given twice in one object is an error, not "last one wins": a gateway or consumer
//!   that keeps the first would read another tenant or payload than the one validated here.
//!   RFC 8259 section 4 leaves the behaviour of duplicate names undefined; I-JSON (RFC 7493
//!   section 2.3) forbids them.
//! * A number written with a fraction or exponent whose value is a whole number within
//!   ±2^53 (`1e2`, `100.0`) is kept as the integer it is (`100`), so a typed consumer reading an
//!   integer field accepts it. Other numbers are `f64`, as `serde_json` reads them.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// Largest magnitude below which every whole `f64` is exact: 2^53.
const EXACT_INTEGER: f64 = 9_007_199_254_740_992.0;

/// Why a body is not strict JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON at all.
    Syntax {
        /// What the parser said.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An object names the same member twice.
    DuplicateMember(DuplicateMember),
}

/// Where an object names the same member twice; the one description of it that the submission
/// error and the handler's rejection carry on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the member at {pointer} is given twice (line {line}, column {column}); each member may appear once"
)]
pub struct DuplicateMember {
    /// JSON pointer of the repeated member.
    pub pointer: String,
    /// 1-based line of the second occurrence.
    pub line: usize,
    /// 1-based column (just after its name).
    pub column: usize,
}

/// Parse `body` strictly (see the module docs).
pub fn parse(body: &[u8]) -> Result<Value, JsonError> {
    let duplicate = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let seed = Seed {
        path: Path::Root,
        duplicate: &duplicate,
    };
    let parsed = seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    parsed.map_err(|e| match duplicate.into_inner() {
        Some(pointer) => JsonError::DuplicateMember(DuplicateMember {
            pointer,
            line: e.line(),
            column: e.column(),
        }),
        None => JsonError::Syntax {
            message: e.to_string(),
            line: e.line(),
            column: e.column(),
        },
    })
}

/// Where a value sits, as a list linked through the stack (nothing is allocated unless a duplicate
/// needs its pointer).
#[derive(Clone, Copy)]
enum Path<'a> {
    Root,
    Member(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl Path<'_> {
    fn pointer(&self) -> String {
        match self {
            Path::Root => String::new(),
            Path::Member(parent, name) => {
                format!(
                    "{}/{}",
                    parent.pointer(),
                    name.replace('~', "~0").replace('/', "~1")
                )
            }
            Path::Index(parent, i) => format!("{}/{i}", parent.pointer()),
        }
    }
}

struct Seed<'p, 'c> {
    path: Path<'p>,
    duplicate: &'c RefCell<Option<String>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_, '_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    #[allow(clippy::cast_possible_truncation)] // whole and within ±2^53: exact
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        if v.fract() == 0.0 && v.abs() <= EXACT_INTEGER {
            return Ok(if v >= 0.0 {
                Value::from(v as u64)
            } else {
                Value::from(v as i64)
            });
        }
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        let path = self.path;
        while let Some(item) = seq.next_element_seed(Seed {
            path: Path::Index(&path, items.len()),
            duplicate: self.duplicate,
        })? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        let path = self.path;
        while let Some(key) = access.next_key::<String>()? {
            if map.contains_key(&key) {
                *self.duplicate.borrow_mut() = Some(Path::Member(&path, &key).pointer());
                return Err(de::Error::custom(format_args!(
                    "duplicate member \"{key}\""
                )));
            }
            let value = access.next_value_seed(Seed {
                path: Path::Member(&path, &key),
                duplicate: self.duplicate,
            })?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_like_serde_json() {
        let text = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":"\u00e9"}"#;
        assert_eq!(
            parse(text.as_bytes()).unwrap(),
            serde_json::from_str::<Value>(text).unwrap()
        );
    }

    #[test]
    fn whole_numbers_stay_integers() {
        let v = parse(br#"[1e2, 100.0, -3E0, 0.5, 1e300, 9007199254740993.0, 7]"#).unwrap();
        assert_eq!(v.to_string(), "[100,100,-3,0.5,1e+300,9007199254740992,7]");
        assert!(v[0].is_u64() && v[2].is_i64() && v[4].is_f64());
    }

    #[test]
    fn duplicate_members_are_located() {
        let err = parse(br#"{"tenantId":"a","payload":{"x/y":1,"x/y":2}}"#).unwrap_err();
        assert_eq!(
            err,
            JsonError::DuplicateMember(DuplicateMember {
                pointer: "/payload/x~1y".into(),
                line: 1,
                column: 40
            })
        );
        let err = parse(b"[{}, {\"a\":1,\n\"a\":1}]").unwrap_err();
        assert!(
            matches!(&err, JsonError::DuplicateMember(DuplicateMember { pointer, line: 2, .. }) if pointer == "/1/a"),
            "{err:?}"
        );
        // The same name in different objects is fine.
        assert_eq!(
            parse(br#"[{"a":1},{"a":2}]"#).unwrap(),
            json!([{"a": 1}, {"a": 2}])
        );
    }

    #[test]
    fn syntax_errors_keep_their_position() {
        assert!(matches!(
            parse(b"{\n  \"a\": "),
            Err(JsonError::Syntax { line: 2, .. })
        ));
        assert!(matches!(parse(b"{} x"), Err(JsonError::Syntax { .. })));
    }
}
