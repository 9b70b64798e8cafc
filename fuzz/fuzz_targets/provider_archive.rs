#![no_main]
//! The `provider_archive` target: see `fuzz/checks/provider_archive.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/provider_archive/`.

#[path = "../checks/provider_archive.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
