//! How reports reach the terminal: every command's report is one type that is both `Serialize`
//! (`--output json`: one JSON document on stdout) and `Display` (text for people), printed once by
//! [`print`]. The text helpers here (an aligned table, an outcome list) are shared by those
//! `Display`s.

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;

use pushdeploy::{Action, Outcome};
use serde::Serialize;

use crate::cli::OutputFormat;
use crate::error::CliError;

/// Prints `report` on stdout: its JSON document, or its text.
pub fn print<T: Serialize + Display + ?Sized>(format: OutputFormat, report: &T) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, report).map_err(std::io::Error::from)?;
            writeln!(out)?;
        }
        OutputFormat::Text => write!(out, "{report}")?,
    }
    Ok(())
}

/// Writes an aligned table with a header row.
pub fn table<const N: usize>(f: &mut impl fmt::Write, header: &[&str; N], rows: &[[String; N]]) -> fmt::Result {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| -> fmt::Result {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                write!(text, "{cell:<width$}  ", width = widths[i])?;
            }
        }
        writeln!(f, "{}", text.trim_end())
    };
    line(header.to_vec())?;
    for row in rows {
        line(row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}

/// Outcomes as the function returns them: a JSON array, or a few lines each.
#[derive(Debug, Clone, Serialize)]
#[serde(transparent)]
pub struct Outcomes(pub Vec<Outcome>);

impl Display for Outcomes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for o in &self.0 {
            let action = match o.action {
                Action::Deployed => "deployed",
                Action::Skipped => "skipped",
                Action::Completed => "completed",
                Action::Failed => "FAILED",
                Action::RolledBack => "ROLLED BACK",
            };
            let service = match (&o.cluster, &o.service) {
                (Some(c), Some(s)) => format!("{c}/{s}"),
                _ => "-".into(),
            };
            writeln!(f, "{action:<9} {service}  ({})", o.reason)?;
            if let Some(td) = &o.task_definition {
                writeln!(f, "          task definition  {td}")?;
            }
            if let Some(image) = &o.image {
                writeln!(f, "          image            {image}")?;
            }
            if let Some(deployment) = &o.deployment {
                writeln!(f, "          deployment       {deployment}")?;
            }
        }
        Ok(())
    }
}
