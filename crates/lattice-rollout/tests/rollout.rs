//! Rollouts across five real hosts on a real nats-server: every strategy rolls forward,
//! failures roll back everywhere, a killed scheduler is recovered, a second rollout is refused
//! and a guardrail refuses before any host is touched; a lattice mixing lattice hosts and a
//! (fake) 1.x host rolls forward and back, each host driven in the version it speaks.

#[path = "../../lattice-host/tests/support/fake_v1.rs"]
mod fake_v1;

use futures::future::BoxFuture;
use lattice_client::{Client, Discover};
use lattice_host::{Host, HostHandle, RevisionEchoRuntime};
use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal};
use lattice_provider::{LinkHandler, ProviderHandle, ProviderServer};
use lattice_rollout::{
    AppName, Control, FailureCode, HostSelector, Placement, RolloutError, RolloutOptions,
    RolloutStore, Scheduler, StoreError, Strategy, plan::CanaryStep, plan::Pause,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft, Revision};
use lattice_status::{ComponentState, RolloutState};
use lattice_test_support::NatsServer;
use std::{future::Future, num::NonZeroUsize, sync::Arc, time::Duration};

const BOUND: Duration = Duration::from_secs(60);
const KV: &str = "wasi:keyvalue/store@0.2.0";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// Refuses links whose `url` is `redis://refused`.
struct Kv;

impl LinkHandler for Kv {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            if link.target_config.get("url").map(String::as_str) == Some("redis://refused") {
                return Err(LinkRefusal {
                    kind: LinkErrorKind::ResourceUnavailable,
                    message: "connection refused by redis".into(),
                });
            }
            Ok(())
        })
    }

    fn delete_link<'a>(
        &'a self,
        _: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async { Ok(()) })
    }
}

struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    hosts: Vec<HostHandle>,
    _kv: ProviderHandle,
    dir: tempfile::TempDir,
    client: Client,
}

impl Lattice {
    async fn start(hosts: usize) -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .unwrap();
        let lattice: LatticeName = "prod".parse().unwrap();
        let mut handles = Vec::new();
        for i in 1..=hosts {
            let nats = within(async_nats::connect(server.url())).await.unwrap();
            let config = lattice_host::HostConfig::new(
                format!("host-{i}").parse().unwrap(),
                lattice.clone(),
            );
            handles.push(
                within(Host::new(nats, config, Arc::new(RevisionEchoRuntime)).start())
                    .await
                    .unwrap(),
            );
        }
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let kv = within(
            ProviderServer::new(
                nats.clone(),
                lattice.clone(),
                "kv".parse().unwrap(),
                Arc::new(Kv),
            )
            .serve(),
        )
        .await
        .unwrap();
        let client = Client::new(nats, lattice.clone());
        Self {
            server,
            lattice,
            hosts: handles,
            _kv: kv,
            dir: tempfile::tempdir().unwrap(),
            client,
        }
    }

    async fn scheduler(&self) -> Scheduler {
        self.scheduler_expecting(self.hosts.len()).await
    }

    async fn scheduler_expecting(&self, hosts: usize) -> Scheduler {
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        let store = within(RolloutStore::open(nats.clone(), &self.lattice, 10))
            .await
            .unwrap();
        let discover = Discover::expecting(hosts).window(Duration::from_secs(10));
        Scheduler::new(Client::new(nats, self.lattice.clone()), store).with_discovery(discover)
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

    /// After a rollback to `restored`: every host serves revision 1 (a host the failed step
    /// never reached) or `restored`, running.
    async fn assert_restored(&self, restored: Revision) {
        for host in &self.hosts {
            let serving = self.serving(host).await;
            assert!(
                serving.revision == Revision(1) || serving.revision == restored,
                "{}: {serving:?}",
                host.host_id()
            );
            assert_eq!(serving.status.state, ComponentState::Running);
        }
    }

    /// Every host serves `revision` or (untouched by a canary) `untouched`, running.
    async fn assert_everywhere_or(&self, revision: Revision, untouched: Revision, greeting: &str) {
        for host in &self.hosts {
            let serving = self.serving(host).await;
            assert!(
                serving.revision == revision || serving.revision == untouched,
                "{}: {serving:?}",
                host.host_id()
            );
            assert_eq!(serving.status.state, ComponentState::Running);
        }
        let invoker = within(lattice_host::Invoker::new(
            self.client.nats().clone(),
            &self.lattice,
            &"shop".parse().unwrap(),
        ))
        .await
        .unwrap();
        let answer = within(invoker.call("x")).await.unwrap();
        assert!(
            answer.starts_with(&format!("{greeting} from shop@")),
            "{answer}"
        );
    }

    /// Every host serves `revision` of `shop`, running, with greeting `greeting`.
    async fn assert_everywhere(&self, revision: Revision, greeting: &str) {
        for host in &self.hosts {
            let inventory = within(self.client.inventory(host.host_id())).await.unwrap();
            let entry = inventory
                .component(&"shop".parse().unwrap())
                .unwrap_or_else(|| panic!("{} has no shop", host.host_id()));
            let serving = entry.serving.as_ref().unwrap();
            assert_eq!(
                (serving.revision, serving.status.state),
                (revision, ComponentState::Running),
                "{}",
                host.host_id()
            );
        }
        let invoker = within(lattice_host::Invoker::new(
            self.client.nats().clone(),
            &self.lattice,
            &"shop".parse().unwrap(),
        ))
        .await
        .unwrap();
        let answer = within(invoker.call("x")).await.unwrap();
        assert_eq!(answer, format!("{greeting} from shop@{revision}: x"));
    }
}

/// Runs a rollout in the background, as a scheduler would while operators steer it.
fn spawn_rollout(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    strategy: Strategy,
    options: RolloutOptions,
) -> tokio::task::JoinHandle<Result<lattice_rollout::RolloutRecord, RolloutError>> {
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
    let lattice = Lattice::start(5).await;
    let scheduler = lattice.scheduler().await;

    let first = within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(first.state, RolloutState::Succeeded, "{:?}", first.failure);
    lattice.assert_everywhere(Revision(1), "1").await;

    let rolling = Strategy::Rolling {
        max_parallel: NonZeroUsize::new(2).unwrap(),
    };
    let second =
        within(scheduler.rollout(&app(), lattice.app("2", "redis://a"), rolling, options()))
            .await
            .unwrap();
    assert_eq!(
        second.state,
        RolloutState::Succeeded,
        "{:?}",
        second.failure
    );
    assert_eq!(second.plan.steps.len(), 3);
    lattice.assert_everywhere(Revision(2), "2").await;

    // Canary: the first step (1 of 5 hosts) waits for promotion.
    let canary = Strategy::Canary {
        steps: vec![CanaryStep::new(20, Pause::UntilPromoted)],
    };
    let running = spawn_rollout(&scheduler, lattice.app("3", "redis://a"), canary, options());
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(3) && r.state == RolloutState::Paused
    })
    .await;
    let (paused, _) = within(scheduler.store().rollout(&app()))
        .await
        .unwrap()
        .unwrap();
    let running_hosts = paused
        .hosts
        .values()
        .filter(|p| **p == lattice_rollout::HostProgress::Running)
        .count();
    assert_eq!(
        running_hosts, 1,
        "the canary step upgraded one host of five"
    );
    within(scheduler.store().send_control(&app(), Control::Promote))
        .await
        .unwrap();
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
    let guardrail =
        within(scheduler.rollout(&app(), same_address, blue_green.clone(), options())).await;
    assert!(
        matches!(guardrail, Err(RolloutError::Plan(_))),
        "the address changes from 0.0.0.0:803 to :804: {guardrail:?}"
    );
    let fourth =
        within(scheduler.rollout(&app(), lattice.app("3", "redis://b"), blue_green, options()))
            .await
            .unwrap();
    assert_eq!(
        fourth.state,
        RolloutState::Succeeded,
        "{:?}",
        fourth.failure
    );
    lattice.assert_everywhere(Revision(4), "3").await;
    assert_eq!(
        within(scheduler.store().stable(&app())).await.unwrap(),
        Some(Revision(4))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_rolls_back_everywhere_and_the_stored_desired_revision_is_the_stable_one() {
    let lattice = Lattice::start(5).await;
    let scheduler = lattice.scheduler().await;
    let first = within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(first.state, RolloutState::Succeeded);

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
    let rolling = Strategy::Rolling {
        max_parallel: NonZeroUsize::new(2).unwrap(),
    };
    let failed = within(scheduler.rollout(
        &app(),
        lattice.app("2", "redis://refused"),
        rolling,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(failed.state, RolloutState::RolledBack);
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
            let event: lattice_ctl::RolloutStatusEvent<lattice_rollout::RolloutRecord> =
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
    let refused = within(scheduler.rollout(
        &app(),
        lattice.app("missing", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await;
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
    let missing = within(unchecked.rollout(
        &app(),
        lattice.app("missing", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(missing.state, RolloutState::RolledBack);
    assert_eq!(missing.failure.unwrap().code, FailureCode::Artifact);

    // A component whose import no link covers, with pre-flight off: the hosts refuse it while
    // validating, and the rollout rolls back with the validation code.
    let path = lattice.dir.path().join("uncovered.wasm");
    std::fs::write(
        &path,
        lattice_artifact::testing::component_importing(&[KV, "wasi:http/outgoing-handler@0.2.0"]),
    )
    .unwrap();
    let uncovered = ComponentSpecDraft::new("shop", format!("file://{}", path.display()))
        .link(
            LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                .target_config_value("url", "redis://a"),
        )
        .validate()
        .unwrap();
    let invalid = within(unchecked.rollout(
        &app(),
        vec![Placement::new(uncovered, HostSelector::All)],
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(invalid.state, RolloutState::RolledBack);
    assert_eq!(invalid.failure.unwrap().code, FailureCode::Validation);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_scheduler_is_recovered_and_a_second_rollout_is_refused() {
    let lattice = Lattice::start(5).await;
    let scheduler = lattice.scheduler().await;
    within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();

    let canary = Strategy::Canary {
        steps: vec![CanaryStep::new(40, Pause::UntilPromoted)],
    };
    let first = spawn_rollout(&scheduler, lattice.app("2", "redis://a"), canary, options());
    wait_for(&scheduler, |r| r.state == RolloutState::Paused).await;

    let second = within(scheduler.rollout(
        &app(),
        lattice.app("3", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
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
    within(restarted.store().send_control(&app(), Control::Promote))
        .await
        .unwrap();
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
async fn wait_for(
    scheduler: &Scheduler,
    condition: impl Fn(&lattice_rollout::RolloutRecord) -> bool,
) {
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
    let lattice = Lattice::start(5).await;
    let scheduler = lattice.scheduler().await;
    within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();

    // Per-host deadline: far too short for an upgrade.
    let mut hurried = options();
    hurried.per_host_deadline = Duration::from_millis(1);
    let late = within(scheduler.rollout(
        &app(),
        lattice.app("2", "redis://a"),
        Strategy::AllAtOnce,
        hurried,
    ))
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
        r.hosts
            .values()
            .all(|p| *p == lattice_rollout::HostProgress::Running)
    })
    .await;
    let victim = lattice.hosts[0].host_id().clone();
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
    let lattice = Lattice::start(5).await;
    let reconcilers = Arc::new(RecordingReconcilers::default());
    let scheduler = lattice
        .scheduler()
        .await
        .with_reconcilers(reconcilers.clone());
    within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();

    // Pause after the first host of a one-at-a-time rollout, then resume.
    let mut slow = options();
    slow.min_healthy = Duration::from_millis(300);
    let one_by_one = Strategy::Rolling {
        max_parallel: NonZeroUsize::new(1).unwrap(),
    };
    let rollout = spawn_rollout(&scheduler, lattice.app("2", "redis://a"), one_by_one, slow);
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(2) && r.state == RolloutState::Progressing
    })
    .await;
    within(scheduler.store().send_control(&app(), Control::Pause))
        .await
        .unwrap();
    wait_for(&scheduler, |r| r.state == RolloutState::Paused).await;
    let (paused, _) = within(scheduler.store().rollout(&app()))
        .await
        .unwrap()
        .unwrap();
    assert!(
        paused.next_step < paused.plan.steps.len(),
        "paused before the end: {paused:?}"
    );
    within(scheduler.store().send_control(&app(), Control::Resume))
        .await
        .unwrap();
    let resumed = within(rollout).await.unwrap().unwrap();
    assert_eq!(
        resumed.state,
        RolloutState::Succeeded,
        "{:?}",
        resumed.failure
    );
    lattice.assert_everywhere(Revision(2), "2").await;

    // Abort a canary waiting for promotion: it rolls back and ends `aborted`.
    let canary = Strategy::Canary {
        steps: vec![CanaryStep::new(20, Pause::UntilPromoted)],
    };
    let rollout = spawn_rollout(&scheduler, lattice.app("3", "redis://a"), canary, options());
    wait_for(&scheduler, |r| {
        r.plan.to == Revision(3) && r.state == RolloutState::Paused
    })
    .await;
    within(scheduler.store().send_control(&app(), Control::Abort))
        .await
        .unwrap();
    let aborted = within(rollout).await.unwrap().unwrap();
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
    let path = lattice.dir.path().join("uncovered.wasm");
    std::fs::write(
        &path,
        lattice_artifact::testing::component_importing(&[KV, "wasi:http/outgoing-handler@0.2.0"]),
    )
    .unwrap();
    let spec = ComponentSpecDraft::new("shop", format!("file://{}", path.display()))
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap();
    let refused = within(scheduler.rollout(
        &app(),
        vec![Placement::new(spec, HostSelector::All)],
        Strategy::AllAtOnce,
        options(),
    ))
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
    for host in &lattice.hosts {
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
    let nats = within(async_nats::connect(lattice.server.url()))
        .await
        .unwrap();
    within(old.clone().serve(nats)).await;
    let scheduler = lattice.scheduler_expecting(3).await;
    let revision_on_old = || {
        old.component("shop")
            .and_then(|c| c.annotations)
            .and_then(|a| a.get(lattice_ctl::v1::REVISION_ANNOTATION).cloned())
    };

    let first = within(scheduler.rollout(
        &app(),
        lattice.app("1", "redis://a"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(first.state, RolloutState::Succeeded, "{:?}", first.failure);
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
    let failed = within(scheduler.rollout(
        &app(),
        lattice.app("2", "redis://refused"),
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap();
    assert_eq!(failed.state, RolloutState::RolledBack, "{failed:?}");
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
