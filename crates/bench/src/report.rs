//! `BENCHMARKS.md`: the machine, the command, every figure, and the targets.

use std::fmt::Write as _;

use crate::criterion_report::{Estimate, human};
use crate::load::Outcome;
use crate::machine::Machine;
use crate::suite::e2e::EndToEnd;
use crate::suite::hot_path::{HotPath, Pair};
use crate::suite::messaging::{Messaging, WINDOW};
use crate::suite::startup::Process;
use crate::suite::{Parts, Plan};
use crate::targets::Verdict;

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Run {
    /// When (UTC, RFC 3339).
    pub when: String,
    /// The command that produced it.
    pub command: String,
    /// Smoke or full.
    pub quick: bool,
    /// The machine.
    pub machine: Machine,
    /// `oha --version`.
    pub oha: String,
    /// The plan used.
    pub plan: Plan,
    /// Criterion estimates (empty if the micro-benchmarks were not run).
    pub micro: Vec<Estimate>,
    /// The parts of the suite that ran.
    pub parts: Parts,
    /// Targets.
    pub verdicts: Vec<Verdict>,
}

fn ms(v: f64) -> String {
    format!("{v:.2} ms")
}

/// Rows of a two-column table, `| figure | value |`.
fn figures<const N: usize>(out: &mut String, rows: [(String, String); N]) {
    for (figure, value) in rows {
        row(out, &[&figure, &value]);
    }
}

/// One row of a Markdown table.
fn row(out: &mut String, cells: &[&dyn std::fmt::Display]) {
    for cell in cells {
        let _ = write!(out, "| {cell} ");
    }
    let _ = writeln!(out, "|");
}

fn pair_rows(out: &mut String, p: &Pair) {
    for (who, o) in [("handler", &p.handler), ("baseline", &p.baseline)] {
        let (rps, p50, p99) = (format!("{:.0}", o.rps), ms(o.p50_ms), ms(o.p99_ms));
        row(out, &[&p.scenario, &who, &rps, &p50, &p99, &o.answered]);
    }
    let _ = writeln!(
        out,
        "| {} | **handler / baseline** | **{:.0}%** | | | |",
        p.scenario,
        p.ratio() * 100.0
    );
}

/// Render the report.
pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let m = &run.machine;
    let _ = writeln!(out, "# Benchmarks\n");
    if run.quick {
        let _ = writeln!(
            out,
            "> **Smoke run (`--quick`)**: debug builds, durations of a second or two, micro-benchmarks run once in test mode: it proves the suite runs. The figures are not representative.\n"
        );
    }
    if let Some(names) = run.parts.partial() {
        let _ = writeln!(
            out,
            "> **Partial run (`--only {names}`)**: only these sections and their targets; not a run of record.\n"
        );
    }
    let _ = writeln!(
        out,
        "Produced by `{}` on {} (commit `{}`). Every figure below comes from that one run; \
         timings on a shared 2-core machine are noisy, so compare the handler with the baseline \
         measured beside it rather than with another day's numbers.\n",
        run.command, run.when, m.commit
    );
    let _ = writeln!(out, "| machine | |\n| --- | --- |");
    let _ = writeln!(out, "| CPU | {} × {} |", m.cpus, m.cpu);
    let _ = writeln!(out, "| memory | {:.1} GiB |", m.memory_gib);
    let _ = writeln!(out, "| kernel | {} |", m.kernel);
    let _ = writeln!(out, "| toolchain | {} |", m.rustc);
    let _ = writeln!(out, "| load generator | {} |", run.oha);
    let _ = writeln!(
        out,
        "\n## Targets\n\n| target | measured | |\n| --- | --- | --- |"
    );
    for v in &run.verdicts {
        let met = if v.met { "met" } else { "**missed**" };
        row(&mut out, &[&v.target, &v.measured, &met]);
    }

    let p = &run.plan;
    let parts = &run.parts;
    if let Some(hot) = &parts.hot {
        hot_section(&mut out, p, hot);
    }
    if parts.partial().is_none() || !run.micro.is_empty() {
        micro_section(&mut out, &run.micro);
    }
    if let Some(e) = &parts.e2e {
        e2e_section(&mut out, p, e);
    }
    if let Some(m) = &parts.messaging {
        messaging_section(&mut out, m);
    }
    if let Some(pr) = &parts.process {
        process_section(&mut out, pr, parts.hot.as_ref());
    }
    out
}

fn hot_section(out: &mut String, p: &Plan, hot: &HotPath) {
    let _ = writeln!(
        out,
        "\n## 1. Handler hot path against the axum baseline\n\n\
         The release `handler` and `bench-baseline` (a minimal axum server, same allocator, that \
         decodes the invocation JSON the way the handler does and answers with the same response, \
         built from fixed ids: no validation, ids, telemetry, logging or protection; the runner \
         checked that both answers have the same outline and sizes within 10%), each alone, \
         are sent the exact bodies the Functions host sends, over loopback HTTP by `oha` on the \
         same machine (so the load generator shares the 2 cores). Chaos 0, processing delay 0, \
         ingest protection on but with limits no single load generator can trip, \
         console logging as configured by default (JSON lines to a file). Closed-loop runs last \
         {}s; the fixed-rate run offers {} req/s for {}s with latency correction (no coordinated \
         omission). Every invocation must answer 200 for a figure to count. Baseline and handler \
         are measured in {} interleaved rounds; each figure is the median round (by req/s, or by \
         p99 for the fixed rate).\n",
        p.hot_duration.as_secs_f64(),
        p.fixed_rate,
        p.rate_duration.as_secs_f64(),
        hot.rounds
    );
    let _ = writeln!(
        out,
        "| scenario | server | req/s | p50 | p99 | requests |\n| --- | --- | ---: | ---: | ---: | ---: |"
    );
    for pair in [&hot.ingest, &hot.process, &hot.ingest_fixed] {
        pair_rows(out, pair);
    }
    let _ = writeln!(
        out,
        "\nPeak RSS after these runs: handler {:.1} MiB, baseline {:.1} MiB.",
        hot.handler_memory.peak_mib(),
        hot.baseline_memory.peak_mib()
    );
}

fn micro_section(out: &mut String, micro: &[Estimate]) {
    let _ = writeln!(
        out,
        "\n## 2. Micro-benchmarks (criterion, in process)\n\n`cargo bench -p bench --bench micro`.\n"
    );
    if micro.is_empty() {
        let _ = writeln!(
            out,
            "No estimates in this run (the smoke runs each benchmark once, unmeasured)."
        );
    } else {
        let _ = writeln!(out, "| benchmark | mean | median |\n| --- | ---: | ---: |");
        for e in micro {
            let id = format!("`{}`", e.id);
            row(out, &[&id, &human(e.mean_ns), &human(e.median_ns)]);
        }
    }
}

fn e2e_section(out: &mut String, p: &Plan, e: &EndToEnd) {
    let c = &e.capacity;
    let _ = writeln!(
        out,
        "\n## 3. End to end through the devhost\n\n\
         The release `devhost` runs the release `handler` over the custom-handler contract with \
         its durable queue (SQLite WAL, `synchronous=FULL`: a 202 means the job is fsync'd), \
         `maxConcurrentCalls` from `host.json` (unset there: the extension default, 16 per processor), telemetry captured by its own ingestion endpoint \
         (the handler exports every span and metric to it), chaos 0, processing delay 0, \
         ingest protection lifted as above. \
         Clients POST the README's sample job to `/api/IngestJob`. Each scenario starts a fresh \
         devhost and queue; completion counts and queue-to-completion latency come from \
         `/admin/queues`.\n"
    );
    let _ = writeln!(
        out,
        "| capacity ({}s closed loop, {} connections) | |\n| --- | ---: |",
        p.e2e_duration.as_secs_f64(),
        p.connections
    );
    let p50_p99 = |l: &Outcome| format!("{} / {}", ms(l.p50_ms), ms(l.p99_ms));
    figures(
        out,
        [
            (
                "accepted jobs/s (during ingest)".into(),
                format!("{:.0}", c.accepted_per_s()),
            ),
            ("ingest p50 / p99".into(), p50_p99(&c.ingest)),
            (
                "completed jobs/s (first request until the queue was empty)".into(),
                format!("{:.0}", c.completed_per_s()),
            ),
            (
                "completed while ingesting".into(),
                format!("{} of {}", c.completed_during_ingest, c.accepted),
            ),
            (
                "queue drained after".into(),
                format!("{:.1} s", c.drained_after_s),
            ),
            (
                "accepted / completed / dead-lettered".into(),
                format!("{} / {} / {}", c.accepted, c.completed, c.dead_lettered),
            ),
            (
                "devhost peak RSS".into(),
                format!("{:.1} MiB", c.devhost_memory.peak_mib()),
            ),
        ],
    );
    let r = &e.at_rate;
    let _ = writeln!(
        out,
        "\n| fixed rate: {} req/s for {}s | |\n| --- | ---: |",
        p.fixed_rate,
        p.rate_duration.as_secs_f64()
    );
    let lossless = if r.lossless { "yes" } else { "**no**" };
    figures(
        out,
        [
            ("achieved req/s".into(), format!("{:.0}", r.ingest.rps)),
            ("ingest p50 / p99".into(), p50_p99(&r.ingest)),
            (
                format!("queue-to-completion p50 / p99 ({} jobs)", r.queue.count),
                format!("{} ms / {} ms", r.queue.p50, r.queue.p99),
            ),
            ("every accepted job completed".into(), lossless.into()),
        ],
    );
    let _ = writeln!(
        out,
        "\nMaximum sustainable rate: offered rates in steps of {}s, the queue drained between \
         steps; a step holds when every request gets 202, at least 95% of the offered rate is \
         achieved and ingest p99 stays under 200 ms (seed 002's bar).\n",
        p.step_duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "| offered req/s | achieved | p50 | p99 | holds |\n| ---: | ---: | ---: | ---: | --- |"
    );
    for s in &e.steps {
        let (achieved, held) = (
            format!("{:.0}", s.ingest.rps),
            if s.held { "yes" } else { "no" },
        );
        let (p50, p99) = (ms(s.ingest.p50_ms), ms(s.ingest.p99_ms));
        row(out, &[&s.rate, &achieved, &p50, &p99, &held]);
    }
    let _ = writeln!(
        out,
        "\n**Maximum sustainable rate: {}.**",
        e.max_sustainable().map_or_else(
            || "below the first step".to_owned(),
            |r| {
                let last = e.steps.last().is_some_and(|s| s.held);
                format!(
                    "{r} req/s{}",
                    if last {
                        " (the highest step tried)"
                    } else {
                        ""
                    }
                )
            }
        )
    );
}

fn process_section(out: &mut String, pr: &Process, hot: Option<&HotPath>) {
    let _ = writeln!(
        out,
        "\n## 5. Process figures\n\nStart-to-first-answer is the time from `spawn` to the first \
         HTTP answer on `GET /` (the host's readiness probe), over {} starts: the part of a cold \
         start inside our control. Idle RSS is read from `/proc` one second after start.\n",
        pr.handler.ready_ms.len()
    );
    let _ = writeln!(out, "| | handler | baseline |\n| --- | ---: | ---: |");
    let mib = |v: f64| format!("{v:.1} MiB");
    let (handler, baseline) = (&pr.handler, &pr.baseline);
    let mut rows = vec![
        (
            "start-to-first-answer, median",
            ms(handler.median_ms()),
            ms(baseline.median_ms()),
        ),
        (
            "start-to-first-answer, slowest",
            ms(handler.max_ms()),
            ms(baseline.max_ms()),
        ),
        (
            "idle RSS",
            mib(handler.idle.rss_mib()),
            mib(baseline.idle.rss_mib()),
        ),
    ];
    // The load figures come from section 1, when it ran.
    if let Some(hot) = hot {
        rows.push((
            "peak RSS under load (section 1)",
            mib(hot.handler_memory.peak_mib()),
            mib(hot.baseline_memory.peak_mib()),
        ));
    }
    rows.push((
        "release binary (glibc, stripped)",
        mib(handler.size_mib),
        mib(baseline.size_mib),
    ));
    for (figure, of_handler, of_baseline) in rows {
        let _ = writeln!(out, "| {figure} | {of_handler} | {of_baseline} |");
    }
    if let Some(m) = pr.musl_size_mib {
        let _ = writeln!(
            out,
            "| release binary (x86_64-unknown-linux-musl, what CI stages) | {m:.1} MiB | |"
        );
    }
}

fn messaging_section(out: &mut String, m: &Messaging) {
    let _ = writeln!(
        out,
        "\n## 4. The local Service Bus: AMQP 1.0 against the REST subset\n\n\
         One release `devhost` serves both front ends over one durable store (fsync'd before \
         every acknowledgement); ProcessJob is disabled so `jobs` has no other consumer. \
         {} clients each send the README's sample submission ({} bytes) in a closed loop, every send \
         waiting for the broker's accept, and like the SDKs' sends by default without a \
         `MessageId` (Python and JS set one only on a scheduled message, .NET copies \
         `ServiceBusMessage.MessageId`, null unless set), so on either front the broker generates \
         the id and duplicate detection, on for `jobs`, has no history to consult; then {} clients peek-lock and complete until the \
         broker counts every message of the phase completed. REST: `POST \
         /servicebus/jobs/messages`, then `POST .../messages/head` and `DELETE` of its \
         `Location`, over keep-alive HTTP/1.1 (reqwest), which allows one request at a time per \
         connection. AMQP: fe2o3-amqp, one connection per client, SASL PLAIN, receivers in \
         peek-lock (`rcv-settle-mode second`); first with one message in flight per client, \
         then pipelined as AMQP allows on one link: {} sends unsettled per client, and up to {} \
         received messages settled with one disposition (each answered once the store holds \
         it). The ratios compare the pipelined AMQP rows with REST on the same number of \
         connections.\n",
        m.clients, m.body_bytes, m.clients, WINDOW, WINDOW
    );
    let _ = writeln!(
        out,
        "| front end | sent | sends/s | received + completed | receive+complete/s |\n| --- | ---: | ---: | ---: | ---: |"
    );
    for (name, r) in [
        ("REST subset", &m.rest),
        ("AMQP (Rust, fe2o3-amqp), one in flight", &m.amqp),
        ("AMQP (Rust, fe2o3-amqp), pipelined", &m.amqp_pipelined),
    ] {
        let _ = writeln!(
            out,
            "| {name} | {} | {:.0} | {} | {:.0} |",
            r.sent,
            r.send_per_s(),
            r.completed,
            r.receive_per_s()
        );
    }
    let _ = writeln!(
        out,
        "| **AMQP pipelined / REST** | | **{:.1}×** | | **{:.1}×** |",
        m.send_ratio(),
        m.receive_ratio()
    );
    match &m.python {
        Ok(p) => {
            let _ = writeln!(
                out,
                "\nMicrosoft's Python SDK (azure-servicebus, one client, {} messages a phase): \
                 {:.0} sends/s one `send_messages` call each, {:.0} sends/s in \
                 `create_message_batch` batches, {:.0} receive+completes/s.",
                p.count, p.send_per_s, p.batch_send_per_s, p.receive_complete_per_s
            );
        }
        Err(why) => {
            let _ = writeln!(out, "\nMicrosoft's Python SDK: {why}.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::suite::messaging::Rates;
    use crate::targets;

    fn rates(sent: u64, seconds: f64) -> Rates {
        Rates {
            sent,
            send_seconds: seconds,
            completed: sent,
            receive_seconds: seconds,
        }
    }

    #[test]
    fn a_partial_run_reports_only_its_sections_and_targets() {
        let messaging = Messaging {
            clients: 32,
            body_bytes: 103,
            rest: rates(1_000, 1.0),
            amqp: rates(6_000, 1.0),
            amqp_pipelined: rates(2_500, 1.0),
            python: Err("not measured".into()),
        };
        let parts = Parts {
            messaging: Some(messaging),
            ..Parts::default()
        };
        let verdicts = targets::check(&parts);
        assert_eq!(verdicts.len(), 4, "the four messaging targets only");
        assert!(!verdicts[0].met, "2.5x REST misses the 3x send target");
        let report = render(&Run {
            when: "2026-12-02T00:00:00Z".into(),
            command: "cargo xtask bench --only messaging".into(),
            quick: false,
            machine: Machine::default(),
            oha: "oha 1.16.0".into(),
            plan: Plan::new(false),
            micro: Vec::new(),
            parts,
            verdicts,
        });
        assert!(report.contains("Partial run (`--only messaging`)"));
        assert!(report.contains("## 4. The local Service Bus"));
        assert!(report.contains("**2.5×**"));
        for absent in ["## 1.", "## 2.", "## 3.", "## 5.", "Handler ingest"] {
            assert!(
                !report.contains(absent),
                "{absent} in a messaging-only report"
            );
        }
    }
}
