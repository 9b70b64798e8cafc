#![no_main]
//! The `oci_layout` target: see `fuzz/checks/oci_layout.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/oci_layout/`.

#[path = "../checks/oci_layout.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
