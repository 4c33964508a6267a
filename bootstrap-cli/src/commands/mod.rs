//! One module per command, each exposing `run(args, ctx)`.

pub mod deploy;
pub mod down;
pub mod event;
pub mod init;
pub mod logs;
pub mod rollback;
pub mod status;
pub mod sync;
pub mod up;

use std::io::Write;
use std::process::ExitCode;

use crate::cli::{Command, GlobalArgs};
use crate::error::CliError;

/// Dispatches a parsed command. Each reads its app file first, then connects to AWS (the file
/// may name the region).
pub async fn run(command: Command, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    match command {
        Command::Init(args) => init::run(args),
        Command::Up(args) => up::run(args, global).await,
        Command::Plan(args) => up::plan(args, global).await,
        Command::Status(args) => status::run(args, global).await,
        Command::Deploy(args) => deploy::run(args, global).await,
        Command::Rollback(args) => rollback::run(args, global).await,
        Command::Resume(args) => rollback::resume(args, global).await,
        Command::Sync(args) => sync::run(args, global).await,
        Command::Logs(args) => logs::run(args, global).await,
        Command::Down(args) => down::run(args, global).await,
        Command::Event(args) => event::run(args, global).await,
    }
}

/// Writes one JSON document on stdout (`--output json`).
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value).map_err(std::io::Error::from)?;
    writeln!(out)?;
    Ok(())
}

/// Writes an aligned table with a header row.
pub fn table<const N: usize>(out: &mut impl Write, header: &[&str; N], rows: &[[String; N]]) -> std::io::Result<()> {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: Vec<&str>| -> std::io::Result<()> {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, header.to_vec())?;
    for row in rows {
        line(out, row.iter().map(String::as_str).collect())?;
    }
    Ok(())
}
