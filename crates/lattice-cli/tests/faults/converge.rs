//! What every fault-matrix row ends with, checked one way: [`assert_converged`] (every host on
//! one revision, the rollout store's desired = stable = that revision, the rollout over), and
//! [`InvocationLoad`] (callers invoking the component throughout the fault; every call sent is
//! answered, by the old revision or the new one).

use lattice_client::Client;
use lattice_host::Invoker;
use lattice_rollout::{AppName, RolloutStore};
use lattice_spec::{HostId, Revision};
use lattice_status::{ComponentState, RolloutState};
use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// What [`assert_converged`] found.
#[derive(Debug)]
pub(crate) struct Converged {
    /// The one revision the store wants and every host serves.
    pub(crate) revision: Revision,
    /// How the last rollout ended.
    pub(crate) state: RolloutState,
}

/// Asserts that `app` converged on `hosts`: its last rollout is over, the store's desired and
/// stable revisions are one revision R, and every host serves every component of R at R,
/// `running`, with nothing newer applied (no host left pending, fetching or failed on another
/// revision). After a rollback R is the stable revision restored as a new one; a host the
/// rolled-back rollout never touched still serves the stable revision itself (the same
/// content: the engine restores only the hosts it touched), and that counts as R.
pub(crate) async fn assert_converged(
    client: &Client,
    store: &RolloutStore,
    app: &AppName,
    hosts: &[HostId],
) -> Converged {
    let (record, _) = store
        .rollout(app)
        .await
        .expect("the store answers")
        .unwrap_or_else(|| panic!("no rollout of `{app}` is stored"));
    assert!(
        record.is_finished(),
        "the rollout of `{app}` is not over: {record:#?}"
    );
    let desired = store.desired(app).await.expect("the store answers");
    let stable = store.stable(app).await.expect("the store answers");
    assert_eq!(
        desired, stable,
        "the store's desired and stable revisions of `{app}` differ ({record:#?})"
    );
    let revision = desired.unwrap_or_else(|| panic!("`{app}` has no desired revision"));
    let stored = store
        .revision(app, revision)
        .await
        .expect("the store answers")
        .unwrap_or_else(|| panic!("revision {revision} of `{app}` is not stored"));
    assert!(!stored.components.is_empty(), "{stored:#?}");
    let converged_revision = revision;
    let untouched_serves = match (record.state, record.plan.from) {
        (RolloutState::RolledBack | RolloutState::Aborted, Some(from)) => Some(from),
        _ => None,
    };
    for host in hosts {
        let touched = record
            .hosts
            .get(host)
            .is_some_and(|p| *p != lattice_rollout::HostProgress::Pending);
        let revision = match untouched_serves {
            Some(from) if !touched => from,
            _ => revision,
        };
        let inventory = client
            .inventory(host)
            .await
            .unwrap_or_else(|e| panic!("the inventory of {host}: {e}"));
        for placement in &stored.components {
            let spec = &placement.spec;
            assert_eq!(spec.revision(), converged_revision, "{stored:#?}");
            let entry = inventory.component(spec.id()).unwrap_or_else(|| {
                panic!(
                    "{host} does not have `{}` of revision {revision}: {inventory:#?}",
                    spec.id()
                )
            });
            let serving = entry.serving.as_ref().unwrap_or_else(|| {
                panic!("{host} serves no revision of `{}`: {entry:#?}", spec.id())
            });
            assert_eq!(
                (serving.revision, serving.status.state),
                (revision, ComponentState::Running),
                "{host} does not serve revision {revision} of `{}`: {entry:#?}",
                spec.id()
            );
            assert_eq!(
                (entry.desired.revision, entry.desired.status.state),
                (revision, ComponentState::Running),
                "{host} has another revision of `{}` applied: {entry:#?}",
                spec.id()
            );
        }
    }
    Converged {
        revision,
        state: record.state,
    }
}

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
