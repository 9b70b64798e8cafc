//! Reading a component spec document (YAML or JSON) and validating it, listing **every**
//! problem by field path — missing fields, fields of the wrong type and invalid values alike —
//! and every ignored field. The diagnostics are lattice-spec's ([`SpecDocument::decode`]); this
//! module reads the file and words them for the command line.

use crate::error::CliError;
use lattice_spec::{ComponentSpec, DocumentFormat, SpecDocument, SpecDocumentError};
use std::{
    io::Read,
    path::{Path, PathBuf},
};

/// What an ignored field is called, as a warning or next to real problems.
const IGNORED: &str = "unknown field, ignored (a typo?)";

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
    let format = if json {
        DocumentFormat::Json
    } else {
        DocumentFormat::Yaml
    };
    decode(path, SpecDocument::parse(&text, format))
}

/// Words what [`SpecDocument::parse`] found for the command line.
fn decode(
    path: &Path,
    document: Result<SpecDocument, SpecDocumentError>,
) -> Result<LoadedSpec, CliError> {
    match document {
        Ok(document) => Ok(LoadedSpec {
            spec: document.spec,
            warnings: document
                .ignored
                .into_iter()
                .map(|field| format!("spec field `{field}`: {IGNORED}"))
                .collect(),
        }),
        Err(SpecDocumentError::Parse { format, message }) => Err(CliError::ParseSpec {
            path: path.to_owned(),
            format: match format {
                DocumentFormat::Json => "JSON",
                _ => "YAML",
            },
            message,
        }),
        Err(error @ SpecDocumentError::NotAMapping) => Err(CliError::ParseSpec {
            path: path.to_owned(),
            format: "component spec",
            message: error.to_string(),
        }),
        // An unknown field is ignored on the wire; next to real problems it is likely a typo.
        Err(SpecDocumentError::Invalid { problems, ignored }) => Err(CliError::InvalidSpec {
            path: PathBuf::from(path),
            problems: problems
                .into_iter()
                .map(|problem| (problem.path, problem.message))
                .chain(ignored.into_iter().map(|field| (field, IGNORED.to_owned())))
                .collect(),
        }),
        Err(error) => Err(CliError::ParseSpec {
            path: path.to_owned(),
            format: "component spec",
            message: error.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses and decodes `text` as `load` does for a file at `path`.
    fn load_text(path: &str, text: &str) -> Result<LoadedSpec, CliError> {
        let format = if path.ends_with(".json") {
            DocumentFormat::Json
        } else {
            DocumentFormat::Yaml
        };
        decode(Path::new(path), SpecDocument::parse(text, format))
    }

    fn problems_of(yaml: &str) -> Vec<String> {
        match load_text("t.yaml", yaml) {
            Err(CliError::InvalidSpec { problems, .. }) => {
                problems.into_iter().map(|(path, _)| path).collect()
            }
            other => panic!("expected an invalid spec, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_document_decodes_with_warnings_for_unknown_fields() {
        let yaml = "id: web\nrevision: 2\nartifact: ghcr.io/acme/web:2.0.0\nscale: 3\nscael: 1\n";
        let loaded = load_text("t.yaml", yaml).unwrap();
        assert_eq!(loaded.spec.id().as_str(), "web");
        assert_eq!(loaded.spec.scale().get(), 3);
        assert_eq!(
            loaded.warnings,
            ["spec field `scael`: unknown field, ignored (a typo?)"]
        );
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
        assert!(load_text("t.json", json).is_ok());
        assert!(matches!(
            load_text("t.json", "{"),
            Err(CliError::ParseSpec { format: "JSON", .. })
        ));
        assert!(matches!(
            load_text("t.yaml", "id: [web"),
            Err(CliError::ParseSpec { format: "YAML", .. })
        ));
    }

    #[test]
    fn a_misspelt_nested_field_warns_with_its_full_path() {
        let yaml = "id: web\nrevision: 1\nartifact: ./web.wasm\nscale: 1\nlinks:\n  - target: kv\n    \
                    traget: kv\n    wit_namespace: wasi\n    wit_package: keyvalue\n    \
                    interfaces: [store]\n";
        let loaded = load_text("t.yaml", yaml).unwrap();
        assert_eq!(
            loaded.warnings,
            ["spec field `links[0].traget`: unknown field, ignored (a typo?)"]
        );
    }
}
