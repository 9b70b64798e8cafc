#![no_main]
//! A spec document: the draft decoder, validation, and the validated decoder agree, and a
//! valid spec survives a round trip with the same digest.

use lattice_spec::{ComponentSpec, ComponentSpecDraft};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(draft) = serde_json::from_slice::<ComponentSpecDraft>(data) else { return };
    let validated = draft.validate();
    let decoded = serde_json::from_slice::<ComponentSpec>(data);
    assert_eq!(validated.is_ok(), decoded.is_ok());
    if let Ok(spec) = validated {
        let again: ComponentSpec = serde_json::from_slice(&serde_json::to_vec(&spec).unwrap()).unwrap();
        assert_eq!(again, spec);
        assert_eq!(again.digest(), spec.digest());
    }
});
