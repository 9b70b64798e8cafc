#![no_main]
//! The `v1_replies` target: see `fuzz/checks/v1_replies.rs`, which the owning crate's `fuzz_regressions`
//! test runs on every input kept under `fuzz/regressions/v1_replies/`.

#[path = "../checks/v1_replies.rs"]
mod check;

libfuzzer_sys::fuzz_target!(|data: &[u8]| check::check(data));
