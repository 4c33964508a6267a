//! `pushdeploy init`: writes the commented starter app file.

use std::process::ExitCode;

use crate::app_file::STARTER;
use crate::cli::InitArgs;
use crate::error::CliError;

/// Writes the starter file, refusing to overwrite one without `--force`.
pub fn run(args: InitArgs) -> Result<ExitCode, CliError> {
    if args.path.exists() && !args.force {
        return Err(CliError::Setup(format!(
            "{} exists: pass --force to overwrite it",
            args.path.display()
        )));
    }
    std::fs::write(&args.path, STARTER)?;
    println!("wrote {}: edit it, then run `pushdeploy up`", args.path.display());
    Ok(ExitCode::SUCCESS)
}
