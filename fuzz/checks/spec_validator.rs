//! The check of the `spec_validator` fuzz target, shared with lattice-spec's `fuzz_regressions`
//! test. Structured: a valid component or provider spec built from the input (the `arbitrary`
//! feature builds only valid ones) round trips — through its draft and validation, through JSON
//! and through a spec document — with the same digest. Unstructured: a provider spec draft
//! decoded from the input never panics validation, and a valid one round trips.

use arbitrary::{Arbitrary, Unstructured};
use lattice_spec::{ComponentSpec, ProviderSpec, ProviderSpecDraft, SpecDocument};

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    let mut input = Unstructured::new(data);
    if let Ok(spec) = ComponentSpec::arbitrary(&mut input) {
        assert_eq!(
            spec.to_draft().validate(),
            Ok(spec.clone()),
            "draft round trip"
        );
        let json = serde_json::to_value(&spec).expect("a spec encodes");
        let again: ComponentSpec = serde_json::from_value(json.clone()).expect("and decodes");
        assert_eq!(again, spec, "JSON round trip");
        assert_eq!(again.digest(), spec.digest());
        let document = SpecDocument::decode(&json).expect("an encoded spec is a valid document");
        assert_eq!(document.spec, spec, "document round trip");
        assert!(document.ignored.is_empty(), "{:?}", document.ignored);
    }
    if let Ok(spec) = ProviderSpec::arbitrary(&mut input) {
        provider_round_trips(&spec);
    }
    if let Ok(draft) = serde_json::from_slice::<ProviderSpecDraft>(data)
        && let Ok(spec) = draft.validate()
    {
        provider_round_trips(&spec);
    }
}

fn provider_round_trips(spec: &ProviderSpec) {
    assert_eq!(
        spec.to_draft().validate().as_ref(),
        Ok(spec),
        "draft round trip"
    );
    let json = serde_json::to_vec(spec).expect("a provider spec encodes");
    let again: ProviderSpec = serde_json::from_slice(&json).expect("and decodes");
    assert_eq!(&again, spec, "JSON round trip");
    assert_eq!(again.digest(), spec.digest());
}
