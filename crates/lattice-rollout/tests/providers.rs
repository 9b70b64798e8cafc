//! Rollouts of an application with a capability provider and a component linked to it, on
//! two real hosts (wasmtime) and a real nats-server, with a REAL provider process: this
//! workspace's `lattice-provider-keyvalue` binary, which each host starts as a supervised
//! child from a provider spec. Forward: on each host the provider is running before the
//! component is applied (read from the hosts' status events), and the component serves
//! through it. Back: a revision that fails (a component artifact that does not exist, or a
//! provider executable that does not exist) is rolled back — providers first, then
//! components, then providers the failed revision added deleted — and the old component
//! still serves.

use futures::StreamExt;
use lattice_client::{Client, Discover};
use lattice_ctl::{ComponentStatusEvent, ProviderStatusEvent};
use lattice_host::{HostConfig, Invoker, ProviderSupervision};
use lattice_local::LocalLattice;
use lattice_rollout::{
    AppName, FailureCode, HostSelector, Placement, ProviderPlacement, RolloutOptions,
    RolloutRecord, RolloutStore, Scheduler, Strategy,
    plan::{CanaryStep, Pause},
};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{
    ComponentSpecDraft, HostId, LatticeName, LinkDraft, ProviderSpecDraft, Revision, WireMessage,
};
use lattice_status::{ComponentState, ProviderState, RolloutState};
use lattice_test_support::example_component_ref;
use std::{
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

const BOUND: Duration = Duration::from_secs(90);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// The `lattice-provider-keyvalue` executable, built by cargo next to this test's binary
/// (`CARGO_BIN_EXE_*` only names a test's own package's binaries).
fn provider_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let status = std::process::Command::new(cargo)
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "lattice-provider-keyvalue",
                    "--bin",
                    "lattice-provider-keyvalue",
                ])
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo builds lattice-provider-keyvalue");
            // target/debug/deps/providers-… -> target/debug/lattice-provider-keyvalue
            let exe = std::env::current_exe().unwrap();
            let path = exe
                .parent()
                .and_then(|deps| deps.parent())
                .unwrap()
                .join("lattice-provider-keyvalue");
            assert!(path.exists(), "{} exists", path.display());
            path
        })
        .clone()
}

fn supervision() -> ProviderSupervision {
    ProviderSupervision::default()
        .start_poll_interval(Duration::from_millis(100))
        .health_interval(Duration::from_millis(200))
        .health_timeout(Duration::from_millis(500))
        .start_timeout(Duration::from_secs(5))
        .backoff(Duration::from_millis(100), Duration::from_millis(400))
        .quick_exits(3, Duration::from_secs(5))
        .stop_timeout(Duration::from_secs(3))
}

/// One status event of a host, in the order one subscriber received them.
#[derive(Clone, Debug)]
enum Seen {
    Provider {
        host: String,
        id: String,
        state: ProviderState,
    },
    Component {
        host: String,
        id: String,
        state: ComponentState,
        revision: Revision,
    },
}

struct Lattice {
    local: LocalLattice,
    lattice: LatticeName,
    client: Client,
    events: Arc<Mutex<Vec<Seen>>>,
}

impl Lattice {
    async fn start(hosts: usize) -> Self {
        let lattice: LatticeName = "default".parse().unwrap();
        let local = within(
            LocalLattice::builder()
                .lattice(lattice.clone())
                .hosts(hosts)
                .runtime(|nats, lattice| {
                    Ok(Arc::new(WasmtimeRuntime::new(nats.clone(), lattice)?) as Arc<_>)
                })
                .configure_hosts(|config: HostConfig| {
                    config
                        .link_reply_timeout(Duration::from_secs(2))
                        .provider_supervision(supervision())
                })
                .start(),
        )
        .await
        .unwrap();
        let client = local.client().clone();
        // Every host's provider and component status events, in arrival order.
        let nats = local.nats().clone();
        let mut subscriber = nats
            .subscribe(format!("wasmbus.status.v2alpha1.{lattice}.>"))
            .await
            .unwrap();
        nats.flush().await.unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let sink = events.clone();
        tokio::spawn(async move {
            while let Some(message) = subscriber.next().await {
                let seen = if message.subject.contains(".provider.") {
                    ProviderStatusEvent::decode(&message.payload)
                        .ok()
                        .map(|e| Seen::Provider {
                            host: e.origin.host_id.to_string(),
                            id: e.provider_id.to_string(),
                            state: e.status.state,
                        })
                } else if message.subject.contains(".component.") {
                    ComponentStatusEvent::decode(&message.payload)
                        .ok()
                        .map(|e| Seen::Component {
                            host: e.origin.host_id.to_string(),
                            id: e.component_id.to_string(),
                            state: e.status.state,
                            revision: e.revision,
                        })
                } else {
                    None
                };
                if let Some(seen) = seen {
                    sink.lock().unwrap().push(seen);
                }
            }
        });
        Self {
            local,
            lattice,
            client,
            events,
        }
    }

    async fn scheduler(&self) -> Scheduler {
        let nats = within(self.local.connect("scheduler")).await.unwrap();
        let store = within(RolloutStore::open(nats.clone(), &self.lattice, 10))
            .await
            .unwrap();
        let discover =
            Discover::expecting(self.local.hosts().len()).window(Duration::from_secs(10));
        Scheduler::new(Client::new(nats, self.lattice.clone()), store).with_discovery(discover)
    }

    fn host_ids(&self) -> Vec<HostId> {
        self.local.host_ids().cloned().collect()
    }

    /// The provider's state and revision on `host`, `None` when the host does not have it.
    async fn provider(&self, host: &HostId, id: &str) -> Option<(ProviderState, Option<Revision>)> {
        within(self.client.host(host).provider(&id.parse().unwrap()))
            .await
            .unwrap()
            .map(|p| (p.status.state, p.revision))
    }

    /// The revision and state of `greeter` on `host`.
    async fn greeter(&self, host: &HostId) -> (Revision, ComponentState) {
        let inventory = within(self.client.inventory(host)).await.unwrap();
        let serving = inventory
            .component(&"greeter".parse().unwrap())
            .and_then(|c| c.serving.clone())
            .expect("greeter serves");
        (serving.revision, serving.status.state)
    }

    /// Invokes `greeter` over wRPC, as a caller in the lattice would.
    async fn hello(&self, name: &str) -> String {
        let invoker = within(Invoker::new(
            self.client.nats().clone(),
            &self.lattice,
            &"greeter".parse().unwrap(),
        ))
        .await
        .unwrap();
        let (answer,): (String,) =
            within(invoker.invoke("lattice:greeter/greet@0.1.0", "hello", (name.to_owned(),)))
                .await
                .unwrap();
        answer
    }

    fn events(&self) -> Vec<Seen> {
        self.events.lock().unwrap().clone()
    }
}

fn app() -> AppName {
    AppName::new("greetings").unwrap()
}

fn options() -> RolloutOptions {
    let mut options = RolloutOptions::default();
    options.min_healthy = Duration::from_millis(200);
    options.per_host_deadline = Duration::from_secs(20);
    options.rollback_per_host_deadline = Duration::from_secs(20);
    options.progress_deadline = Duration::from_secs(60);
    options
}

/// The keyvalue provider from `artifact`, with `generation` in its configuration.
fn keyvalue(id: &str, artifact: &str, generation: &str) -> ProviderPlacement {
    let spec = ProviderSpecDraft::new(id, format!("file://{artifact}"))
        .config_value("generation", generation)
        .validate()
        .unwrap();
    ProviderPlacement::new(spec, HostSelector::All)
}

/// The greeter component from `artifact`, linked to the `keyvalue` provider.
fn greeter(artifact: &str) -> Placement {
    let spec = ComponentSpecDraft::new("greeter", artifact)
        .config_value("greeting", "Hi")
        .link(
            LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                .target_config_value("bucket", "visits"),
        )
        .validate()
        .unwrap();
    Placement::new(spec, HostSelector::All)
}

async fn roll(
    scheduler: &Scheduler,
    components: Vec<Placement>,
    providers: Vec<ProviderPlacement>,
) -> RolloutRecord {
    within(scheduler.rollout_with_providers(
        &app(),
        components,
        providers,
        Strategy::AllAtOnce,
        options(),
    ))
    .await
    .unwrap()
}

/// Revision 1 (provider + component) rolled out on `hosts` hosts; checks the order and that
/// the component serves through the provider.
async fn revision_1_everywhere(hosts: usize) -> (Lattice, Scheduler) {
    let lattice = Lattice::start(hosts).await;
    let scheduler = lattice.scheduler().await;
    let binary = provider_binary();
    let record = roll(
        &scheduler,
        vec![greeter(&example_component_ref("greeter/greeter-v1.wasm"))],
        vec![keyvalue("keyvalue", binary.to_str().unwrap(), "1")],
    )
    .await;
    assert_eq!(
        record.state,
        RolloutState::Succeeded,
        "{:?}",
        record.failure
    );
    assert_eq!(record.plan.to, Revision(1));
    for host in lattice.host_ids() {
        assert_eq!(
            record.plan.providers.get(&host).map(Vec::len),
            Some(1),
            "{}",
            record.plan
        );
        assert_eq!(
            lattice.provider(&host, "keyvalue").await,
            Some((ProviderState::Running, Some(Revision(1))))
        );
        assert_eq!(
            lattice.greeter(&host).await,
            (Revision(1), ComponentState::Running)
        );
    }
    let answer = lattice.hello("Ada").await;
    assert!(
        answer.starts_with("Hi, Ada! You are visitor #") && answer.ends_with("(greeter v1)"),
        "{answer}"
    );
    (lattice, scheduler)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_runs_before_its_component_and_a_failed_revision_rolls_both_back() {
    let (lattice, scheduler) = revision_1_everywhere(2).await;

    // Order, per host, from the hosts' own events: the provider was running at revision 1
    // before the host saw anything of the component.
    let events = lattice.events();
    for host in lattice.host_ids() {
        let host = host.to_string();
        let running = events.iter().position(|e| {
            matches!(e, Seen::Provider { host: h, id, state: ProviderState::Running } if *h == host && id == "keyvalue")
        });
        let component = events.iter().position(
            |e| matches!(e, Seen::Component { host: h, id, .. } if *h == host && id == "greeter"),
        );
        let (Some(running), Some(component)) = (running, component) else {
            panic!("no provider running or no component event on {host}: {events:?}")
        };
        assert!(
            running < component,
            "on {host} the component was applied before its provider ran: {events:?}"
        );
    }

    // Revision 2 changes the provider's configuration, adds a second provider and names a
    // component artifact that does not exist: the providers start, the component fails on
    // the hosts, and the rollout rolls back. (Pre-flight would refuse the missing artifact
    // before touching a host; this scheduler leaves it to the hosts.)
    let binary = provider_binary();
    let binary = binary.to_str().unwrap();
    let missing = tempfile::tempdir().unwrap();
    let missing = missing.path().join("greeter-missing.wasm");
    let record = roll(
        &scheduler.clone().without_preflight(),
        vec![greeter(&format!("file://{}", missing.display()))],
        vec![
            keyvalue("keyvalue", binary, "2"),
            keyvalue("keyvalue-extra", binary, "2"),
        ],
    )
    .await;
    assert_eq!(
        record.state,
        RolloutState::RolledBack,
        "{:?}",
        record.failure
    );
    let failure = record.failure.as_ref().unwrap();
    assert_eq!(failure.code, FailureCode::Artifact, "{failure:?}");
    assert_eq!(
        failure.component.as_ref().map(|c| c.as_str()),
        Some("greeter")
    );
    let restored = record.rollback_revision.expect("a rollback revision");
    assert_eq!(restored, Revision(3));

    // The failed revision did reach the providers before the component: the provider it
    // added ran on every host, and was stopped by the rollback (its stop is asynchronous:
    // the host acknowledges the delete, then stops the process).
    let events = lattice_test_support::read_until(
        "keyvalue-extra stopped on every host",
        BOUND,
        || async { lattice.events() },
        |events| {
            lattice.host_ids().iter().all(|host| {
                events.iter().any(|e| matches!(e, Seen::Provider { host: h, id, state: ProviderState::Stopped } if *h == host.as_str() && id == "keyvalue-extra"))
            })
        },
        String::new,
    )
    .await;
    for host in lattice.host_ids() {
        let host = host.to_string();
        // Rollback order: `keyvalue` running again (restored) before the component is
        // restored, and the added provider stopped after that.
        let restoring = events
            .iter()
            .position(|e| matches!(e, Seen::Component { host: h, id, revision: Revision(3), .. } if *h == host && id == "greeter"))
            .unwrap_or_else(|| panic!("greeter not restored on {host}: {events:?}"));
        let provider_back = events[..restoring]
            .iter()
            .rposition(|e| matches!(e, Seen::Provider { host: h, id, .. } if *h == host && id == "keyvalue"))
            .unwrap();
        assert!(
            matches!(
                &events[provider_back],
                Seen::Provider {
                    state: ProviderState::Running,
                    ..
                }
            ),
            "on {host} the component was restored before its provider ran again: {events:?}"
        );
        let restored_running = events
            .iter()
            .position(|e| matches!(e, Seen::Component { host: h, id, state: ComponentState::Running, revision: Revision(3) } if *h == host && id == "greeter"))
            .unwrap();
        let extra = |state: ProviderState| {
            events.iter().position(|e| matches!(e, Seen::Provider { host: h, id, state: s } if *h == host && id == "keyvalue-extra" && *s == state))
        };
        let failed = events.iter().position(|e| matches!(e, Seen::Component { host: h, id, state: ComponentState::Failed, revision: Revision(2) } if *h == host && id == "greeter"));
        let (Some(running), Some(failed), Some(stopped)) = (
            extra(ProviderState::Running),
            failed,
            extra(ProviderState::Stopped),
        ) else {
            panic!("on {host}: {events:?}")
        };
        assert!(
            running < failed && failed < stopped,
            "on {host}: {events:?}"
        );
        assert!(restored_running < stopped, "on {host}: {events:?}");
    }

    // Every host: the provider runs the restored revision (revision 1's content), the
    // provider revision 2 added is gone, and the old component serves.
    for host in lattice.host_ids() {
        assert_eq!(
            lattice.provider(&host, "keyvalue").await,
            Some((ProviderState::Running, Some(restored))),
            "on {host}"
        );
        assert_eq!(
            lattice.provider(&host, "keyvalue-extra").await,
            None,
            "on {host}"
        );
        assert_eq!(
            lattice.greeter(&host).await,
            (restored, ComponentState::Running),
            "on {host}"
        );
    }
    let answer = lattice.hello("Grace").await;
    assert!(
        answer.starts_with("Hi, Grace! You are visitor #") && answer.ends_with("(greeter v1)"),
        "{answer}"
    );

    // The store has the providers: the restored revision holds revision 1's provider, so a
    // restarted scheduler rolls back to it too.
    let stored = within(scheduler.store().revision(&app(), restored))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.restores, Some(Revision(1)));
    let provider = stored.provider(&"keyvalue".parse().unwrap()).unwrap();
    assert_eq!(provider.spec.revision(), restored);
    assert_eq!(
        provider
            .spec
            .config()
            .values()
            .get("generation")
            .map(String::as_str),
        Some("1")
    );
    assert!(
        stored
            .provider(&"keyvalue-extra".parse().unwrap())
            .is_none()
    );
    assert_eq!(
        within(scheduler.store().stable(&app())).await.unwrap(),
        Some(restored)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_that_cannot_start_stops_the_step_before_its_component() {
    let (lattice, scheduler) = revision_1_everywhere(1).await;
    let host = lattice.host_ids().remove(0);

    // Revision 2 names a provider executable that does not exist, and a new component
    // revision: the step stops at the provider, the component's new revision never reaches
    // the host, and the rollout rolls back.
    let record = roll(
        &scheduler,
        vec![greeter(&example_component_ref("greeter/greeter-v2.wasm"))],
        vec![keyvalue(
            "keyvalue",
            "/nonexistent/lattice-provider-keyvalue",
            "2",
        )],
    )
    .await;
    assert_eq!(
        record.state,
        RolloutState::RolledBack,
        "{:?}",
        record.failure
    );
    let failure = record.failure.as_ref().unwrap();
    assert_eq!(failure.code, FailureCode::Artifact, "{failure:?}");
    assert_eq!(
        failure.provider.as_ref().map(|p| p.as_str()),
        Some("keyvalue")
    );
    assert!(
        failure
            .message
            .contains("/nonexistent/lattice-provider-keyvalue"),
        "{failure:?}"
    );
    let events = lattice.events();
    assert!(
        !events.iter().any(|e| matches!(
            e,
            Seen::Component {
                revision: Revision(2),
                ..
            }
        )),
        "the component's revision 2 reached the host: {events:?}"
    );
    let restored = record.rollback_revision.unwrap();
    assert_eq!(
        lattice.provider(&host, "keyvalue").await,
        Some((ProviderState::Running, Some(restored)))
    );
    assert_eq!(
        lattice.greeter(&host).await,
        (restored, ComponentState::Running)
    );
    let answer = lattice.hello("Ada").await;
    assert!(answer.ends_with("(greeter v1)"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_restarted_scheduler_rolls_providers_back_from_the_store() {
    let (lattice, scheduler) = revision_1_everywhere(2).await;
    let binary = provider_binary();
    let binary = binary.to_str().unwrap().to_owned();

    // Revision 2 (new provider configuration, an added provider, the greeter's v2) as a
    // canary that waits for promotion after its first host.
    let canary = Strategy::Canary {
        steps: vec![CanaryStep::new(50, Pause::UntilPromoted)],
    };
    let first = tokio::spawn({
        let scheduler = scheduler.clone();
        let binary = binary.clone();
        async move {
            scheduler
                .rollout_with_providers(
                    &app(),
                    vec![greeter(&example_component_ref("greeter/greeter-v2.wasm"))],
                    vec![
                        keyvalue("keyvalue", &binary, "2"),
                        keyvalue("keyvalue-extra", &binary, "2"),
                    ],
                    canary,
                    options(),
                )
                .await
        }
    });
    let stored = || async {
        within(scheduler.store().rollout(&app()))
            .await
            .unwrap()
            .map(|(record, _)| record)
    };
    let paused = lattice_test_support::read_until(
        "the canary paused",
        BOUND,
        stored,
        |r| {
            r.as_ref()
                .is_some_and(|r| r.plan.to == Revision(2) && r.state == RolloutState::Paused)
        },
        String::new,
    )
    .await
    .unwrap();
    let canaried = paused.plan.steps[0].hosts[0].clone();
    assert_eq!(
        lattice.provider(&canaried, "keyvalue-extra").await,
        Some((ProviderState::Running, Some(Revision(2))))
    );
    assert_eq!(
        lattice.provider(&canaried, "keyvalue").await,
        Some((ProviderState::Running, Some(Revision(2))))
    );

    // The scheduler dies; a new one, with nothing but the store, is asked to abort: it rolls
    // the canary host back, providers included.
    first.abort();
    let _ = first.await;
    let restarted = lattice.scheduler().await;
    let recovering = tokio::spawn({
        let restarted = restarted.clone();
        async move { restarted.recover(&app()).await }
    });
    within(restarted.abort(&app())).await.unwrap();
    let record = within(recovering).await.unwrap().unwrap();
    assert_eq!(record.state, RolloutState::Aborted, "{:?}", record.failure);
    let restored = record.rollback_revision.unwrap();
    assert_eq!(
        lattice.provider(&canaried, "keyvalue").await,
        Some((ProviderState::Running, Some(restored)))
    );
    lattice_test_support::read_until(
        "keyvalue-extra gone from the canary host",
        BOUND,
        || lattice.provider(&canaried, "keyvalue-extra"),
        Option::is_none,
        String::new,
    )
    .await;
    assert_eq!(
        lattice.greeter(&canaried).await,
        (restored, ComponentState::Running)
    );
    let answer = lattice.hello("Ada").await;
    assert!(answer.ends_with("(greeter v1)"), "{answer}");
}
