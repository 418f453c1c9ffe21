//! JSON as the Functions host holds and prints it: Newtonsoft.Json's `JToken`.
//!
//! The host reads a handler's reply with Newtonsoft (`JsonMediaTypeFormatter`), so an output value
//! is a `JObject` / `JArray` / `JValue` whose members keep the order they had in the reply, and it
//! turns values into text with `JToken.ToString()` (`Azure/azure-functions-host`
//! `src/WebJobs.Script/Binding/FunctionBinding.cs`, `BindAsyncCollectorAsync<string>`): objects
//! and arrays **indented** (two spaces, `"name": value`, `\n` on Linux), booleans `True` /
//! `False`, strings raw, `null` empty. [`JToken`] is that model (member order kept, which
//! `serde_json::Map` does not do without its `preserve_order` feature), [`JToken::to_text`] is
//! `ToString()` and [`indented_len`] measures the indented form of any `serde_json::Value`, which
//! is the size of the Service Bus message the host sends for an object output.
//!
//! Not modelled: Newtonsoft's `DateParseHandling.DateTime` (a date-looking string is read as a
//! `DateTime` and printed back in ISO form, trimming trailing zeros of the fraction: a body can only
//! get shorter) and the `R` format of doubles with exponents (`1E+21`).

use std::fmt::Write as _;
use std::io;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::ser::{Formatter, PrettyFormatter};

/// A JSON value with object members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum JToken {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits `i64` / `u64`.
    Integer(i128),
    /// Any other number.
    Float(f64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<JToken>),
    /// An object, members in order.
    Object(Vec<(String, JToken)>),
}

impl JToken {
    /// Parse JSON text keeping member order (Newtonsoft keeps the last of repeated names).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// `JToken.ToString()`: objects and arrays indented, `True`/`False`, strings raw, `null` empty.
    pub fn to_text(&self) -> String {
        match self {
            Self::Null => String::new(),
            Self::Bool(true) => "True".to_owned(),
            Self::Bool(false) => "False".to_owned(),
            Self::String(s) => s.clone(),
            // `JValue.ToString()` is the value's own `ToString()`: `2.0` prints `2`.
            Self::Integer(n) => n.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Object(_) | Self::Array(_) => self.indented(),
        }
    }

    /// The indented JSON text (`Formatting.Indented`, `\n` newlines).
    pub fn indented(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0);
        out
    }

    /// The member `name`, compared case-insensitively (Newtonsoft's default for typed reads); the
    /// last match wins, as when Newtonsoft sets a property twice.
    pub fn get_ignore_case(&self, name: &str) -> Option<&JToken> {
        match self {
            Self::Object(members) => members
                .iter()
                .rev()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The same value as a `serde_json::Value` (member order is lost).
    pub fn to_value(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Integer(n) => i64::try_from(*n)
                .map(Value::from)
                .or_else(|_| u64::try_from(*n).map(Value::from))
                .unwrap_or(Value::Null),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::String(s) => Value::String(s.clone()),
            Self::Array(items) => Value::Array(items.iter().map(Self::to_value).collect()),
            Self::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_value()))
                    .collect(),
            ),
        }
    }

    fn write(&self, out: &mut String, depth: usize) {
        match self {
            Self::Null => out.push_str("null"),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Integer(n) => {
                let _ = write!(out, "{n}");
            }
            Self::Float(f) => write_float(out, *f),
            Self::String(s) => write_string(out, s),
            Self::Array(items) if items.is_empty() => out.push_str("[]"),
            Self::Object(members) if members.is_empty() => out.push_str("{}"),
            Self::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    item.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push(']');
            }
            Self::Object(members) => {
                out.push('{');
                for (i, (name, value)) in members.iter().enumerate() {
                    out.push_str(if i == 0 { "\n" } else { ",\n" });
                    indent(out, depth + 1);
                    write_string(out, name);
                    out.push_str(": ");
                    value.write(out, depth + 1);
                }
                out.push('\n');
                indent(out, depth);
                out.push('}');
            }
        }
    }
}

impl From<&Value> for JToken {
    fn from(value: &Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .map_or_else(|| Self::Float(n.as_f64().unwrap_or(0.0)), Self::Integer),
            Value::String(s) => Self::String(s.clone()),
            Value::Array(items) => Self::Array(items.iter().map(Self::from).collect()),
            Value::Object(map) => Self::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), Self::from(v)))
                    .collect(),
            ),
        }
    }
}

/// Bytes of `value` written indented as the host writes an object output (see the module doc),
/// through the [`JToken`] model; [`indented_len_of`] gives the same count without building it.
pub fn indented_len(value: &Value) -> usize {
    JToken::from(value).indented().len()
}

/// Bytes of any serialisable `value` written as [`JToken::indented`] writes the `JToken` of its
/// JSON, counted while serialising: no `Value` or `JToken` tree and no text are built. Fails only
/// where `serde_json` fails to serialise `value`.
pub fn indented_len_of<T: Serialize + ?Sized>(value: &T) -> Result<usize, serde_json::Error> {
    let mut counted = Counted(0);
    write_indented(&mut counted, value)?;
    Ok(counted.0)
}

/// `value` serialised straight into `writer` as [`JToken::indented`] writes the `JToken` of its
/// JSON (member order as serialised).
pub fn write_indented<W: io::Write, T: Serialize + ?Sized>(
    writer: W,
    value: &T,
) -> Result<(), serde_json::Error> {
    let formatter = Indented(PrettyFormatter::with_indent(b"  "));
    value.serialize(&mut serde_json::Serializer::with_formatter(
        writer, formatter,
    ))
}

/// A writer that only counts bytes.
struct Counted(usize);

impl io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.0 += buf.len();
        Ok(())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The [`Formatter`] methods [`Indented`] leaves to `serde_json`'s [`PrettyFormatter`] (the layout).
macro_rules! delegate_to_pretty {
    ($($method:ident($($arg:ident: $ty:ty),*)),* $(,)?) => {
        $(
            fn $method<W: ?Sized + io::Write>(&mut self, w: &mut W $(, $arg: $ty)*) -> io::Result<()> {
                self.0.$method(w $(, $arg)*)
            }
        )*
    };
}

/// `serde_json`'s two-space pretty layout (the same as `Formatting.Indented`: `"name": value`,
/// `[]` and `{}` when empty), with Newtonsoft's numbers and escapes where `serde_json` differs:
/// doubles as [`write_float`], and U+0085, U+2028, U+2029 escaped.
struct Indented(PrettyFormatter<'static>);

impl Formatter for Indented {
    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        self.write_f64(w, f64::from(value))
    }
    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        write!(w, "{}", Float(value))
    }
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        // Most text is ASCII (a fast check): nothing to escape beyond what serde_json did.
        if fragment.is_ascii() {
            return w.write_all(fragment.as_bytes());
        }
        let mut rest = fragment;
        while let Some(at) = rest.find(['\u{85}', '\u{2028}', '\u{2029}']) {
            let c = rest[at..].chars().next().unwrap_or_default();
            w.write_all(&rest.as_bytes()[..at])?;
            write!(w, "\\u{:04x}", c as u32)?;
            rest = &rest[at + c.len_utf8()..];
        }
        w.write_all(rest.as_bytes())
    }
    delegate_to_pretty! {
        begin_array(), end_array(), begin_array_value(first: bool), end_array_value(),
        begin_object(), end_object(), begin_object_key(first: bool), begin_object_value(),
        end_object_value(),
    }
}

fn indent(out: &mut String, depth: usize) {
    for _ in 0..depth {
        out.push_str("  ");
    }
}

/// Newtonsoft's default string escaping: `"` `\` and control characters, plus U+0085, U+2028 and
/// U+2029 (`JavaScriptUtils.WriteEscapedJavaScriptString`); everything else is written as is.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || matches!(c, '\u{85}' | '\u{2028}' | '\u{2029}') => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A double as Newtonsoft writes it: shortest round-trip text, with `.0` on whole numbers.
fn write_float(out: &mut String, f: f64) {
    let _ = write!(out, "{}", Float(f));
}

/// The text of a double in an indented document (see [`write_float`]).
struct Float(f64);

impl std::fmt::Display for Float {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self(v) = *self;
        if v.fract() == 0.0 && v.abs() < 1e15 {
            write!(f, "{v:.1}")
        } else {
            write!(f, "{v}")
        }
    }
}

impl<'de> Deserialize<'de> for JToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TokenVisitor)
    }
}

struct TokenVisitor;

impl<'de> Visitor<'de> for TokenVisitor {
    type Value = JToken;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<JToken, E> {
        Ok(JToken::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<JToken, E> {
        Ok(JToken::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<JToken, D::Error> {
        JToken::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, b: bool) -> Result<JToken, E> {
        Ok(JToken::Bool(b))
    }
    fn visit_i64<E: de::Error>(self, n: i64) -> Result<JToken, E> {
        Ok(JToken::Integer(n.into()))
    }
    fn visit_u64<E: de::Error>(self, n: u64) -> Result<JToken, E> {
        Ok(JToken::Integer(n.into()))
    }
    fn visit_f64<E: de::Error>(self, f: f64) -> Result<JToken, E> {
        Ok(JToken::Float(f))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<JToken, E> {
        Ok(JToken::String(s.to_owned()))
    }
    fn visit_string<E: de::Error>(self, s: String) -> Result<JToken, E> {
        Ok(JToken::String(s))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JToken, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(JToken::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JToken, A::Error> {
        let mut members: Vec<(String, JToken)> = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, JToken>()? {
            // JObject keeps one member per name: a repeated name replaces the value in place.
            match members.iter_mut().find(|(k, _)| *k == name) {
                Some(slot) => slot.1 = value,
                None => members.push((name, value)),
            }
        }
        Ok(JToken::Object(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_are_indented_in_document_order() {
        let t = JToken::parse(r#"{"b":1,"a":{"z":true},"e":[],"o":{}}"#).unwrap();
        assert_eq!(
            t.to_text(),
            "{\n  \"b\": 1,\n  \"a\": {\n    \"z\": true\n  },\n  \"e\": [],\n  \"o\": {}\n}"
        );
        let arr = JToken::parse("[1,[2]]").unwrap();
        assert_eq!(arr.to_text(), "[\n  1,\n  [\n    2\n  ]\n]");
    }

    #[test]
    fn scalars_print_as_dotnet_does() {
        assert_eq!(JToken::Bool(true).to_text(), "True");
        assert_eq!(JToken::Bool(false).to_text(), "False");
        assert_eq!(JToken::String("a\"b".into()).to_text(), "a\"b");
        assert_eq!(JToken::Null.to_text(), "");
        assert_eq!(JToken::Float(1.5).to_text(), "1.5");
        assert_eq!(JToken::Float(2.0).to_text(), "2");
        assert_eq!(
            JToken::Array(vec![JToken::Float(2.0)]).to_text(),
            "[\n  2.0\n]"
        );
        assert_eq!(JToken::Integer(5).to_text(), "5");
        assert_eq!(
            JToken::String("\u{2028}\n\u{1}é".into()).indented(),
            "\"\\u2028\\n\\u0001é\""
        );
    }

    #[test]
    fn indented_len_measures_the_hosts_text() {
        let v = json!({"payload": {"rows": [1, 1]}});
        assert_eq!(
            indented_len(&v),
            "{\n  \"payload\": {\n    \"rows\": [\n      1,\n      1\n    ]\n  }\n}".len()
        );
        assert!(indented_len(&v) > v.to_string().len());
    }

    /// The direct serialisation writes the very text of the `JToken` model, member order kept.
    fn same_as_the_model(compact: &str) {
        let model = JToken::parse(compact).unwrap().indented();
        let value: Value = serde_json::from_str(compact).unwrap();
        let mut direct = Vec::new();
        write_indented(&mut direct, &value).unwrap();
        // `Value` sorts members; the model keeps document order: compare texts of sorted input.
        let sorted = JToken::parse(&value.to_string()).unwrap().indented();
        assert_eq!(String::from_utf8(direct).unwrap(), sorted, "{compact}");
        assert_eq!(indented_len_of(&value).unwrap(), model.len(), "{compact}");
        assert_eq!(indented_len(&value), model.len(), "{compact}");
    }

    #[test]
    fn direct_serialisation_matches_the_model() {
        for compact in [
            r#"{"b":1,"a":{"z":true,"y":false,"x":null},"e":[],"o":{},"n":[[],{}]}"#,
            r#"[1,-2,18446744073709551615,-9223372036854775808,2.0,1.5,-0.0,1e300,1e15,1e14,0.1]"#,
            r#"{"s":"q\"b\\n\n\r\t\b\f\u0001\u001f\u007f/é\u0085\u2028\u2029x","\u2028k":"\u00e9"}"#,
            r#""top""#,
            "3.25",
            "true",
            "null",
            r#"{"deep":[{"a":[{"b":[1,[2,[3]]]}]}]}"#,
        ] {
            same_as_the_model(compact);
        }
    }

    proptest::proptest! {
        #[test]
        fn direct_length_is_the_models_for_any_value(v in proptest_value()) {
            proptest::prop_assert_eq!(indented_len_of(&v).unwrap(), indented_len(&v));
        }
    }

    fn proptest_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\u{0}-\\u{1f}\\u{85}\\u{2028}\\u{2029}\"\\\\a-zé]{0,8}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn lookups_ignore_case_and_repeated_names_keep_the_last() {
        let t = JToken::parse(r#"{"outputs":1,"Outputs":2,"a":1,"a":3}"#).unwrap();
        assert_eq!(t.get_ignore_case("OUTPUTS"), Some(&JToken::Integer(2)));
        assert_eq!(t.get_ignore_case("a"), Some(&JToken::Integer(3)));
        assert_eq!(t.to_value(), json!({"outputs":1,"Outputs":2,"a":3}));
    }
}
