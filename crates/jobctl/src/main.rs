//! `jobctl`: the operator CLI for the job pipeline's Service Bus queue, over the Service Bus REST
//! API (crates/servicebus). Works against a real namespace (Microsoft Entra ID: managed identity
//! in Azure, Azure CLI / azd sign-in on a workstation) and against the devhost (plain `http`
//! on loopback, no token).
//!
//! ```text
//! jobctl --endpoint mybus queues
//! jobctl --endpoint http://127.0.0.1:7071/servicebus dlq peek --max 20
//! jobctl --endpoint mybus dlq resubmit --filter reason=MaxDeliveryCountExceeded --dry-run
//! jobctl --endpoint mybus dlq purge --yes
//! ```

mod dlq;
mod endpoint;
mod error;
mod output;
mod selection;

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::CliError;
use crate::output::QueueRow;
use crate::selection::Selection;

/// Operate the job pipeline's queue and its dead letters.
#[derive(Debug, Parser)]
#[command(name = "jobctl", version)]
struct Cli {
    /// Namespace (`mybus`, `mybus.servicebus.windows.net`) or URL (`https://...`, or the
    /// devhost's `http://127.0.0.1:7071/servicebus`).
    #[arg(long, env = "SERVICEBUS_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// The queue.
    #[arg(long, default_value = "jobs", env = "SERVICEBUS_QUEUE", global = true)]
    queue: String,
    /// JSON output for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Message counts (active, scheduled, dead-letter) of the queue, or of the queues named.
    Queues {
        /// Queues to show (default: --queue).
        names: Vec<String>,
    },
    /// Dead-letter subqueue operations.
    #[command(subcommand)]
    Dlq(DlqCommand),
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// Show dead letters (reason, description, delivery count, enqueued time, body). The REST API
    /// has no plain peek: they are locked briefly and unlocked again.
    Peek {
        /// At most this many.
        #[arg(long, default_value_t = 10)]
        max: usize,
    },
    /// Put dead letters back on the queue (a copy is sent, then the dead letter deleted).
    Resubmit(ResubmitArgs),
    /// Delete every dead letter of the queue.
    Purge {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false, id = "which")]
struct Which {
    /// Every dead letter.
    #[arg(long)]
    all: bool,
    /// By MessageId or sequence number (repeatable).
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    /// `reason=<DeadLetterReason>` or `description=<text it contains>`.
    #[arg(long, value_name = "KEY=VALUE")]
    filter: Option<String>,
}

#[derive(Debug, Args)]
struct ResubmitArgs {
    #[command(flatten)]
    which: Which,
    /// Show what would be resubmitted; change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Which {
    fn selection(&self) -> Result<Selection, CliError> {
        match (&self.filter, self.ids.is_empty(), self.all) {
            (Some(f), _, _) => Selection::filter(f),
            (None, false, _) => Ok(Selection::Ids(self.ids.clone())),
            (None, true, true) => Ok(Selection::All),
            (None, true, false) => Err(CliError::Usage(
                "choose dead letters with --all, --id ID or --filter reason=...".into(),
            )),
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    match run(&cli).await {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("jobctl: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cli: &Cli) -> Result<String, CliError> {
    let endpoint = cli.endpoint.as_deref().ok_or_else(|| {
        CliError::Usage(
            "no namespace: pass --endpoint <namespace|URL> or set SERVICEBUS_ENDPOINT".into(),
        )
    })?;
    let client = endpoint::client(endpoint)?;
    let queue = cli.queue.as_str();
    match &cli.command {
        Command::Queues { names } => {
            let names = if names.is_empty() {
                vec![queue.to_owned()]
            } else {
                names.clone()
            };
            let mut rows = Vec::new();
            for name in &names {
                rows.push(QueueRow::new(name, client.entity_counts(name).await?));
            }
            Ok(if cli.json {
                output::json(&rows)
            } else {
                output::queues(&rows)
            })
        }
        Command::Dlq(DlqCommand::Peek { max }) => {
            let rows = dlq::peek(&client, queue, *max).await?;
            Ok(if cli.json {
                output::json(&rows)
            } else {
                output::dead_letters(&rows)
            })
        }
        Command::Dlq(DlqCommand::Resubmit(args)) => {
            let selection = args.which.selection()?;
            let report = dlq::resubmit(&client, queue, &selection, args.dry_run).await?;
            Ok(if cli.json {
                output::json(&report)
            } else {
                output::resubmitted(&report)
            })
        }
        Command::Dlq(DlqCommand::Purge { yes }) => {
            if !yes {
                let count = client.entity_counts(queue).await?.dead_letter;
                confirm(&format!(
                    "Delete all {count} dead letter(s) of {queue} at {} permanently?",
                    client.endpoint()
                ))?;
            }
            let deleted = dlq::purge(&client, queue).await?;
            Ok(if cli.json {
                output::json(&serde_json::json!({ "deleted": deleted }))
            } else {
                format!("deleted {deleted} dead letter(s) of {queue}")
            })
        }
    }
}

/// Ask on the terminal; refuse when there is none (scripts pass `--yes`).
fn confirm(question: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NotConfirmed(
            "refusing to purge without confirmation: stdin is not a terminal (pass --yes)".into(),
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(CliError::NotConfirmed("purge cancelled".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn resubmit_needs_exactly_one_selection() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["jobctl", "--endpoint", "x", "dlq", "resubmit"]
                    .iter()
                    .chain(args),
            )
        };
        assert!(parse(&[]).is_err());
        assert!(parse(&["--all", "--id", "1"]).is_err());
        let cli = parse(&["--id", "1", "--id", "m-2", "--dry-run"]).unwrap();
        let Command::Dlq(DlqCommand::Resubmit(args)) = cli.command else {
            panic!("not resubmit");
        };
        assert!(args.dry_run);
        assert_eq!(
            args.which.selection().unwrap(),
            Selection::Ids(vec!["1".into(), "m-2".into()])
        );
    }
}
