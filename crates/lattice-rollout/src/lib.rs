//! lattice-rollout (being written).
