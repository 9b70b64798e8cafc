//! Rollouts across five real hosts on a real nats-server: every strategy rolls forward,
//! failures roll back everywhere, a killed scheduler is recovered, a second rollout is refused
//! and a guardrail refuses before any host is touched; a lattice mixing lattice hosts and a
//! (fake) 1.x host rolls forward and back, each host driven in the version it speaks.

#[path = "../../lattice-host/tests/support/fake_v1.rs"]
mod fake_v1;

use futures::future::BoxFuture;
use lattice_client::{Client, Discover};
use lattice_host::HostHandle;
use lattice_link::{LinkErrorKind, LinkRefusal};
use lattice_local::{AcceptAll, LocalLattice};
use lattice_rollout::{
    AppName, Control, FailureCode, HostProgress, HostSelector, Placement, RolloutError,
    RolloutOptions, RolloutRecord, RolloutStore, Scheduler, StoreError, Strategy, plan::CanaryStep,
    plan::Pause,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft, Revision};
use lattice_status::{ComponentState, RolloutState};
use std::{future::Future, num::NonZeroUsize, sync::Arc, time::Duration};

const BOUND: Duration = Duration::from_secs(60);
const KV: &str = "wasi:keyvalue/store@0.2.0";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// A lattice of N hosts, with a `kv` provider that refuses links whose `url` is
/// `redis://refused`.
struct Lattice {
    local: LocalLattice,
    lattice: LatticeName,
    dir: tempfile::TempDir,
    client: Client,
}

impl Lattice {
    async fn start(hosts: usize) -> Self {
        let kv = AcceptAll::new().refusing(
            "url",
            "redis://refused",
            LinkRefusal {
                kind: LinkErrorKind::ResourceUnavailable,
                message: "connection refused by redis".into(),
            },
        );
        let lattice: LatticeName = "prod".parse().unwrap();
        let local = within(
            LocalLattice::builder()
                .lattice(lattice.clone())
                .hosts(hosts)
                .provider("kv".parse().unwrap(), Arc::new(kv))
                .start(),
        )
        .await
        .unwrap();
        let client = local.client().clone().with_v1_fallback(true);
        Self {
            local,
            lattice,
            dir: tempfile::tempdir().unwrap(),
            client,
        }
    }

    async fn scheduler(&self) -> Scheduler {
        self.scheduler_expecting(self.local.hosts().len()).await
    }

    async fn scheduler_expecting(&self, hosts: usize) -> Scheduler {
        let nats = within(self.local.connect("scheduler")).await.unwrap();
        let store = within(RolloutStore::open(nats.clone(), &self.lattice, 10))
            .await
            .unwrap();
        let discover = Discover::expecting(hosts).window(Duration::from_secs(10));
        // The lattice may hold a (fake) 1.x host: the scheduler's client falls back to it.
        let client = Client::new(nats, self.lattice.clone()).with_v1_fallback(true);
        Scheduler::new(client, store).with_discovery(discover)
    }

    fn app(&self, version: &str, url: &str) -> Vec<Placement> {
        let path = self.dir.path().join(format!("shop-{version}.wasm"));
        if !path.exists() && version != "missing" {
            std::fs::write(&path, lattice_artifact::testing::component_importing(&[KV])).unwrap();
        }
        let spec: ComponentSpec =
            ComponentSpecDraft::new("shop", format!("file://{}", path.display()))
                .config_value("greeting", version)
                .link(
                    LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                        .target_config_value("url", url)
                        .target_config_value("address", format!("0.0.0.0:80{version}")),
                )
                .validate()
                .unwrap();
        vec![Placement::new(spec, HostSelector::All)]
    }

    /// The revision of `shop` that `host` serves.
    async fn serving(&self, host: &HostHandle) -> lattice_ctl::RevisionStatus {
        let inventory = within(self.client.inventory(host.host_id())).await.unwrap();
        inventory
            .component(&"shop".parse().unwrap())
            .unwrap()
            .serving
            .clone()
            .unwrap()
    }

    /// A component of `shop` importing something no link covers.
    fn uncovered(&self) -> Vec<Placement> {
        let path = self.dir.path().join("uncovered.wasm");
        std::fs::write(
            &path,
            lattice_artifact::testing::component_importing(&[
                KV,
                "wasi:http/outgoing-handler@0.2.0",
            ]),
        )
        .unwrap();
        let spec = ComponentSpecDraft::new("shop", format!("file://{}", path.display()))
            .link(
                LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                    .target_config_value("url", "redis://a"),
            )
            .validate()
            .unwrap();
        vec![Placement::new(spec, HostSelector::All)]
    }

    /// Every host serves one of `revisions` of `shop`, running.
    async fn assert_serving_one_of(&self, revisions: &[Revision]) {
        for host in self.local.hosts() {
            let serving = self.serving(host).await;
            assert!(
                revisions.contains(&serving.revision),
                "{} serves none of {revisions:?}: {serving:?}",
                host.host_id()
            );
            assert_eq!(serving.status.state, ComponentState::Running);
        }
    }

    /// After a rollback to `restored`: every host serves revision 1 (a host the failed step
    /// never reached) or `restored`, running.
    async fn assert_restored(&self, restored: Revision) {
        self.assert_serving_one_of(&[Revision(1), restored]).await;
    }

    /// Every host serves `revision` or (untouched by a canary) `untouched`, running, and
    /// `shop` answers with `greeting`.
    async fn assert_everywhere_or(&self, revision: Revision, untouched: Revision, greeting: &str) {
        self.assert_serving_one_of(&[revision, untouched]).await;
        let answer = self.call_shop("x").await;
        assert!(
            answer.starts_with(&format!("{greeting} from shop@")),
            "{answer}"
        );
    }

    /// Every host serves `revision` of `shop`, running, with greeting `greeting`.
    async fn assert_everywhere(&self, revision: Revision, greeting: &str) {
        self.assert_serving_one_of(&[revision]).await;
        let answer = self.call_shop("x").await;
        assert_eq!(answer, format!("{greeting} from shop@{revision}: x"));
    }

    /// Invokes `shop` over wRPC, as a caller in the lattice would.
    async fn call_shop(&self, payload: &str) -> String {
        let invoker = within(lattice_host::Invoker::new(
            self.client.nats().clone(),
            &self.lattice,
            &"shop".parse().unwrap(),
        ))
        .await
        .unwrap();
        within(invoker.call(payload)).await.unwrap()
    }
}

/// A lattice of `hosts` hosts whose scheduler (as `configure` makes it) rolled revision 1 of
/// `shop` out everywhere, all at once.
async fn serving_revision_1(
    hosts: usize,
    configure: impl FnOnce(Scheduler) -> Scheduler,
) -> (Lattice, Scheduler) {
    let lattice = Lattice::start(hosts).await;
    let scheduler = configure(lattice.scheduler().await);
    rolled_out(
        &scheduler,
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
    )
    .await;
    (lattice, scheduler)
}

/// Runs one rollout of `shop` to its end.
async fn rollout(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
    options: RolloutOptions,
) -> Result<RolloutRecord, RolloutError> {
    within(scheduler.rollout(&app(), components, strategy, options)).await
}

/// Runs one rollout of `shop` with the test options and asserts it ended in `state`.
async fn ended_in(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
    state: RolloutState,
) -> RolloutRecord {
    let record = rollout(scheduler, components, strategy, options())
        .await
        .unwrap();
    assert_eq!(record.state, state, "{record:?}");
    record
}

/// Runs one rollout of `shop` with the test options and asserts it succeeded.
async fn rolled_out(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
) -> RolloutRecord {
    ended_in(scheduler, components, strategy, RolloutState::Succeeded).await
}

/// Runs one rollout of `shop` with the test options; it started and rolled back.
async fn rolled_back(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
) -> RolloutRecord {
    ended_in(scheduler, components, strategy, RolloutState::RolledBack).await
}

fn rolling(max_parallel: usize) -> Strategy {
    Strategy::Rolling {
        max_parallel: NonZeroUsize::new(max_parallel).unwrap(),
    }
}

/// A canary whose one step upgrades `percent` of the hosts and waits for promotion.
fn canary(percent: u8) -> Strategy {
    Strategy::Canary {
        steps: vec![CanaryStep::new(percent, Pause::UntilPromoted)],
    }
}

/// The rollout record of `shop` as stored now.
async fn stored(scheduler: &Scheduler) -> RolloutRecord {
    within(scheduler.store().rollout(&app()))
        .await
        .unwrap()
        .expect("a rollout is stored")
        .0
}

/// Sends an operator control to the rollout of `shop`.
async fn control(scheduler: &Scheduler, control: Control) {
    within(scheduler.store().send_control(&app(), control))
        .await
        .unwrap();
}

/// Runs a rollout in the background, as a scheduler would while operators steer it.
fn spawn_rollout(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
    options: RolloutOptions,
) -> tokio::task::JoinHandle<Result<RolloutRecord, RolloutError>> {
    let scheduler = scheduler.clone();
    tokio::spawn(async move {
        scheduler
            .rollout(&app(), components, strategy, options)
            .await
    })
}

fn options() -> RolloutOptions {
    let mut options = RolloutOptions::default();
    options.min_healthy = Duration::from_millis(100);
    options.per_host_deadline = Duration::from_secs(10);
    options.progress_deadline = Duration::from_secs(50);
    options
}

fn app() -> AppName {
    "shop".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_strategy_rolls_forward_on_five_hosts() {
    let (lattice, scheduler) = serving_revision_1(5, |s| s).await;
    lattice.assert_everywhere(Revision(1), "1").await;

    let second = rolled_out(&scheduler, lattice.app("2", "redis://a"), rolling(2)).await;
    assert_eq!(second.plan.steps.len(), 3);
    lattice.assert_everywhere(Revision(2), "2").await;

    // Canary: the first step (1 of 5 hosts) waits for promotion.
    let running = spawn_rollout(
        &scheduler,
        lattice.app("3", "redis://a"),
        canary(20),
        options(),
    );
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(3) && r.state == RolloutState::Paused
    })
    .await;
    let running_hosts = stored(&scheduler)
        .await
        .hosts
        .values()
        .filter(|p| **p == HostProgress::Running)
        .count();
    assert_eq!(
        running_hosts, 1,
        "the canary step upgraded one host of five"
    );
    control(&scheduler, Control::Promote).await;
    let third = within(running).await.unwrap().unwrap();
    assert_eq!(third.state, RolloutState::Succeeded, "{:?}", third.failure);
    lattice.assert_everywhere(Revision(3), "3").await;

    let blue_green = Strategy::BlueGreen {
        keep_old_for: Some(Duration::from_millis(50)),
    };
    let mut same_address = lattice.app("4", "redis://a");
    same_address[0] = Placement::new(
        same_address[0]
            .spec
            .to_draft()
            .link(LinkDraft::new("kv2", "wasi", "blobstore", ["blobstore"]))
            .validate()
            .unwrap(),
        HostSelector::All,
    );
    let guardrail = rollout(&scheduler, same_address, blue_green.clone(), options()).await;
    assert!(
        matches!(guardrail, Err(RolloutError::Plan(_))),
        "the address changes from 0.0.0.0:803 to :804: {guardrail:?}"
    );
    rolled_out(&scheduler, lattice.app("3", "redis://b"), blue_green).await;
    lattice.assert_everywhere(Revision(4), "3").await;
    assert_eq!(
        within(scheduler.store().stable(&app())).await.unwrap(),
        Some(Revision(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_rolls_back_everywhere_and_the_stored_desired_revision_is_the_stable_one() {
    let (lattice, scheduler) = serving_revision_1(5, |s| s).await;

    // Status events follow the rollout as it goes.
    let mut events = within(
        lattice
            .client
            .nats()
            .subscribe(lattice_rollout::event_subject(&lattice.lattice, &app())),
    )
    .await
    .unwrap();

    // Link refused on every host: the first batch fails and everything touched goes back.
    let failed = rolled_back(&scheduler, lattice.app("2", "redis://refused"), rolling(2)).await;
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.code, FailureCode::LinkRefused, "{failure:?}");
    assert!(
        failure.host.is_some() && failure.component.is_some(),
        "{failure:?}"
    );
    assert_eq!(
        failure.link.as_ref().map(|(_, provider)| provider.as_str()),
        Some("kv")
    );
    assert_eq!(
        failure.reason.as_ref().unwrap().message,
        "connection refused by redis"
    );
    let mut states = Vec::new();
    within(async {
        while let Some(message) = futures::StreamExt::next(&mut events).await {
            let event: lattice_ctl::RolloutStatusEvent<RolloutRecord> =
                lattice_spec::WireMessage::decode(&message.payload).unwrap();
            let record = event.rollout;
            states.push(record.state);
            if record.state == RolloutState::RolledBack {
                return;
            }
        }
    })
    .await;
    assert!(
        states.contains(&RolloutState::Progressing) && states.contains(&RolloutState::RollingBack),
        "{states:?}"
    );
    let restored = failed.rollback_revision.unwrap();
    let stored = within(scheduler.store().revision(&app(), restored))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.restores, Some(Revision(1)));
    assert_eq!(
        within(scheduler.store().desired(&app())).await.unwrap(),
        Some(restored)
    );
    // Hosts the failed batch never reached were not touched: they still serve revision 1.
    lattice.assert_restored(restored).await;

    // A missing artifact is refused by pre-flight, before any host is touched …
    let missing = || lattice.app("missing", "redis://a");
    let refused = rollout(&scheduler, missing(), Strategy::AllAtOnce, options()).await;
    assert!(
        matches!(refused, Err(RolloutError::Preflight { .. })),
        "{refused:?}"
    );
    assert_eq!(
        within(scheduler.store().desired(&app())).await.unwrap(),
        Some(restored),
        "nothing stored"
    );
    // … and, with pre-flight off, fails on the hosts and is rolled back with the artifact code.
    let unchecked = scheduler.clone().without_preflight();
    let missing = rolled_back(&unchecked, missing(), Strategy::AllAtOnce).await;
    assert_eq!(missing.failure.unwrap().code, FailureCode::Artifact);

    // A component whose import no link covers, with pre-flight off: the hosts refuse it while
    // validating, and the rollout rolls back with the validation code.
    let invalid = rolled_back(&unchecked, lattice.uncovered(), Strategy::AllAtOnce).await;
    assert_eq!(invalid.failure.unwrap().code, FailureCode::Validation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_scheduler_is_recovered_and_a_second_rollout_is_refused() {
    let (lattice, scheduler) = serving_revision_1(5, |s| s).await;

    let first = spawn_rollout(
        &scheduler,
        lattice.app("2", "redis://a"),
        canary(40),
        options(),
    );
    wait_for(&scheduler, |r| r.state == RolloutState::Paused).await;

    let second = rollout(
        &scheduler,
        lattice.app("3", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    )
    .await;
    assert!(
        matches!(
            second,
            Err(RolloutError::Store(StoreError::Conflict { .. }))
        ),
        "{second:?}"
    );

    // The scheduler dies while the canary waits; a new one picks up from the store.
    first.abort();
    let _ = first.await;
    let restarted = lattice.scheduler().await;
    let recovering = tokio::spawn({
        let restarted = restarted.clone();
        async move { restarted.recover(&app()).await }
    });
    control(&restarted, Control::Promote).await;
    let finished = within(recovering).await.unwrap().unwrap();
    assert_eq!(
        finished.state,
        RolloutState::Succeeded,
        "{:?}",
        finished.failure
    );
    lattice.assert_everywhere(Revision(2), "2").await;
}

/// Records what the scheduler asked of the reconcilers.
#[derive(Default)]
struct RecordingReconcilers {
    calls: std::sync::Mutex<Vec<String>>,
}

impl lattice_rollout::Reconcilers for RecordingReconcilers {
    fn suspend<'a>(&'a self, app: &'a AppName) -> BoxFuture<'a, ()> {
        Box::pin(async move { self.calls.lock().unwrap().push(format!("suspend {app}")) })
    }

    fn resume<'a>(&'a self, app: &'a AppName, revision: Revision) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("resume {app} at {revision}"))
        })
    }
}

/// Waits until the stored rollout record satisfies `condition`.
async fn wait_for(scheduler: &Scheduler, condition: impl Fn(&RolloutRecord) -> bool) {
    within(async {
        loop {
            if let Some((record, _)) = scheduler.store().rollout(&app()).await.unwrap()
                && condition(&record)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_and_health_gate_failures_roll_back_everywhere() {
    let (lattice, scheduler) = serving_revision_1(5, |s| s).await;

    // Per-host deadline: far too short for an upgrade.
    let mut hurried = options();
    hurried.per_host_deadline = Duration::from_millis(1);
    let late = rollout(
        &scheduler,
        lattice.app("2", "redis://a"),
        Strategy::AllAtOnce,
        hurried,
    )
    .await
    .unwrap();
    assert_eq!(late.state, RolloutState::RolledBack);
    assert_eq!(late.failure.as_ref().unwrap().code, FailureCode::Deadline);
    let restored = late.rollback_revision.unwrap();
    lattice.assert_everywhere(restored, "1").await;

    // Health gate: a host loses the component while the step bakes.
    let mut baking = options();
    baking.min_healthy = Duration::from_secs(2);
    let rollout = spawn_rollout(
        &scheduler,
        lattice.app("3", "redis://a"),
        Strategy::AllAtOnce,
        baking,
    );
    wait_for(&scheduler, |r| {
        r.hosts.values().all(|p| *p == HostProgress::Running)
    })
    .await;
    let victim = lattice.local.hosts()[0].host_id().clone();
    within(lattice.client.delete(&victim, &"shop".parse().unwrap()))
        .await
        .unwrap();
    let gated = within(rollout).await.unwrap().unwrap();
    assert_eq!(gated.state, RolloutState::RolledBack, "{:?}", gated.failure);
    let failure = gated.failure.unwrap();
    assert_eq!(
        (failure.code, failure.host),
        (FailureCode::HealthGate, Some(victim))
    );
    lattice
        .assert_everywhere(gated.rollback_revision.unwrap(), "1")
        .await;
    assert_eq!(
        within(scheduler.store().desired(&app())).await.unwrap(),
        gated.rollback_revision,
        "the stored desired revision is the restored stable one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_pause_resume_and_abort_and_reconcilers_are_suspended_around_it() {
    let reconcilers = Arc::new(RecordingReconcilers::default());
    let (lattice, scheduler) =
        serving_revision_1(5, |s| s.with_reconcilers(reconcilers.clone())).await;

    // Pause after the first host of a one-at-a-time rollout, then resume.
    let mut slow = options();
    slow.min_healthy = Duration::from_millis(300);
    let running = spawn_rollout(&scheduler, lattice.app("2", "redis://a"), rolling(1), slow);
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(2) && r.state == RolloutState::Progressing
    })
    .await;
    control(&scheduler, Control::Pause).await;
    wait_for(&scheduler, |r| r.state == RolloutState::Paused).await;
    let paused = stored(&scheduler).await;
    assert!(
        paused.next_step < paused.plan.steps.len(),
        "paused before the end: {paused:?}"
    );
    control(&scheduler, Control::Resume).await;
    let resumed = within(running).await.unwrap().unwrap();
    assert_eq!(
        resumed.state,
        RolloutState::Succeeded,
        "{:?}",
        resumed.failure
    );
    lattice.assert_everywhere(Revision(2), "2").await;

    // Abort a canary waiting for promotion: it rolls back and ends `aborted`.
    let running = spawn_rollout(
        &scheduler,
        lattice.app("3", "redis://a"),
        canary(20),
        options(),
    );
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(3) && r.state == RolloutState::Paused
    })
    .await;
    control(&scheduler, Control::Abort).await;
    let aborted = within(running).await.unwrap().unwrap();
    assert_eq!(aborted.state, RolloutState::Aborted);
    assert_eq!(aborted.failure.as_ref().unwrap().code, FailureCode::Aborted);
    let restored = aborted.rollback_revision.unwrap();
    lattice
        .assert_everywhere_or(restored, Revision(2), "2")
        .await;

    let calls = reconcilers.calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        [
            "suspend shop",
            "resume shop at 1",
            "suspend shop",
            "resume shop at 2",
            "suspend shop",
            &format!("resume shop at {restored}")
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_refuses_a_component_whose_imports_no_link_covers() {
    let lattice = Lattice::start(5).await;
    let scheduler = lattice.scheduler().await;
    let refused = rollout(
        &scheduler,
        lattice.uncovered(),
        Strategy::AllAtOnce,
        options(),
    )
    .await;
    let Err(RolloutError::Preflight { component, source }) = refused else {
        panic!("{refused:?}")
    };
    let message = source.to_string();
    assert_eq!(component, "shop");
    assert!(message.contains("wasi:http/outgoing-handler"), "{message}");
    assert!(
        within(scheduler.store().revisions(&app()))
            .await
            .unwrap()
            .is_empty(),
        "nothing stored"
    );
    for host in lattice.local.hosts() {
        assert!(
            within(lattice.client.inventory(host.host_id()))
                .await
                .unwrap()
                .components
                .is_empty(),
            "no host touched"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_lattice_rolls_forward_and_back_each_host_in_the_version_it_speaks() {
    let lattice = Lattice::start(2).await;
    // A host that speaks only wasmCloud 1.x. It is a fake (see fake_v1.rs): it shows how the
    // scheduler drives and follows a 1.x host, not what a real one does.
    let old = fake_v1::FakeV1Host::new("NOLDHOST", "prod");
    let nats = within(lattice.local.connect("test")).await.unwrap();
    within(old.clone().serve(nats)).await;
    let scheduler = lattice.scheduler_expecting(3).await;
    let revision_on_old = || {
        old.component("shop")
            .and_then(|c| c.annotations)
            .and_then(|a| a.get(lattice_ctl::v1::REVISION_ANNOTATION).cloned())
    };

    let first = rolled_out(
        &scheduler,
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
    )
    .await;
    assert_eq!(first.hosts.len(), 3, "{:?}", first.hosts);
    lattice.assert_everywhere(Revision(1), "1").await;
    // The 1.x host got 1.x operations: the link and the component at revision 1.
    assert_eq!(revision_on_old().as_deref(), Some("1"));
    assert!(
        old.operations
            .lock()
            .unwrap()
            .iter()
            .any(|op| op.starts_with("link.put {\"source_id\":\"shop\",\"target\":\"kv\"")),
        "{:?}",
        old.operations.lock().unwrap()
    );

    // Revision 2's link is refused by the provider on the lattice hosts (the fake 1.x host
    // accepts anything, as 1.x hosts do not wait for providers): the rollout fails and every
    // host — the 1.x one included — is restored.
    let failed = rolled_back(
        &scheduler,
        lattice.app("2", "redis://refused"),
        Strategy::AllAtOnce,
    )
    .await;
    assert_eq!(
        failed.failure.as_ref().unwrap().code,
        FailureCode::LinkRefused
    );
    let restored = failed.rollback_revision.unwrap();
    assert_eq!(
        revision_on_old().as_deref(),
        Some(restored.to_string().as_str()),
        "the 1.x host was not rolled back"
    );
    lattice.assert_restored(restored).await;
}

/// The `updated_ms` of the first rollout event to revision `to` with every host `wanted`, in
/// `progressing`.
async fn stamp_when(
    events: &mut async_nats::Subscriber,
    to: Revision,
    wanted: HostProgress,
) -> u64 {
    within(async {
        while let Some(message) = futures::StreamExt::next(events).await {
            let event: lattice_ctl::RolloutStatusEvent<RolloutRecord> =
                lattice_spec::WireMessage::decode(&message.payload).unwrap();
            let record = event.rollout;
            if record.plan.to == to && record.hosts.values().all(|p| *p == wanted) {
                assert_eq!(record.state, RolloutState::Progressing);
                return record.updated_ms;
            }
        }
        panic!("the events ended")
    })
    .await
}

/// Takes `host`'s place on its control subjects and answers nothing: a host that stopped
/// answering without its subscriptions going away (requests time out, not `no responders`).
async fn black_hole(lattice: &Lattice, host: &lattice_spec::HostId) -> async_nats::Subscriber {
    let nats = within(lattice.local.connect("black-hole")).await.unwrap();
    let subject = format!("{}.{}.*.*.{host}", lattice_ctl::CTL_PREFIX, lattice.lattice);
    let subscriber = within(nats.subscribe(subject)).await.unwrap();
    within(nats.flush()).await.unwrap();
    subscriber
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_that_cannot_be_restored_holds_back_no_other_and_a_crashed_rollback_recovers() {
    // Four hosts of the lattice and one more this test owns, so it can stop it.
    let lattice = Lattice::start(4).await;
    // `host-0` sorts first: a rollback that went host after host would wait on it first.
    let stuck_id: lattice_spec::HostId = "host-0".parse().unwrap();
    let config = || lattice_host::HostConfig::new(stuck_id.clone(), lattice.lattice.clone());
    let stuck = within(lattice.local.start_host(config())).await.unwrap();
    let scheduler = lattice.scheduler_expecting(5).await;
    rolled_out(
        &scheduler,
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
    )
    .await;

    // Revision 2 runs everywhere, then `host-0` stops answering while the step bakes: the
    // health gate fails and the rollback starts. Its deadline per host is long: the others
    // must be restored while `host-0` is still out.
    let mut events = within(
        lattice
            .client
            .nats()
            .subscribe(lattice_rollout::event_subject(&lattice.lattice, &app())),
    )
    .await
    .unwrap();
    let mut baking = options();
    baking.min_healthy = Duration::from_secs(2);
    baking.rollback_per_host_deadline = Duration::from_secs(30);
    let running = spawn_rollout(
        &scheduler,
        lattice.app("2", "redis://a"),
        Strategy::AllAtOnce,
        baking,
    );
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(2)
            && r.hosts.len() == 5
            && r.hosts.values().all(|p| *p == HostProgress::Running)
    })
    .await;
    within(stuck.shutdown(Duration::from_secs(5))).await;
    let hole = black_hole(&lattice, &stuck_id).await;
    let others_back = |r: &RolloutRecord| {
        r.state == RolloutState::RollingBack
            && r.hosts
                .iter()
                .filter(|(h, _)| **h != stuck_id)
                .all(|(_, p)| *p == HostProgress::RolledBack)
    };
    wait_for(&scheduler, others_back).await;
    let midway = stored(&scheduler).await;
    assert_eq!(
        (midway.hosts[&stuck_id], midway.rollback_failures.len()),
        (HostProgress::Running, 0),
        "host-0 is still out (neither restored nor given up) while the others are back: {midway:?}"
    );

    // Every stored record is stamped: the step's hosts running is later than them applying,
    // within the one state (`progressing`).
    let applying_at = stamp_when(&mut events, Revision(2), HostProgress::Applying).await;
    let running_at = stamp_when(&mut events, Revision(2), HostProgress::Running).await;
    assert!(running_at > applying_at, "{running_at} > {applying_at}");

    // The scheduler dies mid-rollback. `host-0` comes back (empty); another scheduler
    // recovers the rollback and restores it too.
    running.abort();
    let _ = running.await;
    drop(hole);
    let _back = within(lattice.local.start_host(config())).await.unwrap();
    let restarted = lattice.scheduler_expecting(5).await;
    let recovered = within(restarted.recover(&app())).await.unwrap();
    assert_eq!(recovered.state, RolloutState::RolledBack, "{recovered:?}");
    assert!(recovered.rollback_failures.is_empty(), "{recovered:?}");
    assert!(
        recovered
            .hosts
            .values()
            .all(|p| *p == HostProgress::RolledBack),
        "{:?}",
        recovered.hosts
    );
    let restored = recovered.rollback_revision.unwrap();
    for host in lattice.local.host_ids().chain([&stuck_id]) {
        let inventory = within(lattice.client.inventory(host)).await.unwrap();
        let serving = inventory
            .component(&"shop".parse().unwrap())
            .and_then(|c| c.serving.clone())
            .unwrap_or_else(|| panic!("{host} serves nothing"));
        assert_eq!(serving.revision, restored, "{host}");
    }

    // Again, with a short rollback deadline: `host-0` cannot be restored in time and the
    // record says so, with why; every other host is restored.
    let mut hurried = options();
    hurried.min_healthy = Duration::from_secs(2);
    hurried.rollback_per_host_deadline = Duration::from_secs(1);
    let running = spawn_rollout(
        &restarted,
        lattice.app("3", "redis://a"),
        Strategy::AllAtOnce,
        hurried,
    );
    wait_for(&restarted, |r| {
        r.plan.to > restored && r.hosts.values().all(|p| *p == HostProgress::Running)
    })
    .await;
    within(_back.shutdown(Duration::from_secs(5))).await;
    let _hole = black_hole(&lattice, &stuck_id).await;
    let failed = within(running).await.unwrap().unwrap();
    assert_eq!(failed.state, RolloutState::Failed, "{failed:?}");
    assert_eq!(
        failed.failure.as_ref().unwrap().code,
        FailureCode::HealthGate
    );
    assert_eq!(failed.host_failures.len(), 1, "{:?}", failed.host_failures);
    assert_eq!(
        failed.host_failures[0].hosts,
        std::slice::from_ref(&stuck_id)
    );
    assert_eq!(
        failed.rollback_failures.len(),
        1,
        "{:?}",
        failed.rollback_failures
    );
    let not_restored = &failed.rollback_failures[0];
    assert_eq!(not_restored.code, FailureCode::Deadline, "{not_restored:?}");
    assert_eq!(not_restored.hosts, std::slice::from_ref(&stuck_id));
    for (host, progress) in &failed.hosts {
        if *host != stuck_id {
            assert_eq!(*progress, HostProgress::RolledBack, "{host}");
        }
    }
}
