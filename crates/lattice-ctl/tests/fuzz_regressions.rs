//! The fuzz targets of this crate's decoders (`v1_replies`), replayed in the normal
//! tests: each target's check (`fuzz/checks/<target>.rs`, the same code the fuzzer runs) on every
//! input that once crashed it (`fuzz/regressions/<target>/`) and on its seeds (`fuzz/seeds.txt`).

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[path = "../../../fuzz/checks/v1_replies.rs"]
mod v1_replies;

#[test]
fn v1_replies_regressions_and_seeds_pass() {
    replay::replay("v1_replies", v1_replies::check);
}
