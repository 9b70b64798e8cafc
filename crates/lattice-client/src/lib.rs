//! lattice-client (being written).
