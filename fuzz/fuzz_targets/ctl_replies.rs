#![no_main]
//! Control reply decoders (the envelope and every payload).

use lattice_ctl::{ApplyComponentSpecReply, DeleteComponentSpecReply, HostInventoryReply, HostSummaryReply};
use lattice_fuzz::round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    round_trip::<HostSummaryReply>(data);
    round_trip::<HostInventoryReply>(data);
    round_trip::<ApplyComponentSpecReply>(data);
    round_trip::<DeleteComponentSpecReply>(data);
});
