#![no_main]
//! The `spec_validator` target: see `fuzz/checks/spec_validator.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/spec_validator/`.

#[path = "../checks/spec_validator.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
