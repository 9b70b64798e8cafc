//! The check of the `spec_file` fuzz target, shared with lattice-spec's `fuzz_regressions` test:
//! a component spec document as `lattice apply -f` reads it ([`SpecDocument::parse`], YAML or
//! JSON) never panics; its verdict agrees with the wire decoder's (a document is valid exactly
//! when it decodes as a `ComponentSpec`, to the same spec); an invalid one names at least one
//! problem; and a valid spec written back as YAML reads as itself with nothing ignored.

use lattice_spec::{ComponentSpec, DocumentFormat, SpecDocument, SpecDocumentError};

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for format in [DocumentFormat::Yaml, DocumentFormat::Json] {
        let parsed = SpecDocument::parse(text, format);
        let value: Option<serde_json::Value> = match format {
            DocumentFormat::Json => serde_json::from_str(text).ok(),
            _ => serde_yaml_ng::from_str(text).ok(),
        };
        let wire = value.map(serde_json::from_value::<ComponentSpec>);
        match parsed {
            Ok(document) => {
                let spec = wire
                    .expect("a document that parses is a value")
                    .expect("a valid document decodes on the wire too");
                assert_eq!(spec, document.spec);
                let yaml = serde_yaml_ng::to_string(&document.spec).expect("a spec writes as YAML");
                let again =
                    SpecDocument::parse(&yaml, DocumentFormat::Yaml).expect("a written spec reads");
                assert_eq!(again.spec, document.spec);
                assert!(again.ignored.is_empty(), "{:?}", again.ignored);
            }
            Err(SpecDocumentError::Invalid { problems, .. }) => {
                assert!(!problems.is_empty(), "an invalid document names a problem");
                if let Some(Ok(spec)) = wire {
                    panic!("the document is invalid but decodes on the wire as {spec:?}");
                }
            }
            Err(SpecDocumentError::NotAMapping) => {
                assert!(
                    !matches!(wire, Some(Ok(_))),
                    "a non-mapping decodes on the wire"
                );
            }
            Err(error) => assert!(wire.is_none(), "{error}"),
        }
    }
}
