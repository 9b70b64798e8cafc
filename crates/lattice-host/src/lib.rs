//! lattice-host (being written).
