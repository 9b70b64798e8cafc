#![no_main]
//! Provider link message decoders.

use lattice_fuzz::round_trip;
use lattice_link::{LinkDeleteRequest, LinkPutRequest, LinkResponse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    round_trip::<LinkPutRequest>(data);
    round_trip::<LinkDeleteRequest>(data);
    round_trip::<LinkResponse>(data);
});
