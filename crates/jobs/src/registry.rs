use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

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

/// Why the job-type directory could not be loaded. Each variant names the file at fault.
#[derive(Debug, Error)]
pub enum RegistryError {
    /// The directory (or a file in it) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file in the directory is not named `<type>/v<N>.schema.json`.
    #[error(
        "{path}: job type schemas must be named job-types/<type>/v<N>.schema.json, where <type> matches ^[a-z][a-z0-9-]{{0,62}}$ and N >= 1"
    )]
    BadName {
        /// The offending path.
        path: PathBuf,
    },
    /// A schema file is not valid JSON.
    #[error("{path}: not valid JSON: {source}")]
    BadJson {
        /// The offending file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// A schema file is not a valid JSON Schema.
    #[error("{path}: not a valid JSON Schema: {reason}")]
    BadSchema {
        /// The offending file.
        path: PathBuf,
        /// What the schema compiler said.
        reason: String,
    },
    /// The directory holds no schema at all.
    #[error("{0}: no job type schemas found (expected <type>/v<N>.schema.json files)")]
    Empty(PathBuf),
}

/// Every job type and version the pipeline accepts, loaded from a directory of JSON Schemas.
///
/// Layout: `<dir>/<type>/v<N>.schema.json`. Files that are not JSON (a README, say) are ignored;
/// a `.json` file with any other name is an error, so a typo cannot silently drop a job type.
#[derive(Debug, Default)]
pub struct JobTypeRegistry {
    types: BTreeMap<String, BTreeMap<u32, JobType>>,
}

impl JobTypeRegistry {
    /// Load and compile every schema under `dir`.
    pub fn load(dir: &Path) -> Result<Self, RegistryError> {
        let mut registry = Self::default();
        for type_dir in read_dir_sorted(dir)? {
            if !type_dir.is_dir() {
                if is_json(&type_dir) {
                    return Err(RegistryError::BadName { path: type_dir });
                }
                continue;
            }
            let name = file_name(&type_dir);
            for file in read_dir_sorted(&type_dir)? {
                if !is_json(&file) {
                    continue;
                }
                let version = parse_version(&file_name(&file))
                    .filter(|_| valid_type_name(&name))
                    .ok_or_else(|| RegistryError::BadName { path: file.clone() })?;
                let schema = read_schema(&file)?;
                registry.insert(&name, version, &schema).map_err(|reason| {
                    RegistryError::BadSchema {
                        path: file.clone(),
                        reason,
                    }
                })?;
            }
        }
        if registry.types.is_empty() {
            return Err(RegistryError::Empty(dir.to_path_buf()));
        }
        Ok(registry)
    }

    /// Add one job type version from an in-memory schema (used by tests and tools).
    pub fn insert(&mut self, name: &str, version: u32, schema: &Value) -> Result<(), String> {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(schema)
            .map_err(|e| e.to_string())?;
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
pub(crate) fn valid_type_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && name.len() <= 63
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn parse_version(file: &str) -> Option<u32> {
    let digits = file.strip_prefix('v')?.strip_suffix(".schema.json")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_schema(path: &Path) -> Result<Value, RegistryError> {
    let text = fs::read_to_string(path).map_err(|source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RegistryError::BadJson {
        path: path.to_path_buf(),
        source,
    })
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, RegistryError> {
    let io = |source| RegistryError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut paths = fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io)?;
    paths.sort();
    Ok(paths)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn is_json(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "json")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const SCHEMA: &str =
        r#"{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}"#;

    #[test]
    fn loads_types_and_versions_and_picks_latest() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "alpha/v1.schema.json", SCHEMA);
        write(
            dir.path(),
            "alpha/v2.schema.json",
            r#"{"title":"Alpha v2","type":"object"}"#,
        );
        write(dir.path(), "beta-2/v10.schema.json", SCHEMA);
        write(dir.path(), "README.md", "ignored");
        write(dir.path(), "alpha/notes.txt", "ignored");
        let reg = JobTypeRegistry::load(dir.path()).unwrap();
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
    fn misnamed_and_invalid_files_are_errors_naming_the_file() {
        for (rel, text, expect) in [
            ("alpha/schema.json", SCHEMA, "schema.json"),
            ("alpha/v0.schema.json", SCHEMA, "v0.schema.json"),
            ("Alpha/v1.schema.json", SCHEMA, "Alpha"),
            ("alpha/v1.schema.json", "{not json", "not valid JSON"),
            (
                "alpha/v1.schema.json",
                r#"{"type": 12}"#,
                "not a valid JSON Schema",
            ),
            ("loose.json", SCHEMA, "loose.json"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), rel, text);
            let err = JobTypeRegistry::load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(expect), "{rel}: {err}");
        }
    }

    #[test]
    fn empty_or_missing_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            JobTypeRegistry::load(dir.path()),
            Err(RegistryError::Empty(_))
        ));
        assert!(matches!(
            JobTypeRegistry::load(&dir.path().join("nope")),
            Err(RegistryError::Io { .. })
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
