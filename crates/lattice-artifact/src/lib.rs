//! lattice-artifact (being written).
