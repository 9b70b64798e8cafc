//! A named-configuration rotation rolled out and rolled back, end to end with real parts: a
//! nats-server, the lattice's `CONFIGDATA_{lattice}` bucket, hosts running the wasmtime
//! runtime, and the example greeter component, whose greeting is what it reads from
//! `wasi:config` (the named configuration `creds` merged with the spec's inline values) —
//! so every answer below was computed by executed WebAssembly from the configuration the
//! host resolved.

use lattice_client::{ConfigBucket, ConfigBucketErrorKind};
use lattice_host::{ComponentRuntime, Invoker};
use lattice_local::LocalLattice;
use lattice_rollout::{
    AppName, FailureCode, HostProgress, HostSelector, Placement, RolloutError, RolloutErrorKind,
    RolloutOptions, RolloutRecord, RolloutStore, Scheduler, Strategy,
};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{ComponentSpecDraft, ConfigName, LinkDraft, configdata};
use lattice_status::RolloutState;
use std::{collections::BTreeMap, future::Future, sync::Arc, time::Duration};

const BOUND: Duration = Duration::from_secs(60);
const GREET: &str = "lattice:greeter/greet@0.1.0";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

fn app() -> AppName {
    "greeting".parse().unwrap()
}

fn greeting(value: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("greeting".to_owned(), value.to_owned())])
}

/// The greeter, reading its greeting from the named configuration `creds` (an inline value
/// of another key rides along, to show the merge); its visit counter is linked to the
/// in-memory key-value provider `keyvalue` (this workspace's, served in-process).
fn greeter() -> Vec<Placement> {
    let spec = ComponentSpecDraft::new(
        "greeter",
        lattice_test_support::example_component_ref("greeter/greeter-v1.wasm"),
    )
    .config_name("creds")
    .config_value("unrelated", "inline")
    .link(
        LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
            .target_config_value("bucket", "visits"),
    )
    .validate()
    .unwrap();
    vec![Placement::new(spec, HostSelector::All)]
}

struct Fixture {
    local: LocalLattice,
    scheduler: Scheduler,
    configs: ConfigBucket,
    invoker: Invoker,
    _keyvalue: lattice_provider_keyvalue::RunningProvider,
}

impl Fixture {
    async fn start() -> Self {
        let local = within(
            LocalLattice::builder()
                .lattice("rotation".parse().unwrap())
                .hosts(1)
                .runtime(|nats, lattice| {
                    Ok(Arc::new(WasmtimeRuntime::new(nats.clone(), lattice)?)
                        as Arc<dyn ComponentRuntime>)
                })
                .start(),
        )
        .await
        .unwrap();
        let keyvalue = within(lattice_provider_keyvalue::start(
            within(local.connect("keyvalue")).await.unwrap(),
            local.lattice(),
            &"keyvalue".parse().unwrap(),
        ))
        .await
        .unwrap();
        let nats = within(local.connect("scheduler")).await.unwrap();
        let store = within(RolloutStore::open(nats.clone(), local.lattice(), 10))
            .await
            .unwrap();
        let client = lattice_client::Client::new(nats.clone(), local.lattice().clone());
        let scheduler = Scheduler::new(client, store)
            .with_discovery(lattice_client::Discover::expecting(1).window(Duration::from_secs(10)));
        let configs = within(ConfigBucket::open(nats.clone(), local.lattice()))
            .await
            .unwrap();
        let invoker = within(Invoker::new(
            nats,
            local.lattice(),
            &"greeter".parse().unwrap(),
        ))
        .await
        .unwrap();
        Self {
            local,
            scheduler,
            configs,
            invoker,
            _keyvalue: keyvalue,
        }
    }

    /// The greeting the greeter (executed WebAssembly) answers with: its answer up to the
    /// visit count ("Hello, Ada! You are visitor #3. (greeter v1)" -> "Hello").
    async fn hello(&self) -> String {
        let (answer,): (String,) = within(self.invoker.invoke(GREET, "hello", ("Ada".to_owned(),)))
            .await
            .unwrap();
        assert!(answer.contains(", Ada! You are visitor #"), "{answer}");
        answer.split(", Ada!").next().unwrap().to_owned()
    }

    async fn rollout(&self, options: RolloutOptions) -> RolloutRecord {
        within(
            self.scheduler
                .rollout(&app(), greeter(), Strategy::AllAtOnce, options),
        )
        .await
        .unwrap()
    }

    /// The greeter's pin of `creds` in stored revision `revision`.
    async fn stored_pin(&self, revision: lattice_spec::Revision) -> lattice_spec::ContentDigest {
        let stored = within(self.scheduler.store().revision(&app(), revision))
            .await
            .unwrap()
            .unwrap();
        stored.components[0]
            .spec
            .config()
            .pin(&"creds".parse().unwrap())
            .cloned()
            .expect("the stored spec is pinned")
    }
}

fn options() -> RolloutOptions {
    let mut options = RolloutOptions::default();
    options.min_healthy = Duration::from_millis(100);
    options.per_host_deadline = Duration::from_secs(20);
    options.progress_deadline = Duration::from_secs(50);
    options
}

const V1: &str = "Hello";
const V2: &str = "Howdy";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rotated_configuration_rolls_out_and_a_failed_rollout_rolls_it_back() {
    let f = Fixture::start().await;
    let creds: ConfigName = "creds".parse().unwrap();

    // Revision 1 with `creds` v1.
    let v1 = within(f.configs.put(&creds, &greeting("Hello")))
        .await
        .unwrap();
    let first = f.rollout(options()).await;
    assert_eq!(first.state, RolloutState::Succeeded, "{:?}", first.failure);
    assert_eq!(f.hello().await, V1);
    assert_eq!(f.stored_pin(first.plan.to).await, v1);

    // Rotate `creds`: nothing that runs changes until a rollout pins the new content.
    let v2 = within(f.configs.put(&creds, &greeting("Howdy")))
        .await
        .unwrap();
    assert_ne!(v1, v2);
    assert_eq!(
        f.hello().await,
        V1,
        "hosts do not follow the bucket behind a rollout"
    );
    // Roll v2 out with a long bake; once the host serves it, the health gate fails (the
    // component disappears from the host) and the rollout rolls back — to v1's content,
    // although the bucket's current value of `creds` is v2.
    let mut baking = options();
    baking.min_healthy = Duration::from_secs(10);
    let scheduler = f.scheduler.clone();
    let rollout = tokio::spawn(async move {
        scheduler
            .rollout(&app(), greeter(), Strategy::AllAtOnce, baking)
            .await
    });
    within(async {
        loop {
            if let Some((record, _)) = f.scheduler.store().rollout(&app()).await.unwrap()
                && record.plan.to > first.plan.to
                && record.hosts.values().all(|p| *p == HostProgress::Running)
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert_eq!(f.hello().await, V2, "the rotated value rolled out");
    let host = f.local.hosts()[0].host_id().clone();
    within(f.local.client().delete(&host, &"greeter".parse().unwrap()))
        .await
        .unwrap();
    let failed = within(rollout).await.unwrap().unwrap();
    assert_eq!(
        failed.state,
        RolloutState::RolledBack,
        "{:?}",
        failed.failure
    );
    assert_eq!(failed.failure.unwrap().code, FailureCode::HealthGate);
    assert_eq!(f.stored_pin(failed.plan.to).await, v2);
    let restored = failed.rollback_revision.unwrap();
    assert_eq!(f.stored_pin(restored).await, v1);
    assert_eq!(f.hello().await, V1, "the rollback restored v1's content");
    assert_eq!(
        within(f.configs.get(&creds)).await.unwrap(),
        Some(greeting("Howdy")),
        "the bucket still holds v2"
    );

    // Rolled out again, v2 stays; an undo brings v1 back the same way.
    let again = f.rollout(options()).await;
    assert_eq!(again.state, RolloutState::Succeeded, "{:?}", again.failure);
    assert_eq!(f.hello().await, V2);
    let undone = within(
        f.scheduler
            .undo(&app(), None, Strategy::AllAtOnce, options()),
    )
    .await
    .unwrap();
    assert_eq!(
        undone.state,
        RolloutState::Succeeded,
        "{:?}",
        undone.failure
    );
    assert_eq!(f.hello().await, V1);
    assert_eq!(configdata::content_digest(&greeting("Hello")), v1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rollout_naming_a_missing_or_malformed_configuration_is_refused_before_any_host() {
    let f = Fixture::start().await;
    // `creds` does not exist.
    let refused = within(
        f.scheduler
            .rollout(&app(), greeter(), Strategy::AllAtOnce, options()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&refused, RolloutError::Config { name, .. } if name.as_str() == "creds"),
        "{refused:?}"
    );
    assert_eq!(
        refused.kind(),
        RolloutErrorKind::Config(ConfigBucketErrorKind::Missing)
    );
    within(
        f.configs
            .put_raw("creds", br#"{"greeting": ["Hello"]}"#.to_vec()),
    )
    .await
    .unwrap();
    let refused = within(
        f.scheduler
            .rollout(&app(), greeter(), Strategy::AllAtOnce, options()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        refused.kind(),
        RolloutErrorKind::Config(ConfigBucketErrorKind::Invalid),
        "{refused:?}"
    );
    assert_eq!(
        within(f.scheduler.store().desired(&app())).await.unwrap(),
        None,
        "nothing stored, no host touched"
    );
}
