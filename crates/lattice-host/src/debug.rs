//! `Debug` for the kit's public types whose fields are trait objects or shared host state,
//! written from what the types expose, so neither the runtime's internals nor link secrets
//! end up in a log.

use crate::{Host, HostHandle, InvocationGate};
use std::fmt;

impl fmt::Debug for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Its configuration, runtime, fetcher, validator and config store are the caller's.
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

impl fmt::Debug for HostHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HostHandle")
            .field("host_id", self.host_id())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for InvocationGate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (served, held) = self.counters();
        f.debug_struct("InvocationGate")
            .field("active_revision", &self.active_revision())
            .field("paused", &self.is_paused())
            .field("served", &served)
            .field("held", &held)
            .finish()
    }
}
