//! The job type folder: `job-types/<type>/v<N>.schema.json`, read once at start-up into a
//! [`JobTypeRegistry`] (which compiles the schemas and does no I/O itself).
//!
//! Files that are not JSON (a README, say) are ignored; a `.json` file with any other name is an
//! error, so a typo cannot silently drop a job type.

use std::fs;
use std::path::{Path, PathBuf};

use jobs::{JobTypeRegistry, RegistryError};
use thiserror::Error;

/// Why the job type folder could not be loaded. Each variant names the path at fault.
#[derive(Debug, Error)]
pub enum JobTypesError {
    /// The folder (or a file in it) could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `.json` file is not named `<type>/v<N>.schema.json`.
    #[error(
        "{path}: job type schemas must be named job-types/<type>/v<N>.schema.json, where <type> matches ^[a-z][a-z0-9-]{{0,62}}$ and N >= 1"
    )]
    BadName {
        /// The offending path.
        path: PathBuf,
    },
    /// A schema file is not a usable schema.
    #[error("{path}: {source}")]
    Schema {
        /// The offending file.
        path: PathBuf,
        /// What the registry said.
        source: RegistryError,
    },
    /// The folder holds no schema at all.
    #[error("{0}: no job type schemas found (expected <type>/v<N>.schema.json files)")]
    Empty(PathBuf),
}

/// Read and compile every schema under `dir`.
pub fn load(dir: &Path) -> Result<JobTypeRegistry, JobTypesError> {
    let mut registry = JobTypeRegistry::default();
    let mut found = false;
    for type_dir in read_dir_sorted(dir)? {
        if !type_dir.is_dir() {
            if is_json(&type_dir) {
                return Err(JobTypesError::BadName { path: type_dir });
            }
            continue;
        }
        let name = file_name(&type_dir);
        for file in read_dir_sorted(&type_dir)? {
            if !is_json(&file) {
                continue;
            }
            let version = parse_version(&file_name(&file))
                .filter(|_| jobs::valid_type_name(&name))
                .ok_or_else(|| JobTypesError::BadName { path: file.clone() })?;
            let text = fs::read_to_string(&file).map_err(|source| JobTypesError::Io {
                path: file.clone(),
                source,
            })?;
            registry
                .insert(&name, version, &text)
                .map_err(|source| JobTypesError::Schema {
                    path: file.clone(),
                    source,
                })?;
            found = true;
        }
    }
    if !found {
        return Err(JobTypesError::Empty(dir.to_path_buf()));
    }
    Ok(registry)
}

/// `v<N>.schema.json` with `N >= 1` and no leading zero.
fn parse_version(file: &str) -> Option<u32> {
    let digits = file.strip_prefix('v')?.strip_suffix(".schema.json")?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, JobTypesError> {
    let io = |source| JobTypesError::Io {
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
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const SCHEMA: &str =
        r#"{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}"#;

    #[test]
    fn loads_the_shipped_folder() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../job-types");
        let reg = load(&dir).unwrap();
        assert_eq!(reg.names().collect::<Vec<_>>(), ["report", "thumbnail"]);
        assert_eq!(reg.versions("report"), [1, 2]);
    }

    #[test]
    fn loads_types_and_versions_ignoring_other_files() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "alpha/v1.schema.json", SCHEMA);
        write(dir.path(), "alpha/v2.schema.json", r#"{"title":"A2"}"#);
        write(dir.path(), "beta-2/v10.schema.json", SCHEMA);
        write(dir.path(), "README.md", "ignored");
        write(dir.path(), "alpha/notes.txt", "ignored");
        let reg = load(dir.path()).unwrap();
        assert_eq!(reg.names().collect::<Vec<_>>(), ["alpha", "beta-2"]);
        assert_eq!(reg.versions("alpha"), [1, 2]);
        assert_eq!(reg.versions("beta-2"), [10]);
    }

    #[test]
    fn misnamed_and_invalid_files_are_errors_naming_the_file() {
        for (rel, text, expect) in [
            ("alpha/schema.json", SCHEMA, "schema.json"),
            ("alpha/v0.schema.json", SCHEMA, "v0.schema.json"),
            ("alpha/v01.schema.json", SCHEMA, "v01.schema.json"),
            ("Alpha/v1.schema.json", SCHEMA, "Alpha"),
            (
                "alpha/v1.schema.json",
                "{not json",
                "v1.schema.json: alpha v1: not valid JSON",
            ),
            (
                "alpha/v1.schema.json",
                r#"{"type": 12}"#,
                "not a valid JSON Schema",
            ),
            ("loose.json", SCHEMA, "loose.json"),
        ] {
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), rel, text);
            let err = load(dir.path()).unwrap_err().to_string();
            assert!(err.contains(expect), "{rel}: {err}");
        }
    }

    #[test]
    fn empty_or_missing_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load(dir.path()), Err(JobTypesError::Empty(_))));
        assert!(matches!(
            load(&dir.path().join("nope")),
            Err(JobTypesError::Io { .. })
        ));
    }
}
