//! `pushdeploy init`: writes the commented starter app file, with the app name and Region the
//! flags give, and says the command that will read it.

use std::fmt;
use std::path::Path;
use std::process::ExitCode;

use serde::Serialize;

use crate::app_file::STARTER;
use crate::cli::{GlobalArgs, InitArgs};
use crate::error::CliError;
use crate::output;

/// What `init` wrote.
#[derive(Debug, Serialize)]
pub struct InitReport {
    /// The file written.
    pub path: String,
    /// The app name written into it (`None`: left to `--app`, else "demo").
    pub app: Option<String>,
    /// The Region written into it (`None`: left to the standard chain).
    pub region: Option<String>,
    /// The command that provisions the app from this file.
    pub next: String,
}

impl fmt::Display for InitReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut what = Vec::new();
        if let Some(app) = &self.app {
            what.push(format!("app {app}"));
        }
        if let Some(region) = &self.region {
            what.push(format!("region {region}"));
        }
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" ({})", what.join(", "))
        };
        writeln!(f, "wrote {}{what}: edit it, then run `{}`", self.path, self.next)
    }
}

/// Writes the starter file, refusing to overwrite one without `--force`.
pub fn run(args: InitArgs, global: &GlobalArgs) -> Result<ExitCode, CliError> {
    if args.path.exists() && !args.force {
        return Err(CliError::FileExists {
            path: args.path.display().to_string(),
        });
    }
    let text = starter(args.app.as_deref(), global.region.as_deref());
    std::fs::write(&args.path, text)?;
    let report = InitReport {
        path: args.path.display().to_string(),
        app: args.app,
        region: global.region.clone(),
        next: next_command(&args.path),
    };
    output::print(global.output, &report)?;
    Ok(ExitCode::SUCCESS)
}

/// `pushdeploy up`, with `-f` unless the file is where every command looks by default.
fn next_command(path: &Path) -> String {
    if path == Path::new("pushdeploy.toml") || path == Path::new("./pushdeploy.toml") {
        "pushdeploy up".to_string()
    } else {
        format!("pushdeploy up -f {}", path.display())
    }
}

/// The starter text with `name` and `region` set where given (the commented defaults otherwise).
fn starter(app: Option<&str>, region: Option<&str>) -> String {
    let mut text = STARTER.to_string();
    if let Some(app) = app {
        text = text
            .replacen("# name = \"demo\"", &format!("name = \"{app}\""), 1)
            .replacen(
                "# repository = \"demo/web\"",
                &format!("# repository = \"{app}/web\""),
                1,
            );
    }
    if let Some(region) = region {
        text = text.replacen("# region = \"us-east-1\"", &format!("region = \"{region}\""), 1);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_written_and_the_file_still_loads() {
        let load = |text: &str| {
            let path = std::env::temp_dir().join(format!("pd-init-{}.toml", std::process::id()));
            std::fs::write(&path, text).unwrap();
            let app = crate::app_file::App::load(Some(&path), None).unwrap();
            std::fs::remove_file(&path).unwrap();
            app
        };
        let text = starter(Some("shop"), Some("eu-west-1"));
        let app = load(&text);
        assert_eq!(app.name, "shop");
        assert_eq!(app.file.region.as_deref(), Some("eu-west-1"));
        assert!(text.contains("# repository = \"shop/web\""));
        assert_eq!(load(&starter(None, None)).name, "demo");
    }

    #[test]
    fn a_file_elsewhere_is_named_in_the_next_command() {
        assert_eq!(next_command(Path::new("pushdeploy.toml")), "pushdeploy up");
        assert_eq!(
            next_command(Path::new("ops/shop.toml")),
            "pushdeploy up -f ops/shop.toml"
        );
    }
}
