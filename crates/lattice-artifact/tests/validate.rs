//! Validating real component binaries (built from WAT) against specs.

use lattice_artifact::{
    ArtifactFormat, ComponentValidator, ValidationError, ValidationErrorKind,
    WasmComponentValidator, testing,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, ContentDigest, LinkDraft};
use lattice_status::{ReasonCode, StatusReason};

fn spec(links: &[LinkDraft]) -> ComponentSpec {
    links
        .iter()
        .fold(
            ComponentSpecDraft::new("app", "ghcr.io/acme/app:1.0.0"),
            |draft, link| draft.link(link.clone()),
        )
        .validate()
        .unwrap()
}

fn keyvalue(interfaces: &[&str]) -> LinkDraft {
    LinkDraft::new("redis", "wasi", "keyvalue", interfaces.iter().copied())
}

#[test]
fn component_with_covered_imports_is_valid_and_listed() {
    let bytes = testing::component(
        &[
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:io/streams@0.2.0",
        ],
        &["wasi:http/incoming-handler@0.2.0", "run"],
    );
    let spec = spec(&[
        keyvalue(&["store", "atomics"]),
        LinkDraft::new("http-server", "wasi", "http", ["incoming-handler"]),
    ]);
    let component = WasmComponentValidator::new()
        .validate(&bytes, &spec)
        .unwrap();
    assert_eq!(
        component.imports,
        [
            "wasi:keyvalue/store@0.2.0-draft",
            "wasi:keyvalue/atomics@0.2.0-draft",
            "wasi:io/streams@0.2.0"
        ]
    );
    assert_eq!(
        component.exports,
        ["wasi:http/incoming-handler@0.2.0", "run"]
    );
    assert_eq!(component.digest, ContentDigest::sha256_of(&bytes));
    assert_eq!(component.size, bytes.len());
}

#[test]
fn nested_components_imports_are_not_top_level() {
    let bytes = testing::compile(
        r#"(component
             (import "wasi:keyvalue/store@0.2.0" (instance))
             (component $inner
               (import "acme:secret/inner@1.0.0" (instance))
               (export "acme:inner/api" (instance 0)))
             (export "outer" (component $inner)))"#,
    );
    let component = WasmComponentValidator::new()
        .validate(&bytes, &spec(&[keyvalue(&["store"])]))
        .unwrap();
    assert_eq!(component.imports, ["wasi:keyvalue/store@0.2.0"]);
    assert_eq!(component.exports, ["outer"]);
}

#[test]
fn core_module_is_not_a_component() {
    let error = WasmComponentValidator::new()
        .validate(&testing::core_module(), &spec(&[]))
        .unwrap_err();
    assert_eq!(error.kind(), ValidationErrorKind::NotAComponent);
    assert_eq!(
        error,
        ValidationError::NotAComponent {
            found: ArtifactFormat::CoreModule
        }
    );
    assert!(
        error
            .to_string()
            .starts_with("this is a core WebAssembly module, not a component"),
        "{error}"
    );
    let reason = StatusReason::from(&error);
    assert_eq!(reason.code, ReasonCode::InvalidArtifact);
}

#[test]
fn garbage_and_text_are_not_components() {
    let validator = WasmComponentValidator::new();
    for (bytes, found) in [
        (&b"PK\x03\x04 a zip file"[..], ArtifactFormat::NotWasm),
        (&b""[..], ArtifactFormat::NotWasm),
        (&b";; hello\n(component)"[..], ArtifactFormat::WasmText),
    ] {
        let error = validator.validate(bytes, &spec(&[])).unwrap_err();
        assert_eq!(error, ValidationError::NotAComponent { found }, "{bytes:?}");
        assert_eq!(StatusReason::from(&error).code, ReasonCode::InvalidArtifact);
    }
}

#[test]
fn broken_component_is_invalid_with_wasmparsers_message() {
    let validator = WasmComponentValidator::new();
    let mut truncated = testing::component_importing(&["wasi:keyvalue/store@0.2.0"]);
    truncated.truncate(truncated.len() - 3);
    let error = validator.validate(&truncated, &spec(&[])).unwrap_err();
    assert_eq!(error.kind(), ValidationErrorKind::Invalid, "{error}");

    // A component header followed by a section id that does not exist.
    let mut bogus = testing::component_importing(&[]);
    bogus.extend_from_slice(&[0x7f, 0x01, 0x00]);
    let error = validator.validate(&bogus, &spec(&[])).unwrap_err();
    let ValidationError::Invalid { message, .. } = &error else {
        panic!("expected Invalid, got {error}")
    };
    assert!(!message.is_empty());
    assert!(
        error
            .to_string()
            .starts_with("invalid WebAssembly component: "),
        "{error}"
    );
    assert_eq!(StatusReason::from(&error).code, ReasonCode::InvalidArtifact);
}

#[test]
fn uncovered_interface_import_is_unsatisfied_and_names_the_link_to_add() {
    let bytes = testing::component_importing(&["wasi:keyvalue/store@0.2.0"]);
    let error = WasmComponentValidator::new()
        .validate(&bytes, &spec(&[]))
        .unwrap_err();
    assert_eq!(error.kind(), ValidationErrorKind::UnsatisfiedImports);
    assert_eq!(error.missing_imports(), ["wasi:keyvalue/store@0.2.0"]);
    let reason = StatusReason::from(&error);
    assert_eq!(reason.code, ReasonCode::UnsatisfiedImports);
    assert!(
        reason.message.contains(
            "`wasi:keyvalue/store@0.2.0` (add a link with wit_namespace `wasi`, wit_package \
             `keyvalue` and interface `store`)"
        ),
        "{reason}"
    );

    // The same with the link: covered.
    assert!(
        WasmComponentValidator::new()
            .validate(&bytes, &spec(&[keyvalue(&["store"])]))
            .is_ok()
    );
}

#[test]
fn every_missing_import_is_listed() {
    let bytes = testing::component_importing(&[
        "wasi:keyvalue/store@0.2.0",
        "wasi:keyvalue/atomics@0.2.0",
        "wasi:blobstore/container@0.2.0",
        "greeting",
    ]);
    let error = WasmComponentValidator::new()
        .validate(&bytes, &spec(&[keyvalue(&["store"])]))
        .unwrap_err();
    assert_eq!(
        error.missing_imports(),
        [
            "wasi:keyvalue/atomics@0.2.0",
            "wasi:blobstore/container@0.2.0",
            "greeting"
        ]
    );
    let message = error.to_string();
    assert!(message.contains("imports 3 items"), "{message}");
    assert!(
        message.contains(
            "add interface `atomics` to the wasi:keyvalue link `default` (target `redis`)"
        ),
        "{message}"
    );
    assert!(
        message.contains("`greeting` (not a WIT interface"),
        "{message}"
    );
}

#[test]
fn versions_are_ignored_when_matching_links() {
    let link = spec(&[keyvalue(&["store"])]);
    for name in [
        "wasi:keyvalue/store",
        "wasi:keyvalue/store@0.2.0-draft",
        "wasi:keyvalue/store@1.0.0",
    ] {
        let bytes = testing::component_importing(&[name]);
        let component = WasmComponentValidator::new()
            .validate(&bytes, &link)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(component.imports, [name]);
    }
    // A link for another package or interface does not count.
    let other = testing::component_importing(&["wasi:keyvalue/atomics@0.2.0"]);
    assert!(
        WasmComponentValidator::new()
            .validate(&other, &link)
            .is_err()
    );
    let elsewhere = testing::component_importing(&["acme:keyvalue/store@0.2.0"]);
    assert!(
        WasmComponentValidator::new()
            .validate(&elsewhere, &link)
            .is_err()
    );
}

#[test]
fn host_provided_patterns_are_honoured() {
    let bytes = testing::component_importing(&[
        "wasi:io/streams@0.2.0",
        "wasi:logging/logging@0.1.0-draft",
        "acme:metrics/counter@1.0.0",
        "greeting",
    ]);
    let spec = spec(&[]);

    let defaults = WasmComponentValidator::new()
        .validate(&bytes, &spec)
        .unwrap_err();
    assert_eq!(
        defaults.missing_imports(),
        ["acme:metrics/counter@1.0.0", "greeting"]
    );

    let configured = WasmComponentValidator::new()
        .host_provides("acme:metrics/*")
        .host_provides("greeting");
    assert!(configured.validate(&bytes, &spec).is_ok());

    let nothing = WasmComponentValidator::without_host_defaults()
        .validate(&bytes, &spec)
        .unwrap_err();
    assert_eq!(nothing.missing_imports().len(), 4);
}

#[test]
fn inspect_lists_names_without_a_spec() {
    let bytes = testing::component(&["greeting"], &["run"]);
    let component = WasmComponentValidator::inspect(&bytes).unwrap();
    assert_eq!(component.imports, ["greeting"]);
    assert_eq!(component.exports, ["run"]);
    assert_eq!(
        WasmComponentValidator::inspect(&testing::core_module())
            .unwrap_err()
            .kind(),
        ValidationErrorKind::NotAComponent
    );
}

#[test]
fn validator_is_usable_as_a_trait_object() {
    let validator: std::sync::Arc<dyn ComponentValidator> =
        std::sync::Arc::new(WasmComponentValidator::default());
    let bytes = testing::component_importing(&[]);
    assert!(validator.validate(&bytes, &spec(&[])).is_ok());
}
