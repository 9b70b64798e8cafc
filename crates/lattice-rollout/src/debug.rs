//! `Debug` for the [`Scheduler`], from what it exposes: its reconcilers and pre-flight
//! checks are the caller's trait objects.

use crate::Scheduler;
use std::fmt;

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler")
            .field("store", self.store())
            .finish_non_exhaustive()
    }
}
