#![no_main]
//! The `spec_file` target: see `fuzz/checks/spec_file.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/spec_file/`.

#[path = "../checks/spec_file.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
