//! The check of the `host_data` fuzz target, shared with lattice-link's `fuzz_regressions`
//! test: the line a host writes on a provider's stdin (base64 of JSON) never panics the reader,
//! and host data that reads writes the same line back. The input is read both as the line
//! itself and as the JSON inside it, so the fuzzer reaches the JSON decoder directly.

use base64::Engine as _;
use lattice_link::HostData;

/// Runs the check on one input.
pub(crate) fn check(data: &[u8]) {
    let line = base64::engine::general_purpose::STANDARD.encode(data);
    for input in [data, line.as_bytes()] {
        match HostData::from_stdin_line(input) {
            Ok(host_data) => {
                let written = host_data.to_stdin_line();
                let again = HostData::from_stdin_line(&written).expect("written host data reads");
                assert_eq!(again, host_data);
                assert_eq!(again.to_stdin_line(), written);
            }
            Err(error) => {
                let _ = error.kind();
            }
        }
    }
}
