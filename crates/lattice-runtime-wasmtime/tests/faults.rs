//! Bad components against a real host (nats-server, wasmtime): each failure is typed, the
//! previous revision keeps serving, and a misbehaving call never takes the component down.
//! The components are in examples/components/faulty (WebAssembly text and binaries).

use lattice_client::{Client, WaitError};
use lattice_host::{Host, HostConfig, HostHandle, InvokeCallError, Invoker};
use lattice_runtime_wasmtime::{Limits, WasmtimeRuntime};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft};
use lattice_status::ReasonCode;
use lattice_test_support::{NatsServer, example_component_ref};
use std::{future::Future, sync::Arc, time::Duration};

const DEADLINE: Duration = Duration::from_secs(20);
const GREET: &str = "lattice:greeter/greet@0.1.0";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

fn spec(revision: u64, file: &str) -> ComponentSpec {
    ComponentSpecDraft::new("unruly", example_component_ref(file))
        .revision(revision)
        .validate()
        .unwrap()
}

struct Fixture {
    _server: NatsServer,
    nats: async_nats::Client,
    lattice: LatticeName,
    host: HostHandle,
    invoker: Invoker,
}

impl Fixture {
    async fn start(limits: Limits) -> Self {
        Self::start_with(false, limits).await
    }

    /// A host whose runtime meters fuel when `fuel` is true.
    async fn start_with(fuel: bool, limits: Limits) -> Self {
        Self::start_built(|nats, lattice| {
            WasmtimeRuntime::builder(nats, lattice)
                .fuel(fuel)
                .limits(limits)
        })
        .await
    }

    /// A host whose runtime `builder` describes.
    async fn start_built(
        builder: impl FnOnce(
            async_nats::Client,
            &LatticeName,
        ) -> lattice_runtime_wasmtime::RuntimeBuilder,
    ) -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let lattice: LatticeName = "default".parse().unwrap();
        let runtime = builder(nats.clone(), &lattice).build().unwrap();
        let host = within(
            Host::new(
                nats.clone(),
                HostConfig::new("host-1".parse().unwrap(), lattice.clone()),
                Arc::new(runtime),
            )
            .start(),
        )
        .await
        .unwrap();
        let invoker = within(Invoker::new(
            nats.clone(),
            &lattice,
            &"unruly".parse().unwrap(),
        ))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(10));
        Self {
            _server: server,
            nats,
            lattice,
            host,
            invoker,
        }
    }

    async fn apply(&self, spec: &ComponentSpec) -> Result<(), WaitError> {
        let client = Client::new(self.nats.clone(), self.lattice.clone());
        within(client.apply_and_wait(self.host.host_id(), spec, DEADLINE))
            .await
            .map(drop)
    }

    async fn hello(&self, name: &str) -> Result<String, InvokeCallError> {
        within(
            self.invoker
                .invoke::<_, (String,)>(GREET, "hello", (name.to_owned(),)),
        )
        .await
        .map(|(answer,)| answer)
    }
}

fn failure_code(result: Result<(), WaitError>) -> (ReasonCode, String) {
    match result {
        Err(WaitError::Failed { reason, .. }) => (reason.code, reason.message),
        other => panic!("expected a failed apply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_answers_the_call_with_an_error_and_the_component_keeps_serving() {
    let fixture = Fixture::start(Limits::default()).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
    assert!(
        fixture.hello("trap").await.is_err(),
        "a trap must fail the call"
    );
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_beyond_the_memory_limit_or_the_deadline_fails_alone() {
    let limits = Limits::default().deadline(Duration::from_millis(300));
    let fixture = Fixture::start(limits).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    assert!(
        fixture.hello("grow").await.is_err(),
        "128 MiB more than allowed"
    );
    assert!(
        fixture.hello("spin").await.is_err(),
        "an endless loop meets the deadline"
    );
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_that_traps_at_instantiation_fails_typed_and_the_old_revision_serves() {
    let fixture = Fixture::start(Limits::default()).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    let (code, message) = failure_code(fixture.apply(&spec(2, "faulty/start-trap.wasm")).await);
    assert_eq!(code, ReasonCode::InstantiateFailed, "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
    let serving = fixture.host.inventory().components[0]
        .serving
        .clone()
        .unwrap();
    assert_eq!(serving.revision.0, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_wanting_more_memory_than_allowed_fails_with_resource_limit() {
    let fixture = Fixture::start(Limits::default()).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    let (code, message) = failure_code(fixture.apply(&spec(2, "faulty/big-memory.wasm")).await);
    assert_eq!(code, ReasonCode::ResourceLimit, "{message}");
    assert!(message.contains("memory limit"), "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");

    // The same component runs where the limit allows it.
    let roomy = Fixture::start(Limits::default().max_memory_bytes(256 << 20)).await;
    roomy
        .apply(&spec(1, "faulty/big-memory.wasm"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_without_a_link_and_bytes_that_are_not_a_component_are_refused() {
    let fixture = Fixture::start(Limits::default()).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();

    // The greeter imports wasi:keyvalue; without a link nothing provides it.
    let unlinked =
        ComponentSpecDraft::new("unruly", example_component_ref("greeter/greeter-v1.wasm"))
            .revision(2)
            .validate()
            .unwrap();
    let (code, message) = failure_code(fixture.apply(&unlinked).await);
    assert_eq!(code, ReasonCode::UnsatisfiedImports, "{message}");
    assert!(message.contains("wasi:keyvalue/store"), "{message}");

    // Its WebAssembly text is not a component.
    let text = ComponentSpecDraft::new("unruly", example_component_ref("faulty/unruly.wat"))
        .revision(3)
        .link(LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store"]))
        .validate()
        .unwrap();
    let (code, message) = failure_code(fixture.apply(&text).await);
    assert_eq!(code, ReasonCode::InvalidArtifact, "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_function_that_never_ends_meets_the_deadline_or_the_fuel_limit() {
    // The deadline: wall clock.
    let fixture = Fixture::start(Limits::default().deadline(Duration::from_millis(200))).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    let (code, message) = failure_code(fixture.apply(&spec(2, "faulty/start-spin.wasm")).await);
    assert_eq!(code, ReasonCode::ResourceLimit, "{message}");
    assert!(message.contains("deadline"), "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");

    // Fuel: a runtime that meters it, with a deadline far away.
    let fixture = Fixture::start_with(true, Limits::default().fuel(Some(1_000_000))).await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    let (code, message) = failure_code(fixture.apply(&spec(2, "faulty/start-spin.wasm")).await);
    assert_eq!(code, ReasonCode::ResourceLimit, "{message}");
    assert!(message.contains("fuel"), "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pooled_runtime_serves_and_keeps_its_limits() {
    let fixture = Fixture::start_built(|nats, lattice| {
        WasmtimeRuntime::builder(nats, lattice)
            .pooling(16)
            .limits(Limits::default())
    })
    .await;
    fixture.apply(&spec(1, "faulty/unruly.wasm")).await.unwrap();
    for _ in 0..32 {
        assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
    }
    assert!(fixture.hello("trap").await.is_err());
    let (code, message) = failure_code(fixture.apply(&spec(2, "faulty/big-memory.wasm")).await);
    assert_eq!(code, ReasonCode::ResourceLimit, "{message}");
    assert_eq!(fixture.hello("Ada").await.unwrap(), "still serving");
}
