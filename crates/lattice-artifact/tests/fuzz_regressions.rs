//! The fuzz targets of this crate's decoders (`oci_layout`, `provider_archive`), replayed in the normal
//! tests: each target's check (`fuzz/checks/<target>.rs`, the same code the fuzzer runs) on every
//! input that once crashed it (`fuzz/regressions/<target>/`) and on its seeds (`fuzz/seeds.txt`).

#[path = "../../../fuzz/checks/replay.rs"]
mod replay;

#[path = "../../../fuzz/checks/oci_layout.rs"]
mod oci_layout;

#[path = "../../../fuzz/checks/provider_archive.rs"]
mod provider_archive;

#[test]
fn oci_layout_regressions_and_seeds_pass() {
    replay::replay("oci_layout", oci_layout::check);
}

#[test]
fn provider_archive_regressions_and_seeds_pass() {
    replay::replay("provider_archive", provider_archive::check);
}
