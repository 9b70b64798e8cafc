//! Interoperability tests of lattice hosts against the published wasmCloud 1.x crates; the
//! tests are in `tests/`. This library is empty.
