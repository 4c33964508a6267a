//! README's CLI section is held to the CLI's own help: every command is listed, with one
//! sentence, and every flag it names exists (on that command, or on every command).

use std::collections::BTreeSet;

use clap::CommandFactory;

use crate::cli::Cli;

fn readme_cli_section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find("\n## The CLI\n")
        .expect("README has a section `## The CLI`");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |i| i + 3);
    rest[..end].to_string()
}

/// `--flag` and `-f` spellings in `text`.
fn flags_in(text: &str) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for word in text.split(|c: char| c.is_whitespace() || "`(),;:".contains(c)) {
        let name: String = word
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let is_long = name.starts_with("--") && name.len() > 2;
        let is_short = name.len() == 2 && name.starts_with('-') && name != "--";
        if is_long || is_short {
            flags.insert(name);
        }
    }
    flags
}

/// The spellings `command` (with the global options) answers to, hidden aliases left out.
fn flags_of(command: &clap::Command) -> BTreeSet<String> {
    let mut flags = BTreeSet::new();
    for arg in command.get_arguments() {
        flags.extend(arg.get_long().map(|l| format!("--{l}")));
        flags.extend(arg.get_short().map(|s| format!("-{s}")));
        flags.extend(
            arg.get_visible_aliases()
                .into_iter()
                .flatten()
                .map(|a| format!("--{a}")),
        );
    }
    flags.insert("--help".into());
    flags.insert("-h".into());
    flags
}

#[test]
fn the_readme_lists_every_command_with_flags_that_exist() {
    let section = readme_cli_section();
    let mut cli = Cli::command();
    cli.build();
    let global = flags_of(&cli);
    let commands: BTreeSet<String> = (cli.get_subcommands())
        .map(|c| c.get_name().to_string())
        .filter(|n| n != "help")
        .collect();
    let mut listed = BTreeSet::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("- `pushdeploy ") else {
            continue;
        };
        let name = rest.split('`').next().unwrap().to_string();
        let command = cli
            .find_subcommand(&name)
            .unwrap_or_else(|| panic!("README lists `pushdeploy {name}`, which is not a command"));
        let known: BTreeSet<String> = flags_of(command).union(&global).cloned().collect();
        let unknown: Vec<String> = flags_in(line).difference(&known).cloned().collect();
        assert!(
            unknown.is_empty(),
            "README's `pushdeploy {name}` names {unknown:?}, which it does not take"
        );
        assert!(listed.insert(name.clone()), "`pushdeploy {name}` is listed twice");
        let about = command.get_about().map(|a| a.to_string()).unwrap_or_default();
        assert!(!about.is_empty(), "`pushdeploy {name}` has no help text");
    }
    assert_eq!(
        listed, commands,
        "README's CLI section and `pushdeploy --help` list other commands"
    );
    let other: Vec<String> = (section.lines())
        .filter(|l| !l.starts_with("- `pushdeploy "))
        .flat_map(flags_in)
        .filter(|f| {
            !global.contains(f)
                && !commands
                    .iter()
                    .any(|c| flags_of(cli.find_subcommand(c).unwrap()).contains(f))
        })
        .collect();
    assert!(
        other.is_empty(),
        "README's CLI section names {other:?}, which no command takes"
    );
}

#[test]
fn the_check_reads_flags_as_a_shell_would() {
    assert_eq!(
        flags_in("(`--dry-run` only shows, `-f FILE`, --to REVISION; a-b --)"),
        BTreeSet::from(["--dry-run".to_string(), "-f".to_string(), "--to".to_string()])
    );
    let mut cli = Cli::command();
    cli.build();
    let down = flags_of(cli.find_subcommand("down").unwrap());
    assert!(down.contains("--delete-data") && !down.contains("--delete-repositories"));
}
