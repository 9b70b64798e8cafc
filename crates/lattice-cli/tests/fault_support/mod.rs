//! What every fault-matrix test shares (README, "Fault matrix"): callers that keep invoking
//! the example greeter (real WebAssembly, executed by wasmtime) through a fault and account for
//! every call, and [`assert_converged`], the end state every row must reach.
//!
//! Used by `crates/lattice-cli/tests/faults_hosts.rs` and (by path)
//! `crates/lattice-provider-keyvalue/tests/faults.rs`; it needs only the rollout engine, the
//! client and the host kit's invoker, which both crates have.

// Each test binary uses a part of this module.
#![allow(dead_code)]

use lattice_client::Client;
use lattice_ctl::HostInventory;
use lattice_host::{InvokeCallError, InvokeCallErrorKind, Invoker};
use lattice_rollout::{
    AppName, AppRevision, HostSelector, Placement, RolloutError, RolloutOptions, RolloutRecord,
    RolloutStore, Scheduler, Strategy,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LatticeName, LinkDraft, Revision};
use lattice_status::{ComponentState, LinkState, RolloutState};
use std::{
    num::NonZeroUsize,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

/// The greeter's WIT instance.
pub(crate) const GREET: &str = "lattice:greeter/greet@0.1.0";

/// How long the end state may take to settle once the fault is over (a restarted provider
/// has its links put again, a reconnected client re-subscribes).
pub(crate) const SETTLE: Duration = Duration::from_secs(20);

/// The greeter (`examples/components/greeter/{file}`) with `greeting` in its configuration and
/// its `wasi:keyvalue` link to provider `keyvalue` counting visits in `bucket`. The scheduler
/// stamps the revision.
pub(crate) fn greeter(file: &str, greeting: &str, bucket: &str) -> ComponentSpec {
    ComponentSpecDraft::new(
        "greeter",
        lattice_test_support::example_component_ref(&format!("greeter/{file}")),
    )
    .config_value("greeting", greeting)
    .link(
        LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
            .target_config_value("bucket", bucket),
    )
    .validate()
    .expect("a valid greeter spec")
}

/// The application every row rolls.
pub(crate) fn app() -> AppName {
    "greeter-app".parse().unwrap()
}

/// The rows' rollout options: short health window, 10 s per host (rolling out and back), and
/// `progress_deadline` for the whole rollout.
pub(crate) fn options(progress_deadline: Duration) -> RolloutOptions {
    let mut options = RolloutOptions::default();
    options.min_healthy = Duration::from_millis(300);
    options.per_host_deadline = Duration::from_secs(10);
    options.rollback_per_host_deadline = Duration::from_secs(10);
    options.progress_deadline = progress_deadline;
    options
}

/// Starts rolling revision 2 of [`app`] (greeter v2: another greeting, its link moved to
/// another bucket) on every host, one host at a time, under [`options`]`(progress_deadline)`.
pub(crate) fn roll_v2(
    scheduler: &Scheduler,
    progress_deadline: Duration,
) -> tokio::task::JoinHandle<Result<RolloutRecord, RolloutError>> {
    let scheduler = scheduler.clone();
    tokio::spawn(async move {
        scheduler
            .rollout(
                &app(),
                vec![Placement::new(
                    greeter("greeter-v2.wasm", "Welcome", "guests"),
                    HostSelector::All,
                )],
                Strategy::Rolling {
                    max_parallel: NonZeroUsize::new(1).unwrap(),
                },
                options(progress_deadline),
            )
            .await
    })
}

/// One failed attempt of a call.
#[derive(Debug, Clone)]
pub(crate) struct FailedAttempt {
    /// What failed.
    pub(crate) kind: InvokeCallErrorKind,
    /// The error, whole.
    pub(crate) message: String,
    /// When the attempt started, from the callers' start.
    pub(crate) started: Duration,
}

/// What became of every call the callers made.
///
/// A *call* is one greeting a caller wants answered. It is made by *attempts*, each under the
/// callers' attempt timeout, until one is answered or [`Callers::CALL_BUDGET`] has passed
/// (an at-least-once caller retries an unanswered attempt: a timeout, or a transport failure
/// such as "no responders"). A call is **lost** when no attempt was answered within the
/// budget, or an answer is not a greeting of the greeter (a component error is an answer,
/// not retried, and counts as lost); every
/// attempt that failed is kept in `failed_attempts`, so a row whose fault must not fail a
/// single call asserts that list empty, and a row whose fault drops messages in flight
/// (a killed server or host: NATS core is at-most-once) asserts no call lost.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    /// Calls answered with a greeting.
    pub(crate) answered: usize,
    /// Answers by the revision code that computed them (`v1`, `v2`).
    pub(crate) v1_answers: usize,
    /// See `v1_answers`.
    pub(crate) v2_answers: usize,
    /// Attempts that failed (each retried, or its call lost).
    pub(crate) failed_attempts: Vec<FailedAttempt>,
    /// Answers computed without the visit counter (the greeter's call to the key-value
    /// provider failed, and it answered around it).
    pub(crate) degraded: usize,
    /// The longest a call took to be answered (all its attempts).
    pub(crate) slowest: Duration,
    /// Calls never answered, with their last error.
    pub(crate) lost: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.answered += other.answered;
        self.v1_answers += other.v1_answers;
        self.v2_answers += other.v2_answers;
        self.degraded += other.degraded;
        self.slowest = self.slowest.max(other.slowest);
        self.failed_attempts.extend(other.failed_attempts);
        self.lost.extend(other.lost);
    }

    /// No call lost, and at least `min_answered` calls answered (so the callers did run
    /// through the fault).
    ///
    /// # Panics
    ///
    /// Otherwise, with the tally.
    pub(crate) fn assert_none_lost(&self, min_answered: usize) {
        assert!(self.lost.is_empty(), "calls lost: {self:#?}");
        assert!(
            self.answered >= min_answered,
            "only {} calls answered: {self:#?}",
            self.answered
        );
    }

    /// No attempt failed at all (and [`Tally::assert_none_lost`]).
    ///
    /// # Panics
    ///
    /// Otherwise, with the tally.
    pub(crate) fn assert_none_failed(&self, min_answered: usize) {
        self.assert_none_lost(min_answered);
        assert!(
            self.failed_attempts.is_empty(),
            "{} attempts failed: {self:#?}",
            self.failed_attempts.len()
        );
    }
}

impl Tally {
    /// No call lost, and every failed attempt started before `fault_ended` (on the callers'
    /// clock, [`Callers::elapsed`]): once the fault is over, not one attempt fails.
    ///
    /// For a fault that legitimately fails the calls it catches in flight — a provider frozen
    /// or killed while the greeter's call to it is in flight: that call of the greeter traps
    /// at the runtime's import timeout, and its caller sees a transport failure.
    ///
    /// # Panics
    ///
    /// Otherwise, with the tally.
    pub(crate) fn assert_failed_only_before(&self, fault_ended: Duration, min_answered: usize) {
        self.assert_none_lost(min_answered);
        let late: Vec<_> = self
            .failed_attempts
            .iter()
            .filter(|a| a.started >= fault_ended)
            .collect();
        assert!(
            late.is_empty(),
            "attempts failed after the fault ended at {fault_ended:?}: {late:#?}\n{self:#?}"
        );
    }
}

/// Callers invoking the greeter's `hello` without pause until stopped.
pub(crate) struct Callers {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Tally>>,
    started: Instant,
}

impl Callers {
    /// How long since the callers started (the clock of [`FailedAttempt::started`]).
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

impl Callers {
    /// How long one call may take, all its attempts together: above the longest stall a
    /// fault row causes (after a server restart mid-rollout, an invoker that had a call in
    /// flight at the kill may answer nothing for up to 10 s; README, "Fault matrix").
    pub(crate) const CALL_BUDGET: Duration = Duration::from_secs(20);

    /// `count` callers over `nats`, each with its own invoker (timeout `timeout` per attempt).
    pub(crate) async fn start(
        nats: &async_nats::Client,
        lattice: &LatticeName,
        count: usize,
        timeout: Duration,
    ) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for caller in 0..count {
            let invoker = Invoker::new(nats.clone(), lattice, &"greeter".parse().unwrap())
                .await
                .expect("an invoker")
                .with_timeout(timeout);
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut tally = Tally::default();
                let name = format!("caller-{caller}");
                while !stop.load(Ordering::SeqCst) {
                    call(&invoker, &name, started, &mut tally).await;
                }
                tally
            }));
        }
        Self {
            stop,
            tasks,
            started,
        }
    }

    /// Stops the callers (each finishes the call it is making) and returns the tally.
    pub(crate) async fn stop(self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut tally = Tally::default();
        for task in self.tasks {
            tally.merge(task.await.expect("a caller task"));
        }
        tally
    }
}

/// Makes one call, retrying an unanswered attempt.
async fn call(invoker: &Invoker, name: &str, started: Instant, tally: &mut Tally) {
    let mut last = String::new();
    let call_started = Instant::now();
    while call_started.elapsed() < Callers::CALL_BUDGET {
        let at = started.elapsed();
        match invoker
            .invoke::<_, (String,)>(GREET, "hello", (name.to_owned(),))
            .await
        {
            Ok((answer,)) => {
                if answer.ends_with("(greeter v1)") {
                    tally.v1_answers += 1;
                } else if answer.ends_with("(greeter v2)") {
                    tally.v2_answers += 1;
                } else {
                    tally.lost.push(format!("not a greeting: {answer}"));
                    return;
                }
                if answer.contains("unavailable") {
                    tally.degraded += 1;
                }
                tally.answered += 1;
                tally.slowest = tally.slowest.max(call_started.elapsed());
                return;
            }
            Err(error) => {
                // The error and its causes, without a backtrace.
                last = error.to_string();
                let mut source = std::error::Error::source(&error);
                while let Some(cause) = source {
                    last.push_str(&format!(": {cause}"));
                    source = cause.source();
                }
                let kind = error.kind();
                tally.failed_attempts.push(FailedAttempt {
                    kind,
                    message: last.clone(),
                    started: at,
                });
                if matches!(error, InvokeCallError::Component(_)) {
                    break;
                }
            }
        }
    }
    tally.lost.push(last);
}

/// What [`assert_converged`] found.
#[derive(Debug)]
pub(crate) struct Converged {
    /// The revision desired, stable and served everywhere.
    pub(crate) revision: Revision,
    /// The stored application revision (its specs are what the hosts serve).
    pub(crate) app_revision: AppRevision,
    /// The last rollout's record.
    pub(crate) record: RolloutRecord,
}

/// What the store and the hosts say at one moment.
#[derive(Debug)]
struct Snapshot {
    desired: Option<Revision>,
    stable: Option<Revision>,
    record: Option<RolloutRecord>,
    app_revision: Option<AppRevision>,
    /// When the desired revision is a rollback's: the stable revision it restores.
    restored: Option<AppRevision>,
    inventories: Vec<(HostId, Result<HostInventory, String>)>,
}

impl Snapshot {
    /// Why this is not converged, if it is not.
    fn divergence(&self) -> Option<String> {
        let Some(record) = &self.record else {
            return Some("no rollout stored".into());
        };
        if !matches!(
            record.state,
            RolloutState::Succeeded | RolloutState::RolledBack
        ) {
            return Some(format!("the rollout is {}", record.state));
        }
        let (Some(desired), Some(stable)) = (self.desired, self.stable) else {
            return Some("no desired or no stable revision".into());
        };
        if desired != stable {
            return Some(format!("desired {desired} != stable {stable}"));
        }
        let Some(app_revision) = &self.app_revision else {
            return Some(format!("revision {desired} is not stored"));
        };
        for (host, inventory) in &self.inventories {
            let inventory = match inventory {
                Ok(inventory) => inventory,
                Err(e) => return Some(format!("{host}: no inventory: {e}")),
            };
            for placement in &app_revision.components {
                let spec = &placement.spec;
                let Some(entry) = inventory.component(spec.id()) else {
                    return Some(format!("{host} does not have `{}`", spec.id()));
                };
                let Some(serving) = &entry.serving else {
                    return Some(format!("{host} serves no revision of `{}`", spec.id()));
                };
                // A rollback restores the stable revision's content as a new revision on the
                // hosts the failed rollout touched; a host it never reached serves on the
                // stable revision itself — the same content.
                let untouched = record
                    .hosts
                    .get(host)
                    .is_none_or(|p| *p == lattice_rollout::HostProgress::Pending);
                let restored_spec = self
                    .restored
                    .as_ref()
                    .filter(|_| untouched)
                    .and_then(|r| r.component(spec.id()).map(|p| (r.revision, &p.spec)));
                let serves_restored = restored_spec.is_some_and(|(revision, restored)| {
                    serving.revision == revision && serving.spec_digest == restored.digest()
                });
                let serves_desired =
                    serving.revision == desired && serving.spec_digest == spec.digest();
                if !(serves_desired || serves_restored)
                    || serving.status.state != ComponentState::Running
                {
                    return Some(format!(
                        "{host} serves {} ({}, {}), not revision {desired} ({})",
                        serving.revision,
                        serving.status.state,
                        serving.spec_digest,
                        spec.digest()
                    ));
                }
                if entry.desired.revision != serving.revision {
                    return Some(format!(
                        "{host} was last applied revision {} of `{}`",
                        entry.desired.revision,
                        spec.id()
                    ));
                }
                for link in &entry.links {
                    if link.status.state != LinkState::Established {
                        return Some(format!(
                            "{host}: link `{}` to `{}` is {:?}",
                            link.name, link.target, link.status
                        ));
                    }
                }
                if entry.links.len() != spec.links().len() {
                    return Some(format!(
                        "{host}: {} links, the spec has {}",
                        entry.links.len(),
                        spec.links().len()
                    ));
                }
            }
        }
        None
    }
}

async fn snapshot(
    store: &RolloutStore,
    client: &Client,
    app: &AppName,
    hosts: &[HostId],
) -> Snapshot {
    let desired = store.desired(app).await.ok().flatten();
    let stable = store.stable(app).await.ok().flatten();
    let record = store.rollout(app).await.ok().flatten().map(|(r, _)| r);
    let app_revision = match desired {
        Some(desired) => store.revision(app, desired).await.ok().flatten(),
        None => None,
    };
    let restored = match app_revision.as_ref().and_then(|r| r.restores) {
        Some(stable) => store.revision(app, stable).await.ok().flatten(),
        None => None,
    };
    let mut inventories = Vec::new();
    for host in hosts {
        let inventory = client.inventory(host).await.map_err(|e| e.to_string());
        inventories.push((host.clone(), inventory));
    }
    Snapshot {
        desired,
        stable,
        record,
        app_revision,
        restored,
        inventories,
    }
}

/// Waits (at most [`SETTLE`]) until the lattice has converged, and returns on what: the last
/// rollout of `app` ended (succeeded or rolled back), the store's desired revision is its
/// stable one, and every host of `hosts` serves exactly that revision of every component of
/// it — the same spec digest, running, last applied, with every link established. After a
/// rollback, a host the failed rollout never reached may serve the stable revision the
/// desired one restores (its own spec digest): the same content, not re-applied.
///
/// # Panics
///
/// When it has not converged within [`SETTLE`], naming the first divergence and showing
/// the last snapshot.
pub(crate) async fn assert_converged(
    store: &RolloutStore,
    client: &Client,
    app: &AppName,
    hosts: &[HostId],
) -> Converged {
    // The snapshot with the first divergence it shows, so a timeout names it.
    let (_, snapshot) = lattice_test_support::read_until(
        "convergence",
        SETTLE,
        || async {
            let snapshot = snapshot(store, client, app, hosts).await;
            (snapshot.divergence(), snapshot)
        },
        |(divergence, _)| divergence.is_none(),
        String::new,
    )
    .await;
    Converged {
        revision: snapshot.desired.expect("converged on a revision"),
        app_revision: snapshot.app_revision.expect("a stored revision"),
        record: snapshot.record.expect("a rollout"),
    }
}
