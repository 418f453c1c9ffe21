use std::collections::BTreeMap;

use jsonschema::Validator;
use serde_json::Value;
use thiserror::Error;

use crate::Violation;

/// One version of one job type: its payload schema, compiled.
#[derive(Debug)]
pub struct JobType {
    name: String,
    version: u32,
    title: Option<String>,
    validator: Validator,
}

impl JobType {
    /// Job type name, e.g. `report`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Schema version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The schema's `title`, if it has one.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    /// Every way `payload` breaks the schema, located under `pointer_prefix`.
    pub fn violations(&self, payload: &Value, pointer_prefix: &str) -> Vec<Violation> {
        if self.validator.is_valid(payload) {
            return Vec::new();
        }
        self.validator
            .iter_errors(payload)
            .flat_map(|e| crate::violation::from_schema_error(&e, pointer_prefix))
            .collect()
    }
}

/// Why a schema could not join the registry. Each variant names the job type and version; the
/// caller that read the schema from somewhere (a file) adds where.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The job type name does not match `^[a-z][a-z0-9-]{0,62}$`.
    #[error("job type name \"{0}\" must match ^[a-z][a-z0-9-]{{0,62}}$")]
    BadName(String),
    /// Version 0: versions count from 1.
    #[error("{0}: versions count from 1")]
    BadVersion(String),
    /// The schema text is not valid JSON.
    #[error("{name} v{version}: not valid JSON: {source}")]
    BadJson {
        /// Job type name.
        name: String,
        /// Version.
        version: u32,
        /// The parse error.
        source: serde_json::Error,
    },
    /// The schema is not a valid JSON Schema.
    #[error("{name} v{version}: not a valid JSON Schema: {reason}")]
    BadSchema {
        /// Job type name.
        name: String,
        /// Version.
        version: u32,
        /// What the schema compiler said.
        reason: String,
    },
    /// The same job type and version was given twice.
    #[error("{name} v{version} is given twice")]
    Duplicate {
        /// Job type name.
        name: String,
        /// Version.
        version: u32,
    },
    /// No schema at all.
    #[error("no job type schemas")]
    Empty,
}

/// One job type version's schema, as text: what [`JobTypeRegistry::from_schemas`] builds from.
#[derive(Debug, Clone, Copy)]
pub struct SchemaSource<'a> {
    /// Job type name, e.g. `report`.
    pub name: &'a str,
    /// Version, from 1.
    pub version: u32,
    /// The JSON Schema (draft 2020-12) of the payload.
    pub text: &'a str,
}

/// Every job type and version the pipeline accepts, each with its compiled payload schema.
///
/// Built from schemas in memory: this crate reads no files. The handler loads the
/// `job-types/<type>/v<N>.schema.json` folder at start-up and hands the texts over.
#[derive(Debug, Default)]
pub struct JobTypeRegistry {
    types: BTreeMap<String, BTreeMap<u32, JobType>>,
}

impl JobTypeRegistry {
    /// Compile every schema; at least one is needed.
    pub fn from_schemas<'a>(
        schemas: impl IntoIterator<Item = SchemaSource<'a>>,
    ) -> Result<Self, RegistryError> {
        let mut registry = Self::default();
        for s in schemas {
            registry.insert(s.name, s.version, s.text)?;
        }
        if registry.types.is_empty() {
            return Err(RegistryError::Empty);
        }
        Ok(registry)
    }

    /// Add one job type version from its schema text.
    pub fn insert(&mut self, name: &str, version: u32, text: &str) -> Result<(), RegistryError> {
        if !valid_type_name(name) {
            return Err(RegistryError::BadName(name.to_owned()));
        }
        if version == 0 {
            return Err(RegistryError::BadVersion(name.to_owned()));
        }
        if self.get(name, Some(version)).is_some() {
            return Err(RegistryError::Duplicate {
                name: name.to_owned(),
                version,
            });
        }
        let schema: Value =
            serde_json::from_str(text).map_err(|source| RegistryError::BadJson {
                name: name.to_owned(),
                version,
                source,
            })?;
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .map_err(|e| RegistryError::BadSchema {
                name: name.to_owned(),
                version,
                reason: e.to_string(),
            })?;
        let title = schema
            .get("title")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let job_type = JobType {
            name: name.to_owned(),
            version,
            title,
            validator,
        };
        self.types
            .entry(name.to_owned())
            .or_default()
            .insert(version, job_type);
        Ok(())
    }

    /// A job type at a version, or at its latest version when `version` is `None`.
    pub fn get(&self, name: &str, version: Option<u32>) -> Option<&JobType> {
        let versions = self.types.get(name)?;
        match version {
            Some(v) => versions.get(&v),
            None => versions.values().next_back(),
        }
    }

    /// Whether any version of `name` is known.
    pub fn contains(&self, name: &str) -> bool {
        self.types.contains_key(name)
    }

    /// Known versions of `name`, ascending.
    pub fn versions(&self, name: &str) -> Vec<u32> {
        self.types
            .get(name)
            .map(|v| v.keys().copied().collect())
            .unwrap_or_default()
    }

    /// Known job type names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// Every job type version, sorted by name then version.
    pub fn iter(&self) -> impl Iterator<Item = &JobType> {
        self.types.values().flat_map(BTreeMap::values)
    }
}

/// `^[a-z][a-z0-9-]{0,62}$`
pub fn valid_type_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str =
        r#"{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}"#;

    fn source<'a>(name: &'a str, version: u32, text: &'a str) -> SchemaSource<'a> {
        SchemaSource {
            name,
            version,
            text,
        }
    }

    #[test]
    fn builds_types_and_versions_and_picks_latest() {
        let reg = JobTypeRegistry::from_schemas([
            source("alpha", 1, SCHEMA),
            source("alpha", 2, r#"{"title":"Alpha v2","type":"object"}"#),
            source("beta-2", 10, SCHEMA),
        ])
        .unwrap();
        assert_eq!(reg.names().collect::<Vec<_>>(), ["alpha", "beta-2"]);
        assert_eq!(reg.versions("alpha"), [1, 2]);
        assert_eq!(reg.get("alpha", None).unwrap().title(), Some("Alpha v2"));
        assert!(reg.get("alpha", Some(3)).is_none());
        let v1 = reg.get("alpha", Some(1)).unwrap();
        let errs = v1.violations(&json!({"n": "x"}), "/payload");
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer, "/payload/n");
    }

    #[test]
    fn bad_schemas_are_errors_naming_the_type_and_version() {
        for (name, version, text, expect) in [
            ("Alpha", 1, SCHEMA, "Alpha"),
            ("alpha", 0, SCHEMA, "versions count from 1"),
            ("alpha", 1, "{not json", "alpha v1: not valid JSON"),
            (
                "alpha",
                3,
                r#"{"type": 12}"#,
                "alpha v3: not a valid JSON Schema",
            ),
        ] {
            let err = JobTypeRegistry::from_schemas([source(name, version, text)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{name} v{version}: {err}");
        }
        let twice = JobTypeRegistry::from_schemas([source("a", 1, SCHEMA), source("a", 1, SCHEMA)]);
        assert!(matches!(
            twice,
            Err(RegistryError::Duplicate { version: 1, .. })
        ));
        assert!(matches!(
            JobTypeRegistry::from_schemas([]),
            Err(RegistryError::Empty)
        ));
    }

    #[test]
    fn type_names() {
        assert!(valid_type_name("report") && valid_type_name("a-1"));
        assert!(
            !valid_type_name("")
                && !valid_type_name("1a")
                && !valid_type_name("A")
                && !valid_type_name("a_b")
        );
        assert!(!valid_type_name(&"a".repeat(64)));
    }
}
