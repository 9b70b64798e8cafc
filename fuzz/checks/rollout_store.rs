//! The check of the `rollout_store` fuzz target, shared with lattice-rollout's
//! `fuzz_regressions` test: what the scheduler reads back from its bucket (a stored application
//! revision, a rollout record, an operator's control command) never panics the decoder, and
//! whatever decodes encodes and decodes back to itself.

use lattice_rollout::{AppRevision, Control, RolloutRecord};
use lattice_spec::WireMessage;

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    if let Ok(revision) = serde_json::from_slice::<AppRevision>(data) {
        let bytes = serde_json::to_vec(&revision).expect("a stored revision encodes");
        let again: AppRevision = serde_json::from_slice(&bytes).expect("and decodes");
        assert_eq!(again, revision);
    }
    if let Ok(record) = RolloutRecord::decode(data) {
        let bytes = record.encode().expect("a rollout record encodes");
        let again = RolloutRecord::decode(&bytes).expect("and decodes");
        assert_eq!(again, record);
    }
    if let Ok(control) = serde_json::from_slice::<Control>(data) {
        let bytes = serde_json::to_vec(&control).expect("a control command encodes");
        let again: Control = serde_json::from_slice(&bytes).expect("and decodes");
        assert_eq!(again, control);
    }
}
