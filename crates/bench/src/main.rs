//! `bench`: run the benchmark suite against release binaries and write `BENCHMARKS.md`.
//! Usually started by `cargo xtask bench`, which builds everything first.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use bench::load::Oha;
use bench::machine::Machine;
use bench::process::Binaries;
use bench::report::{Run, render};
use bench::suite::{Context, Parts, Plan, Suite};
use bench::{criterion_report, targets};
use clap::Parser;

/// Run the benchmark suite and write the report.
#[derive(Parser)]
#[command(name = "bench", version)]
struct Cli {
    /// Smoke run: a second or two per scenario, to prove the suite still runs.
    #[arg(long)]
    quick: bool,
    /// Folder holding the release `handler`, `devhost` and `bench-baseline`.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Repository root (for `host.json`, `functions/`, `job-types/`).
    #[arg(long, default_value = ".")]
    repo: PathBuf,
    /// The `oha` executable (default: `oha` on PATH).
    #[arg(long)]
    oha: Option<PathBuf>,
    /// Criterion's output folder, to include the micro-benchmarks (`target/criterion`).
    #[arg(long)]
    criterion_dir: Option<PathBuf>,
    /// The musl-target handler, to report its size too.
    #[arg(long)]
    musl_handler: Option<PathBuf>,
    /// Scratch folder (logs, queue data, staged app).
    #[arg(long, default_value = "target/bench")]
    work_dir: PathBuf,
    /// Where to write the report.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// The command to name in the report.
    #[arg(long, default_value = "cargo xtask bench")]
    command: String,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    strict: bool,
    /// Run only these parts (repeatable, or comma-separated); the report then holds only
    /// their sections and targets, and says it is partial. Default: everything.
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Suite>,
}

fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(&cli) {
        Ok(all_met) if all_met || !cli.strict => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<bool> {
    std::fs::create_dir_all(&cli.work_dir)
        .with_context(|| format!("cannot create {}", cli.work_dir.display()))?;
    let cx = Context {
        bins: Binaries::in_dir(&cli.bin_dir)?,
        oha: Oha::locate(cli.oha.as_deref())?,
        repo: std::path::absolute(&cli.repo)?,
        work: std::path::absolute(&cli.work_dir)?,
        plan: Plan::new(cli.quick),
    };
    let machine = Machine::detect();
    let parts = Parts::run(&cx, &cli.only, cli.musl_handler.as_ref())?;
    let micro = match &cli.criterion_dir {
        Some(dir) => criterion_report::read(dir)?,
        None => Vec::new(),
    };
    let verdicts = targets::check(&parts);
    let all_met = verdicts.iter().all(|v| v.met);
    let report = render(&Run {
        when: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        command: cli.command.clone(),
        quick: cli.quick,
        machine,
        oha: cx.oha.version.clone(),
        plan: cx.plan.clone(),
        parts,
        micro,
        verdicts: verdicts.clone(),
    });
    std::fs::write(&cli.out, &report)
        .with_context(|| format!("cannot write {}", cli.out.display()))?;
    for v in &verdicts {
        eprintln!(
            "  [{}] {}: {}",
            if v.met { "met" } else { "MISSED" },
            v.target,
            v.measured
        );
    }
    eprintln!("bench: wrote {}", cli.out.display());
    Ok(all_met)
}
