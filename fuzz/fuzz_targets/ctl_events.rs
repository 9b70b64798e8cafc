#![no_main]
//! Event decoders: the CloudEvents envelope (read on its own to dispatch on the `type`) and
//! every event in it.

use lattice_ctl::{
    ComponentStatusEvent, EventHeader, LinkStatusEvent, ProviderStatusEvent, RolloutStatusEvent,
};
use lattice_fuzz::round_trip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = EventHeader::decode(data);
    round_trip::<ComponentStatusEvent>(data);
    round_trip::<ProviderStatusEvent>(data);
    round_trip::<LinkStatusEvent>(data);
    // The record is the scheduler's; any JSON stands in for it.
    round_trip::<RolloutStatusEvent<serde_json::Value>>(data);
});
