//! `cargo xtask bench`: build what the suite measures, run the criterion micro-benchmarks and the
//! `bench` runner, and write the report.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, Result, ensure};

use crate::stage::target_dir;

/// The `oha` release the suite is pinned to (installed with `cargo install --locked`).
pub const OHA_VERSION: &str = "1.16.0";

/// What `cargo xtask bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Repository root.
    pub root: PathBuf,
    /// Smoke run.
    pub quick: bool,
    /// Skip the criterion micro-benchmarks.
    pub no_micro: bool,
    /// Report path.
    pub out: PathBuf,
    /// Exit non-zero when a target is missed.
    pub strict: bool,
    /// Parts of the suite to run (empty: all), passed to the runner's `--only`.
    pub only: Vec<String>,
}

/// Build, measure, report.
///
/// The smoke (`quick`) measures debug builds (already built by `cargo test`, so CI stays fast)
/// and runs each micro-benchmark once in criterion's test mode; the real run is release throughout.
pub fn bench(opts: &BenchOptions) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let target = target_dir(&cargo, &opts.root)?;
    let oha = ensure_oha(&cargo)?;
    let mut build = Command::new(&cargo);
    build.current_dir(&opts.root).args([
        "build", "--locked", "-p", "handler", "-p", "devhost", "-p", "bench",
    ]);
    if !opts.quick {
        build.arg("--release");
    }
    run(&mut build, "build")?;
    let criterion = target.join("criterion");
    let measure_micro = !opts.no_micro && !opts.quick;
    if opts.quick && !opts.no_micro {
        run(
            Command::new(&cargo)
                .current_dir(&opts.root)
                .args(["test", "--locked", "-p", "bench", "--bench", "micro"]),
            "criterion micro-benchmarks (test mode: each once)",
        )?;
    }
    if measure_micro {
        if criterion.exists() {
            std::fs::remove_dir_all(&criterion)
                .with_context(|| format!("cannot clear {}", criterion.display()))?;
        }
        run(
            Command::new(&cargo)
                .current_dir(&opts.root)
                .args(["bench", "--locked", "-p", "bench", "--bench", "micro", "--"])
                .args(["--warm-up-time", "1", "--measurement-time", "3"]),
            "criterion micro-benchmarks",
        )?;
    }
    let bins = target.join(if opts.quick { "debug" } else { "release" });
    let mut cmd = Command::new(bins.join("bench"));
    cmd.current_dir(&opts.root)
        .arg("--bin-dir")
        .arg(&bins)
        .arg("--repo")
        .arg(&opts.root)
        .arg("--oha")
        .arg(&oha)
        .arg("--work-dir")
        .arg(target.join("bench"))
        .arg("--out")
        .arg(&opts.out)
        .arg("--command")
        .arg(if opts.quick {
            "cargo xtask bench --quick"
        } else {
            "cargo xtask bench"
        });
    if measure_micro {
        cmd.arg("--criterion-dir").arg(&criterion);
    }
    let musl = target.join("x86_64-unknown-linux-musl/release/handler");
    if musl.is_file() && !opts.quick {
        cmd.arg("--musl-handler").arg(musl);
    }
    if opts.quick {
        cmd.arg("--quick");
    }
    if opts.strict {
        cmd.arg("--strict");
    }
    if !opts.only.is_empty() {
        cmd.arg("--only").arg(opts.only.join(","));
    }
    run(&mut cmd, "the bench runner")
}

/// `oha` on PATH, else the pinned release in the project's tool cache, installed there if absent.
fn ensure_oha(cargo: &str) -> Result<PathBuf> {
    if Command::new("oha")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return Ok(PathBuf::from("oha"));
    }
    let root = tool_cache()?;
    let exe = root.join("bin/oha");
    if exe.is_file() {
        return Ok(exe);
    }
    eprintln!(
        "xtask: installing oha {OHA_VERSION} into {} (a few minutes, once)",
        root.display()
    );
    run(
        Command::new(cargo)
            .args(["install", "--locked", "--version", OHA_VERSION, "--root"])
            .arg(&root)
            .arg("oha"),
        "cargo install oha",
    )?;
    Ok(exe)
}

/// `$RESILIENT_JOBS_TOOLS`, else `~/.cache/resilient-jobs/tools`.
fn tool_cache() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("RESILIENT_JOBS_TOOLS") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set RESILIENT_JOBS_TOOLS")?;
    Ok(Path::new(&home).join(".cache/resilient-jobs/tools"))
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd
        .status()
        .with_context(|| format!("cannot start {what}"))?;
    ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}
