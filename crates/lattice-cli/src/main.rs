//! The `lattice` command (being written).
fn main() {}
