//! The fuzz targets of this crate's decoders (`rollout_manifest`, `rollout_store`), replayed in the normal
//! tests: each target's check (`fuzz/checks/<target>.rs`, the same code the fuzzer runs) on every
//! input that once crashed it (`fuzz/regressions/<target>/`) and on its seeds (`fuzz/seeds.txt`).

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[path = "../../../fuzz/checks/rollout_manifest.rs"]
mod rollout_manifest;

#[path = "../../../fuzz/checks/rollout_store.rs"]
mod rollout_store;

#[test]
fn rollout_manifest_regressions_and_seeds_pass() {
    replay::replay("rollout_manifest", rollout_manifest::check);
}

#[test]
fn rollout_store_regressions_and_seeds_pass() {
    replay::replay("rollout_store", rollout_store::check);
}
