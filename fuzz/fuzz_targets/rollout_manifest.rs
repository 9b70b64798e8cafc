#![no_main]
//! The `rollout_manifest` target: see `fuzz/checks/rollout_manifest.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/rollout_manifest/`.

#[path = "../checks/rollout_manifest.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
