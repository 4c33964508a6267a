//! `pushdeploy init`: writes the commented starter app file.

use std::process::ExitCode;

use crate::app_file::STARTER;
use crate::cli::InitArgs;
use crate::error::CliError;

/// Writes the starter file, refusing to overwrite one without `--force`.
pub fn run(args: InitArgs) -> Result<ExitCode, CliError> {
    if args.path.exists() && !args.force {
        return Err(CliError::FileExists {
            path: args.path.display().to_string(),
        });
    }
    std::fs::write(&args.path, STARTER)?;
    println!("wrote {}: edit it, then run `pushdeploy up`", args.path.display());
    Ok(ExitCode::SUCCESS)
}
