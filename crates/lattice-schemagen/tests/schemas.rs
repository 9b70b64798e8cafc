//! The committed schemas are what the code generates, and every example document in
//! `schemas/examples/` validates against its schema and decodes as its message.

use std::{fs, path::Path};

#[test]
fn committed_schemas_are_fresh() {
    let stale = lattice_schemagen::stale(&lattice_schemagen::workspace_schemas_dir());
    assert!(
        stale.is_empty(),
        "schemas/ is out of date; run `cargo run -p lattice-schemagen` and commit:\n{}",
        stale.join("\n")
    );
}

#[test]
fn every_message_has_valid_examples_that_decode() {
    let examples = lattice_schemagen::workspace_schemas_dir().join("examples");
    let mut checked = 0;
    for message in lattice_ctl::schema::catalog() {
        // schemas/v2alpha1/host-inventory-reply.json → examples/v2alpha1/host-inventory-reply*.json
        let stem = message.path.trim_end_matches(".json");
        let (version, name) = stem.split_once('/').unwrap();
        let dir = examples.join(version);
        let files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let file = p.file_name().unwrap().to_string_lossy().into_owned();
                file == format!("{name}.json") || file.starts_with(&format!("{name}."))
            })
            .collect();
        assert!(
            !files.is_empty(),
            "no example for {} in {}",
            message.name,
            dir.display()
        );

        let schema = serde_json::to_value(&message.schema).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        for file in files {
            let text = fs::read(&file).unwrap();
            let document: serde_json::Value = serde_json::from_slice(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", display(&file)));
            let errors: Vec<String> = validator
                .iter_errors(&document)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{} does not validate against {}: {errors:#?}",
                display(&file),
                message.path
            );
            (message.decode)(&text).unwrap_or_else(|e| {
                panic!(
                    "{} does not decode as {}: {e}",
                    display(&file),
                    message.name
                )
            });
            checked += 1;
        }
    }
    assert!(checked >= lattice_ctl::schema::catalog().len());
}

#[test]
fn schemas_are_draft_2020_12_with_titles() {
    for message in lattice_ctl::schema::catalog() {
        assert_eq!(
            message.schema.get("$schema").and_then(|v| v.as_str()),
            Some("https://json-schema.org/draft/2020-12/schema"),
            "{}",
            message.path
        );
        assert_eq!(
            message.schema.get("title").and_then(|v| v.as_str()),
            Some(message.name)
        );
    }
}

fn display(path: &Path) -> String {
    path.display().to_string()
}
