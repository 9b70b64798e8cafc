#![no_main]
//! Control request decoders.

use lattice_ctl::{DeleteComponentSpecRequest, HostInventoryRequest, HostPingRequest};
use lattice_fuzz::round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    round_trip::<HostPingRequest>(data);
    round_trip::<HostInventoryRequest>(data);
    round_trip::<DeleteComponentSpecRequest>(data);
});
