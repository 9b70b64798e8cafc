//! The invocation gate: exactly one revision serves at a time, invocations can be paused
//! (held, not dropped) while links change, and the version swap is one atomic store.
//!
//! The invocation path takes no lock: an invocation increments an in-flight counter, checks
//! the pause flag, loads the active instance from an [`ArcSwapOption`] and runs. Pausing sets
//! the flag and waits until the in-flight count drains to zero, so once
//! [`InvocationGate::pause`] returns no invocation is running on the old revision; arrivals
//! meanwhile wait for [`InvocationGate::resume`]. Both sides use sequentially consistent
//! atomics, so either the invocation sees the pause or the pauser sees the invocation.

use crate::runtime::{ComponentInstance, Invocation, RuntimeError};
use arc_swap::ArcSwapOption;
use lattice_spec::Revision;
use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst},
};
use tokio::sync::{Notify, watch};

/// Holds the active revision of one component and gates its invocations.
pub struct InvocationGate {
    active: ArcSwapOption<Active>,
    paused: AtomicBool,
    in_flight: AtomicUsize,
    drained: Notify,
    resumed: watch::Sender<u64>,
    served: AtomicU64,
    held: AtomicU64,
}

/// Why an invocation was not served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// No revision of the component is serving yet (or any more).
    #[error("no revision of the component is serving")]
    NotServing,
    /// The component failed while handling the invocation.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
}

impl Default for InvocationGate {
    fn default() -> Self {
        Self {
            active: ArcSwapOption::empty(),
            paused: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            drained: Notify::new(),
            resumed: watch::channel(0).0,
            served: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }
}

/// Decrements the in-flight count when an invocation (or its attempt) ends.
struct InFlight<'a>(&'a InvocationGate);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, SeqCst) == 1 {
            self.0.drained.notify_waiters();
        }
    }
}

impl InvocationGate {
    /// Runs one wRPC invocation — any exported function — on the active revision, waiting
    /// while the gate is paused. Returns the revision that served it.
    ///
    /// # Errors
    ///
    /// [`InvokeError::NotServing`] when no revision is active, or the component's error.
    pub async fn invoke(&self, invocation: Invocation) -> Result<Revision, InvokeError> {
        loop {
            self.in_flight.fetch_add(1, SeqCst);
            let guard = InFlight(self);
            if self.paused.load(SeqCst) {
                drop(guard);
                self.held.fetch_add(1, SeqCst);
                // Subscribe, then look at the flag again: `resume` clears the flag before it
                // notifies, so a resume before the subscription shows in the flag, and one
                // after it wakes `changed`. Nothing of this runs unless the gate is paused.
                let mut resumed = self.resumed.subscribe();
                if self.paused.load(SeqCst) {
                    let _ = resumed.changed().await;
                }
                continue;
            }
            let Some(active) = self.active.load_full() else {
                return Err(InvokeError::NotServing);
            };
            let result = active.0.invoke(invocation).await;
            drop(guard);
            self.served.fetch_add(1, SeqCst);
            result?;
            return Ok(active.0.revision());
        }
    }

    /// Stops starting invocations and waits until the running ones finished. Arrivals are
    /// held until [`InvocationGate::resume`].
    pub async fn pause(&self) {
        self.paused.store(true, SeqCst);
        loop {
            let drained = self.drained.notified();
            tokio::pin!(drained);
            drained.as_mut().enable();
            if self.in_flight.load(SeqCst) == 0 {
                return;
            }
            drained.await;
        }
    }

    /// Lets held and new invocations run (on whatever revision is active now).
    pub fn resume(&self) {
        self.paused.store(false, SeqCst);
        self.resumed.send_modify(|generation| *generation += 1);
    }

    /// Makes `instance` the one revision that serves, atomically.
    pub fn swap(&self, instance: Arc<dyn ComponentInstance>) {
        self.active.store(Some(Arc::new(Active(instance))));
    }

    /// Stops serving: later invocations get [`InvokeError::NotServing`].
    pub fn clear(&self) {
        self.active.store(None);
    }

    /// The instance serving now, if any.
    #[must_use]
    pub fn active(&self) -> Option<Arc<dyn ComponentInstance>> {
        self.active.load_full().map(|active| active.0.clone())
    }

    /// The revision serving now, if any.
    #[must_use]
    pub fn active_revision(&self) -> Option<Revision> {
        self.active
            .load()
            .as_ref()
            .map(|active| active.0.revision())
    }

    /// Whether invocations are paused.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.paused.load(SeqCst)
    }

    /// How many invocations were served, and how many times one was held by a pause.
    #[must_use]
    pub fn counters(&self) -> (u64, u64) {
        (self.served.load(SeqCst), self.held.load(SeqCst))
    }
}

/// The serving revision. (arc-swap stores sized values, hence the wrapper.)
struct Active(Arc<dyn ComponentInstance>);
