//! Progress on stderr: a spinner with elapsed time per step on a terminal, one plain line per
//! step otherwise, nothing in JSON mode (stdout stays a single JSON document).

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::cli::OutputFormat;
use crate::context::Context;

/// The steps of one command.
pub struct Progress {
    multi: Option<MultiProgress>,
    lines: bool,
}

/// One step: a spinner (or a line when it ends).
pub struct Step {
    bar: Option<ProgressBar>,
    label: String,
    started: Instant,
    lines: bool,
}

impl Progress {
    /// Spinners on a terminal, lines in text mode elsewhere, silence in JSON mode.
    pub fn new(ctx: &Context) -> Progress {
        let multi = ctx.interactive().then(MultiProgress::new);
        Progress {
            lines: multi.is_none() && ctx.output == OutputFormat::Text,
            multi,
        }
    }

    /// No output at all.
    pub fn silent() -> Progress {
        Progress {
            multi: None,
            lines: false,
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
        }
    }
}

impl Step {
    /// Updates what the step is doing.
    pub fn set(&self, message: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("{}: {message}", self.label));
        }
    }

    /// Says what the step is doing now: the spinner's message on a terminal, a line otherwise
    /// (text mode). For states worth a line each, such as a rollout's.
    pub fn report(&self, message: &str) {
        match &self.bar {
            Some(_) => self.set(message),
            None if self.lines => eprintln!(
                "{}: {message} ({:.1}s)",
                self.label,
                self.started.elapsed().as_secs_f64()
            ),
            None => {}
        }
    }

    /// Ends the step with a summary.
    pub fn done(&self, summary: &str) {
        let line = format!(
            "{}: {summary} ({:.1}s)",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
        match &self.bar {
            Some(bar) => bar.finish_with_message(format!("done {line}")),
            None if self.lines => eprintln!("{line}"),
            None => {}
        }
    }

    /// Ends the step as failed.
    pub fn failed(&self) {
        let line = format!(
            "{}: failed after {:.1}s",
            self.label,
            self.started.elapsed().as_secs_f64()
        );
        match &self.bar {
            Some(bar) => bar.abandon_with_message(line),
            None if self.lines => eprintln!("{line}"),
            None => {}
        }
    }
}
