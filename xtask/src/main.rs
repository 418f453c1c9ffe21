//! `cargo xtask`: project automation.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Parser, Subcommand};
use xtask::stage::{StageOptions, stage};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Project automation")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the handler and stage the function app folder (and zip) for `func start` or deploy.
    Stage {
        /// Rust target triple (CI and deploy use x86_64-unknown-linux-musl).
        #[arg(long)]
        target: Option<String>,
        /// Debug build instead of release.
        #[arg(long)]
        debug: bool,
        /// Output folder; the zip is written beside it as <folder>.zip.
        #[arg(long, default_value = "dist/app")]
        out: PathBuf,
        /// Also copy local.settings.json into the folder (never into the zip).
        #[arg(long)]
        local: bool,
        /// Skip the zip.
        #[arg(long)]
        no_zip: bool,
    },
    /// Run the whole pipeline locally: stage the app, build the devhost, serve on 127.0.0.1.
    Up {
        /// Port for the devhost.
        #[arg(long, default_value_t = 7071)]
        port: u16,
        /// Where the devhost keeps its durable queue.
        #[arg(long, default_value = ".devhost")]
        data_dir: PathBuf,
        /// Debug builds (faster to build, slower to run).
        #[arg(long)]
        debug: bool,
        /// Further `devhost start` arguments, after `--` (e.g. -- --max-delivery-count 5).
        #[arg(last = true)]
        devhost_args: Vec<String>,
    },
    /// Run the benchmark suite (release builds, criterion, oha load) and write BENCHMARKS.md.
    Bench {
        /// Smoke run: a second or two per scenario, to prove the suite still runs (CI).
        #[arg(long)]
        quick: bool,
        /// Skip the criterion micro-benchmarks.
        #[arg(long)]
        no_micro: bool,
        /// Report path (default: BENCHMARKS.md; target/bench/BENCHMARKS-quick.md with --quick,
        /// target/bench/BENCHMARKS-only.md with --only).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit non-zero when a performance target is missed.
        #[arg(long)]
        strict: bool,
        /// Run only these parts of the suite, comma-separated: process, hot, e2e, messaging
        /// (no micro-benchmarks; the report says it is partial).
        #[arg(long, value_delimiter = ',', value_parser = ["process", "hot", "e2e", "messaging"])]
        only: Vec<String>,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let root = repo_root()?;
    match cli.command {
        Cmd::Bench {
            quick,
            no_micro,
            out,
            strict,
            only,
        } => {
            let scratch = |name: &str| -> Result<PathBuf> {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
                Ok(xtask::stage::target_dir(&cargo, &root)?
                    .join("bench")
                    .join(name))
            };
            let out = match out {
                Some(p) if p.is_absolute() => p,
                Some(p) => root.join(p),
                // A smoke or a partial run never replaces the figures of record.
                None if quick => scratch("BENCHMARKS-quick.md")?,
                None if !only.is_empty() => scratch("BENCHMARKS-only.md")?,
                None => root.join("BENCHMARKS.md"),
            };
            xtask::bench::bench(&xtask::bench::BenchOptions {
                root,
                quick,
                no_micro: no_micro || !only.is_empty(),
                out,
                strict,
                only,
            })
        }
        Cmd::Stage {
            target,
            debug,
            out,
            local,
            no_zip,
        } => {
            let out = if out.is_absolute() {
                out
            } else {
                root.join(out)
            };
            let staged = stage(&StageOptions {
                root,
                out,
                target,
                release: !debug,
                local,
                zip: !no_zip,
            })?;
            println!(
                "staged {} files in {}",
                staged.files.len(),
                staged.dir.display()
            );
            if let Some(zip) = staged.zip {
                println!("zip: {}", zip.display());
            }
            Ok(())
        }
        Cmd::Up {
            port,
            data_dir,
            debug,
            devhost_args,
        } => {
            let out = root.join("dist/app");
            stage(&StageOptions {
                root: root.clone(),
                out: out.clone(),
                target: None,
                release: !debug,
                local: true,
                zip: false,
            })?;
            let devhost = xtask::build_binary(&root, "devhost", !debug, None)?;
            let data_dir = if data_dir.is_absolute() {
                data_dir
            } else {
                root.join(data_dir)
            };
            println!(
                "\nStarting the pipeline on http://127.0.0.1:{port} (Ctrl-C to stop). Try:\n\n  curl -i -X POST http://127.0.0.1:{port}/api/IngestJob -H 'content-type: application/json' \\\n    -d '{{\"jobType\":\"report\",\"version\":1,\"tenantId\":\"contoso\",\"payload\":{{\"reportName\":\"daily-sales\",\"rows\":100}}}}'\n\n  open http://127.0.0.1:{port}/map\n  cargo run --release -p jobctl -- --endpoint http://127.0.0.1:{port}/servicebus queues\n"
            );
            let status = std::process::Command::new(&devhost)
                .arg("start")
                .arg("--script-root")
                .arg(&out)
                .arg("--port")
                .arg(port.to_string())
                .arg("--data-dir")
                .arg(&data_dir)
                .args(&devhost_args)
                .status()
                .with_context(|| format!("cannot run {}", devhost.display()))?;
            anyhow::ensure!(status.success(), "devhost exited with {status}");
            Ok(())
        }
    }
}

/// The workspace root: the parent of this crate's manifest directory.
fn repo_root() -> Result<PathBuf> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .parent()
        .map(PathBuf::from)
        .context("xtask has no parent folder")
}
