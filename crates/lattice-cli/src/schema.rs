//! `lattice schema export [DIR]`: the JSON Schema (draft 2020-12) of every message of the wire
//! contract, one file per message, as `lattice_ctl::schema::catalog()` generates them.

use crate::error::CliError;
use clap::Subcommand;
use std::path::{Path, PathBuf};

/// What to do with the schemas.
#[derive(Debug, Subcommand)]
pub(crate) enum SchemaCommand {
    /// Write every schema under DIR (e.g. DIR/v2alpha1/component-spec.json), pretty JSON,
    /// and print how many were written.
    Export {
        /// The directory to write into; created if missing.
        #[arg(value_name = "DIR", default_value = "schemas")]
        dir: PathBuf,
    },
}

/// Runs a `schema` command.
pub(crate) fn run(command: SchemaCommand) -> Result<(), CliError> {
    match command {
        SchemaCommand::Export { dir } => {
            let written = export(&dir)?;
            println!("wrote {written} schemas to {}", dir.display());
            Ok(())
        }
    }
}

/// Writes every schema of the catalogue under `dir`; returns how many.
fn export(dir: &Path) -> Result<usize, CliError> {
    let catalog = lattice_ctl::schema::catalog();
    for message in &catalog {
        let path = dir.join(&message.path);
        let write_error = |source| CliError::WriteSchema {
            path: path.clone(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(write_error)?;
        }
        let mut text =
            serde_json::to_string_pretty(&message.schema).map_err(|e| CliError::Output {
                message: e.to_string(),
            })?;
        text.push('\n');
        std::fs::write(&path, text).map_err(write_error)?;
    }
    Ok(catalog.len())
}
