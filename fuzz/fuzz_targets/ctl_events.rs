#![no_main]
//! Status event decoders.

use lattice_ctl::{ComponentStatusEvent, LinkStatusEvent, ProviderStatusEvent};
use lattice_fuzz::round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    round_trip::<ComponentStatusEvent>(data);
    round_trip::<ProviderStatusEvent>(data);
    round_trip::<LinkStatusEvent>(data);
});
