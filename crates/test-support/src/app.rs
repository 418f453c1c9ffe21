//! Script roots (function app folders) for the devhost: the project's app staged like
//! `cargo xtask stage --local`, or the generic Python handler of `tests/fixtures/pyhandler`.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::{binary, repo_root};

/// A Service Bus connection string for the bindings' `connection` setting (the devhost serves every
/// binding from its local Service Bus whatever the value).
pub const LOCAL_CONNECTION_STRING: &str =
    "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=devhost;SharedAccessKey=devhost";

/// `dir/app` staged like `cargo xtask stage --local`: `host.json`, `IngestJob` and `ProcessJob`,
/// the job types and the real handler binary, with `settings` added to `local.settings.json`
/// (see [`write_settings`]).
pub fn script_root(dir: &Path, settings: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("app");
    let repo = repo_root();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(repo.join("host.json"), root.join("host.json")).unwrap();
    for f in ["IngestJob", "ProcessJob"] {
        std::fs::create_dir_all(root.join(f)).unwrap();
        std::fs::copy(
            repo.join(format!("functions/{f}/function.json")),
            root.join(f).join("function.json"),
        )
        .unwrap();
    }
    for t in ["report", "thumbnail"] {
        copy_tree(
            &repo.join("job-types").join(t),
            &root.join("job-types").join(t),
        );
    }
    std::fs::copy(binary("handler"), root.join("handler")).unwrap();
    write_settings(&root, settings);
    root
}

/// Write the script root's `local.settings.json`: a custom-handler app logging JSON at `warn`,
/// its bindings' `ServiceBusConnection` set, with the handler's ingest protection lifted (the load tests send thousands of requests from
/// one client), then `settings`.
pub fn write_settings(root: &Path, settings: &[(&str, &str)]) {
    let mut values = serde_json::Map::new();
    values.insert("FUNCTIONS_WORKER_RUNTIME".into(), json!("custom"));
    // The bindings' `connection` must name a setting, as under the host (docs/PARITY.md).
    values.insert(
        "ServiceBusConnection".into(),
        json!(LOCAL_CONNECTION_STRING),
    );
    values.insert("LOG_FORMAT".into(), json!("json"));
    values.insert("RUST_LOG".into(), json!("warn"));
    for (k, v) in [
        ("RATE_LIMIT_CLIENT_BURST", "10000000"),
        ("RATE_LIMIT_GLOBAL_PER_MINUTE", "10000000"),
        ("VELOCITY_FLAG_PER_MINUTE", "10000000"),
    ] {
        values.insert(k.into(), json!(v));
    }
    for (k, v) in settings {
        values.insert((*k).into(), json!(v));
    }
    let text = json!({"IsEncrypted": false, "Values": values}).to_string();
    std::fs::write(root.join("local.settings.json"), text).unwrap();
}

/// Change one field of the script root's `host.json` (a JSON pointer such as `/functionTimeout`).
pub fn edit_host_json(root: &Path, pointer: &str, value: Value) {
    set_host_json(root, |host| *host.pointer_mut(pointer).unwrap() = value);
}

/// Edit the script root's `host.json` as JSON.
pub fn set_host_json(root: &Path, edit: impl FnOnce(&mut Value)) {
    let path = root.join("host.json");
    let mut host: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut host);
    std::fs::write(path, host.to_string()).unwrap();
}

/// Stage `tests/fixtures/pyhandler` (a generic Python custom handler that is not the project's)
/// into `dir/app`, with `values` added to its `local.settings.json`. Variants stay in
/// `app/variants` until [`add_pyhandler_variant`] copies one in.
pub fn pyhandler_root(dir: &Path, values: &[(&str, &str)]) -> PathBuf {
    let root = dir.join("app");
    copy_tree(&repo_root().join("tests/fixtures/pyhandler"), &root);
    let path = root.join("local.settings.json");
    let mut settings: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for (k, v) in values {
        settings["Values"][*k] = json!(v);
    }
    std::fs::write(path, settings.to_string()).unwrap();
    root
}

/// Copy `variants/<name>` of the staged pyhandler into the script root as a function.
pub fn add_pyhandler_variant(root: &Path, name: &str) {
    copy_tree(&root.join("variants").join(name), &root.join(name));
}

/// Copy a folder and everything below it.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}
