//! Deadlines inside the host: each bounded step of an apply fails with its own reason while
//! the old revision keeps answering, the apply lock is released for the next apply, a newer
//! apply supersedes one stuck in fetch, and changed links to silent providers are replaced
//! concurrently inside the pause.
//!
//! Real parts: the lattice's own nats-server, the host kit, the typed client, wRPC
//! invocations; the hung fetch is a real OCI registry URL pointing at a TCP listener the test
//! owns that accepts connections and never answers. Where no real part hangs on demand, the
//! test says so and uses a **fake**: `FakeHangingValidator` (a validation that blocks),
//! `FakeHangingRuntime` (an instantiate that never completes, an invocation the test holds
//! to keep the drain waiting); both delegate everything else to the real
//! `WasmComponentValidator` and `RevisionEchoRuntime`.

mod support;

use futures::StreamExt as _;
use lattice_artifact::{ComponentValidator, ValidatedComponent, WasmComponentValidator};
use lattice_client::{StatusEvent, WaitError};
use lattice_host::{
    ComponentInstance, ComponentRuntime, ExportedFunction, HostDeadlines, HostHandle, Invocation,
    RevisionEchoRuntime, RuntimeError, StaticConfigStore,
};
use lattice_local::LocalLattice;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LinkDraft, Revision};
use lattice_status::{ComponentState, ReasonCode, StatusReason};
use std::{
    collections::BTreeMap,
    sync::{
        Arc, Condvar, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst},
    },
    time::Duration,
};
use support::{Call, Lattice, Recorded as _, within};

const KV: &str = "wasi:keyvalue/store@0.2.0-draft";
/// Small bounds: each test waits one of them out.
const SHORT: Duration = Duration::from_millis(300);

fn spec(artifact: String, revision: u64, url: &str) -> ComponentSpec {
    ComponentSpecDraft::new("web", artifact)
        .revision(revision)
        .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]).target_config_value("url", url))
        .validate()
        .unwrap()
}

fn host_id() -> HostId {
    "host-a".parse().unwrap()
}

async fn failed_reason(lattice: &Lattice, spec: &ComponentSpec) -> StatusReason {
    match lattice.apply_and_wait(&host_id(), spec).await {
        Err(WaitError::Failed { reason, .. }) => reason,
        other => panic!("expected a failure, got {other:?}"),
    }
}

async fn answer(lattice: &Lattice, payload: &str) -> String {
    within(lattice.invoker("web").await.call(payload))
        .await
        .unwrap()
}

/// Revision 1 of `web` serves on `host`; asserts it still does, with its link as it was.
fn assert_v1_serving(host: &HostHandle) {
    let inventory = host.inventory();
    let entry = inventory.component(&"web".parse().unwrap()).unwrap();
    assert!(entry.is_serving(Revision(1)), "{entry:?}");
    assert_eq!(entry.links.len(), 1, "{:?}", entry.links);
}

/// A TCP listener standing in for an OCI registry that accepts connections and never answers.
struct HangingRegistry {
    address: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HangingRegistry {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = accepted.clone();
        let task = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                counted.fetch_add(1, SeqCst);
                open.push(socket); // held open, never read from or written to
            }
        });
        Self {
            address,
            accepted,
            task,
        }
    }

    /// An OCI reference on this registry (loopback: pulled over plain HTTP).
    fn reference(&self, tag: &str) -> String {
        format!("{}/acme/web:{tag}", self.address)
    }
}

impl Drop for HangingRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_fetch_fails_with_fetch_timeout_and_the_next_apply_proceeds() {
    let lattice = Lattice::start().await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host = lattice
        .host_with(
            lattice
                .config("host-a")
                .deadlines(HostDeadlines::default().with_fetch(SHORT)),
        )
        .await;
    let v1 = spec(lattice.component("v1", &[KV]), 1, "redis://one");
    lattice.apply_and_wait(&host_id(), &v1).await.unwrap();
    let registry = HangingRegistry::start().await;

    let hung = spec(registry.reference("2"), 2, "redis://two");
    let reason = failed_reason(&lattice, &hung).await;
    assert_eq!(reason.code, ReasonCode::FetchTimeout, "{reason}");
    assert!(
        reason.message.contains("HostDeadlines::fetch") && reason.message.contains("acme/web"),
        "names the artifact and the setting: {reason}"
    );
    assert!(
        registry.accepted.load(SeqCst) >= 1,
        "the fetch reached the registry"
    );
    assert_eq!(answer(&lattice, "x").await, "hello from web@1: x");
    assert_v1_serving(&host);
    assert_eq!(
        kv.recorded().len(),
        1,
        "no link touched: {:?}",
        kv.recorded()
    );

    // The apply lock was released: the next apply (a rollback's, say) runs to the end.
    let v3 = spec(lattice.component("v3", &[KV]), 3, "redis://three");
    let report = lattice.apply_and_wait(&host_id(), &v3).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    assert_eq!(answer(&lattice, "y").await, "hello from web@3: y");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_newer_apply_supersedes_one_stuck_in_fetch_at_once() {
    let lattice = Lattice::start().await;
    let _kv = lattice.provider("kv").await;
    // The default fetch bound (90 s) is far beyond every wait here: only the supersede can
    // end the stuck apply in time.
    let host = lattice.host("host-a").await;
    let v1 = spec(lattice.component("v1", &[KV]), 1, "redis://one");
    lattice.apply_and_wait(&host_id(), &v1).await.unwrap();
    let registry = HangingRegistry::start().await;
    let mut events = lattice.component_events(v1.id()).await;

    let hung = spec(registry.reference("2"), 2, "redis://two");
    let stuck = tokio::spawn({
        let (client, hung) = (lattice.client.clone(), hung.clone());
        async move {
            client
                .apply_and_wait(&host_id(), &hung, Duration::from_secs(60))
                .await
        }
    });
    let mut order = Vec::new();
    within(async {
        while let Some(event) = events.next().await {
            if let Ok(StatusEvent::Component(event)) = event {
                order.push((event.revision.0, event.status.state));
                if event.revision.0 == 2 && event.status.state == ComponentState::Fetching {
                    return;
                }
            }
        }
    })
    .await;

    let v3 = spec(lattice.component("v3", &[KV]), 3, "redis://three");
    let report = lattice.apply_and_wait(&host_id(), &v3).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    assert_eq!(answer(&lattice, "z").await, "hello from web@3: z");

    match within(stuck).await.unwrap() {
        Err(WaitError::Failed { reason, .. }) => {
            assert_eq!(reason.code, ReasonCode::Superseded, "{reason}");
        }
        other => panic!("expected the stuck apply to be superseded, got {other:?}"),
    }
    // The host's own event: revision 2 failed, superseded while fetching, before revision 3
    // started: it gave the lock up at once.
    let mut superseded = None;
    within(async {
        while let Some(event) = events.next().await {
            if let Ok(StatusEvent::Component(event)) = event {
                order.push((event.revision.0, event.status.state));
                if (event.revision.0, event.status.state) == (2, ComponentState::Failed) {
                    superseded = event.status.reason.clone();
                }
                if event.revision.0 == 3 && event.status.state == ComponentState::Running {
                    return;
                }
            }
        }
    })
    .await;
    let reason = superseded.expect("revision 2's failure event");
    assert_eq!(reason.code, ReasonCode::Superseded, "{reason}");
    assert!(reason.message.contains("fetching"), "{reason}");
    let failed_2 = order
        .iter()
        .position(|e| *e == (2, ComponentState::Failed))
        .unwrap_or_else(|| panic!("revision 2 failed: {order:?}"));
    let fetching_3 = order
        .iter()
        .position(|e| *e == (3, ComponentState::Fetching))
        .unwrap_or_else(|| panic!("revision 3 was fetched: {order:?}"));
    assert!(failed_2 < fetching_3, "{order:?}");
    assert!(
        host.inventory()
            .component(v1.id())
            .unwrap()
            .is_serving(Revision(3))
    );
}

/// Blocks whoever waits until released (or dropped).
#[derive(Default)]
struct Hold {
    released: Mutex<bool>,
    wake: Condvar,
}

impl Hold {
    fn wait(&self) {
        let mut released = self.released.lock().unwrap();
        while !*released {
            released = self.wake.wait(released).unwrap();
        }
    }

    fn release(&self) {
        *self.released.lock().unwrap() = true;
        self.wake.notify_all();
    }
}

/// **Fake**: a validation of an artifact whose path contains `hang-validate` blocks (on its
/// blocking thread) until the test releases it; every other artifact is validated by the
/// real `WasmComponentValidator`.
struct FakeHangingValidator {
    real: WasmComponentValidator,
    hold: Arc<Hold>,
}

impl ComponentValidator for FakeHangingValidator {
    fn validate(
        &self,
        bytes: &[u8],
        spec: &ComponentSpec,
    ) -> Result<ValidatedComponent, lattice_artifact::ValidationError> {
        if spec.artifact().as_str().contains("hang-validate") {
            self.hold.wait();
        }
        self.real.validate(bytes, spec)
    }
}

/// **Fake**: an instantiate of an artifact whose path contains `hang-instantiate` never
/// completes; after [`FakeHangingRuntime::hold_next_invocation`], the next invocation waits
/// for [`FakeHangingRuntime::release`] before the real `RevisionEchoRuntime` instance serves
/// it. Everything else is the real `RevisionEchoRuntime`.
struct FakeHangingRuntime {
    hold_next: AtomicBool,
    held: tokio::sync::watch::Sender<usize>,
    release: tokio::sync::Semaphore,
}

impl Default for FakeHangingRuntime {
    fn default() -> Self {
        Self {
            hold_next: AtomicBool::new(false),
            held: tokio::sync::watch::channel(0).0,
            release: tokio::sync::Semaphore::new(0),
        }
    }
}

impl FakeHangingRuntime {
    fn hold_next_invocation(&self) {
        self.hold_next.store(true, SeqCst);
    }

    /// Resolves once an invocation is being held.
    async fn holding(&self) {
        let mut held = self.held.subscribe();
        held.wait_for(|held| *held > 0).await.unwrap();
    }

    fn release(&self) {
        self.release.add_permits(1);
    }
}

struct FakeInstance {
    real: Arc<dyn ComponentInstance>,
    runtime: Arc<FakeHangingRuntime>,
}

impl ComponentInstance for FakeInstance {
    fn revision(&self) -> Revision {
        self.real.revision()
    }

    fn exports(&self) -> &[ExportedFunction] {
        self.real.exports()
    }

    fn invoke(
        &self,
        invocation: Invocation,
    ) -> futures::future::BoxFuture<'_, Result<(), RuntimeError>> {
        Box::pin(async move {
            if self.runtime.hold_next.swap(false, SeqCst) {
                self.runtime.held.send_modify(|held| *held += 1);
                self.runtime.release.acquire().await.unwrap().forget();
            }
            self.real.invoke(invocation).await
        })
    }
}

struct FakeRuntimeHandle(Arc<FakeHangingRuntime>);

impl ComponentRuntime for FakeRuntimeHandle {
    fn instantiate<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        component: &'a ValidatedComponent,
        bytes: bytes::Bytes,
        config: &'a BTreeMap<String, String>,
    ) -> futures::future::BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        Box::pin(async move {
            if spec.artifact().as_str().contains("hang-instantiate") {
                std::future::pending::<()>().await;
            }
            let real = RevisionEchoRuntime
                .instantiate(spec, component, bytes, config)
                .await?;
            Ok(Arc::new(FakeInstance {
                real,
                runtime: self.0.clone(),
            }) as Arc<dyn ComponentInstance>)
        })
    }
}

/// A lattice whose hosts use the fakes above.
async fn lattice_with_fakes(hold: Arc<Hold>, runtime: Arc<FakeHangingRuntime>) -> Lattice {
    let configs = StaticConfigStore::default();
    let store = configs.clone();
    let local = within(
        LocalLattice::builder()
            .lattice("test".parse().unwrap())
            .runtime(move |_, _| {
                Ok(Arc::new(FakeRuntimeHandle(runtime.clone())) as Arc<dyn ComponentRuntime>)
            })
            .setup_hosts(move |host| {
                host.config_store(Arc::new(store.clone()))
                    .validator(Arc::new(FakeHangingValidator {
                        real: WasmComponentValidator::new(),
                        hold: hold.clone(),
                    }))
            })
            .start(),
    )
    .await
    .expect("nats-server");
    Lattice {
        nats: local.nats().clone(),
        client: local.client().clone().with_timeout(Duration::from_secs(5)),
        lattice: local.lattice().clone(),
        local,
        dir: tempfile::tempdir().unwrap(),
        configs,
    }
}

/// Releases the fake validation however the test ends, so no blocking thread outlives it.
struct ReleaseOnDrop(Arc<Hold>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_validate_or_instantiate_fails_with_its_timeout_while_the_old_revision_answers() {
    let hold = Arc::new(Hold::default());
    let _release = ReleaseOnDrop(hold.clone());
    let runtime = Arc::new(FakeHangingRuntime::default());
    let lattice = lattice_with_fakes(hold.clone(), runtime).await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host = lattice
        .host_with(
            lattice.config("host-a").deadlines(
                HostDeadlines::default()
                    .with_validate(SHORT)
                    .with_instantiate(SHORT),
            ),
        )
        .await;
    let v1 = spec(lattice.component("v1", &[KV]), 1, "redis://one");
    lattice.apply_and_wait(&host_id(), &v1).await.unwrap();

    let v2 = spec(
        lattice.component("hang-validate-v2", &[KV]),
        2,
        "redis://two",
    );
    let reason = failed_reason(&lattice, &v2).await;
    assert_eq!(reason.code, ReasonCode::ValidateTimeout, "{reason}");
    assert!(
        reason.message.contains("HostDeadlines::validate"),
        "{reason}"
    );
    assert_eq!(answer(&lattice, "a").await, "hello from web@1: a");
    assert_v1_serving(&host);

    let v3 = spec(
        lattice.component("hang-instantiate-v3", &[KV]),
        3,
        "redis://three",
    );
    let reason = failed_reason(&lattice, &v3).await;
    assert_eq!(reason.code, ReasonCode::InstantiateTimeout, "{reason}");
    assert!(
        reason.message.contains("HostDeadlines::instantiate"),
        "{reason}"
    );
    assert_eq!(answer(&lattice, "b").await, "hello from web@1: b");
    assert_v1_serving(&host);
    assert_eq!(
        kv.recorded().len(),
        1,
        "no link touched: {:?}",
        kv.recorded()
    );

    // Neither held the apply lock: the next apply runs to the end.
    let v4 = spec(lattice.component("v4", &[KV]), 4, "redis://four");
    lattice.apply_and_wait(&host_id(), &v4).await.unwrap();
    assert_eq!(answer(&lattice, "c").await, "hello from web@4: c");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_that_outlasts_its_bound_resumes_the_old_revision_and_loses_nothing() {
    let hold = Arc::new(Hold::default());
    let _release = ReleaseOnDrop(hold.clone());
    let runtime = Arc::new(FakeHangingRuntime::default());
    let lattice = lattice_with_fakes(hold, runtime.clone()).await;
    let (_kv, kv) = lattice.provider("kv").await;
    let host = lattice
        .host_with(
            lattice
                .config("host-a")
                .deadlines(HostDeadlines::default().with_drain(SHORT)),
        )
        .await;
    let v1 = spec(lattice.component("v1", &[KV]), 1, "redis://one");
    lattice.apply_and_wait(&host_id(), &v1).await.unwrap();

    // One invocation in flight on revision 1 that does not finish until released.
    runtime.hold_next_invocation();
    let invoker = lattice.invoker("web").await;
    let held = tokio::spawn(async move { invoker.call("held").await });
    within(runtime.holding()).await;

    // Revision 2 changes the kv link: the drain is before any changed link is touched.
    let v2 = spec(lattice.component("v2", &[KV]), 2, "redis://two");
    let reason = failed_reason(&lattice, &v2).await;
    assert_eq!(reason.code, ReasonCode::DrainTimeout, "{reason}");
    assert!(reason.message.contains("HostDeadlines::drain"), "{reason}");
    assert_eq!(
        answer(&lattice, "meanwhile").await,
        "hello from web@1: meanwhile",
        "the gate resumed on the old revision"
    );
    assert_v1_serving(&host);
    assert_eq!(
        kv.recorded(),
        [Call::Put {
            name: "default".into(),
            package: "keyvalue".into(),
            target_config: [("url".to_owned(), "redis://one".to_owned())].into(),
        }],
        "the link is as it was"
    );

    // The invocation that held the drain is answered by the instance it started on.
    runtime.release();
    assert_eq!(
        within(held).await.unwrap().unwrap(),
        "hello from web@1: held"
    );

    // And the lock is free: the same upgrade now goes through.
    let v3 = spec(lattice.component("v3", &[KV]), 3, "redis://three");
    lattice.apply_and_wait(&host_id(), &v3).await.unwrap();
    assert_eq!(answer(&lattice, "after").await, "hello from web@3: after");
}

/// The four links of the pause test: provider, namespace, package, interface, import.
const LINKS: [(&str, &str, &str, &str, &str); 4] = [
    ("kv", "wasi", "keyvalue", "store", KV),
    (
        "blobs",
        "wasi",
        "blobstore",
        "blobstore",
        "wasi:blobstore/blobstore@0.2.0",
    ),
    (
        "messaging",
        "wasmcloud",
        "messaging",
        "consumer",
        "wasmcloud:messaging/consumer@0.2.0",
    ),
    (
        "http-client",
        "wasi",
        "http",
        "outgoing-handler",
        "wasi:http/outgoing-handler@0.2.0",
    ),
];

fn four_links(lattice: &Lattice, revision: u64) -> ComponentSpec {
    let imports: Vec<&str> = LINKS.iter().map(|l| l.4).collect();
    let mut draft = ComponentSpecDraft::new(
        "web",
        lattice.component(&format!("four-{revision}"), &imports),
    )
    .revision(revision);
    for (provider, namespace, package, interface, _) in LINKS {
        draft = draft.link(
            LinkDraft::new(provider, namespace, package, [interface])
                .target_config_value("setting", format!("{provider}-{revision}")),
        );
    }
    draft.validate().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_links_to_silent_providers_are_replaced_concurrently_within_one_timeout() {
    let lattice = Lattice::start().await;
    // Four "old SDK" providers: each receives its link requests and never answers.
    let mut silent = Vec::new();
    for (provider, ..) in LINKS {
        let subject = format!("wasmbus.rpc.test.{provider}.linkdefs.>");
        silent.push(within(lattice.nats.subscribe(subject)).await.unwrap());
    }
    within(lattice.nats.flush()).await.unwrap();
    let host = lattice
        .host_with(lattice.config("host-a").link_reply_timeout(SHORT))
        .await;

    let v1 = four_links(&lattice, 1);
    lattice.apply_and_wait(&host_id(), &v1).await.unwrap();
    let v2 = four_links(&lattice, 2);
    let report = lattice.apply_and_wait(&host_id(), &v2).await.unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    assert_eq!(answer(&lattice, "x").await, "hello from web@2: x");

    // Each provider got v1's put, then v2's delete of the old link before the new put.
    for (subscriber, (provider, ..)) in silent.iter_mut().zip(LINKS) {
        let mut operations = Vec::new();
        while operations.len() < 3 {
            let message = within(subscriber.next()).await.unwrap();
            // `wasmbus.rpc.test.{provider}.linkdefs.{operation}[.{host}]`
            let operation = message.subject.split('.').nth(5).unwrap().to_owned();
            operations.push(operation);
        }
        assert_eq!(operations, ["put", "del", "put"], "{provider}");
    }

    // A correctness bound on the overlap, not a speed figure (that is in benches/): one
    // delete-then-put pair per link, awaited one after the other, would be ≥ 2 timeouts.
    let pause = host.last_pause_window(v1.id()).expect("a pause");
    assert!(
        pause < 2 * SHORT,
        "the pause lasted {pause:?}: the four replacements did not overlap within one \
         {SHORT:?} reply timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_that_moves_to_another_provider_is_deleted_on_one_and_put_on_the_other() {
    let lattice = Lattice::start().await;
    let (_a, kv_a) = lattice.provider("kv-a").await;
    let (_b, kv_b) = lattice.provider("kv-b").await;
    let host = lattice.host("host-a").await;
    let on = |provider: &str, revision: u64| {
        ComponentSpecDraft::new(
            "web",
            lattice.component(&format!("moves-{revision}"), &[KV]),
        )
        .revision(revision)
        .link(LinkDraft::new(provider, "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap()
    };
    lattice
        .apply_and_wait(&host_id(), &on("kv-a", 1))
        .await
        .unwrap();
    let report = lattice
        .apply_and_wait(&host_id(), &on("kv-b", 2))
        .await
        .unwrap();
    assert_eq!(report.status.state, ComponentState::Running);
    assert!(
        host.last_pause_window(&"web".parse().unwrap()).is_some(),
        "replaced in a pause"
    );

    let keyvalue = |call: &Call| match call {
        Call::Put { .. } => "put",
        Call::Delete { .. } => "delete",
    };
    assert_eq!(
        kv_a.recorded().iter().map(keyvalue).collect::<Vec<_>>(),
        ["put", "delete"],
        "the old provider lets the link go"
    );
    assert_eq!(
        kv_b.recorded().iter().map(keyvalue).collect::<Vec<_>>(),
        ["put"],
        "the new provider takes it"
    );
    let inventory = host.inventory();
    let entry = inventory.component(&"web".parse().unwrap()).unwrap();
    assert!(entry.is_serving(Revision(2)));
    assert_eq!(entry.links.len(), 1, "{:?}", entry.links);
    assert_eq!(answer(&lattice, "moved").await, "hello from web@2: moved");
}
