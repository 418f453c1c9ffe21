//! The `devhost` command line: run a function app locally, and read its application map and
//! telemetry. Queue and dead-letter work is `jobctl`'s (the same CLI against the devhost and a
//! real namespace). The binary (src/bin/devhost.rs) and the end-to-end tests' copy of it (crates/e2e)
//! both call [`main`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::servicebus::{ServiceBusOptions, serve};
use crate::{AmqpOptions, StartOptions, run};
use broker::amqp::SasKey;
use broker::store::QueueOptions;
use clap::{Parser, Subcommand};
use serde_json::Value;

#[derive(Parser)]
#[command(
    name = "devhost",
    version,
    about = "Local stand-in for the Azure Functions host (custom handlers, Service Bus queues)",
    after_help = JOBCTL_POINTER
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the function app in a script root.
    Start {
        /// Script root: host.json, <Function>/function.json, local.settings.json.
        #[arg(long, default_value = "dist/app", env = "DEVHOST_SCRIPT_ROOT")]
        script_root: PathBuf,
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 7071, env = "DEVHOST_PORT")]
        port: u16,
        #[command(flatten)]
        broker: BrokerArgs,
        /// Telemetry envelopes kept in memory (oldest dropped first).
        #[arg(long, default_value_t = 200_000, env = "DEVHOST_TELEMETRY_CAPACITY", value_parser = clap::value_parser!(u64).range(100..=10_000_000))]
        telemetry_capacity: u64,
        /// Enforce each HTTP function's authLevel with function keys, as `func start
        /// --enableAuth` does: `x-functions-key` header or `code` query parameter; keys in
        /// <data-dir>/secrets (the host's file format), created and printed on first start.
        #[arg(long, env = "DEVHOST_ENABLE_AUTH")]
        enable_auth: bool,
    },
    /// Serve the local Service Bus alone (AMQP and the REST subset, no function app): for
    /// `func start` with the emulator connection string, and for your own SDK clients.
    Servicebus {
        /// A queue to serve (repeat for more; `--sb-config` adds its queues).
        #[arg(
            long = "queue",
            value_name = "NAME",
            required_unless_present = "sb_config"
        )]
        queues: Vec<String>,
        /// Port of the REST subset on 127.0.0.1 (`SERVICEBUS_ENDPOINT=http://127.0.0.1:PORT/servicebus`).
        #[arg(long, default_value_t = 7072, env = "DEVHOST_SERVICEBUS_PORT")]
        port: u16,
        #[command(flatten)]
        broker: BrokerArgs,
    },
    /// The application map as text: edges with calls, failures and latency, plus metric totals,
    /// overall and per tenant.
    Map {
        #[command(flatten)]
        target: Target,
    },
    /// Write the captured telemetry as JSON lines to stdout.
    Telemetry {
        #[command(flatten)]
        target: Target,
    },
}

/// The local Service Bus: its store, queue behaviour and AMQP listener (`start` and `servicebus`).
#[derive(clap::Args)]
struct BrokerArgs {
    /// Where the durable queue store lives.
    #[arg(long, default_value = ".devhost", env = "DEVHOST_DATA_DIR")]
    data_dir: PathBuf,
    /// Deliveries before a message is dead-lettered (Service Bus and Terraform default 10).
    #[arg(long, default_value_t = 10, env = "DEVHOST_MAX_DELIVERY_COUNT", value_parser = clap::value_parser!(u32).range(1..=2000))]
    max_delivery_count: u32,
    /// PeekLock duration, 5 s to 5 min: PT1M, 00:01:00, 60s or 60 (Terraform default PT1M).
    #[arg(long, alias = "lock-duration-secs", default_value = "PT1M", env = "DEVHOST_LOCK_DURATION", value_parser = lock_duration)]
    lock_duration: Duration,
    /// Default message time-to-live: P14D, 14d, 3600 (Terraform default P14D).
    #[arg(long, visible_alias = "ttl", alias = "ttl-secs", default_value = "P14D", env = "DEVHOST_DEFAULT_MESSAGE_TTL", value_parser = message_ttl)]
    default_message_ttl: Duration,
    /// Dead-letter expired messages (else drop them), as Terraform's
    /// dead_lettering_on_message_expiration (default true).
    #[arg(long, default_value_t = true, env = "DEVHOST_DEAD_LETTER_ON_EXPIRATION", action = clap::ArgAction::Set)]
    dead_letter_on_expiration: bool,
    /// Duplicate detection: a MessageId accepted within this window is accepted and
    /// dropped, 20 s to 7 days (PT10M, 10m, 600), or `off` (Terraform's
    /// requires_duplicate_detection with duplicate_detection_history_time_window PT10M).
    #[arg(long, default_value = "PT10M", env = "DEVHOST_DUPLICATE_DETECTION_WINDOW", value_parser = duplicate_window)]
    duplicate_detection_window: Window,
    /// Queues with their own properties, in the Service Bus emulator's `Config.json` format
    /// (the queue flags above are the defaults of every other queue).
    #[arg(long, env = "DEVHOST_SB_CONFIG")]
    sb_config: Option<PathBuf>,
    /// AMQP port of the local Service Bus on 127.0.0.1 (what the Service Bus SDKs speak);
    /// 0 turns it off.
    #[arg(long, default_value_t = 5672, env = "DEVHOST_AMQP_PORT")]
    amqp_port: u16,
    /// SAS key name AMQP clients authenticate with (the emulator's default).
    #[arg(
        long,
        default_value = "RootManageSharedAccessKey",
        env = "DEVHOST_SAS_KEY_NAME"
    )]
    sas_key_name: String,
    /// SAS key AMQP clients sign their tokens with (the emulator's default).
    #[arg(long, default_value = "SAS_KEY_VALUE", env = "DEVHOST_SAS_KEY")]
    sas_key: String,
    /// More shared access rules, `NAME:RIGHTS:KEY` with rights from Manage, Send, Listen
    /// (`sender:Send:KEY`), to try least-privilege connection strings locally; repeatable
    /// (`;`-separated in the variable).
    #[arg(long = "sas-rule", env = "DEVHOST_SAS_RULES", value_delimiter = ';')]
    sas_rules: Vec<SasKey>,
}

impl BrokerArgs {
    fn queue(&self) -> QueueOptions {
        QueueOptions {
            max_delivery_count: self.max_delivery_count,
            lock_duration: self.lock_duration,
            time_to_live: self.default_message_ttl,
            dead_letter_on_expiration: self.dead_letter_on_expiration,
            duplicate_detection: self.duplicate_detection_window.0,
        }
    }

    fn amqp(&self) -> Option<AmqpOptions> {
        (self.amqp_port != 0).then(|| AmqpOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], self.amqp_port)),
            sas: SasKey::root(self.sas_key_name.clone(), self.sas_key.clone()),
            rules: self.sas_rules.clone(),
        })
    }
}

#[derive(clap::Args)]
struct Target {
    /// The running devhost.
    #[arg(long, default_value = "http://127.0.0.1:7071", env = "DEVHOST_URL")]
    url: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Where queue and dead-letter work went (`devhost queues`, `dlq` and `send` were removed).
const JOBCTL_POINTER: &str =
    "Queue counts and dead letters: jobctl, the operator CLI (README \"Operator CLI\"):
  jobctl --endpoint http://127.0.0.1:7071/servicebus queues
  jobctl --endpoint http://127.0.0.1:7071/servicebus dlq peek | dlq resubmit | dlq purge
A raw message: curl -X POST http://127.0.0.1:7071/servicebus/jobs/messages -d '...'";

/// Subcommands earlier versions had, now `jobctl`'s.
const REMOVED: [&str; 3] = ["queues", "dlq", "send"];

/// Parse the command line and run it; the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let removed = std::env::args()
                .nth(1)
                .filter(|a| REMOVED.contains(&a.as_str()));
            let _ = e.print();
            if let Some(name) = removed {
                eprintln!("\n`devhost {name}` was removed. {JOBCTL_POINTER}");
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Logs go to stderr: JSON lines unless a person is watching it.
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let json_logs = !terminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(terminal)
        .with_writer(std::io::stderr);
    let _ = if json_logs
        && matches!(
            cli.command,
            Command::Start { .. } | Command::Servicebus { .. }
        ) {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("devhost: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("devhost: {e}");
            ExitCode::from(2)
        }
    }
}

async fn dispatch(command: Command) -> Result<(), String> {
    match command {
        Command::Start {
            script_root,
            port,
            broker,
            telemetry_capacity,
            enable_auth,
        } => {
            let options = StartOptions {
                script_root,
                listen: SocketAddr::from(([127, 0, 0, 1], port)),
                queue: broker.queue(),
                amqp: broker.amqp(),
                sb_config: broker.sb_config.clone(),
                data_dir: broker.data_dir,
                telemetry_capacity: usize::try_from(telemetry_capacity).unwrap_or(usize::MAX),
                enable_auth,
            };
            run(options).await.map_err(|e| e.to_string())
        }
        Command::Servicebus {
            queues,
            port,
            broker,
        } => {
            let Some(amqp) = broker.amqp() else {
                return Err(
                    "--amqp-port 0: `devhost servicebus` serves AMQP; give it a port".into(),
                );
            };
            let options = ServiceBusOptions {
                listen: SocketAddr::from(([127, 0, 0, 1], port)),
                queue: broker.queue(),
                queues,
                amqp,
                sb_config: broker.sb_config.clone(),
                data_dir: broker.data_dir,
            };
            serve(options).await.map_err(|e| e.to_string())
        }
        Command::Map { target } => {
            let v = call(&target, reqwest::Method::GET, "/map.json", None).await?;
            if target.json {
                return print_json(&v);
            }
            println!(
                "{:<32} {:>8} {:>9} {:>11} {:>11}",
                "EDGE", "CALLS", "FAILED %", "P50 MS", "P95 MS"
            );
            for e in v["edges"].as_array().into_iter().flatten() {
                let edge = format!(
                    "{} -> {}",
                    e["from"].as_str().unwrap_or("?"),
                    e["to"].as_str().unwrap_or("?")
                );
                let ms = |k: &str| {
                    e[k].as_f64()
                        .map_or_else(|| "-".to_owned(), |x| format!("{x:.1}"))
                };
                println!(
                    "{edge:<32} {:>8} {:>9.1} {:>11} {:>11}",
                    count(&e["calls"]),
                    e["failurePercent"].as_f64().unwrap_or(0.0),
                    ms("p50Ms"),
                    ms("p95Ms")
                );
            }
            println!("\noperations (jobs traced): {}", count(&v["operations"]));
            for (name, total) in v["metrics"].as_object().into_iter().flatten() {
                println!("{name:<32} {total}");
            }
            for (tenant, totals) in v["tenants"].as_object().into_iter().flatten() {
                println!("\ntenant {tenant}");
                for (name, total) in totals.as_object().into_iter().flatten() {
                    println!("  {name:<30} {total}");
                }
            }
            Ok(())
        }
        Command::Telemetry { target } => {
            let url = format!("{}/admin/telemetry", target.url.trim_end_matches('/'));
            let res = reqwest::get(&url)
                .await
                .map_err(|e| format!("cannot reach the devhost at {}: {e}", target.url))?;
            print!("{}", res.text().await.map_err(|e| e.to_string())?);
            Ok(())
        }
    }
}

/// `--lock-duration`: Service Bus accepts 5 seconds to 5 minutes.
fn lock_duration(text: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(text)?;
    if (Duration::from_secs(5)..=Duration::from_secs(300)).contains(&d) {
        Ok(d)
    } else {
        Err(format!(
            "{text}: a lock duration must be from 5 seconds (PT5S) to 5 minutes (PT5M)"
        ))
    }
}

/// `--duplicate-detection-window`: a window, or none.
#[derive(Debug, Clone, Copy)]
struct Window(Option<Duration>);

/// `--duplicate-detection-window`: `off`, or Service Bus's 20 seconds to 7 days.
fn duplicate_window(text: &str) -> Result<Window, String> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Ok(Window(None));
    }
    let d = crate::config::parse_duration(text)?;
    if (Duration::from_secs(20)..=Duration::from_secs(7 * 24 * 3600)).contains(&d) {
        Ok(Window(Some(d)))
    } else {
        Err(format!(
            "{text}: a duplicate detection window must be from 20 seconds (PT20S) to 7 days (P7D), or off"
        ))
    }
}

/// `--default-message-ttl`: at least one second.
fn message_ttl(text: &str) -> Result<Duration, String> {
    let d = crate::config::parse_duration(text)?;
    if d >= Duration::from_secs(1) {
        Ok(d)
    } else {
        Err(format!(
            "{text}: a time-to-live must be at least one second"
        ))
    }
}

async fn call(
    target: &Target,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let url = format!("{}{path}", target.url.trim_end_matches('/'));
    let mut req = reqwest::Client::new().request(method, &url);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("cannot reach the devhost at {}: {e}", target.url))?;
    let status = res.status();
    let v: Value = res
        .json()
        .await
        .map_err(|e| format!("{url}: answer is not JSON: {e}"))?;
    if status.is_success() {
        Ok(v)
    } else {
        Err(format!(
            "{url}: {status}: {}",
            v["detail"].as_str().unwrap_or("")
        ))
    }
}

fn count(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn print_json(v: &Value) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
    );
    Ok(())
}
