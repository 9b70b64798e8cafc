//! Scheduler rollout engine for lattice (in progress).

pub mod model;
pub mod plan;
