//! The check of the `provider_archive` fuzz target, shared with lattice-artifact's
//! `fuzz_regressions` test: a provider archive (PAR: a tar, optionally gzip-compressed, with a
//! `claims.jwt` listing each binary's hash) never panics the reader and every refusal has a kind
//! and a message (the reader checks the binary against the claims itself).

use lattice_artifact::provider_archive_binary;

/// The targets every input is read for.
const TARGETS: [&str; 2] = ["x86_64-linux", "aarch64-macos"];

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    for target in TARGETS {
        if let Err(error) = provider_archive_binary(data, target) {
            let _ = error.kind();
            assert!(!error.to_string().is_empty());
        }
    }
}
