//! The check of the `rollout_manifest` fuzz target, shared with lattice-rollout's
//! `fuzz_regressions` test: an application manifest as `lattice rollout apply -f` reads it (YAML,
//! or JSON for a `.json` file) never panics the decoder or `Manifest::validate`, and a manifest
//! that decodes survives a JSON and a YAML round trip with the same validation outcome.

use lattice_rollout::Manifest;

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    if let Ok(manifest) = serde_json::from_slice::<Manifest>(data) {
        round_trips(&manifest);
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(manifest) = serde_yaml_ng::from_str::<Manifest>(text)
    {
        round_trips(&manifest);
    }
}

fn round_trips(manifest: &Manifest) {
    let validated = manifest.validate();
    let json = serde_json::to_vec(manifest).expect("a decoded manifest encodes as JSON");
    let again: Manifest = serde_json::from_slice(&json).expect("an encoded manifest decodes");
    assert_eq!(&again, manifest, "JSON round trip");
    assert_eq!(
        again.validate(),
        validated,
        "validation after a JSON round trip"
    );
    let yaml = serde_yaml_ng::to_string(manifest).expect("a decoded manifest encodes as YAML");
    let again: Manifest = serde_yaml_ng::from_str(&yaml).expect("a YAML manifest decodes");
    assert_eq!(&again, manifest, "YAML round trip");
}
