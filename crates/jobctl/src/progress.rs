//! Progress on a terminal (indicatif, on stderr); nothing at all when stdout or stderr is not a
//! terminal (scripts, CI, pipes) or with `--json`.

use std::io::IsTerminal as _;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};

/// A spinner or a bar, or nothing.
#[derive(Debug, Clone)]
pub struct Progress(Option<ProgressBar>);

/// Whether progress may be drawn: both stdout and stderr are terminals and output is not JSON.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stdout().is_terminal() && std::io::stderr().is_terminal()
}

/// `{rate}`: items per second with one decimal (indicatif's `{per_sec}` shows four).
fn with_rate(style: ProgressStyle) -> ProgressStyle {
    style.with_key(
        "rate",
        |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.1}/s", state.per_sec());
        },
    )
}

impl Progress {
    /// No progress.
    pub fn hidden() -> Self {
        Self(None)
    }

    /// A spinner counting messages read, when `show`.
    pub fn spinner(show: bool, what: &str) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} ({rate})")
                .map(with_rate)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_owned());
        bar.enable_steady_tick(Duration::from_millis(120));
        Self(Some(bar))
    }

    /// A bar to `total` with counts, rate and ETA, when `show`.
    pub fn bar(show: bool, total: u64, done: u64) -> Self {
        if !show {
            return Self::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} resubmitted  {rate}  ETA {eta}  {msg}",
            )
            .map(with_rate)
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_position(done);
        bar.reset_eta();
        bar.enable_steady_tick(Duration::from_millis(250));
        Self(Some(bar))
    }

    /// One more.
    pub fn inc(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }

    /// The trailing message (e.g. skipped counts).
    pub fn note(&self, text: String) {
        if let Some(bar) = &self.0 {
            bar.set_message(text);
        }
    }

    /// Remove the bar from the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}
