#![no_main]
//! The `host_data` target: see `fuzz/checks/host_data.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/host_data/`.

#[path = "../checks/host_data.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
