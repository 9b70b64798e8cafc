//! The fuzz targets of this crate's decoders (`health_check`, `host_data`), replayed in the normal
//! tests: each target's check (`fuzz/checks/<target>.rs`, the same code the fuzzer runs) on every
//! input that once crashed it (`fuzz/regressions/<target>/`) and on its seeds (`fuzz/seeds.txt`).

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[path = "../../../fuzz/checks/health_check.rs"]
mod health_check;

#[path = "../../../fuzz/checks/host_data.rs"]
mod host_data;

#[test]
fn health_check_regressions_and_seeds_pass() {
    replay::replay("health_check", health_check::check);
}

#[test]
fn host_data_regressions_and_seeds_pass() {
    replay::replay("host_data", host_data::check);
}
