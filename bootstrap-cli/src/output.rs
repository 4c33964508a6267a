//! How reports reach the terminal: every command's report is one type that is both `Serialize`
//! (`--output json`: one JSON document on stdout) and `Display` (text for people), printed once by
//! [`print`]. The text helpers here (an aligned table, an outcome list) are shared by those
//! `Display`s.

use std::fmt::{self, Display, Write as _};
use std::io::Write as _;

use pushdeploy::{Action, Outcome, Reason};
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

/// `1 service`, `2 services`: a count with its noun (plurals by `s`).
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
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

/// `arn:...:task-definition/demo-web:1` → `demo-web:1`.
fn short_revision(arn: &str) -> &str {
    arn.rsplit_once("task-definition/").map_or(arn, |(_, r)| r)
}

/// `<registry>/<repo>:<tag>@sha256:<hex>` → `v1 (sha256:0123456789ab)`; without a tag, the
/// short digest alone.
fn tag_and_digest(image: &str) -> String {
    let (name, digest) = image.split_once('@').unwrap_or((image, ""));
    let digest = digest.get(..19).unwrap_or(digest);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) => format!("{tag} ({digest})"),
        None => digest.to_string(),
    }
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
                Action::AwaitingApproval => "WAITING",
            };
            let service = match (&o.cluster, &o.service) {
                (Some(c), Some(s)) => format!("{c}/{s}"),
                _ => "-".into(),
            };
            if o.reason == Reason::DryRun {
                let running = o.task_definition.as_deref().map_or("-", short_revision);
                let image = o.image.as_deref().map_or("-".to_string(), tag_and_digest);
                writeln!(f, "{:<9} {service}  would deploy {image} over {running}", "dry-run")?;
                continue;
            }
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
            if let Some(pause) = &o.pause {
                let until = pause.expires_at.as_deref().unwrap_or("its timeout");
                writeln!(
                    f,
                    "          waits for        `pushdeploy approve` or `reject` at {}, until {until} (then {})",
                    pause.stage.as_deref().unwrap_or("a pause"),
                    pause.timeout_action.as_deref().unwrap_or("ROLLBACK")
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dry_run_outcome_reads_as_what_would_deploy_over_what() {
        let mut outcome = Outcome::skipped(
            "demo",
            "web",
            Reason::DryRun,
            Some("arn:aws:ecs:us-east-1:123456789012:task-definition/demo-web:1".into()),
            Some(format!(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo/web:v1@sha256:{}",
                "ab".repeat(32)
            )),
        );
        assert_eq!(
            Outcomes(vec![outcome.clone()]).to_string(),
            "dry-run   demo/web  would deploy v1 (sha256:abababababab) over demo-web:1\n"
        );
        outcome.image = Some(format!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/demo/web@sha256:{}",
            "cd".repeat(32)
        ));
        assert!(Outcomes(vec![outcome])
            .to_string()
            .contains("would deploy sha256:cdcdcdcdcdcd over"));
        assert_eq!(
            (plural(1, "service"), plural(2, "service")),
            ("1 service".into(), "2 services".into())
        );
    }
}
