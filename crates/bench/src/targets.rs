//! The performance targets (issue #6) checked against one run's figures.

use crate::suite::Parts;
use crate::suite::e2e::EndToEnd;
use crate::suite::hot_path::HotPath;
use crate::suite::messaging::Messaging;
use crate::suite::startup::Process;

/// One target and how the run fared.
#[derive(Debug, Clone)]
pub struct Verdict {
    /// The target, as stated.
    pub target: &'static str,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub met: bool,
}

/// Every target of the parts that ran, in the order the issues state them.
pub fn check(parts: &Parts) -> Vec<Verdict> {
    let mut all = Vec::new();
    all.extend(parts.hot.as_ref().map(hot_targets).into_iter().flatten());
    all.extend(parts.e2e.as_ref().map(e2e_targets).into_iter().flatten());
    all.extend(
        parts
            .process
            .as_ref()
            .map(process_targets)
            .into_iter()
            .flatten(),
    );
    all.extend(
        parts
            .messaging
            .as_ref()
            .map(messaging_targets)
            .into_iter()
            .flatten(),
    );
    all
}

fn verdict(target: &'static str, measured: String, met: bool) -> Verdict {
    Verdict {
        target,
        measured,
        met,
    }
}

fn hot_targets(hot: &HotPath) -> Vec<Verdict> {
    vec![
        verdict(
            "Handler ingest throughput ≥ 70% of the axum baseline",
            format!(
                "{:.0}% ({:.0} vs {:.0} req/s)",
                hot.ingest.ratio() * 100.0,
                hot.ingest.handler.rps,
                hot.ingest.baseline.rps
            ),
            hot.ingest.ratio() >= 0.70,
        ),
        verdict(
            "Handler ingest p99 < 5 ms at 1,000 req/s",
            format!("{:.2} ms", hot.ingest_fixed.handler.p99_ms),
            hot.ingest_fixed.handler.p99_ms < 5.0,
        ),
    ]
}

fn e2e_targets(e2e: &EndToEnd) -> Vec<Verdict> {
    let cap = &e2e.capacity;
    vec![
        verdict(
            "Devhost end to end ≥ 5,000 accepted jobs/s",
            format!("{:.0} jobs/s", cap.accepted_per_s()),
            cap.accepted_per_s() >= 5_000.0,
        ),
        verdict(
            "Devhost end to end ≥ 2,000 completed jobs/s",
            format!("{:.0} jobs/s", cap.completed_per_s()),
            cap.completed_per_s() >= 2_000.0,
        ),
        verdict(
            "Devhost ingest p99 < 50 ms at 1,000 req/s",
            format!("{:.2} ms", e2e.at_rate.ingest.p99_ms),
            e2e.at_rate.ingest.p99_ms < 50.0,
        ),
        verdict(
            "Nothing lost (completed = accepted, no dead letters)",
            format!(
                "capacity run {}/{}; fixed-rate run {}",
                cap.completed,
                cap.accepted,
                if e2e.at_rate.lossless {
                    "all completed"
                } else {
                    "LOST JOBS"
                }
            ),
            cap.lossless() && e2e.at_rate.lossless,
        ),
    ]
}

fn process_targets(process: &Process) -> Vec<Verdict> {
    vec![
        verdict(
            "Handler start-to-ready < 50 ms",
            format!("{:.1} ms median", process.handler.median_ms()),
            process.handler.median_ms() < 50.0,
        ),
        verdict(
            "Handler idle RSS < 20 MB",
            format!("{:.1} MiB", process.handler.idle.rss_mib()),
            process.handler.idle.rss_mib() < 20.0,
        ),
        verdict(
            "Release binary < 15 MB",
            format!(
                "{:.1} MiB{}",
                process.handler.size_mib,
                process
                    .musl_size_mib
                    .map(|m| format!(" (musl static: {m:.1} MiB)"))
                    .unwrap_or_default()
            ),
            process.handler.size_mib < 15.0 && process.musl_size_mib.is_none_or(|m| m < 15.0),
        ),
    ]
}

/// Issue #15: AMQP against the REST subset, same devhost, store and run.
fn messaging_targets(messaging: &Messaging) -> Vec<Verdict> {
    // AMQP at least 3× the REST subset: the ratio, with both rates.
    let against_rest = |target, amqp: f64, rest: f64, ratio: f64| {
        let measured = format!("{ratio:.1}× ({amqp:.0} vs {rest:.0} msg/s)");
        verdict(target, measured, ratio >= 3.0)
    };
    vec![
        against_rest(
            "AMQP sends ≥ 3× the REST subset's (same connections, AMQP pipelined)",
            messaging.amqp_pipelined.send_per_s(),
            messaging.rest.send_per_s(),
            messaging.send_ratio(),
        ),
        against_rest(
            "AMQP receive+complete ≥ 3× the REST subset's (same connections, AMQP pipelined)",
            messaging.amqp_pipelined.receive_per_s(),
            messaging.rest.receive_per_s(),
            messaging.receive_ratio(),
        ),
        verdict(
            "AMQP ≥ 5,000 sends/s from a Rust client (one in flight per client)",
            format!("{:.0} msg/s", messaging.amqp.send_per_s()),
            messaging.amqp.send_per_s() >= 5_000.0,
        ),
        verdict(
            "AMQP ≥ 3,000 receive+completes/s from a Rust client (one in flight per client)",
            format!("{:.0} msg/s", messaging.amqp.receive_per_s()),
            messaging.amqp.receive_per_s() >= 3_000.0,
        ),
    ]
}
