//! The stored progress of a rollout: enough to continue or roll back after a restart.
//!
//! The record and its parts are the wire contract's ([`lattice_ctl::rollout::record`]): the
//! record is stored in the bucket and carried in events, so other programs read it. They are
//! re-exported here so their paths stay.

pub use lattice_ctl::rollout::record::{
    Control, FailureCode, HostFailures, HostProgress, RolloutFailure, RolloutRecord,
};
use lattice_status::RolloutState;

pub(crate) use lattice_ctl::rollout::record::now_ms;

/// Moving a record's state from the engine, logging a move the state machine does not allow.
pub(crate) trait MoveTo {
    /// Moves to `state`, logging a transition the state machine does not allow.
    fn move_to(&mut self, state: RolloutState);
}

impl MoveTo for RolloutRecord {
    fn move_to(&mut self, state: RolloutState) {
        if let Err(illegal) = self.set_state(state) {
            tracing::warn!(app = %self.app, %illegal, "rollout transition outside the state machine");
        }
    }
}
