//! Progress on stderr, never on stdout (which holds the report, once).
//!
//! - On a terminal: a spinner per step with its elapsed time, ending as one line with one time.
//! - Elsewhere, in text mode (CI logs, pipes): no line per step, since the report on stdout
//!   lists every resource; only what a log reader needs to see that nothing hangs: a line when a
//!   wait starts, a heartbeat while it lasts ([`HEARTBEAT`]), and its end. `-v` adds a line per
//!   step.
//! - In JSON mode: nothing (stdout stays a single JSON document, stderr quiet).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::OutputFormat;
use crate::context::Context;

/// How often a wait says it is still waiting when stderr is not a terminal.
pub const HEARTBEAT: Duration = Duration::from_secs(30);

/// Which plain lines a step prints (without a terminal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lines {
    /// None (JSON mode, or a terminal with spinners).
    Off,
    /// Waits only: their start, a heartbeat, their end.
    Waits,
    /// Every step's end too (`-v`).
    Every,
}

/// The steps of one command.
pub struct Progress {
    multi: Option<MultiProgress>,
    lines: Lines,
    /// `-v` with text output: [`Progress::note`] prints.
    verbose: bool,
}

/// One step: a spinner, or lines when it waits.
pub struct Step {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
    lines: Lines,
    /// What it waits for now, shared with the heartbeat.
    waiting: Arc<Mutex<Option<String>>>,
    heartbeat: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Progress {
    /// Spinners on a terminal, wait lines in text mode elsewhere (every step with `-v`),
    /// silence in JSON mode.
    pub fn new(ctx: &Context) -> Progress {
        let multi = ctx.interactive().then(MultiProgress::new);
        let lines = match (&multi, ctx.output) {
            (None, OutputFormat::Text) if ctx.verbose > 0 => Lines::Every,
            (None, OutputFormat::Text) => Lines::Waits,
            _ => Lines::Off,
        };
        let verbose = ctx.verbose > 0 && ctx.output == OutputFormat::Text;
        Progress { multi, lines, verbose }
    }

    /// No output at all.
    pub fn silent() -> Progress {
        Progress {
            multi: None,
            lines: Lines::Off,
            verbose: false,
        }
    }

    /// Starts a step.
    pub fn step(&self, label: &str) -> Step {
        let bar = self.multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new_spinner());
            bar.set_style(ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template"));
            bar.set_message(label.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Step {
            bar,
            label: label.to_string(),
            started: Instant::now(),
            lines: self.lines,
            waiting: Arc::new(Mutex::new(None)),
            heartbeat: Mutex::new(None),
        }
    }

    /// A line for `-v` (text output): what is worth knowing but not worth a step; on a terminal
    /// above the spinners.
    pub fn note(&self, line: &str) {
        if !self.verbose {
            return;
        }
        match &self.multi {
            Some(multi) => {
                let _ = multi.println(line);
            }
            None => eprintln!("{line}"),
        }
    }
}

impl Step {
    /// Updates what the step is doing: the spinner's message on a terminal; elsewhere what the
    /// next heartbeat says.
    pub fn set(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {message}", self.label));
        }
        if let Some(now) = self
            .waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_mut()
        {
            *now = message.to_string();
        }
    }

    /// Says a wait starts (`what`: "service x to drain"): without a terminal a line at once,
    /// then a heartbeat every [`HEARTBEAT`] until the step ends.
    pub fn waiting(&self, what: &str) {
        let message = format!("waiting for {what}");
        self.set(&message);
        *self.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(message.clone());
        let beating = (self.heartbeat.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).is_some();
        if beating || self.lines == Lines::Off {
            return;
        }
        eprintln!("{}: {message}", self.label);
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let (label, shared, started) = (self.label.clone(), Arc::clone(&self.waiting), self.started);
        let beat = runtime.spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
            loop {
                tick.tick().await;
                let now = shared
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone()
                    .unwrap_or_default();
                eprintln!("{label}: still {now} ({})", seconds(started));
            }
        });
        *self.heartbeat.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(beat);
    }

    /// Says what the step is doing now: the spinner's message on a terminal, a line otherwise
    /// (text mode). For states worth a line each, such as a rollout's.
    pub fn report(&self, message: &str) {
        match &self.bar {
            Some(_) => self.set(message),
            None if self.lines != Lines::Off => eprintln!("{}: {message} ({})", self.label, seconds(self.started)),
            None => {}
        }
    }

    /// Ends the step with a summary.
    pub fn done(&self, summary: &str) {
        let line = format!("{}: {summary} ({})", self.label, seconds(self.started));
        let waited = self.stop_heartbeat();
        match &self.bar {
            Some(bar) => {
                bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                bar.finish_with_message(format!("done {line}"));
            }
            None if self.lines == Lines::Every || (waited && self.lines == Lines::Waits) => eprintln!("{line}"),
            None => {}
        }
    }

    /// Ends the step as failed.
    pub fn failed(&self) {
        let line = format!("{}: failed after {}", self.label, seconds(self.started));
        self.stop_heartbeat();
        match &self.bar {
            Some(bar) => {
                bar.set_style(ProgressStyle::with_template("{msg}").expect("valid template"));
                bar.abandon_with_message(line);
            }
            None if self.lines != Lines::Off => eprintln!("{line}"),
            None => {}
        }
    }

    /// The wait is over (the step may go on with other calls): no more heartbeats.
    pub fn wait_over(&self) {
        self.stop_heartbeat();
    }

    /// Stops the heartbeat; whether the step waited (and so said so).
    fn stop_heartbeat(&self) -> bool {
        if let Some(beat) = self
            .heartbeat
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
        {
            beat.abort();
        }
        self.waiting
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .is_some()
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.stop_heartbeat();
    }
}

/// `3.6s` since `started`.
fn seconds(started: Instant) -> String {
    format!("{:.1}s", started.elapsed().as_secs_f64())
}
