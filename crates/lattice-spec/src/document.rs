//! Spec documents written by hand (YAML or JSON files): decoding one reports **every** problem
//! by field path — missing and ill-typed fields as well as invalid values — and every field the
//! spec does not have.
//!
//! On the wire an unknown field is ignored, so a newer peer can add one
//! ([`decode_versioned`](crate::decode_versioned)); in a file a person wrote, it is most likely
//! a typo (`traget` for `target`). The decoder itself says which fields it ignored
//! (`serde_ignored`), so there is no list of known fields to keep in step with the types.

use crate::{ComponentSpec, ComponentSpecDraft, SpecErrorCode};
use serde_json::{Map, Value};
use std::fmt;

/// A component spec document, decoded and validated, with the fields it ignored.
///
/// ```
/// use lattice_spec::SpecDocument;
///
/// let document = serde_json::json!({
///     "id": "web", "revision": 2, "artifact": "ghcr.io/acme/web:2.0.0", "scale": 3,
///     "links": [{"traget": "kv", "target": "kv", "wit_namespace": "wasi",
///                "wit_package": "keyvalue", "interfaces": ["store"]}],
/// });
/// let decoded = SpecDocument::decode(&document)?;
/// assert_eq!(decoded.spec.scale().get(), 3);
/// assert_eq!(decoded.ignored, ["links[0].traget"]);
/// # Ok::<(), lattice_spec::SpecDocumentError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecDocument {
    /// The validated spec.
    pub spec: ComponentSpec,
    /// The path of every field the spec does not have (e.g. `links[0].traget`), in the order
    /// the decoder met them: ignored, and likely typos.
    pub ignored: Vec<String>,
}

/// The text format of a spec document ([`SpecDocument::parse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DocumentFormat {
    /// YAML (a superset of JSON, so a JSON document reads as YAML too).
    Yaml,
    /// JSON.
    Json,
}

impl fmt::Display for DocumentFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Yaml => "YAML",
            Self::Json => "JSON",
        })
    }
}

impl SpecDocument {
    /// Parses a spec document's text (what `lattice apply -f` reads) and decodes it with
    /// [`SpecDocument::decode`].
    ///
    /// ```
    /// use lattice_spec::{DocumentFormat, SpecDocument, SpecDocumentErrorKind};
    ///
    /// let yaml = "id: web\nrevision: 2\nartifact: ghcr.io/acme/web:2.0.0\nscale: 3\n";
    /// let document = SpecDocument::parse(yaml, DocumentFormat::Yaml)?;
    /// assert_eq!(document.spec.scale().get(), 3);
    /// let error = SpecDocument::parse("{", DocumentFormat::Json).unwrap_err();
    /// assert_eq!(error.kind(), SpecDocumentErrorKind::Parse);
    /// # Ok::<(), lattice_spec::SpecDocumentError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`SpecDocumentError::Parse`] when the text is not YAML (or JSON); otherwise as
    /// [`SpecDocument::decode`].
    #[cfg(feature = "yaml")]
    pub fn parse(text: &str, format: DocumentFormat) -> Result<Self, SpecDocumentError> {
        let parsed = match format {
            DocumentFormat::Json => serde_json::from_str::<Value>(text).map_err(|e| e.to_string()),
            DocumentFormat::Yaml => {
                serde_yaml_ng::from_str::<Value>(text).map_err(|e| e.to_string())
            }
        };
        let value = parsed.map_err(|message| SpecDocumentError::Parse { format, message })?;
        Self::decode(&value)
    }

    /// Decodes and validates a spec document already parsed into a JSON value (a YAML parser
    /// such as `serde_yaml_ng` produces one too).
    ///
    /// # Errors
    ///
    /// [`SpecDocumentError::NotAMapping`] when the document is not a mapping;
    /// [`SpecDocumentError::Invalid`] with every problem (and every ignored field) otherwise.
    pub fn decode(document: &Value) -> Result<Self, SpecDocumentError> {
        let Value::Object(fields) = document else {
            return Err(SpecDocumentError::NotAMapping);
        };
        // Each field is decoded on its own, the others standing in as placeholders, so every
        // missing or ill-typed field is reported, not just the first one serde trips over.
        let template = placeholders();
        let mut ignored = Vec::new();
        let mut problems: Vec<DocumentProblem> = template
            .keys()
            .filter(|key| !fields.contains_key(*key))
            .filter(|key| {
                let mut probe = template.clone();
                probe.remove(*key);
                decode_draft(&Value::Object(probe), &mut Vec::new()).is_err()
            })
            .map(|key| DocumentProblem {
                path: key.clone(),
                kind: DocumentProblemKind::Missing,
                message: "required field is missing".to_owned(),
            })
            .collect();
        let mut broken: Vec<String> = problems.iter().map(|p| p.path.clone()).collect();
        let mut merged = template.clone();
        for (key, value) in fields {
            let mut probe = template.clone();
            probe.insert(key.clone(), value.clone());
            match decode_draft(&Value::Object(probe), &mut ignored) {
                Ok(_) => {
                    merged.insert(key.clone(), value.clone());
                }
                Err(error) => {
                    problems.push(DocumentProblem {
                        path: error_path(error.path()),
                        kind: DocumentProblemKind::Malformed,
                        message: error.into_inner().to_string(),
                    });
                    broken.push(key.clone());
                }
            }
        }
        let draft = match decode_draft(&Value::Object(merged), &mut Vec::new()) {
            Ok(draft) => draft,
            // Fields that decode one by one decode together; kept as a problem all the same.
            Err(error) => {
                problems.push(DocumentProblem {
                    path: error_path(error.path()),
                    kind: DocumentProblemKind::Malformed,
                    message: error.into_inner().to_string(),
                });
                return Err(SpecDocumentError::Invalid { problems, ignored });
            }
        };
        match draft.validate() {
            Ok(spec) if problems.is_empty() => Ok(Self { spec, ignored }),
            Ok(_) => Err(SpecDocumentError::Invalid { problems, ignored }),
            Err(errors) => {
                let errors = errors.into_errors();
                // A placeholder's own problems are not the document's.
                problems.extend(
                    errors
                        .iter()
                        .filter(|e| !broken.iter().any(|b| within(&e.path, b)))
                        .map(|e| DocumentProblem {
                            path: e.path.clone(),
                            kind: DocumentProblemKind::Invalid(e.code),
                            message: e.message.clone(),
                        }),
                );
                // A field the validation names (a secret's `value`) is not also "ignored".
                ignored.retain(|path| !errors.iter().any(|e| within(path, &e.path)));
                Err(SpecDocumentError::Invalid { problems, ignored })
            }
        }
    }
}

/// What kind of problem a [`DocumentProblem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DocumentProblemKind {
    /// A required field is missing.
    Missing,
    /// A field has the wrong type or shape (or misses a required field inside it).
    Malformed,
    /// A field decodes but its value is invalid.
    Invalid(SpecErrorCode),
}

/// One problem in a spec document, by field path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentProblem {
    /// The path of the field, e.g. `scale` or `links[0].interfaces`.
    pub path: String,
    /// What kind of problem it is.
    pub kind: DocumentProblemKind,
    /// A human-readable explanation.
    pub message: String,
}

impl fmt::Display for DocumentProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a spec document is not a valid component spec.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpecDocumentError {
    /// The document is not a mapping of fields.
    #[error("expected a mapping with `id`, `revision`, `artifact`, `scale`, …")]
    NotAMapping,
    /// The document has problems; every one is listed.
    #[error(
        "invalid component spec document ({} problem{}){}",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" },
        problems.iter().map(|p| format!("; {p}")).collect::<String>()
    )]
    Invalid {
        /// Every problem: missing fields, then ill-typed ones, then invalid values.
        problems: Vec<DocumentProblem>,
        /// The path of every field the spec does not have.
        ignored: Vec<String>,
    },
    /// The text is not a document of its format ([`SpecDocument::parse`]).
    #[error("not {format}: {message}")]
    Parse {
        /// The format it was read as.
        format: DocumentFormat,
        /// What the parser said, with the line and column.
        message: String,
    },
}

/// Why a spec document was refused, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SpecDocumentErrorKind {
    /// See [`SpecDocumentError::NotAMapping`].
    NotAMapping,
    /// See [`SpecDocumentError::Invalid`].
    Invalid,
    /// See [`SpecDocumentError::Parse`].
    Parse,
}

impl SpecDocumentError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> SpecDocumentErrorKind {
        match self {
            Self::NotAMapping => SpecDocumentErrorKind::NotAMapping,
            Self::Invalid { .. } => SpecDocumentErrorKind::Invalid,
            Self::Parse { .. } => SpecDocumentErrorKind::Parse,
        }
    }
}

/// Values that stand in for missing or ill-typed fields: a default draft, which has every
/// field the spec has.
fn placeholders() -> Map<String, Value> {
    match serde_json::to_value(ComponentSpecDraft::default()) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Decodes a draft, noting the path of every field it ignores.
fn decode_draft(
    document: &Value,
    ignored: &mut Vec<String>,
) -> Result<ComponentSpecDraft, serde_path_to_error::Error<serde_json::Error>> {
    let mut note = |path: serde_ignored::Path<'_>| ignored.push(ignored_path(&path));
    serde_path_to_error::deserialize(serde_ignored::Deserializer::new(document, &mut note))
}

/// `links[0].traget`: the path style of [`FieldError`](crate::FieldError).
fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        Path::Map { parent, key } => join(ignored_path(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

/// The path of a decoding error, in the same style.
fn error_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    path.iter()
        .fold(String::new(), |parent, segment| match segment {
            Segment::Seq { index } => format!("{parent}[{index}]"),
            Segment::Map { key } => join(parent, key),
            Segment::Enum { variant } => join(parent, variant),
            Segment::Unknown => join(parent, "?"),
        })
}

fn join(parent: String, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
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
    use crate::{LinkDraft, SecretRefDraft};
    use serde_json::json;

    fn problems(document: Value) -> (Vec<String>, Vec<String>) {
        match SpecDocument::decode(&document) {
            Err(SpecDocumentError::Invalid { problems, ignored }) => {
                (problems.into_iter().map(|p| p.path).collect(), ignored)
            }
            other => panic!("expected an invalid document, got {other:?}"),
        }
    }

    #[test]
    fn a_misspelt_nested_field_is_reported_with_its_full_path() {
        let document = json!({
            "id": "web", "revision": 1, "artifact": "ghcr.io/acme/web:1", "scale": 1,
            "scael": 2,
            "config": {"names": ["base"], "valeus": {}},
            "links": [
                {"target": "kv", "wit_namespace": "wasi", "wit_package": "keyvalue",
                 "interfaces": ["store"]},
                {"target": "nats", "wit_namespace": "wasmcloud", "wit_package": "messaging",
                 "interfaces": ["consumer"], "target_config": {"values": {}, "nmaes": []},
                 "target_secrets": [{"name": "s", "backend": "b", "key": "k", "feild": "f"}]},
            ],
        });
        let decoded = SpecDocument::decode(&document).unwrap();
        assert_eq!(
            decoded.ignored,
            [
                "config.valeus",
                "links[1].target_config.nmaes",
                "links[1].target_secrets[0].feild",
                "scael",
            ]
        );
    }

    #[test]
    fn no_field_of_the_spec_is_reported_as_unknown() {
        // Every field the draft has, set: a field added to the spec later is covered too,
        // because nothing lists the known fields by hand.
        let secret = || SecretRefDraft {
            field: Some("password".into()),
            version: Some("3".into()),
            ..SecretRefDraft::new("db", "vault", "prod/db")
        };
        let outgoing = LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
            .name("cache")
            .source_config_name("shared")
            .source_config_value("a", "b")
            .target_config_name("shared")
            .target_config_value("c", "d")
            .source_secret(secret())
            .target_secret(secret());
        let incoming = LinkDraft::incoming("http", "wasi", "http", ["incoming-handler"]);
        let to_component = LinkDraft::to_component("auth", "acme", "auth", ["verify"]);
        let draft = ComponentSpecDraft::new("web", "ghcr.io/acme/web:1")
            .digest(format!("sha256:{}", "a".repeat(64)))
            .config_name("base")
            .config_value("greeting", "hello")
            .secret(secret())
            .link(outgoing)
            .link(incoming)
            .link(to_component)
            .annotation("team", "web");
        let document = serde_json::to_value(&draft).unwrap();
        let decoded = SpecDocument::decode(&document).unwrap();
        assert_eq!(decoded.ignored, Vec::<String>::new());
        assert_eq!(decoded.spec, draft.validate().unwrap());
    }

    #[test]
    fn every_problem_is_listed_with_the_ignored_fields() {
        let (paths, ignored) = problems(json!({
            "id": "bad.id", "artifact": "ghcr.io/acme/web:1", "scale": "two",
            "links": [{"target": "kv", "wit_namespace": "wasi", "wit_package": "keyvalue",
                       "interfaces": [], "traget": "kv"}],
        }));
        assert_eq!(paths, ["revision", "scale", "id", "links[0].interfaces"]);
        assert_eq!(ignored, ["links[0].traget"]);
    }

    #[test]
    fn an_ill_typed_nested_field_has_its_full_path() {
        let (paths, _) = problems(json!({
            "id": "web", "revision": 1, "artifact": "ghcr.io/acme/web:1", "scale": 1,
            "links": [{"target": "kv", "wit_namespace": "wasi", "wit_package": "keyvalue",
                       "interfaces": ["store", 7]}],
        }));
        assert_eq!(paths, ["links[0].interfaces[1]"]);
    }

    #[test]
    fn a_secret_value_is_a_problem_not_an_ignored_field() {
        let (paths, ignored) = problems(json!({
            "id": "web", "revision": 1, "artifact": "ghcr.io/acme/web:1", "scale": 1,
            "secrets": [{"name": "db", "backend": "vault", "key": "k", "value": "hunter2"}],
        }));
        assert_eq!(paths, ["secrets[0].value"]);
        assert_eq!(ignored, Vec::<String>::new());
    }

    #[test]
    fn a_document_that_is_not_a_mapping_is_refused() {
        assert_eq!(
            SpecDocument::decode(&json!(["id"])),
            Err(SpecDocumentError::NotAMapping)
        );
    }

    #[test]
    fn nested_paths_are_within_their_field() {
        assert!(within("links[0].name", "links"));
        assert!(within("scale", "scale"));
        assert!(!within("scale_x", "scale"));
    }
}
