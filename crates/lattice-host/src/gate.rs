//! The invocation gate: exactly one revision serves at a time, invocations can be paused
//! (held, not dropped) while links change, and the version swap is one atomic store.
//!
//! The invocation path takes no lock: an invocation increments an in-flight counter, checks
//! the pause flag, loads the active instance from an [`ArcSwapOption`] and runs. Pausing sets
//! the flag and waits until the in-flight count drains to zero, so once
//! [`InvocationGate::pause`] returns no invocation is running on the old revision; arrivals
//! meanwhile wait for [`InvocationGate::resume`]. Both sides use sequentially consistent
//! atomics, so either the invocation sees the pause or the pauser sees the invocation.

use crate::runtime::{ComponentInstance, Invocation, RuntimeError, RuntimeErrorKind};
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

/// Why an invocation was not served, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvokeErrorKind {
    /// See [`InvokeError::NotServing`].
    NotServing,
    /// See [`InvokeError::Runtime`]; the runtime's own kind.
    Runtime(RuntimeErrorKind),
}

impl InvokeError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> InvokeErrorKind {
        match self {
            Self::NotServing => InvokeErrorKind::NotServing,
            Self::Runtime(e) => InvokeErrorKind::Runtime(e.kind()),
        }
    }
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
        self.run(|instance| async move { instance.invoke(invocation).await })
            .await
    }

    /// The gate apart from the transport: waits while paused, then runs `serve` on the active
    /// instance, counted in flight. (Its unit tests drive it without a wRPC invocation.)
    async fn run<F, Fut>(&self, serve: F) -> Result<Revision, InvokeError>
    where
        F: FnOnce(Arc<dyn ComponentInstance>) -> Fut,
        Fut: Future<Output = Result<(), RuntimeError>>,
    {
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
            let revision = active.0.revision();
            let result = serve(active.0.clone()).await;
            drop(guard);
            self.served.fetch_add(1, SeqCst);
            result?;
            return Ok(revision);
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

#[cfg(test)]
mod tests {
    //! The gate under contention, driven through `run` with closures instead of wRPC
    //! invocations: what runs, what is held, and which revision serves.

    use super::*;
    use crate::runtime::ExportedFunction;
    use futures::future::BoxFuture;
    use std::time::Duration;
    use tokio::sync::Semaphore;

    const BOUND: Duration = Duration::from_secs(10);

    async fn within<T>(future: impl Future<Output = T>) -> T {
        tokio::time::timeout(BOUND, future)
            .await
            .expect("timed out")
    }

    /// Polls `condition` until it holds, under [`BOUND`].
    async fn until(condition: impl Fn() -> bool) {
        within(async {
            while !condition() {
                tokio::task::yield_now().await;
            }
        })
        .await;
    }

    /// A revision that is never invoked over wRPC: the tests hand `run` their own closures.
    struct Stub(Revision);

    impl ComponentInstance for Stub {
        fn revision(&self) -> Revision {
            self.0
        }

        fn exports(&self) -> &[ExportedFunction] {
            &[]
        }

        fn invoke(&self, _: Invocation) -> BoxFuture<'_, Result<(), RuntimeError>> {
            unreachable!("the gate's tests go through `run`")
        }
    }

    fn revision(revision: u64) -> Arc<dyn ComponentInstance> {
        Arc::new(Stub(Revision(revision)))
    }

    fn serving(first: u64) -> Arc<InvocationGate> {
        let gate = InvocationGate::default();
        gate.swap(revision(first));
        Arc::new(gate)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pause_returns_only_once_every_running_invocation_finished() {
        let gate = serving(1);
        let (started, finish) = (Arc::new(AtomicUsize::new(0)), Arc::new(Semaphore::new(0)));
        let running: Vec<_> = (0..3)
            .map(|_| {
                let (gate, started, finish) = (gate.clone(), started.clone(), finish.clone());
                tokio::spawn(async move {
                    gate.run(|_| async move {
                        started.fetch_add(1, SeqCst);
                        finish.acquire().await.unwrap().forget();
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        until(|| started.load(SeqCst) == 3).await;

        let pause = gate.pause();
        tokio::pin!(pause);
        assert!(
            futures::poll!(pause.as_mut()).is_pending(),
            "pause returned while three invocations ran"
        );
        finish.add_permits(2);
        until(|| gate.counters().0 == 2).await;
        assert!(
            futures::poll!(pause.as_mut()).is_pending(),
            "pause returned while one invocation ran"
        );
        finish.add_permits(1);
        within(pause).await;
        assert!(gate.is_paused());
        for invocation in running {
            assert_eq!(within(invocation).await.unwrap().unwrap(), Revision(1));
        }
        assert_eq!(gate.counters(), (3, 0), "three served, none held");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn arrivals_during_a_pause_are_held_until_resume_and_served_by_the_revision_swapped_in() {
        let gate = serving(1);
        within(gate.pause()).await;
        let ran = Arc::new(AtomicUsize::new(0));
        let arrivals: Vec<_> = (0..4)
            .map(|_| {
                let (gate, ran) = (gate.clone(), ran.clone());
                tokio::spawn(async move {
                    gate.run(|_| async move {
                        ran.fetch_add(1, SeqCst);
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        until(|| gate.counters().1 == 4).await;
        assert_eq!(ran.load(SeqCst), 0, "an invocation ran while paused");
        assert!(arrivals.iter().all(|arrival| !arrival.is_finished()));

        gate.swap(revision(2));
        gate.resume();
        for arrival in arrivals {
            assert_eq!(
                within(arrival).await.unwrap().unwrap(),
                Revision(2),
                "a held invocation is served by the revision active at the resume"
            );
        }
        assert_eq!(ran.load(SeqCst), 4);
        assert_eq!(gate.counters(), (4, 4), "four served, each held once");
    }

    /// Callers invoking without a break; every answer's revision is checked against the one
    /// the caller saw before.
    fn callers(
        gate: &Arc<InvocationGate>,
        count: usize,
        stop: &Arc<AtomicBool>,
        quiet: &Arc<AtomicBool>,
        ran_while_quiet: &Arc<AtomicUsize>,
    ) -> Vec<tokio::task::JoinHandle<u64>> {
        (0..count)
            .map(|_| {
                let (gate, stop) = (gate.clone(), stop.clone());
                let (quiet, ran_while_quiet) = (quiet.clone(), ran_while_quiet.clone());
                tokio::spawn(async move {
                    let (mut sent, mut last) = (0, Revision(0));
                    while !stop.load(SeqCst) {
                        let (quiet, ran_while_quiet) = (quiet.clone(), ran_while_quiet.clone());
                        let revision = gate
                            .run(|_| async move {
                                // Twice, with a yield between: an invocation must neither start
                                // nor still run while the gate is paused and drained.
                                for _ in 0..2 {
                                    if quiet.load(SeqCst) {
                                        ran_while_quiet.fetch_add(1, SeqCst);
                                    }
                                    tokio::task::yield_now().await;
                                }
                                Ok(())
                            })
                            .await
                            .expect("every invocation is served");
                        assert!(revision >= last, "revision {revision} after {last}");
                        (sent, last) = (sent + 1, revision);
                    }
                    sent
                })
            })
            .collect()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_contention_nothing_runs_between_pause_and_resume_and_nothing_is_lost() {
        let gate = serving(1);
        let (stop, quiet) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let ran_while_quiet = Arc::new(AtomicUsize::new(0));
        let callers = callers(&gate, 4, &stop, &quiet, &ran_while_quiet);

        for next in 2..=50 {
            let (served, held) = gate.counters();
            until(|| gate.counters().0 > served).await;
            within(gate.pause()).await;
            quiet.store(true, SeqCst);
            // Stay paused until a caller arrives and is held, so every round holds someone.
            until(|| gate.counters().1 > held).await;
            gate.swap(revision(next));
            quiet.store(false, SeqCst);
            gate.resume();
        }
        stop.store(true, SeqCst);
        let mut sent = 0;
        for caller in callers {
            sent += within(caller).await.unwrap();
        }

        assert_eq!(
            ran_while_quiet.load(SeqCst),
            0,
            "an invocation ran while the gate was paused and drained"
        );
        let (served, held) = gate.counters();
        assert_eq!(served, sent, "every invocation served exactly once");
        assert!(held >= 49, "each of the 49 pauses held an arrival: {held}");
        assert_eq!(gate.active_revision(), Some(Revision(50)));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_swap_under_load_never_leaves_a_moment_without_a_serving_revision() {
        let gate = serving(1);
        let (stop, quiet) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        let callers = callers(&gate, 4, &stop, &quiet, &Arc::new(AtomicUsize::new(0)));

        // No pause: each swap happens while invocations load the active revision.
        for next in 2..=2_000 {
            gate.swap(revision(next));
            if next % 100 == 0 {
                let served = gate.counters().0;
                until(|| gate.counters().0 > served).await;
            }
        }
        stop.store(true, SeqCst);
        let mut sent = 0;
        for caller in callers {
            // A gap would show as `NotServing`, which the callers refuse.
            sent += within(caller).await.unwrap();
        }
        assert_eq!(gate.counters(), (sent, 0));
        assert_eq!(gate.active_revision(), Some(Revision(2_000)));
    }
}
