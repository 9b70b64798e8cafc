//! lattice-provider (being written).
