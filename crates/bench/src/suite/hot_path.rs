//! Handler hot path: the handler and the axum baseline, each alone on the machine, driven over
//! loopback with the exact invocation bodies the host sends.

use std::time::Duration;

use anyhow::{Result, anyhow, ensure};
use serde_json::Value;

use super::Context;
use crate::fixtures::{SAMPLE_JOB, ingest_invocation, process_invocation, sample_envelope};
use crate::load::{Load, Outcome};
use crate::process::{Memory, Server, free_port};

/// One scenario measured on both servers.
#[derive(Debug, Clone)]
pub struct Pair {
    /// What was driven.
    pub scenario: String,
    /// The real handler.
    pub handler: Outcome,
    /// The baseline.
    pub baseline: Outcome,
}

impl Pair {
    /// Handler throughput as a fraction of the baseline's.
    pub fn ratio(&self) -> f64 {
        if self.baseline.rps > 0.0 {
            self.handler.rps / self.baseline.rps
        } else {
            0.0
        }
    }
}

/// Hot-path figures.
#[derive(Debug, Clone)]
pub struct HotPath {
    /// Closed-loop `IngestJob`.
    pub ingest: Pair,
    /// Closed-loop `ProcessJob`.
    pub process: Pair,
    /// `IngestJob` at the fixed offered rate.
    pub ingest_fixed: Pair,
    /// Handler memory right after the runs.
    pub handler_memory: Memory,
    /// Baseline memory right after the runs.
    pub baseline_memory: Memory,
    /// Interleaved rounds measured; each figure is the median round.
    pub rounds: usize,
}

struct Runs {
    /// One `IngestJob` and one `ProcessJob` answer, taken before the load.
    answers: [Value; 2],
    ingest: Outcome,
    process: Outcome,
    ingest_fixed: Outcome,
    memory: Memory,
}

/// Measure both servers in interleaved rounds (baseline, handler, baseline, ...) and keep, per
/// scenario and server, the median round: one noisy round on a shared machine moves nothing.
pub fn run(cx: &Context) -> Result<HotPath> {
    let mut baseline = Vec::new();
    let mut handler = Vec::new();
    for _ in 0..cx.plan.hot_rounds.max(1) {
        baseline.push(measure(cx, "baseline")?);
        handler.push(measure(cx, "handler")?);
    }
    // Every round's answers, not just the first: each round is a fresh pair of processes.
    for (h, b) in handler.iter().zip(&baseline) {
        for (function, (h, b)) in ["IngestJob", "ProcessJob"]
            .iter()
            .zip(h.answers.iter().zip(&b.answers))
        {
            like_for_like(h, b).map_err(|e| {
                anyhow!("the baseline's {function} answer is not like the handler's: {e}")
            })?;
        }
    }
    let pair = |scenario: String, pick: fn(&Runs) -> &Outcome, by_latency: bool| Pair {
        scenario,
        handler: median(&handler, pick, by_latency),
        baseline: median(&baseline, pick, by_latency),
    };
    let c = cx.plan.connections;
    let peak = |runs: &[Runs]| {
        runs.iter()
            .map(|r| r.memory)
            .max_by_key(|m| m.peak_kib)
            .unwrap_or_default()
    };
    Ok(HotPath {
        ingest: pair(
            format!("IngestJob, closed loop, {c} connections"),
            |r| &r.ingest,
            false,
        ),
        process: pair(
            format!("ProcessJob, closed loop, {c} connections"),
            |r| &r.process,
            false,
        ),
        ingest_fixed: pair(
            format!("IngestJob at {} req/s", cx.plan.fixed_rate),
            |r| &r.ingest_fixed,
            true,
        ),
        handler_memory: peak(&handler),
        baseline_memory: peak(&baseline),
        rounds: handler.len(),
    })
}

/// The median round of one scenario: by throughput for closed-loop runs, by p99 for fixed-rate
/// runs (their throughput is the offered rate).
fn median(runs: &[Runs], pick: fn(&Runs) -> &Outcome, by_latency: bool) -> Outcome {
    let mut outcomes: Vec<&Outcome> = runs.iter().map(pick).collect();
    if by_latency {
        outcomes.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
    } else {
        outcomes.sort_by(|a, b| a.rps.total_cmp(&b.rps));
    }
    outcomes
        .get(outcomes.len() / 2)
        .map(|o| (*o).clone())
        .unwrap_or_default()
}

fn measure(cx: &Context, which: &str) -> Result<Runs> {
    let port = free_port()?;
    let exe = if which == "handler" {
        &cx.bins.handler
    } else {
        &cx.bins.baseline
    };
    let server = Server::start(
        exe,
        &[],
        &cx.handler_env(port),
        port,
        Some(&cx.work.join(format!("{which}.log"))),
        Duration::from_secs(30),
    )?;
    let ingest_body = ingest_invocation(SAMPLE_JOB).to_string();
    let envelope = serde_json::to_string(&sample_envelope())?;
    let process_body = process_invocation(&envelope, 1).to_string();
    let closed = |path: &str, body: &str| Load {
        url: server.url(path),
        body: body.to_owned(),
        duration: cx.plan.hot_duration,
        connections: cx.plan.connections,
        rate: None,
        headers: Vec::new(),
    };
    let answers = [
        answer(&server.url("/IngestJob"), &ingest_body)?,
        answer(&server.url("/ProcessJob"), &process_body)?,
    ];
    // Warm up connections, allocator and caches.
    cx.oha.run(&Load {
        duration: Duration::from_millis(500),
        ..closed("/IngestJob", &ingest_body)
    })?;
    let ingest = checked(which, cx.oha.run(&closed("/IngestJob", &ingest_body))?)?;
    let process = checked(which, cx.oha.run(&closed("/ProcessJob", &process_body))?)?;
    let ingest_fixed = checked(
        which,
        cx.oha.run(&Load {
            duration: cx.plan.rate_duration,
            connections: cx.plan.connections,
            rate: Some(cx.plan.fixed_rate),
            ..closed("/IngestJob", &ingest_body)
        })?,
    )?;
    let memory = server.memory()?;
    server.stop();
    Ok(Runs {
        answers,
        ingest,
        process,
        ingest_fixed,
        memory,
    })
}

/// Every invocation must have succeeded (HTTP 200 to the host) for the figure to count.
fn checked(which: &str, outcome: Outcome) -> Result<Outcome> {
    ensure!(
        outcome.answered > 0
            && outcome.count(200) == outcome.answered
            && outcome.error_count() == 0,
        "{which}: not every invocation succeeded: statuses {:?}, errors {:?}",
        outcome.statuses,
        outcome.errors
    );
    Ok(outcome)
}

/// One invocation answer, which must be a 200 with a JSON body.
fn answer(url: &str, body: &str) -> Result<Value> {
    let response = reqwest::blocking::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()?;
    let status = response.status();
    let text = response.text()?;
    ensure!(status.is_success(), "{url} answered {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// The baseline must do the same I/O as the handler: the same outline (every object's keys, every
/// array's length, the kind of every leaf; the `res` body, which is JSON text, compared as JSON)
/// and a serialised size within 10%. Otherwise the ratio would compare different work.
fn like_for_like(handler: &Value, baseline: &Value) -> Result<()> {
    let (h, b) = (outline(handler), outline(baseline));
    ensure!(h == b, "outline {b} differs from {h}");
    let (h, b) = (handler.to_string().len(), baseline.to_string().len());
    ensure!(
        b.abs_diff(h) * 10 <= h,
        "{b} bytes against the handler's {h} (more than 10% apart)"
    );
    Ok(())
}

/// A value's outline as text: object keys (sorted) and array lengths kept, leaves reduced to
/// their kind; a string holding a JSON object or array is outlined as that JSON.
fn outline(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(_) => "bool".into(),
        Value::Number(_) => "number".into(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(inner @ (Value::Object(_) | Value::Array(_))) => format!("json{}", outline(&inner)),
            _ => "string".into(),
        },
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(outline).collect::<Vec<_>>().join(",")
        ),
        Value::Object(map) => {
            let mut keys: Vec<_> = map.iter().collect();
            keys.sort_by(|a, b| a.0.cmp(b.0));
            let members: Vec<_> = keys
                .into_iter()
                .map(|(k, v)| format!("{k}:{}", outline(v)))
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ingest_answer(job_id: &str, extra_header: bool) -> Value {
        let mut headers = json!({"Content-Type": "application/json", "Location": "urn:uuid:x"});
        if extra_header {
            headers["Retry-After"] = json!("1");
        }
        json!({
            "Outputs": {
                "res": {"statusCode": 202, "body": format!(r#"{{"jobId":"{job_id}","status":"queued"}}"#), "headers": headers},
                "job": {"jobId": job_id, "payload": {"rows": 100}}
            },
            "Logs": [format!("Accepted job {job_id}")],
            "ReturnValue": null
        })
    }

    #[test]
    fn like_answers_pass() {
        let id = "0190c3a4-5b6c-7d8e-9f00-112233445566";
        let other = "01936c1e-aaaa-7bbb-8ccc-ddddeeeeffff";
        like_for_like(&ingest_answer(id, false), &ingest_answer(other, false)).unwrap();
    }

    #[test]
    fn a_missing_output_header_or_body_field_fails() {
        let id = "0190c3a4-5b6c-7d8e-9f00-112233445566";
        let handler = ingest_answer(id, false);
        let mut no_job = handler.clone();
        no_job["Outputs"].as_object_mut().unwrap().remove("job");
        assert!(like_for_like(&handler, &no_job).is_err());
        assert!(like_for_like(&handler, &ingest_answer(id, true)).is_err());
        let mut thin_body = handler.clone();
        thin_body["Outputs"]["res"]["body"] = json!(format!(r#"{{"jobId":"{id}"}}"#));
        assert!(like_for_like(&handler, &thin_body).is_err());
    }

    #[test]
    fn a_much_smaller_answer_fails() {
        let handler = ingest_answer(&"a".repeat(200), false);
        let baseline = ingest_answer("b", false);
        let err = like_for_like(&handler, &baseline).unwrap_err().to_string();
        assert!(err.contains("more than 10% apart"), "{err}");
    }
}
