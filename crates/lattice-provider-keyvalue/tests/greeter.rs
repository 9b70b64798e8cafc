//! End to end with real parts: a nats-server, this provider as a separate process, a host
//! running the wasmtime runtime, and the example greeter component (examples/components)
//! whose answers are computed by executed WebAssembly — its greeting from `wasi:config`, its
//! visit count from `wasi:keyvalue` through a link to this provider.

use lattice_client::Client;
use lattice_host::{Host, HostConfig, HostHandle, Invoker};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft};
use lattice_test_support::{NatsServer, example_component, example_component_ref};
use std::{
    future::Future,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

const DEADLINE: Duration = Duration::from_secs(20);
const GREET: &str = "lattice:greeter/greet@0.1.0";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

/// The provider process, killed on drop.
struct ProviderProcess(Child);

impl ProviderProcess {
    fn start(nats_url: &str, lattice: &str, id: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lattice-provider-keyvalue"))
            .args([
                "--nats-url",
                nats_url,
                "--lattice",
                lattice,
                "--provider-id",
                id,
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the provider starts");
        let stdout = child.stdout.take().expect("stdout");
        // `ready` is printed once its subscriptions are live; a provider that dies first
        // closes stdout and the test fails here instead of hanging.
        let line = BufReader::new(stdout).lines().next();
        assert!(
            matches!(line, Some(Ok(ref l)) if l == "ready"),
            "provider did not become ready: {line:?}"
        );
        Self(child)
    }
}

impl Drop for ProviderProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    nats: async_nats::Client,
    _provider: ProviderProcess,
}

impl Lattice {
    async fn start() -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let provider = ProviderProcess::start(&server.url(), "default", "keyvalue");
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        Self {
            server,
            lattice: "default".parse().unwrap(),
            nats,
            _provider: provider,
        }
    }

    async fn host(&self, id: &str) -> HostHandle {
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        let runtime = WasmtimeRuntime::new(nats.clone(), &self.lattice).unwrap();
        let config = HostConfig::new(id.parse().unwrap(), self.lattice.clone())
            .link_reply_timeout(Duration::from_secs(2));
        within(Host::new(nats, config, Arc::new(runtime)).start())
            .await
            .unwrap()
    }

    async fn apply(&self, host: &HostHandle, spec: &ComponentSpec) {
        let client = Client::new(self.nats.clone(), self.lattice.clone());
        let report = within(client.apply_and_wait(host.host_id(), spec, DEADLINE))
            .await
            .unwrap_or_else(|e| panic!("revision {} did not run: {e}", spec.revision()));
        drop(report);
    }

    async fn invoker(&self) -> Invoker {
        within(Invoker::new(
            self.nats.clone(),
            &self.lattice,
            &"greeter".parse().unwrap(),
        ))
        .await
        .unwrap()
    }
}

fn greeter(revision: u64, file: &str, greeting: &str, bucket: &str) -> ComponentSpec {
    ComponentSpecDraft::new("greeter", example_component_ref(file))
        .revision(revision)
        .config_value("greeting", greeting)
        .link(
            LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                .target_config_value("bucket", bucket),
        )
        .validate()
        .unwrap()
}

async fn hello(invoker: &Invoker, name: &str) -> Result<String, lattice_host::InvokeCallError> {
    invoker
        .invoke::<_, (String,)>(GREET, "hello", (name.to_owned(),))
        .await
        .map(|(answer,)| answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_greeter_answers_from_executed_webassembly() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-1").await;
    lattice
        .apply(
            &host,
            &greeter(1, "greeter/greeter-v1.wasm", "Hi", "visits"),
        )
        .await;
    let invoker = lattice.invoker().await;
    assert_eq!(
        within(hello(&invoker, "Ada")).await.unwrap(),
        "Hi, Ada! You are visitor #1. (greeter v1)"
    );
    assert_eq!(
        within(hello(&invoker, "Grace")).await.unwrap(),
        "Hi, Grace! You are visitor #2. (greeter v1)"
    );

    // Revision 2: new code, new greeting, and the link's target_config names another bucket,
    // whose count starts again.
    lattice
        .apply(
            &host,
            &greeter(2, "greeter/greeter-v2.wasm", "Welcome", "guests"),
        )
        .await;
    assert_eq!(
        within(hello(&invoker, "Ada")).await.unwrap(),
        "visit 1: Welcome, Ada. Welcome back! (greeter v2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_under_load_changes_code_configuration_and_link_without_losing_a_call() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-1").await;
    lattice
        .apply(
            &host,
            &greeter(1, "greeter/greeter-v1.wasm", "Hi", "visits-a"),
        )
        .await;

    // Callers invoke without pause while the host upgrades to revision 2: new code, a new
    // greeting in configuration, and the key-value link moved to another bucket.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..6 {
        let invoker = lattice.invoker().await;
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(hello(&invoker, &format!("caller-{caller}")).await);
            }
            answers
        }));
    }
    // Let the callers get going on revision 1 before upgrading.
    within(async {
        while host
            .invocation_counters(&"greeter".parse().unwrap())
            .map_or(0, |(served, _)| served)
            < 20
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    let mut revision = 1;
    let mut held = 0;
    // Each upgrade pauses for about one link round trip; repeat (alternating revisions' code)
    // until a call arrived during a pause, at most ten times.
    while held == 0 && revision < 11 {
        revision += 1;
        let file = if revision % 2 == 0 {
            "greeter/greeter-v2.wasm"
        } else {
            "greeter/greeter-v1.wasm"
        };
        lattice
            .apply(
                &host,
                &greeter(
                    revision,
                    file,
                    &format!("Welcome {revision}"),
                    &format!("visits-{revision}"),
                ),
            )
            .await;
        held = host
            .invocation_counters(&"greeter".parse().unwrap())
            .unwrap()
            .1;
    }
    let settled = within(hello(&lattice.invoker().await, "Ada"))
        .await
        .unwrap();
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for caller in callers {
        answers.extend(within(caller).await.unwrap());
    }

    let failed: Vec<_> = answers.iter().filter(|a| a.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} calls failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(held > 0, "no call arrived during {} pauses", revision - 1);
    // Every answer was computed by exactly one revision's code.
    for answer in answers.iter().flatten() {
        let v1 = answer.ends_with("(greeter v1)");
        let v2 = answer.ends_with("(greeter v2)");
        assert!(v1 ^ v2, "not from exactly one revision: {answer}");
    }
    // The last revision's code, configuration and bucket answer now.
    let code = if revision % 2 == 0 { "v2" } else { "v1" };
    assert!(settled.ends_with(&format!("(greeter {code})")), "{settled}");
    assert!(
        settled.contains(&format!("Welcome {revision}, Ada")),
        "{settled}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_greeter_is_pulled_from_an_oci_registry_and_a_wrong_pin_keeps_the_old_revision() {
    let registry = tokio::task::spawn_blocking(lattice_test_support::Registry::start)
        .await
        .unwrap()
        .expect("docker-registry starts (scripts/install-registry)");
    let (v1, v2) = tokio::task::spawn_blocking({
        let registry_v1 = registry.reference("greeter:1.0.0");
        let registry_v2 = registry.reference("greeter:2.0.0");
        let wash = lattice_test_support::Wash::find().expect("wash (scripts/install-registry)");
        move || {
            let push = |reference: &str, file: &str| {
                wash.push(reference, &example_component(file), None)
                    .expect("wash pushes")
            };
            (
                push(&registry_v1, "greeter/greeter-v1.wasm"),
                push(&registry_v2, "greeter/greeter-v2.wasm"),
            )
        }
    })
    .await
    .unwrap();

    let lattice = Lattice::start().await;
    let host = lattice.host("host-1").await;
    let from_registry = |revision: u64, reference: &str, greeting: &str| {
        ComponentSpecDraft::new("greeter", reference)
            .revision(revision)
            .config_value("greeting", greeting)
            .link(
                LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                    .target_config_value("bucket", "oci"),
            )
    };
    lattice
        .apply(
            &host,
            &from_registry(1, &v1.reference, "Hi").validate().unwrap(),
        )
        .await;
    let invoker = lattice.invoker().await;
    assert_eq!(
        within(hello(&invoker, "Ada")).await.unwrap(),
        "Hi, Ada! You are visitor #1. (greeter v1)"
    );

    // Revision 2 pinned to the wrong digest (v1's bytes): the host refuses it after the pull,
    // and revision 1 keeps serving.
    let v1_bytes = std::fs::read(example_component("greeter/greeter-v1.wasm")).unwrap();
    let wrong_pin = from_registry(2, &v2.reference, "Welcome")
        .digest(lattice_spec::ContentDigest::sha256_of(&v1_bytes).to_string())
        .validate()
        .unwrap();
    let client = Client::new(lattice.nats.clone(), lattice.lattice.clone());
    match within(client.apply_and_wait(host.host_id(), &wrong_pin, DEADLINE)).await {
        Err(lattice_client::WaitError::Failed { reason, .. }) => assert_eq!(
            reason.code,
            lattice_status::ReasonCode::InvalidArtifact,
            "{reason}"
        ),
        other => panic!("a wrong pin must fail the upgrade: {other:?}"),
    }
    assert_eq!(
        within(hello(&invoker, "Ada")).await.unwrap(),
        "Hi, Ada! You are visitor #2. (greeter v1)"
    );

    // The right pin: revision 3 runs v2's code from the registry.
    let v2_bytes = std::fs::read(example_component("greeter/greeter-v2.wasm")).unwrap();
    let pinned = from_registry(3, &v2.reference, "Welcome")
        .digest(lattice_spec::ContentDigest::sha256_of(&v2_bytes).to_string())
        .validate()
        .unwrap();
    lattice.apply(&host, &pinned).await;
    assert_eq!(
        within(hello(&invoker, "Ada")).await.unwrap(),
        "visit 3: Welcome, Ada. Welcome back! (greeter v2)"
    );
    drop(registry);
}
