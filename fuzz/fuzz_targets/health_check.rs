#![no_main]
//! The `health_check` target: see `fuzz/checks/health_check.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/health_check/`.

#[path = "../checks/health_check.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
