//! `lattice-schemagen [--check] [DIR]`: writes the JSON Schema of every top-level message into
//! DIR (default: the workspace's `schemas/`), or with `--check` exits non-zero when the files
//! there are not what the code generates.

use std::{path::PathBuf, process::ExitCode};

fn main() -> ExitCode {
    let mut check = false;
    let mut dir = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--check" => check = true,
            "-h" | "--help" => {
                println!("usage: lattice-schemagen [--check] [DIR]");
                return ExitCode::SUCCESS;
            }
            other => dir = Some(PathBuf::from(other)),
        }
    }
    let dir = dir.unwrap_or_else(lattice_schemagen::workspace_schemas_dir);
    if check {
        let stale = lattice_schemagen::stale(&dir);
        if stale.is_empty() {
            println!("schemas in {} are fresh", dir.display());
            return ExitCode::SUCCESS;
        }
        for problem in stale {
            eprintln!("{problem}");
        }
        eprintln!("run `cargo run -p lattice-schemagen` and commit the result");
        return ExitCode::FAILURE;
    }
    match lattice_schemagen::write(&dir) {
        Ok(count) => {
            println!("wrote {count} schemas to {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write schemas to {}: {e}", dir.display());
            ExitCode::FAILURE
        }
    }
}
