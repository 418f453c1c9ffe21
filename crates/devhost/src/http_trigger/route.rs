//! Route templates as the host's ASP.NET Core routing reads them (`H WebJobs.Script.WebHost/
//! WebScriptHostHttpRoutesManager.InitializeHttpFunctionRoutes`, EXT `Routing/WebJobsRouteBuilder`):
//! literal segments (matched ignoring case), `{name}`, `{name?}`, `{name=default}`, inline
//! constraints (`int`, `long`, `bool`, `guid`, `alpha`, `double`, `float`, `decimal`, `datetime`,
//! `minlength(n)`, `maxlength(n)`, `length(n)`, `length(m,n)`, `min(n)`, `max(n)`, `range(m,n)`)
//! and a final catch-all `{*rest}` / `{**rest}`. Anything else (`regex(...)`, complex segments
//! such as `{a}.{b}`) is refused at start-up rather than matched differently.

use std::collections::BTreeMap;

/// A parsed route template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Literal(String),
    Param {
        name: String,
        optional: bool,
        default: Option<String>,
        constraints: Vec<Constraint>,
        catch_all: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Constraint {
    Int,
    Long,
    Bool,
    Guid,
    Alpha,
    Number,
    Datetime,
    MinLength(usize),
    MaxLength(usize),
    Length(usize, usize),
    Min(i64),
    Max(i64),
    Range(i64, i64),
}

/// Route values of a match: name -> value, `None` for an optional parameter that did not match
/// (the host sends those as `null` in `Params`, and leaves them out of `Metadata`).
pub type RouteValues = BTreeMap<String, Option<String>>;

impl Template {
    /// Parse a template; the error names what is not supported.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        let mut segments = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            if let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if inner.contains(['{', '}']) {
                    return Err(format!(
                        "complex segment {part:?} is not supported by the devhost"
                    ));
                }
                segments.push(parse_param(inner, last)?);
            } else if part.contains(['{', '}']) {
                return Err(format!(
                    "complex segment {part:?} (a parameter inside a segment) is not supported by the devhost"
                ));
            } else if part.is_empty() {
                return Err(format!("{text:?} has an empty segment"));
            } else {
                segments.push(Segment::Literal((*part).to_owned()));
            }
        }
        Ok(Self { segments })
    }

    /// Match a path (below the route prefix, without leading or trailing `/`).
    pub fn matches(&self, path: &str) -> Option<RouteValues> {
        let parts: Vec<&str> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('/').collect()
        };
        let mut values = RouteValues::new();
        let mut i = 0;
        for segment in &self.segments {
            match segment {
                Segment::Literal(l) => {
                    if !parts.get(i)?.eq_ignore_ascii_case(l) {
                        return None;
                    }
                    i += 1;
                }
                Segment::Param {
                    name,
                    optional,
                    default,
                    constraints,
                    catch_all,
                } => {
                    let value = if *catch_all {
                        let rest = parts.get(i..).unwrap_or_default().join("/");
                        i = parts.len();
                        Some(percent_decode(&rest)).filter(|v| !v.is_empty())
                    } else {
                        let v = parts.get(i).map(|p| percent_decode(p));
                        if v.is_some() {
                            i += 1;
                        }
                        v.filter(|v| !v.is_empty())
                    };
                    let value = value.or_else(|| default.clone());
                    match &value {
                        Some(v) if !constraints.iter().all(|c| c.allows(v)) => return None,
                        None if !optional && !catch_all => return None,
                        _ => {}
                    }
                    values.insert(name.clone(), value);
                }
            }
        }
        (i == parts.len()).then_some(values)
    }
}

fn parse_param(inner: &str, last: bool) -> Result<Segment, String> {
    let (catch_all, inner) = match inner.strip_prefix("**").or_else(|| inner.strip_prefix('*')) {
        Some(rest) => (true, rest),
        None => (false, inner),
    };
    if catch_all && !last {
        return Err(format!("catch-all {{*{inner}}} must be the last segment"));
    }
    let (head, default) = match inner.split_once('=') {
        Some((h, d)) => (h, Some(d.to_owned())),
        None => (inner, None),
    };
    let mut pieces = head.split(':');
    let mut name = pieces.next().unwrap_or("").to_owned();
    let mut optional = false;
    let mut constraints = Vec::new();
    let rest: Vec<&str> = pieces.collect();
    for (i, c) in rest.iter().enumerate() {
        let mut c = *c;
        if i + 1 == rest.len()
            && let Some(stripped) = c.strip_suffix('?')
        {
            optional = true;
            c = stripped;
        }
        constraints.push(Constraint::parse(c)?);
    }
    if rest.is_empty()
        && let Some(stripped) = name.strip_suffix('?')
    {
        optional = true;
        name = stripped.to_owned();
    }
    if optional && !last {
        return Err(format!(
            "optional parameter {name:?} must be the last segment"
        ));
    }
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(format!("parameter name {name:?} is not valid"));
    }
    Ok(Segment::Param {
        name,
        optional,
        default,
        constraints,
        catch_all,
    })
}

impl Constraint {
    fn parse(text: &str) -> Result<Self, String> {
        let (name, args) = match text.split_once('(') {
            Some((n, a)) => (
                n,
                a.strip_suffix(')')
                    .map(|a| a.split(',').map(str::trim).collect::<Vec<_>>()),
            ),
            None => (text, Some(Vec::new())),
        };
        let unsupported = || format!("route constraint {text:?} is not supported by the devhost");
        let args = args.ok_or_else(unsupported)?;
        let n = |i: usize| -> Result<i64, String> {
            args.get(i)
                .and_then(|a| a.parse().ok())
                .ok_or_else(unsupported)
        };
        let len = |i: usize| -> Result<usize, String> {
            n(i).and_then(|v| usize::try_from(v).map_err(|_| unsupported()))
        };
        Ok(match (name.to_ascii_lowercase().as_str(), args.len()) {
            ("int", 0) => Self::Int,
            ("long", 0) => Self::Long,
            ("bool", 0) => Self::Bool,
            ("guid", 0) => Self::Guid,
            ("alpha", 0) => Self::Alpha,
            ("double" | "float" | "decimal", 0) => Self::Number,
            ("datetime", 0) => Self::Datetime,
            ("minlength", 1) => Self::MinLength(len(0)?),
            ("maxlength", 1) => Self::MaxLength(len(0)?),
            ("length", 1) => Self::Length(len(0)?, len(0)?),
            ("length", 2) => Self::Length(len(0)?, len(1)?),
            ("min", 1) => Self::Min(n(0)?),
            ("max", 1) => Self::Max(n(0)?),
            ("range", 2) => Self::Range(n(0)?, n(1)?),
            _ => return Err(unsupported()),
        })
    }

    fn allows(&self, v: &str) -> bool {
        let chars = v.chars().count();
        match self {
            Self::Int => v.parse::<i32>().is_ok(),
            Self::Long => v.parse::<i64>().is_ok(),
            Self::Bool => v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false"),
            Self::Guid => uuid::Uuid::parse_str(v).is_ok(),
            Self::Alpha => !v.is_empty() && v.chars().all(|c| c.is_ascii_alphabetic()),
            Self::Number => v.parse::<f64>().is_ok_and(f64::is_finite),
            Self::Datetime => {
                chrono::DateTime::parse_from_rfc3339(v).is_ok()
                    || chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
                    || chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%dT%H:%M:%S").is_ok()
            }
            Self::MinLength(n) => chars >= *n,
            Self::MaxLength(n) => chars <= *n,
            Self::Length(a, b) => (*a..=*b).contains(&chars),
            Self::Min(n) => v.parse::<i64>().is_ok_and(|x| x >= *n),
            Self::Max(n) => v.parse::<i64>().is_ok_and(|x| x <= *n),
            Self::Range(a, b) => v.parse::<i64>().is_ok_and(|x| (*a..=*b).contains(&x)),
        }
    }
}

/// Percent-decoding of a path segment (no `+` rule: that is for query strings).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| {
            char::from(b)
                .to_digit(16)
                .and_then(|d| u8::try_from(d).ok())
        };
        if bytes[i] == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(t: &str, p: &str) -> Option<RouteValues> {
        Template::parse(t).unwrap().matches(p)
    }

    #[test]
    fn templates_match_as_aspnet_does() {
        assert_eq!(
            m("items/{id:int}", "ITEMS/5").unwrap()["id"].as_deref(),
            Some("5")
        );
        assert!(m("items/{id:int}", "items/x").is_none());
        assert!(m("items/{id:int}", "items").is_none());
        assert_eq!(m("opt/{name?}", "opt").unwrap()["name"], None);
        assert_eq!(
            m("opt/{name?}", "opt/bob").unwrap()["name"].as_deref(),
            Some("bob")
        );
        assert_eq!(m("d/{x=7}", "d").unwrap()["x"].as_deref(), Some("7"));
        assert_eq!(
            m("files/{*rest}", "files/a/b/c.txt").unwrap()["rest"].as_deref(),
            Some("a/b/c.txt")
        );
        assert_eq!(m("Echo", "echo").unwrap().len(), 0);
        assert!(m("r/{n:range(1,3)}", "r/4").is_none());
        assert!(m("r/{n:length(2,3)}", "r/ab").is_some());
        for bad in ["a/{b}.{c}", "a/{b:regex(x)}", "{a?}/b", "{*a}/b"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}
