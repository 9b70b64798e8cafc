#![no_main]
//! wasmCloud 1.x message decoders: whatever decodes encodes and decodes back to itself.

use lattice_ctl::v1::{CtlResponse, DeleteLinkRequest, Host, HostInventory, Link, ScaleComponentCommand, UpdateComponentCommand};
use libfuzzer_sys::fuzz_target;
use serde::{Serialize, de::DeserializeOwned};
use std::fmt::Debug;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let again: T = serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
        assert_eq!(again, value);
    }
}

fuzz_target!(|data: &[u8]| {
    round_trip::<CtlResponse<Host>>(data);
    round_trip::<CtlResponse<HostInventory>>(data);
    // `CtlResponse<()>` is not here: `Some(())` encodes as `null`, which decodes as `None`, in 1.x too.
    round_trip::<ScaleComponentCommand>(data);
    round_trip::<UpdateComponentCommand>(data);
    round_trip::<Link>(data);
    round_trip::<DeleteLinkRequest>(data);
});
