//! Function keys under `devhost start --enable-auth`, as `func start --enableAuth` enforces them
//! (without the flag nothing is checked, as under `func start`).
//!
//! * The key (`H WebJobs.Script.WebHost/Security/Authentication/Keys/AuthenticationLevelHandler.
//!   GetAuthorizationKeyInfoAsync`): the `x-functions-key` header's first value when the header is
//!   there (it wins), else the `code` query parameter's first value.
//! * Its level (`H .../Security/KeyManagement/SecretManager.GetAuthorizationLevelAsync`): the master
//!   key is `Admin`, a system key `System`, a host function key or one of the function's own keys
//!   `Function`; anything else is no key. A function needs a level at least its `authLevel`
//!   (`anonymous` needs none); otherwise 401.
//! * Where keys live: the host's file repository (`H .../KeyManagement/FileSystemSecretsRepository`,
//!   `AzureWebJobsSecretStorageType=files`): `host.json` (`masterKey`, `functionKeys`,
//!   `systemKeys`, each key `{name, value, encrypted}`) and `<function>.json` (`keys`), here in
//!   `<data-dir>/secrets`. A missing `host.json` is created with a new master key and a `default`
//!   host function key, printed at start-up. New keys are 40 random bytes in URL-safe base64, the
//!   host's older key format (not its newer checksummed `AzFu` format).

use std::path::{Path, PathBuf};

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::{AuthLevel, Function};

/// Why the keys could not be loaded.
#[derive(Debug, Error)]
pub enum KeysError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not in the host's format.
    #[error("{path}: {problem}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// One key as the host stores it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Key {
    /// Key name (`default`, `master`, ...).
    pub name: String,
    /// The secret.
    pub value: String,
    /// Whether `value` is encrypted (the devhost refuses encrypted keys).
    #[serde(default)]
    pub encrypted: bool,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct HostSecrets {
    master_key: Option<Key>,
    #[serde(default)]
    function_keys: Vec<Key>,
    #[serde(default)]
    system_keys: Vec<Key>,
}

#[derive(Debug, Deserialize)]
struct FunctionSecrets {
    #[serde(default)]
    keys: Vec<Key>,
}

/// The keys of an app.
#[derive(Debug)]
pub struct Keys {
    /// Where they live.
    pub dir: PathBuf,
    master: Key,
    host_function: Vec<Key>,
    system: Vec<Key>,
    /// Function name (lower case) and its own keys.
    per_function: Vec<(String, Vec<Key>)>,
}

impl Keys {
    /// Load the keys from `dir`, creating `host.json` with new keys when it does not exist.
    pub fn load_or_create(dir: &Path, functions: &[Function]) -> Result<Self, KeysError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeysError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let host_path = dir.join("host.json");
        if !host_path.exists() {
            let fresh = HostSecrets {
                master_key: Some(new_key("master")),
                function_keys: vec![new_key("default")],
                system_keys: Vec::new(),
            };
            let text = serde_json::to_string_pretty(&fresh).unwrap_or_default();
            std::fs::write(&host_path, text).map_err(io(&host_path))?;
        }
        let host: HostSecrets = read(&host_path)?;
        let format = |problem: &str| KeysError::Format {
            path: host_path.clone(),
            problem: problem.to_owned(),
        };
        let master = host
            .master_key
            .ok_or_else(|| format("masterKey is required"))?;
        let mut per_function = Vec::new();
        for f in functions {
            let lower = f.name.to_lowercase();
            let path = [
                dir.join(format!("{lower}.json")),
                dir.join(format!("{}.json", f.name)),
            ]
            .into_iter()
            .find(|p| p.is_file());
            if let Some(path) = path {
                let secrets: FunctionSecrets = read(&path)?;
                refuse_encrypted(&path, &secrets.keys)?;
                per_function.push((lower, secrets.keys));
            }
        }
        let all: Vec<Key> = std::iter::once(master.clone())
            .chain(host.function_keys.iter().cloned())
            .chain(host.system_keys.iter().cloned())
            .collect();
        refuse_encrypted(&host_path, &all)?;
        Ok(Self {
            dir: dir.to_path_buf(),
            master,
            host_function: host.function_keys,
            system: host.system_keys,
            per_function,
        })
    }

    /// The master key.
    pub fn master(&self) -> &str {
        &self.master.value
    }

    /// The host function key named `default`, else the first host function key.
    pub fn default_function_key(&self) -> Option<&str> {
        self.host_function
            .iter()
            .find(|k| k.name == "default")
            .or_else(|| self.host_function.first())
            .map(|k| k.value.as_str())
    }

    /// Whether the request's key (if any) allows `function` at `required`; `Err` says why not.
    /// `Ok` carries the key's level and name when the request presented a key of this app, even
    /// for an `anonymous` function (the host authenticates any request that presents one).
    pub fn authorize(
        &self,
        function: &str,
        required: AuthLevel,
        headers: &HeaderMap,
        query: Option<&str>,
    ) -> Result<Option<(AuthLevel, String)>, &'static str> {
        let key = presented_key(headers, query);
        let matched = key.as_deref().and_then(|k| self.level_of(function, k));
        if required == AuthLevel::Anonymous {
            return Ok(matched);
        }
        if key.is_none() {
            return Err(
                "no key: send it in the x-functions-key header or the code query parameter",
            );
        }
        match matched {
            Some((level, name)) if rank(level) >= rank(required) => Ok(Some((level, name))),
            _ => Err("the key does not grant this function's authLevel"),
        }
    }

    fn level_of(&self, function: &str, key: &str) -> Option<(AuthLevel, String)> {
        let find = |keys: &[Key]| {
            keys.iter()
                .find(|k| same(&k.value, key))
                .map(|k| k.name.clone())
        };
        if same(&self.master.value, key) {
            // `ScriptConstants.DefaultMasterKeyName`.
            return Some((AuthLevel::Admin, "master".to_owned()));
        }
        if let Some(name) = find(&self.system) {
            return Some((AuthLevel::System, name));
        }
        if let Some(name) = find(&self.host_function) {
            return Some((AuthLevel::Function, name));
        }
        let lower = function.to_lowercase();
        self.per_function
            .iter()
            .find(|(f, _)| *f == lower)
            .and_then(|(_, keys)| find(keys))
            .map(|name| (AuthLevel::Function, name))
    }
}

/// The key a request presents: the `x-functions-key` header's value when the header is there (it
/// wins), else the `code` query parameter's first value; an empty value is no key.
pub fn presented_key(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    match headers.get("x-functions-key") {
        Some(v) => v.to_str().ok().map(str::to_owned),
        None => query.and_then(|q| {
            q.split('&').find_map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                // ASP.NET's query collection ignores case (`?CODE=` works).
                super::decode(k)
                    .eq_ignore_ascii_case("code")
                    .then(|| super::decode(v))
            })
        }),
    }
    .filter(|k| !k.is_empty())
}

/// `AuthorizationLevel` order: Anonymous < Function < System < Admin.
fn rank(level: AuthLevel) -> u8 {
    match level {
        AuthLevel::Anonymous | AuthLevel::User => 0,
        AuthLevel::Function => 2,
        AuthLevel::System => 3,
        AuthLevel::Admin => 4,
    }
}

/// Compare without stopping at the first difference (`Key.SecretValueEquals` is constant time).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn new_key(name: &str) -> Key {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..3)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .take(40)
        .collect();
    Key {
        name: name.to_owned(),
        value: base64::engine::general_purpose::URL_SAFE.encode(bytes),
        encrypted: false,
    }
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| KeysError::Format {
        path: path.to_path_buf(),
        problem: format!("not the host's secrets format: {e}"),
    })
}

fn refuse_encrypted(path: &Path, keys: &[Key]) -> Result<(), KeysError> {
    match keys.iter().find(|k| k.encrypted) {
        Some(k) => Err(KeysError::Format {
            path: path.to_path_buf(),
            problem: format!(
                "key '{}' is encrypted: encrypted keys are not supported by the devhost (store it unencrypted, \"encrypted\": false)",
                k.name
            ),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_grant_levels_as_the_host_does() {
        let dir = tempfile::tempdir().unwrap();
        let f = Function {
            name: "Keyed".into(),
            bindings: Vec::new(),
            disabled: false,
        };
        std::fs::write(
            dir.path().join("keyed.json"),
            r#"{"keys":[{"name":"own","value":"own-key","encrypted":false}]}"#,
        )
        .unwrap();
        let keys = Keys::load_or_create(dir.path(), std::slice::from_ref(&f)).unwrap();
        let master = keys.master().to_owned();
        let default = keys.default_function_key().unwrap().to_owned();
        assert_eq!(default.len(), 56);
        let h = |k: &str| {
            let mut h = HeaderMap::new();
            h.insert("x-functions-key", k.parse().unwrap());
            h
        };
        let none = HeaderMap::new();
        let ok = |l, h: &HeaderMap, q: Option<&str>| keys.authorize("Keyed", l, h, q).is_ok();
        assert!(ok(AuthLevel::Anonymous, &none, None));
        assert!(!ok(AuthLevel::Function, &none, None));
        assert!(ok(AuthLevel::Function, &h(&default), None));
        assert!(ok(
            AuthLevel::Function,
            &none,
            Some(&format!("a=1&code={default}"))
        ));
        assert!(ok(AuthLevel::Function, &h("own-key"), None));
        assert!(ok(
            AuthLevel::Function,
            &none,
            Some(&format!("CODE={default}"))
        ));
        assert!(
            keys.authorize("Other", AuthLevel::Function, &h("own-key"), None)
                .is_err()
        );
        assert!(!ok(AuthLevel::Admin, &h(&default), None));
        assert!(ok(AuthLevel::Admin, &h(&master), None));
        // The header wins over `code`, even when it is wrong.
        assert!(!ok(
            AuthLevel::Function,
            &h("wrong"),
            Some(&format!("code={default}"))
        ));
        // A second load keeps the keys.
        let again = Keys::load_or_create(dir.path(), &[f]).unwrap();
        assert_eq!(again.master(), master);
    }
}
