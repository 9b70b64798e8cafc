//! `lattice config put|get|delete|list`: the lattice's named configurations, in its
//! `CONFIGDATA_{lattice}` bucket (the wasmCloud 1.x layout, see `lattice_spec::configdata`).
//!
//! Writing a configuration changes nothing that runs: the next rollout of a component that
//! names it pins the new content (and a rollback restores the old).

use crate::{
    cli::Globals,
    error::{CliError, Failure},
    output::{OutputArgs, OutputFormat, Table, print_structured},
};
use clap::{Args, Subcommand};
use lattice_client::{ConfigBucket, ConfigBucketError};
use lattice_spec::ConfigName;
use std::{collections::BTreeMap, path::PathBuf};

/// The long help of `lattice config`.
pub(crate) const LONG_ABOUT: &str = "\
Named configurations of the lattice: JSON objects of string values in the lattice's \
CONFIGDATA_{lattice} JetStream bucket (the wasmCloud 1.x layout, so `wash config` sees them \
too). Components name them in `config.names`; their values are merged left to right, and the \
spec's inline `config.values` win.

Writing a configuration changes nothing that runs. The next rollout of an application that \
names it pins each name to the content it holds then (the spec digest covers it), so a \
rotated value rolls out — and rolls back — like code: a rollback restores the content the \
previous revision was rolled out with, whatever the name holds now.

  lattice config put creds user=app password=s3cret
  lattice config put creds --file creds.json     # a JSON object of strings
  lattice config get creds -o json
  lattice config list
  lattice config delete creds                    # pinned copies stay for rollbacks";

/// `lattice config …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Set a named configuration from KEY=VALUE pairs or a JSON file (replacing it whole).
    Put(PutArgs),
    /// Print a named configuration's current values.
    Get(GetArgs),
    /// Delete a named configuration (its pinned copies stay, so rollbacks still find them).
    Delete(NameArgs),
    /// List the named configurations.
    List(ListArgs),
}

/// Options of `lattice config put`.
#[derive(Debug, Args)]
pub(crate) struct PutArgs {
    /// The configuration's name.
    #[arg(value_name = "NAME")]
    name: ConfigName,
    /// The values, as KEY=VALUE (the first `=` separates them).
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair, required_unless_present = "file")]
    values: Vec<(String, String)>,
    /// Read the values from a JSON object of strings instead (`-` for stdin).
    #[arg(long, short = 'f', value_name = "FILE", conflicts_with = "values")]
    file: Option<PathBuf>,
}

/// Options of `lattice config get`.
#[derive(Debug, Args)]
pub(crate) struct GetArgs {
    /// The configuration's name.
    #[arg(value_name = "NAME")]
    name: ConfigName,
    #[command(flatten)]
    output: OutputArgs,
}

/// Options naming one configuration.
#[derive(Debug, Args)]
pub(crate) struct NameArgs {
    /// The configuration's name.
    #[arg(value_name = "NAME")]
    name: ConfigName,
}

/// Options of `lattice config list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE with a non-empty KEY".to_owned()),
    }
}

/// Runs a `lattice config` command.
pub(crate) async fn run(globals: &Globals, command: ConfigCommand) -> Result<(), CliError> {
    // Input is checked before connecting: a bad file is a usage error whatever the server.
    let values = match &command {
        ConfigCommand::Put(args) => Some(values(args)?),
        _ => None,
    };
    let nats = globals.connect("lattice-cli").await?;
    let bucket = ConfigBucket::open(nats, &globals.lattice)
        .await
        .map_err(|e| failed("cannot open the configuration bucket", e))?;
    match command {
        ConfigCommand::Put(args) => {
            let values = values.unwrap_or_default();
            let digest = bucket
                .put(&args.name, &values)
                .await
                .map_err(|e| failed(&format!("cannot write configuration `{}`", args.name), e))?;
            println!(
                "configuration `{}` set ({} key{}, {digest}); roll out the applications that \
                 name it to apply it",
                args.name,
                values.len(),
                if values.len() == 1 { "" } else { "s" }
            );
        }
        ConfigCommand::Get(args) => {
            let what = format!("cannot read configuration `{}`", args.name);
            let values = bucket
                .get(&args.name)
                .await
                .map_err(|e| failed(&what, e))?
                .ok_or_else(|| {
                    failed(
                        &what,
                        ConfigBucketError::Missing {
                            name: args.name.clone(),
                        },
                    )
                })?;
            match args.output.format {
                OutputFormat::Table => {
                    let mut table = Table::new(&["KEY", "VALUE"]);
                    for (key, value) in &values {
                        table.row(vec![key.clone(), value.clone()]);
                    }
                    table.print();
                }
                format => print_structured(format, &values)?,
            }
        }
        ConfigCommand::Delete(args) => {
            let existed = bucket
                .delete(&args.name)
                .await
                .map_err(|e| failed(&format!("cannot delete configuration `{}`", args.name), e))?;
            if existed {
                println!("configuration `{}` deleted", args.name);
            } else {
                println!(
                    "configuration `{}` does not exist; nothing to do",
                    args.name
                );
            }
        }
        ConfigCommand::List(args) => {
            let names = bucket
                .list()
                .await
                .map_err(|e| failed("cannot list the configurations", e))?;
            match args.output.format {
                OutputFormat::Table => {
                    let mut table = Table::new(&["NAME"]);
                    for name in &names {
                        table.row(vec![name.to_string()]);
                    }
                    table.print();
                }
                format => print_structured(format, &names)?,
            }
        }
    }
    Ok(())
}

/// The values of a `put`: the pairs, or the JSON file's object.
fn values(args: &PutArgs) -> Result<BTreeMap<String, String>, CliError> {
    let Some(path) = &args.file else {
        return Ok(args.values.iter().cloned().collect());
    };
    let read = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    };
    let text = read.map_err(|source| CliError::ReadSpec {
        path: path.clone(),
        source,
    })?;
    lattice_spec::configdata::parse_entry(args.name.as_str(), text.as_bytes()).map_err(|e| {
        CliError::Config {
            message: format!("`{}`: {e}", path.display()),
            hint: "write the file as a JSON object whose values are all strings, e.g. \
                   {\"user\": \"app\", \"port\": \"5432\"}"
                .to_owned(),
            failure: Failure::Usage,
            source: None,
        }
    })
}

/// A bucket operation that failed, with the hint for its kind.
fn failed(what: &str, error: ConfigBucketError) -> CliError {
    use lattice_client::ConfigBucketErrorKind as Kind;
    let hint = match error.kind() {
        Kind::Missing => "`lattice config list` shows the configurations there are".to_owned(),
        Kind::Invalid | Kind::Mismatch => "write it again with `lattice config put` (the \
             entry was not written by lattice, or was edited in the bucket)"
            .to_owned(),
        _ => {
            "is nats-server reachable, with JetStream enabled, at the --nats-url given?".to_owned()
        }
    };
    CliError::Config {
        message: what.to_owned(),
        hint,
        failure: Failure::Config(error.kind()),
        source: Some(Box::new(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_pair("url=redis://h?a=b"),
            Ok(("url".into(), "redis://h?a=b".into()))
        );
        assert_eq!(parse_pair("empty="), Ok(("empty".into(), String::new())));
        assert!(parse_pair("=v").is_err());
        assert!(parse_pair("novalue").is_err());
    }
}
