#![no_main]
//! Identifier, artifact reference and digest parsers never panic, and what they accept prints
//! back to the same value.

use lattice_spec::{ArtifactRef, ComponentId, ContentDigest, HostId, LatticeName};
use lattice_fuzz::parse_round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    parse_round_trip::<ComponentId>(data);
    parse_round_trip::<HostId>(data);
    parse_round_trip::<LatticeName>(data);
    parse_round_trip::<ContentDigest>(data);
    if let Ok(artifact) = ArtifactRef::parse(data) {
        assert_eq!(artifact.as_str(), data);
        let _ = artifact.canonical();
    }
});
