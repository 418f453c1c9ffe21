//! Staging: turn the repository into a runnable, deployable function app.
//!
//! The Functions host wants every function folder directly under the script root and the handler
//! executable where `host.json` says; the repository keeps functions under `functions/`. Staging
//! builds the handler and lays out:
//!
//! ```text
//! <out>/host.json
//! <out>/IngestJob/function.json
//! <out>/ProcessJob/function.json
//! <out>/job-types/<type>/v<N>.schema.json
//! <out>/handler                      (mode 0755)
//! <out>/local.settings.json          (only with --local; never in the zip)
//! <out>.zip                          (the same files, for zip deploy)
//! ```

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};
use serde_json::Value;

/// What to stage and how.
#[derive(Debug, Clone)]
pub struct StageOptions {
    /// Repository root.
    pub root: PathBuf,
    /// Output folder (its parent gets `<name>.zip`).
    pub out: PathBuf,
    /// Rust target triple; `None` for the host.
    pub target: Option<String>,
    /// Release (default) or debug build.
    pub release: bool,
    /// Also copy `local.settings.json` (for `func start` / devhost runs).
    pub local: bool,
    /// Write the zip.
    pub zip: bool,
}

/// The result of staging.
#[derive(Debug)]
pub struct Staged {
    /// The app folder.
    pub dir: PathBuf,
    /// The zip, when written.
    pub zip: Option<PathBuf>,
    /// Relative paths in the app (and the zip), sorted.
    pub files: Vec<String>,
}

/// Build the handler and stage the app.
pub fn stage(opts: &StageOptions) -> Result<Staged> {
    let binary = build_handler(opts)?;
    let host = read_json(&opts.root.join("host.json"))?;
    let exe = host
        .pointer("/customHandler/description/defaultExecutablePath")
        .and_then(Value::as_str)
        .context("host.json: customHandler.description.defaultExecutablePath is missing")?
        .to_owned();

    if opts.out.exists() {
        fs::remove_dir_all(&opts.out)
            .with_context(|| format!("cannot clear {}", opts.out.display()))?;
    }
    fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;

    let mut files = Vec::new();
    copy(
        &opts.root.join("host.json"),
        &opts.out,
        "host.json",
        &mut files,
    )?;
    for function in function_dirs(&opts.root.join("functions"))? {
        let name = file_name(&function);
        let spec = function.join("function.json");
        let bindings = read_json(&spec)?;
        ensure!(
            bindings
                .get("bindings")
                .and_then(Value::as_array)
                .is_some_and(|b| !b.is_empty()),
            "{}: `bindings` must be a non-empty array",
            spec.display()
        );
        copy(
            &spec,
            &opts.out,
            &format!("{name}/function.json"),
            &mut files,
        )?;
    }
    for schema in schema_files(&opts.root.join("job-types"))? {
        let rel = schema
            .strip_prefix(&opts.root)
            .context("schema outside the repository")?;
        copy(&schema, &opts.out, &to_slash(rel), &mut files)?;
    }
    copy(&binary, &opts.out, &exe, &mut files)?;
    set_executable(&opts.out.join(&exe))?;
    files.sort();

    let zip = if opts.zip {
        Some(write_zip(&opts.out, &files, &exe)?)
    } else {
        None
    };
    if opts.local {
        fs::copy(
            opts.root.join("local.settings.json"),
            opts.out.join("local.settings.json"),
        )
        .context("cannot copy local.settings.json")?;
    }
    Ok(Staged {
        dir: opts.out.clone(),
        zip,
        files,
    })
}

fn build_handler(opts: &StageOptions) -> Result<PathBuf> {
    build(&opts.root, "handler", opts.release, opts.target.as_deref())
}

/// Build `package`'s binary of the same name and return its path.
pub fn build(root: &Path, package: &str, release: bool, target: Option<&str>) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(&cargo);
    cmd.current_dir(root)
        .args(["build", "--package", package, "--bin", package]);
    if release {
        cmd.arg("--release");
    }
    if let Some(target) = target {
        cmd.args(["--target", target]);
    }
    let status = cmd
        .status()
        .with_context(|| format!("cannot run {cargo}"))?;
    ensure!(status.success(), "building {package} failed ({status})");
    let mut path = target_dir(&cargo, root)?;
    if let Some(target) = target {
        path.push(target);
    }
    path.push(if release { "release" } else { "debug" });
    path.push(package);
    ensure!(
        path.is_file(),
        "the {package} binary is not at {}",
        path.display()
    );
    Ok(path)
}

/// The workspace target folder (`cargo metadata`), honouring `CARGO_TARGET_DIR`.
pub fn target_dir(cargo: &str, root: &Path) -> Result<PathBuf> {
    let out = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .context("cannot run cargo metadata")?;
    ensure!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed no JSON")?;
    meta.get("target_directory")
        .and_then(Value::as_str)
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}

fn function_dirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    dirs.retain(|d| d.join("function.json").is_file());
    dirs.sort();
    ensure!(
        !dirs.is_empty(),
        "{}: no <Function>/function.json found",
        dir.display()
    );
    Ok(dirs)
}

fn schema_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.to_string_lossy().ends_with(".schema.json") {
                found.push(path);
            }
        }
    }
    found.sort();
    ensure!(
        !found.is_empty(),
        "{}: no job type schemas found",
        dir.display()
    );
    Ok(found)
}

fn copy(from: &Path, out: &Path, rel: &str, files: &mut Vec<String>) -> Result<()> {
    let to = out.join(rel);
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent)?;
    }
    fs::copy(from, &to)
        .with_context(|| format!("cannot copy {} to {}", from.display(), to.display()))?;
    files.push(rel.to_owned());
    Ok(())
}

fn read_json(path: &Path) -> Result<Value> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not valid JSON", path.display()))
}

#[cfg(unix)]
fn set_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_executable(_: &Path) -> Result<()> {
    Ok(())
}

/// A deterministic zip: sorted entries, fixed timestamps, 0755 on the executable, 0644 elsewhere.
fn write_zip(dir: &Path, files: &[String], exe: &str) -> Result<PathBuf> {
    let name = dir.file_name().context("output folder has no name")?;
    let parent = dir.parent().unwrap_or_else(|| Path::new("."));
    let path = parent.join(format!("{}.zip", name.to_string_lossy()));
    let file =
        fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut zip = zip::ZipWriter::new(file);
    for rel in files {
        let mode = if rel == exe { 0o755 } else { 0o644 };
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(mode);
        zip.start_file(rel.as_str(), options)?;
        zip.write_all(&fs::read(dir.join(rel))?)?;
    }
    zip.finish()?;
    Ok(path)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn to_slash(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
