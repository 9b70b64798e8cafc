#![no_main]
//! The `rollout_store` target: see `fuzz/checks/rollout_store.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/rollout_store/`.

#[path = "../checks/rollout_store.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
