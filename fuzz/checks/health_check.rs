//! The check of the `health_check` fuzz target, shared with lattice-link's `fuzz_regressions`
//! test: a provider's answer on its `health` subject, as a host reads it (a lattice provider's,
//! with `api_version`, or a 1.x provider's, without), never panics the decoder, and whatever
//! decodes encodes and decodes back to itself.

use lattice_link::HealthCheckResponse;

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    if let Ok(response) = serde_json::from_slice::<HealthCheckResponse>(data) {
        let bytes = serde_json::to_vec(&response).expect("a health answer encodes");
        let again: HealthCheckResponse =
            serde_json::from_slice(&bytes).expect("an encoded health answer decodes");
        assert_eq!(again, response);
    }
}
