//! Reading a component spec document (YAML or JSON) and validating it, listing **every**
//! problem by field path — missing fields, fields of the wrong type and invalid values alike —
//! not just the first one a decoder trips over.

use crate::error::CliError;
use lattice_spec::{ComponentSpec, ComponentSpecDraft};
use serde_json::{Map, Value, json};
use std::{
    io::Read,
    path::{Path, PathBuf},
};

/// The fields a spec document must have.
const REQUIRED: [&str; 4] = ["id", "revision", "artifact", "scale"];

/// Every top-level field of a spec document.
const KNOWN: [&str; 9] = [
    "id",
    "revision",
    "artifact",
    "digest",
    "scale",
    "config",
    "secrets",
    "links",
    "annotations",
];

/// A validated spec and what was noticed on the way.
#[derive(Debug)]
pub(crate) struct LoadedSpec {
    /// The spec.
    pub(crate) spec: ComponentSpec,
    /// Harmless oddities, e.g. unknown fields that were ignored.
    pub(crate) warnings: Vec<String>,
}

/// Reads `path` (`-` for stdin, as YAML; else YAML or JSON by extension) and validates it.
///
/// # Errors
///
/// [`CliError::ReadSpec`], [`CliError::ParseSpec`] or [`CliError::InvalidSpec`].
pub(crate) fn load(path: &Path) -> Result<LoadedSpec, CliError> {
    let read_error = |source| CliError::ReadSpec {
        path: path.to_owned(),
        source,
    };
    let (text, json) = if path == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(read_error)?;
        (text, false)
    } else {
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        (std::fs::read_to_string(path).map_err(read_error)?, is_json)
    };
    let value = parse(path, &text, json)?;
    decode(path, value)
}

/// Parses the document's text into a JSON value.
fn parse(path: &Path, text: &str, json: bool) -> Result<Value, CliError> {
    let parse_error = |format, message| CliError::ParseSpec {
        path: path.to_owned(),
        format,
        message,
    };
    if json {
        serde_json::from_str(text).map_err(|e| parse_error("JSON", e.to_string()))
    } else {
        serde_yaml_ng::from_str(text).map_err(|e| parse_error("YAML", e.to_string()))
    }
}

/// Values that stand in for missing or ill-typed fields so the rest can still be validated.
fn placeholders() -> Map<String, Value> {
    match json!({"id": "placeholder", "revision": 1, "artifact": "placeholder", "scale": 1}) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Decodes and validates a parsed document.
fn decode(path: &Path, value: Value) -> Result<LoadedSpec, CliError> {
    let Value::Object(fields) = value else {
        return Err(CliError::ParseSpec {
            path: path.to_owned(),
            format: "component spec",
            message: "expected a mapping with `id`, `revision`, `artifact`, `scale`, …".into(),
        });
    };
    let mut problems: Vec<(String, String)> = REQUIRED
        .iter()
        .filter(|field| !fields.contains_key(**field))
        .map(|field| ((*field).to_owned(), "required field is missing".to_owned()))
        .collect();
    let mut unknown = Vec::new();
    let mut document = Map::new();
    for (key, value) in fields {
        if !KNOWN.contains(&key.as_str()) {
            unknown.push(key);
            continue;
        }
        // Decode each field on its own, so every ill-typed field is reported.
        let mut probe = placeholders();
        probe.insert(key.clone(), value.clone());
        match serde_json::from_value::<ComponentSpecDraft>(Value::Object(probe)) {
            Ok(_) => {
                document.insert(key, value);
            }
            Err(e) => problems.push((key, e.to_string())),
        }
    }
    let broken: Vec<String> = problems.iter().map(|(p, _)| p.clone()).collect();
    for (key, value) in placeholders() {
        document.entry(key).or_insert(value);
    }
    let draft: ComponentSpecDraft =
        serde_json::from_value(Value::Object(document)).map_err(|e| CliError::ParseSpec {
            path: path.to_owned(),
            format: "component spec",
            message: e.to_string(),
        })?;
    let outcome = draft.validate();
    if let Err(errors) = &outcome {
        problems.extend(
            errors
                .errors()
                .iter()
                .filter(|e| !broken.iter().any(|b| within(&e.path, b)))
                .map(|e| (e.path.clone(), e.message.clone())),
        );
    }
    // An unknown field is ignored on the wire; next to real problems it is likely a typo.
    let unknown = unknown.into_iter().map(|key| {
        let note = "unknown field, ignored (a typo?)".to_owned();
        (key, note)
    });
    match outcome {
        Ok(spec) if problems.is_empty() => Ok(LoadedSpec {
            spec,
            warnings: unknown
                .map(|(key, note)| format!("spec field `{key}`: {note}"))
                .collect(),
        }),
        _ => Err(CliError::InvalidSpec {
            path: PathBuf::from(path),
            problems: problems.into_iter().chain(unknown).collect(),
        }),
    }
}

/// Whether field path `path` is `field` or inside it (`links[0].name` is inside `links`).
fn within(path: &str, field: &str) -> bool {
    path.strip_prefix(field)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems_of(yaml: &str) -> Vec<String> {
        let value = parse(Path::new("t.yaml"), yaml, false).unwrap();
        match decode(Path::new("t.yaml"), value) {
            Err(CliError::InvalidSpec { problems, .. }) => {
                problems.into_iter().map(|(path, _)| path).collect()
            }
            other => panic!("expected an invalid spec, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_document_decodes_with_warnings_for_unknown_fields() {
        let yaml = "id: web\nrevision: 2\nartifact: ghcr.io/acme/web:2.0.0\nscale: 3\nscael: 1\n";
        let value = parse(Path::new("t.yaml"), yaml, false).unwrap();
        let loaded = decode(Path::new("t.yaml"), value).unwrap();
        assert_eq!(loaded.spec.id().as_str(), "web");
        assert_eq!(loaded.spec.scale().get(), 3);
        assert_eq!(loaded.warnings.len(), 1);
    }

    #[test]
    fn every_problem_is_listed() {
        let problems = problems_of("id: bad.id\nrevision: 1\nartifact: ''\nscale: 0\nscael: 1\n");
        assert_eq!(problems, ["id", "artifact", "scale", "scael"]);
    }

    #[test]
    fn missing_and_ill_typed_fields_are_listed_with_the_rest() {
        let problems = problems_of(
            "id: bad.id\nartifact: ghcr.io/acme/web:1\nscale: two\nlinks:\n  - target: kv\n    \
             wit_namespace: wasi\n    wit_package: keyvalue\n    interfaces: []\n",
        );
        assert_eq!(problems, ["revision", "scale", "id", "links[0].interfaces"]);
    }

    #[test]
    fn json_documents_decode_too() {
        let json = r#"{"id":"web","revision":1,"artifact":"./web.wasm","scale":1}"#;
        let value = parse(Path::new("t.json"), json, true).unwrap();
        assert!(decode(Path::new("t.json"), value).is_ok());
        assert!(matches!(
            parse(Path::new("t.json"), "{", true),
            Err(CliError::ParseSpec { .. })
        ));
    }

    #[test]
    fn nested_paths_are_within_their_field() {
        assert!(within("links[0].name", "links"));
        assert!(within("scale", "scale"));
        assert!(!within("scale_x", "scale"));
    }
}
