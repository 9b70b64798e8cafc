//! [`InvocationLoad`]: callers invoking a component throughout a control-plane fault; every call
//! sent is answered, by the old revision or the new one. (The end state every row must reach is
//! checked by `fault_support::assert_converged`, shared with the host and provider rows.)

use lattice_host::Invoker;
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// Callers invoking a component (served by `RevisionEchoRuntime`) one call after another
/// until stopped, each call recorded with its answer.
pub(crate) struct InvocationLoad {
    stop: Arc<AtomicBool>,
    callers: Vec<tokio::task::JoinHandle<Vec<Call>>>,
    started: Instant,
}

/// One call: its payload, when it was sent, and its answer.
pub(crate) type Call = (String, Instant, Result<String, String>);

/// What the callers saw.
#[derive(Debug)]
pub(crate) struct LoadReport {
    /// Calls sent.
    pub(crate) sent: usize,
    /// Answers by the revision that gave them.
    pub(crate) by_revision: BTreeMap<u64, usize>,
    /// Calls without an answer, or with an answer that is not theirs.
    pub(crate) lost: Vec<Call>,
    /// How many callers there were (each has at most one call in flight).
    pub(crate) callers: usize,
    /// How long the load ran.
    pub(crate) elapsed: Duration,
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} invocations in {:.1?}, answers by revision {:?}, {} lost",
            self.sent,
            self.elapsed,
            self.by_revision,
            self.lost.len()
        )
    }
}

impl InvocationLoad {
    /// Starts `callers` callers of `component` over `nats`.
    pub(crate) async fn start(
        nats: &async_nats::Client,
        lattice: &lattice_spec::LatticeName,
        component: &str,
        callers: usize,
    ) -> Self {
        let component = component.parse().expect("a component id");
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for caller in 0..callers {
            let invoker = Invoker::new(nats.clone(), lattice, &component)
                .await
                .expect("an invoker")
                .with_timeout(Duration::from_secs(10));
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut calls = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let payload = format!("{caller}-{}", calls.len());
                    let sent = Instant::now();
                    let answer = invoker.call(payload.clone()).await;
                    calls.push((payload, sent, answer.map_err(|e| e.to_string())));
                }
                calls
            }));
        }
        Self {
            stop,
            callers: tasks,
            started: Instant::now(),
        }
    }

    /// Stops the callers (each finishes its call in flight) and reports what they saw.
    pub(crate) async fn stop(self) -> LoadReport {
        self.stop.store(true, Ordering::Relaxed);
        let elapsed = self.started.elapsed();
        let mut report = LoadReport {
            sent: 0,
            by_revision: BTreeMap::new(),
            lost: Vec::new(),
            callers: self.callers.len(),
            elapsed,
        };
        for caller in self.callers {
            let calls = tokio::time::timeout(Duration::from_secs(30), caller)
                .await
                .expect("a caller stops")
                .expect("a caller does not panic");
            for (payload, sent, answer) in calls {
                report.sent += 1;
                match answer
                    .as_deref()
                    .ok()
                    .and_then(|a| revision_of(a, &payload))
                {
                    Some(revision) => *report.by_revision.entry(revision).or_default() += 1,
                    None => report.lost.push((payload, sent, answer)),
                }
            }
        }
        report
    }
}

/// The revision in an echo answer `"hello from web@2: {payload}"`, if it answers `payload`.
fn revision_of(answer: &str, payload: &str) -> Option<u64> {
    let rest = answer.strip_suffix(&format!(": {payload}"))?;
    rest.rsplit_once('@')?.1.parse().ok()
}

impl LoadReport {
    /// Asserts that every call sent was answered (by its own answer), and that some were
    /// answered by each revision in `revisions`.
    pub(crate) fn assert_none_lost(&self, revisions: &[u64]) {
        self.assert_none_lost_but_in_flight_at(None, revisions);
    }

    /// As [`assert_none_lost`](Self::assert_none_lost), except for calls in flight at
    /// `moment` (sent before it, at most one per caller): core NATS delivers at most once,
    /// and a request on its way through a server that is killed is gone with it. Every call
    /// sent after `moment` must be answered.
    pub(crate) fn assert_none_lost_but_in_flight_at(
        &self,
        moment: Option<Instant>,
        revisions: &[u64],
    ) {
        let (in_flight, lost): (Vec<&Call>, Vec<&Call>) = self
            .lost
            .iter()
            .partition(|(_, sent, _)| moment.is_some_and(|m| *sent < m));
        assert!(
            in_flight.len() <= self.callers,
            "more calls lost than were in flight at the fault: {in_flight:?}"
        );
        assert!(
            lost.is_empty(),
            "{} of {} invocations were lost or failed; the first: {:?}",
            lost.len(),
            self.sent,
            &lost[..lost.len().min(5)]
        );
        assert!(self.sent > 0, "no invocation was sent");
        for revision in revisions {
            assert!(
                self.by_revision.contains_key(revision),
                "no call was answered by revision {revision}: {self:?}"
            );
        }
    }
}
