//! Following and steering a rollout through the scheduler's typed API, on a real nats-server
//! with real hosts: `Scheduler::watch` streams the stored record then every status event, and
//! `pause`, `resume`, `promote` and `abort` reach the scheduler driving the rollout (or are
//! refused, sending nothing, when no rollout is in progress).

use futures::StreamExt;
use lattice_client::{Client, Discover};
use lattice_host::{Host, HostConfig, HostHandle, RevisionEchoRuntime};
use lattice_local::NatsServer;
use lattice_rollout::{
    AppName, Control, FailureCode, HostProgress, HostSelector, Placement, RolloutError,
    RolloutErrorKind, RolloutEvents, RolloutOptions, RolloutRecord, RolloutStore, Scheduler,
    Strategy,
    plan::{CanaryStep, Pause},
};
use lattice_spec::{ComponentSpecDraft, LatticeName, Revision};
use lattice_status::RolloutState;
use std::{future::Future, num::NonZeroUsize, sync::Arc, time::Duration};

const BOUND: Duration = Duration::from_secs(60);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    _hosts: Vec<HostHandle>,
    dir: tempfile::TempDir,
}

impl Lattice {
    async fn start(hosts: usize) -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .unwrap();
        let lattice: LatticeName = "watch".parse().unwrap();
        let mut handles = Vec::new();
        for i in 1..=hosts {
            let nats = within(async_nats::connect(server.url())).await.unwrap();
            let config = HostConfig::new(format!("host-{i}").parse().unwrap(), lattice.clone());
            handles.push(
                within(Host::new(nats, config, Arc::new(RevisionEchoRuntime)).start())
                    .await
                    .unwrap(),
            );
        }
        Self {
            server,
            lattice,
            _hosts: handles,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A scheduler on its own connection, as another process (an operator's CLI) would have.
    async fn scheduler(&self, hosts: usize) -> Scheduler {
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        let store = within(RolloutStore::open(nats.clone(), &self.lattice, 10))
            .await
            .unwrap();
        Scheduler::new(Client::new(nats, self.lattice.clone()), store)
            .with_discovery(Discover::expecting(hosts).window(Duration::from_secs(10)))
    }

    fn app(&self, version: &str) -> Vec<Placement> {
        let path = self.dir.path().join(format!("shop-{version}.wasm"));
        std::fs::write(&path, lattice_artifact::testing::component_importing(&[])).unwrap();
        let spec = ComponentSpecDraft::new("shop", format!("file://{}", path.display()))
            .config_value("greeting", version)
            .validate()
            .unwrap();
        vec![Placement::new(spec, HostSelector::All)]
    }
}

fn app() -> AppName {
    "shop".parse().unwrap()
}

fn options(min_healthy: Duration) -> RolloutOptions {
    let mut options = RolloutOptions::default();
    options.min_healthy = min_healthy;
    options.per_host_deadline = Duration::from_secs(10);
    options.progress_deadline = Duration::from_secs(50);
    options
}

fn spawn_rollout(
    driver: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
    options: RolloutOptions,
) -> tokio::task::JoinHandle<Result<RolloutRecord, RolloutError>> {
    let driver = driver.clone();
    tokio::spawn(async move { driver.rollout(&app(), components, strategy, options).await })
}

/// The next record from `events` of revision `to` that satisfies `condition`; every event
/// must decode.
async fn next_where(
    events: &mut RolloutEvents,
    to: Revision,
    condition: impl Fn(&RolloutRecord) -> bool,
) -> RolloutRecord {
    within(async {
        loop {
            let event = events
                .next()
                .await
                .expect("the event stream goes on")
                .expect("every event decodes");
            assert_eq!(event.app, app());
            if event.rollout.plan.to == to && condition(&event.rollout) {
                return event.rollout;
            }
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_pauses_and_resumes_a_rollout_it_watches_from_another_connection() {
    let lattice = Lattice::start(2).await;
    let driver = lattice.scheduler(2).await;
    let operator = lattice.scheduler(2).await;

    // Nothing to steer yet: refused, and nothing is written for a later rollout to act on.
    let refused = within(operator.pause(&app())).await.unwrap_err();
    assert_eq!(refused.kind(), RolloutErrorKind::Nothing, "{refused}");
    assert!(
        within(operator.store().control(&app()))
            .await
            .unwrap()
            .is_none()
    );

    // One host at a time; each step's hosts stay healthy for 2 s, the window in which the
    // pause lands before the second step.
    let one_by_one = Strategy::Rolling {
        max_parallel: NonZeroUsize::new(1).unwrap(),
    };
    let mut events = within(operator.watch(&app())).await.unwrap();
    let rollout = spawn_rollout(
        &driver,
        lattice.app("1"),
        one_by_one,
        options(Duration::from_secs(2)),
    );
    let first_step = next_where(&mut events, Revision(1), |r| {
        r.hosts.values().any(|h| *h == HostProgress::Applying)
    })
    .await;
    assert_eq!(first_step.next_step, 0);
    let sent = within(operator.pause(&app())).await.unwrap();
    assert!(!sent.is_finished());

    let paused = next_where(&mut events, Revision(1), |r| {
        r.state == RolloutState::Paused
    })
    .await;
    assert_eq!(paused.next_step, 1, "paused before the second step");
    assert_eq!(
        paused
            .hosts
            .values()
            .filter(|h| **h == HostProgress::Pending)
            .count(),
        1,
        "the second host is untouched: {paused:?}"
    );

    // A watch started now begins with the stored record: the paused rollout.
    let mut late = within(operator.watch(&app())).await.unwrap();
    let stored = within(late.next()).await.unwrap().unwrap();
    assert_eq!(stored.rollout.state, RolloutState::Paused);
    assert_eq!(stored.timestamp_ms, stored.rollout.updated_ms);

    within(operator.resume(&app())).await.unwrap();
    let done = next_where(&mut events, Revision(1), RolloutRecord::is_finished).await;
    assert_eq!(done.state, RolloutState::Succeeded, "{:?}", done.failure);
    assert!(done.hosts.values().all(|h| *h == HostProgress::Running));
    assert_eq!(
        within(rollout).await.unwrap().unwrap().state,
        RolloutState::Succeeded
    );
    let (control, _) = within(operator.store().control(&app()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(control, Control::Resume);

    // Over: a command is refused.
    let refused = within(operator.resume(&app())).await.unwrap_err();
    assert!(
        matches!(refused, RolloutError::NoRollout { .. }),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_passes_a_canary_gate_and_abort_rolls_the_next_one_back() {
    let lattice = Lattice::start(1).await;
    let driver = lattice.scheduler(1).await;
    let operator = lattice.scheduler(1).await;
    let canary = || Strategy::Canary {
        steps: vec![CanaryStep::new(100, Pause::UntilPromoted)],
    };
    let mut events = within(operator.watch(&app())).await.unwrap();

    let rollout = spawn_rollout(
        &driver,
        lattice.app("1"),
        canary(),
        options(Duration::from_millis(100)),
    );
    next_where(&mut events, Revision(1), |r| {
        r.state == RolloutState::Paused
    })
    .await;
    within(operator.promote(&app())).await.unwrap();
    let done = next_where(&mut events, Revision(1), RolloutRecord::is_finished).await;
    assert_eq!(done.state, RolloutState::Succeeded, "{:?}", done.failure);
    within(rollout).await.unwrap().unwrap();

    let rollout = spawn_rollout(
        &driver,
        lattice.app("2"),
        canary(),
        options(Duration::from_millis(100)),
    );
    next_where(&mut events, Revision(2), |r| {
        r.state == RolloutState::Paused
    })
    .await;
    within(operator.abort(&app())).await.unwrap();
    let done = next_where(&mut events, Revision(2), RolloutRecord::is_finished).await;
    assert_eq!(done.state, RolloutState::Aborted, "{:?}", done.failure);
    assert_eq!(
        done.failure.as_ref().map(|f| f.code),
        Some(FailureCode::Aborted)
    );
    assert_eq!(within(rollout).await.unwrap().unwrap(), done);
}
