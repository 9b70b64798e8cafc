#![no_main]
//! The host's apply decoder: never panics, an invalid spec always yields a rejection, and a
//! valid request round trips.

use lattice_ctl::{ApplyComponentSpecRequest, ApplyDecodeError};
use lattice_spec::WireMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match ApplyComponentSpecRequest::decode_detailed(data) {
        Ok(request) => {
            let again = ApplyComponentSpecRequest::decode(&request.encode().unwrap()).unwrap();
            assert_eq!(again, request);
        }
        Err(err @ ApplyDecodeError::InvalidSpec { .. }) => assert!(err.rejection().is_some()),
        Err(err) => assert!(err.rejection().is_none()),
    }
});
