//! Renders the message catalogue ([`lattice_ctl::schema::catalog`]) as files, and the
//! AsyncAPI document of every subject ([`asyncapi`]), and compares them with a directory, for
//! the `lattice-schemagen` command and the freshness test.

pub mod asyncapi;

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// The schemas directory of this workspace.
#[must_use]
pub fn workspace_schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../schemas")
}

/// Every schema file, and the AsyncAPI document, as `(path below the schemas directory,
/// contents)`.
#[must_use]
pub fn render() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = lattice_ctl::schema::catalog()
        .into_iter()
        .map(|message| {
            let mut text = serde_json::to_string_pretty(&message.schema)
                .unwrap_or_else(|e| unreachable!("a schema is JSON: {e}"));
            text.push('\n');
            (message.path, text)
        })
        .collect();
    files.push((asyncapi::PATH.to_owned(), asyncapi::render()));
    files
}

/// Writes every schema below `dir`.
///
/// # Errors
///
/// When a directory or file cannot be written.
pub fn write(dir: &Path) -> io::Result<usize> {
    let files = render();
    for (path, text) in &files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(target, text)?;
    }
    Ok(files.len())
}

/// The files below `dir` that are missing or differ from what the code generates, and the
/// generated-looking files (`*.json` outside `examples/`) that the code no longer generates.
#[must_use]
pub fn stale(dir: &Path) -> Vec<String> {
    let files = render();
    let mut problems: Vec<String> = files
        .iter()
        .filter(|(path, text)| fs::read_to_string(dir.join(path)).ok().as_deref() != Some(text))
        .map(|(path, _)| format!("{path}: missing or out of date"))
        .collect();
    for version in ["v1", "v2alpha1"] {
        let Ok(entries) = fs::read_dir(dir.join(version)) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = format!("{version}/{}", entry.file_name().to_string_lossy());
            if !files.iter().any(|(p, _)| *p == path) {
                problems.push(format!("{path}: no longer generated; delete it"));
            }
        }
    }
    problems
}
