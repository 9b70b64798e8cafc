#![no_main]
//! Subject parsers: never panic, and what they accept prints back to the same subject.

use lattice_ctl::{CtlSubject, EventSubject, RolloutSubject};
use lattice_fuzz::parse_round_trip;
use lattice_link::ProviderSubject;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &str| {
    parse_round_trip::<CtlSubject>(data);
    parse_round_trip::<EventSubject>(data);
    parse_round_trip::<RolloutSubject>(data);
    parse_round_trip::<ProviderSubject>(data);
    parse_round_trip::<lattice_ctl::v1::V1Subject>(data);
});
