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
