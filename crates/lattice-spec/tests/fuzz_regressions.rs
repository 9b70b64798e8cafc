//! The fuzz targets of this crate's decoders (`spec_file`, `spec_validator`), replayed in the normal
//! tests: each target's check (`fuzz/checks/<target>.rs`, the same code the fuzzer runs) on every
//! input that once crashed it (`fuzz/regressions/<target>/`) and on its seeds (`fuzz/seeds.txt`).

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[path = "../../../fuzz/checks/spec_file.rs"]
mod spec_file;

#[path = "../../../fuzz/checks/spec_validator.rs"]
mod spec_validator;

#[test]
fn spec_file_regressions_and_seeds_pass() {
    replay::replay("spec_file", spec_file::check);
}

#[test]
fn spec_validator_regressions_and_seeds_pass() {
    replay::replay("spec_validator", spec_validator::check);
}
