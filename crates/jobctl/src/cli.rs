//! The `jobctl` command line: arguments, dispatch to the operations, output and exit code.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::{CliError, EXIT_CODES};
use crate::output::QueueRow;
use crate::selection::{Selection, parse_time};
use crate::stop::Stop;
use crate::{audit, dlq, endpoint, output, progress, redrive, summary, telemetry, timeline};

/// Operate the job pipeline's queue and its dead letters.
#[derive(Debug, Parser)]
#[command(name = "jobctl", version, after_help = EXIT_CODES)]
struct Cli {
    /// Namespace (`mybus`, `mybus.servicebus.windows.net`) or URL (`https://...`, or the
    /// devhost's `http://127.0.0.1:7071/servicebus`).
    #[arg(long, env = "SERVICEBUS_ENDPOINT", global = true)]
    endpoint: Option<String>,
    /// The queue.
    #[arg(long, default_value = "jobs", env = "SERVICEBUS_QUEUE", global = true)]
    queue: String,
    /// JSON output for scripts instead of tables (and no progress bar).
    #[arg(long, global = true)]
    json: bool,
    #[command(flatten)]
    telemetry: TelemetryArgs,
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
    /// A job's timeline: ingest, each attempt (delivery count, outcome, latency), each
    /// reschedule with its delay, dead-lettering with the reason, resubmissions, completion.
    /// From Application Insights (--app-id) or the devhost (--devhost).
    #[command(after_help = EXIT_CODES)]
    Job {
        /// The job id (the `jobId` of the 202 answer).
        job_id: String,
    },
    /// The per-job audit per tenant and job type: jobs received, completed, dead-lettered and in
    /// flight (each job once, by its latest life), resubmissions, failed attempts, reschedules.
    #[command(after_help = EXIT_CODES)]
    Audit,
}

/// Where `job` and `audit` read telemetry: Application Insights (`--app-id`), or the devhost
/// (`--devhost`, or the devhost that `--endpoint http://.../servicebus` names).
#[derive(Debug, Args, Default)]
struct TelemetryArgs {
    /// The Application ID of the Application Insights resource (its API Access blade, or
    /// `az monitor app-insights component show --query appId`; Terraform output
    /// `application_insights_app_id`). Needs the Reader role on the resource.
    #[arg(
        long,
        env = "APPLICATIONINSIGHTS_APP_ID",
        global = true,
        value_name = "ID"
    )]
    app_id: Option<String>,
    /// The query API (another cloud's, or a test server).
    #[arg(long, env = "APPLICATIONINSIGHTS_QUERY_ENDPOINT", global = true, value_name = "URL",
          default_value = telemetry::query::DEFAULT_ENDPOINT)]
    query_endpoint: String,
    /// The devhost whose captured telemetry to read (`http://127.0.0.1:7071`).
    #[arg(long, env = "DEVHOST_URL", global = true, value_name = "URL")]
    devhost: Option<String>,
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
    /// Group every dead letter by reason, job type, error (ids and numbers masked) and hour
    /// enqueued, with counts, oldest and newest. Reads them all by peek-lock and unlocks them
    /// again (the REST API has no non-destructive peek); a scan longer than the queue's lock
    /// duration stops when its first locks lapse and says it is incomplete (exit 5).
    #[command(after_help = EXIT_CODES)]
    Summary(Filters),
    /// Redrive dead letters back onto the queue: a copy is sent (deterministic MessageId
    /// `<original>/r<sequence>`), then the dead letter deleted; rate-limited, with progress on a
    /// terminal and a checkpoint so an interrupted run resumes where it stopped. Only the dead
    /// letters present when the run starts are taken.
    #[command(after_help = EXIT_CODES)]
    Resubmit(ResubmitArgs),
    /// Delete every dead letter of the queue.
    Purge {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// Filters; every one given must hold.
#[derive(Debug, Args, Default)]
struct Filters {
    /// `DeadLetterReason` (case-insensitive), e.g. MaxDeliveryCountExceeded.
    #[arg(long, value_name = "REASON")]
    reason: Option<String>,
    /// The job envelope's `jobType`.
    #[arg(long, value_name = "TYPE")]
    job_type: Option<String>,
    /// The job envelope's `tenantId`.
    #[arg(long, value_name = "TENANT")]
    tenant: Option<String>,
    /// Enqueued at or after: RFC 3339 time, date (UTC) or age (`30m`, `2h`, `7d`).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Enqueued before: RFC 3339 time, date (UTC) or age.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// `reason=<DeadLetterReason>` or `description=<text DeadLetterErrorDescription contains>`.
    #[arg(long, value_name = "KEY=VALUE")]
    filter: Option<String>,
}

#[derive(Debug, Args)]
struct ResubmitArgs {
    /// Every dead letter (or pass --id or a filter).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    /// By SequenceNumber or MessageId (repeatable). An id that matches no dead letter is an
    /// error (exit 4) and nothing is resubmitted.
    #[arg(long = "id", value_name = "ID")]
    ids: Vec<String>,
    #[command(flatten)]
    filters: Filters,
    /// At most this many resubmissions: `50/s`, `600/m`, or a number per second.
    #[arg(long, value_name = "N/s", value_parser = redrive::parse_rate)]
    rate: Option<f64>,
    /// The checkpoint file (default: `$JOBCTL_STATE_DIR`, else `$XDG_STATE_HOME/jobctl`, else
    /// `~/.local/state/jobctl`, `redrive-<queue>-<hash of endpoint, queue and filters>.jsonl`).
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Forget an interrupted run of the same command and start a new one.
    #[arg(long)]
    restart: bool,
    /// Show what would be resubmitted; change nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Filters {
    fn selection(&self, base: Selection) -> Result<Selection, CliError> {
        let now = chrono::Utc::now();
        let time = |flag: &str, t: &Option<String>| {
            t.as_ref()
                .map(|text| parse_time(flag, text, now).map(|at| (text.clone(), at)))
                .transpose()
        };
        let mut s = Selection {
            reason: self.reason.clone(),
            job_type: self.job_type.clone(),
            tenant: self.tenant.clone(),
            since: time("--since", &self.since)?,
            until: time("--until", &self.until)?,
            ..base
        };
        if let Some(f) = &self.filter {
            if self.reason.is_some() && f.trim().to_ascii_lowercase().starts_with("reason") {
                return Err(CliError::Usage(
                    "--reason and --filter reason=... both given: use one".into(),
                ));
            }
            s = s.with_filter(f)?;
        }
        if let (Some((a, since)), Some((b, until))) = (&s.since, &s.until)
            && since >= until
        {
            return Err(CliError::Usage(format!(
                "--since {a} is not before --until {b}: the window is empty"
            )));
        }
        Ok(s)
    }
}

impl ResubmitArgs {
    fn selection(&self) -> Result<Selection, CliError> {
        let s = self.filters.selection(Selection {
            all: self.all,
            ids: self.ids.clone(),
            ..Selection::default()
        })?;
        if !s.all && !s.narrows() {
            return Err(CliError::Usage(
                "choose dead letters with --all, --id ID, or a filter (--reason, --job-type, --tenant, --since, --until, --filter)".into(),
            ));
        }
        Ok(s)
    }
}

/// Parse the command line and run it; the process exit code.
#[tokio::main(flavor = "current_thread")]
pub async fn main() -> ExitCode {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let fail = |e: &CliError| {
        eprintln!("jobctl: {e}");
        ExitCode::from(e.exit_code())
    };
    match run(&cli).await {
        Ok((text, None)) => {
            print(&text);
            ExitCode::SUCCESS
        }
        Ok((text, Some(warning))) => {
            print(&text);
            fail(&warning)
        }
        Err(e) => fail(&e),
    }
}

/// Write the output; a reader that went away (`| head`) is not an error.
fn print(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// The output, and the reason it is partial when it is.
type Outcome = (String, Option<CliError>);

async fn run(cli: &Cli) -> Result<Outcome, CliError> {
    let render = |json: String, text: String| if cli.json { json } else { text };
    match &cli.command {
        Command::Job { job_id } => {
            let job_id = job_id.trim().to_ascii_lowercase();
            if !timeline::valid_job_id(&job_id) {
                return Err(CliError::Usage(format!(
                    "{job_id:?} is not a job id: expected the UUID IngestJob answered as jobId (01936c1e-7b2a-7c3d-9e4f-0123456789ab)"
                )));
            }
            let source = telemetry_source(cli)?;
            let rows = source.job(&job_id).await?;
            if rows.is_empty() {
                return Err(CliError::UnknownJob(format!(
                    "no telemetry of job {job_id} in {} (an unknown id, a job not yet processed, or one older than the query window {})",
                    source.describe(),
                    telemetry::query::TIMESPAN
                )));
            }
            let t = timeline::timeline(&job_id, &rows);
            return Ok((render(output::json(&t), timeline::render(&t)), None));
        }
        Command::Audit => {
            let source = telemetry_source(cli)?;
            let a = audit::audit(&source.attempts().await?);
            return Ok((
                render(output::json(&a), audit::render(&a, &source.describe())),
                None,
            ));
        }
        _ => {}
    }
    let endpoint = cli.endpoint.as_deref().ok_or_else(|| {
        CliError::Usage(
            "no namespace: pass --endpoint <namespace|URL> or set SERVICEBUS_ENDPOINT".into(),
        )
    })?;
    let client = endpoint::client(endpoint)?;
    let queue = cli.queue.as_str();
    match &cli.command {
        Command::Job { .. } | Command::Audit => unreachable!("answered above"),
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
            Ok((render(output::json(&rows), output::queues(&rows)), None))
        }
        Command::Dlq(DlqCommand::Peek { max }) => {
            let rows = dlq::peek(&client, queue, *max, &Stop::install()).await?;
            Ok((
                render(output::json(&rows), output::dead_letters(&rows)),
                None,
            ))
        }
        Command::Dlq(DlqCommand::Summary(filters)) => {
            let selection = filters.selection(Selection::default())?;
            let progress =
                progress::Progress::spinner(progress::wanted(cli.json), "reading dead letters");
            let (summary, warning) =
                dlq::summary(&client, queue, &selection, &Stop::install(), &progress).await?;
            Ok((
                render(output::json(&summary), summary::render(&summary)),
                warning,
            ))
        }
        Command::Dlq(DlqCommand::Resubmit(args)) => {
            let selection = args.selection()?;
            let options = redrive::Options {
                rate: args.rate,
                dry_run: args.dry_run,
                checkpoint: args.checkpoint.clone(),
                restart: args.restart,
                progress: progress::wanted(cli.json),
            };
            let (report, warning) =
                redrive::resubmit(&client, queue, &selection, &options, &Stop::install()).await?;
            Ok((
                render(output::json(&report), output::resubmitted(&report)),
                warning,
            ))
        }
        Command::Dlq(DlqCommand::Purge { yes }) => {
            if !yes {
                let count = client.entity_counts(queue).await?.dead_letter;
                confirm(&format!(
                    "Delete all {count} dead letter(s) of {queue} at {} permanently?",
                    client.endpoint()
                ))?;
            }
            let deleted = dlq::purge(&client, queue, &Stop::install()).await?;
            let text = format!("deleted {deleted} dead letter(s) of {queue}");
            Ok((
                render(
                    output::json(&serde_json::json!({ "deleted": deleted })),
                    text,
                ),
                None,
            ))
        }
    }
}

/// The telemetry store `job` and `audit` read: Application Insights when `--app-id` is given,
/// else the devhost (`--devhost`, or the one an `http://.../servicebus` `--endpoint` names).
fn telemetry_source(cli: &Cli) -> Result<telemetry::Source, CliError> {
    let t = &cli.telemetry;
    if let Some(app_id) = &t.app_id {
        let auth = if std::env::var_os("IDENTITY_ENDPOINT").is_some() {
            servicebus::Auth::managed_identity(std::env::var("AZURE_CLIENT_ID").ok())?
        } else {
            servicebus::Auth::developer_tools()?
        };
        let credential = match auth {
            servicebus::Auth::Entra(c) => Some(c),
            servicebus::Auth::None => None,
        };
        let client =
            telemetry::query::QueryClient::new(&t.query_endpoint, app_id.trim(), credential)?;
        return Ok(telemetry::Source::AppInsights(client));
    }
    let devhost = t.devhost.clone().or_else(|| {
        cli.endpoint
            .as_deref()
            .filter(|e| e.starts_with("http://"))
            .map(|e| {
                e.trim_end_matches('/')
                    .trim_end_matches("/servicebus")
                    .to_owned()
            })
    });
    match devhost {
        Some(url) => Ok(telemetry::Source::Devhost(
            telemetry::devhost::DevhostTelemetry::new(&url)?,
        )),
        None => Err(CliError::Usage(
            "no telemetry store: pass --app-id <Application ID> (Application Insights) or --devhost <URL> (local), or set APPLICATIONINSIGHTS_APP_ID".into(),
        )),
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
    fn resubmit_needs_a_selection() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(
                ["jobctl", "--endpoint", "x", "dlq", "resubmit"]
                    .iter()
                    .chain(args),
            )
        };
        let selection = |args: &[&str]| {
            let cli = parse(args).unwrap();
            let Command::Dlq(DlqCommand::Resubmit(args)) = cli.command else {
                panic!("not resubmit");
            };
            args.selection()
        };
        assert!(matches!(selection(&[]), Err(CliError::Usage(_))));
        assert!(parse(&["--all", "--id", "1"]).is_err());
        let s = selection(&["--id", "1", "--id", "m-2", "--dry-run"]).unwrap();
        assert_eq!(s.ids, ["1", "m-2"]);
        let s = selection(&["--tenant", "t0", "--job-type", "report", "--since", "2h"]).unwrap();
        assert_eq!(
            (s.tenant.as_deref(), s.job_type.as_deref()),
            (Some("t0"), Some("report"))
        );
        assert!(s.since.is_some());
        assert!(selection(&["--all", "--reason", "x", "--filter", "reason=y"]).is_err());
        assert!(selection(&["--since", "1h", "--until", "2h"]).is_err());
        assert!(parse(&["--all", "--rate", "0/s"]).is_err());
        let cli = parse(&["--all", "--rate", "120/m"]).unwrap();
        let Command::Dlq(DlqCommand::Resubmit(args)) = cli.command else {
            panic!("not resubmit");
        };
        assert_eq!(args.rate, Some(2.0));
    }
}
