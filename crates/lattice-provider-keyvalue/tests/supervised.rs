//! The host kit supervising real provider processes: this crate's `lattice-provider-keyvalue`
//! binary applied as a provider spec and started by a lattice host the way 1.x hosts start
//! providers (no arguments, cleared environment, host data on stdin), with a real
//! nats-server. Also bad executables (real processes too: shell scripts that exit at once or
//! never answer), and a component linked to the provider following its health.

use futures::StreamExt;
use lattice_client::Client;
use lattice_ctl::{ApplyOutcome, DeleteOutcome, ProviderInventory, ProviderStatusEvent};
use lattice_host::{Host, HostConfig, HostHandle, Invoker, ProviderSupervision};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{
    ComponentSpecDraft, LatticeName, LinkDraft, ProviderId, ProviderSpec, ProviderSpecDraft,
    WireMessage,
};
use lattice_status::{ComponentState, ProviderState, ReasonCode};
use lattice_test_support::{NatsServer, example_component_ref};
use std::{future::Future, path::Path, sync::Arc, time::Duration};

const DEADLINE: Duration = Duration::from_secs(30);
const PROVIDER: &str = env!("CARGO_BIN_EXE_lattice-provider-keyvalue");

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

struct Lattice {
    _server: NatsServer,
    lattice: LatticeName,
    nats: async_nats::Client,
    host: HostHandle,
    client: Client,
}

fn supervision() -> ProviderSupervision {
    ProviderSupervision::default()
        .start_poll_interval(Duration::from_millis(100))
        .health_interval(Duration::from_millis(200))
        .health_timeout(Duration::from_millis(500))
        .start_timeout(Duration::from_secs(3))
        .backoff(Duration::from_millis(100), Duration::from_millis(400))
        .quick_exits(3, Duration::from_secs(5))
        .stop_timeout(Duration::from_secs(3))
}

impl Lattice {
    async fn start() -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let lattice: LatticeName = "default".parse().unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let host_nats = within(async_nats::connect(server.url())).await.unwrap();
        let runtime = WasmtimeRuntime::new(host_nats.clone(), &lattice).unwrap();
        let config = HostConfig::new("host-1".parse().unwrap(), lattice.clone())
            .link_reply_timeout(Duration::from_secs(2))
            .provider_supervision(supervision().nats_url(server.url()));
        let host = within(Host::new(host_nats, config, Arc::new(runtime)).start())
            .await
            .unwrap();
        let client = Client::new(nats.clone(), lattice.clone());
        Self {
            _server: server,
            lattice,
            nats,
            host,
            client,
        }
    }

    /// The provider's status events on this host, from now on.
    async fn events(&self, id: &str) -> async_nats::Subscriber {
        let subject = format!(
            "wasmbus.status.v2alpha1.{}.provider.host-1.{id}",
            self.lattice
        );
        let subscriber = self.nats.subscribe(subject).await.unwrap();
        self.nats.flush().await.unwrap();
        subscriber
    }

    async fn apply(&self, spec: &ProviderSpec) -> ApplyOutcome {
        within(self.client.host(self.host.host_id()).apply_provider(spec))
            .await
            .unwrap()
            .outcome
    }

    /// Waits for the provider's inventory entry to satisfy `condition`.
    async fn wait_for(
        &self,
        id: &str,
        condition: impl Fn(&ProviderInventory) -> bool,
    ) -> ProviderInventory {
        let host = self.client.host(self.host.host_id());
        within(host.wait_for_provider(&id.parse().unwrap(), |p| p.is_some_and(&condition)))
            .await
            .unwrap()
            .unwrap()
    }

    async fn failed(&self, id: &str) -> ProviderInventory {
        self.wait_for(id, |p| p.status.state == ProviderState::Failed)
            .await
    }

    /// The key-value provider (revision 1) running, and the greeter component linked to it
    /// (every greeting increments a counter on the provider) running.
    async fn greeter_on_keyvalue(&self) {
        self.apply(&spec("keyvalue", 1, PROVIDER)).await;
        self.wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
            .await;
        let greeter =
            ComponentSpecDraft::new("greeter", example_component_ref("greeter/greeter-v1.wasm"))
                .config_value("greeting", "Hi")
                .link(
                    LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                        .target_config_value("bucket", "visits"),
                )
                .validate()
                .unwrap();
        within(
            self.client
                .apply_and_wait(self.host.host_id(), &greeter, DEADLINE),
        )
        .await
        .unwrap();
    }
}

fn spec(id: &str, revision: u64, artifact: &str) -> ProviderSpec {
    ProviderSpecDraft::new(id, format!("file://{artifact}"))
        .revision(revision)
        .validate()
        .unwrap()
}

/// Reads events until one has `state`; returns every event read.
async fn until_state(
    events: &mut async_nats::Subscriber,
    state: ProviderState,
) -> Vec<ProviderStatusEvent> {
    let mut seen = Vec::new();
    within(async {
        while let Some(message) = events.next().await {
            let event = ProviderStatusEvent::decode(&message.payload).unwrap();
            let done = event.status.state == state;
            seen.push(event);
            if done {
                return;
            }
        }
        panic!("the event subscription ended");
    })
    .await;
    seen
}

fn states(events: &[ProviderStatusEvent]) -> Vec<ProviderState> {
    events.iter().map(|e| e.status.state).collect()
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

fn kill9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn script(dir: &Path, name: &str, body: &str, mode: u32) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let path = dir.join(name);
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_starts_restarts_after_a_kill_and_stops_gracefully_on_delete() {
    let lattice = Lattice::start().await;
    let mut events = lattice.events("keyvalue").await;

    // Start: pending → starting → running, in events and in the inventory.
    let outcome = lattice.apply(&spec("keyvalue", 1, PROVIDER)).await;
    assert_eq!(outcome, ApplyOutcome::Accepted);
    let seen = until_state(&mut events, ProviderState::Running).await;
    assert_eq!(
        states(&seen),
        [
            ProviderState::Pending,
            ProviderState::Starting,
            ProviderState::Running
        ]
    );
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(1.into()));
    assert_eq!(entry.restarts, 0);
    let id: ProviderId = "keyvalue".parse().unwrap();
    let pid = lattice
        .host
        .provider_process_id(&id)
        .expect("a process runs");
    assert!(alive(pid));
    // The same spec again changes nothing.
    assert_eq!(
        lattice.apply(&spec("keyvalue", 1, PROVIDER)).await,
        ApplyOutcome::Unchanged
    );

    // Crash: SIGKILL the process; the host starts it again (starting, reason
    // provider_exited) and it is running again with a new process.
    kill9(pid);
    let seen = until_state(&mut events, ProviderState::Running).await;
    assert_eq!(
        states(&seen),
        [ProviderState::Starting, ProviderState::Running],
        "{seen:?}"
    );
    let restarted = seen[0].status.reason.as_ref().expect("a reason");
    assert_eq!(restarted.code, ReasonCode::ProviderExited);
    assert!(restarted.message.contains("signal: 9"), "{restarted:?}");
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.restarts, 1);
    let new_pid = lattice
        .host
        .provider_process_id(&id)
        .expect("a process runs");
    assert_ne!(new_pid, pid);

    // Delete: the host asks the provider to shut down (with its host id, as 1.x SDKs
    // require), the process exits, the provider is stopped and gone from the inventory.
    let mut shutdowns = lattice
        .nats
        .subscribe("wasmbus.rpc.default.keyvalue.default.shutdown")
        .await
        .unwrap();
    lattice.nats.flush().await.unwrap();
    let ack = within(
        lattice
            .client
            .host(lattice.host.host_id())
            .delete_provider(&id),
    )
    .await
    .unwrap();
    assert_eq!(ack.outcome, DeleteOutcome::Accepted);
    let seen = until_state(&mut events, ProviderState::Stopped).await;
    assert_eq!(
        states(&seen),
        [ProviderState::Stopping, ProviderState::Stopped]
    );
    let request = within(shutdowns.next()).await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&request.payload).unwrap()["host_id"],
        "host-1"
    );
    assert!(
        request.reply.is_some(),
        "1.x SDKs ignore a shutdown without a reply subject"
    );
    assert!(!alive(new_pid), "the provider process is gone");
    let inventory = within(lattice.client.host(lattice.host.host_id()).inventory())
        .await
        .unwrap();
    assert!(inventory.provider(&id).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_executables_fail_with_a_reason_naming_what_to_fix() {
    let lattice = Lattice::start().await;
    let dir = tempfile::tempdir().unwrap();

    // Does not exist.
    let missing = dir.path().join("no-such-provider");
    lattice
        .apply(&spec("missing", 1, missing.to_str().unwrap()))
        .await;
    let entry = lattice.failed("missing").await;
    let reason = entry.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::FetchFailed);
    assert!(reason.message.contains("no-such-provider"), "{reason:?}");

    // A named configuration that does not exist, and a secret reference on a host without a
    // secrets backend: refused, never started without them.
    let unconfigured = ProviderSpecDraft::new("unconfigured", format!("file://{PROVIDER}"))
        .config_name("no-such-config")
        .validate()
        .unwrap();
    lattice.apply(&unconfigured).await;
    let reason = lattice.failed("unconfigured").await.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::StartFailed);
    assert!(reason.message.contains("no-such-config"), "{reason:?}");
    let with_secret = ProviderSpecDraft::new("with-secret", format!("file://{PROVIDER}"))
        .secret(lattice_spec::SecretRefDraft::new(
            "token", "nats-kv", "kv-token",
        ))
        .validate()
        .unwrap();
    lattice.apply(&with_secret).await;
    let reason = lattice.failed("with-secret").await.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::SecretsUnavailable);
    assert!(
        reason.message.contains("HostConfig::secrets_backend"),
        "{reason:?}"
    );
    assert_eq!(
        lattice
            .host
            .provider_process_id(&"with-secret".parse().unwrap()),
        None
    );

    // Not executable.
    let plain = script(dir.path(), "plain", "#!/bin/sh\nexit 0\n", 0o644);
    lattice.apply(&spec("plain", 1, &plain)).await;
    let reason = lattice.failed("plain").await.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::ProviderNotExecutable);
    assert!(reason.message.contains("chmod +x"), "{reason:?}");

    // Exits at once, every time: restarted until the quick-exit limit, then failed.
    let exits = script(dir.path(), "exits", "#!/bin/sh\nexit 3\n", 0o755);
    let mut events = lattice.events("exits").await;
    lattice.apply(&spec("exits", 1, &exits)).await;
    let seen = until_state(&mut events, ProviderState::Failed).await;
    let starts = states(&seen)
        .iter()
        .filter(|s| **s == ProviderState::Starting)
        .count();
    assert_eq!(starts, 3, "{seen:?}");
    let reason = seen.last().unwrap().status.reason.clone().unwrap();
    assert_eq!(reason.code, ReasonCode::ProviderExited);
    assert!(reason.message.contains("exit status: 3"), "{reason:?}");
    assert_eq!(reason.provider_id.as_deref(), Some("exits"));

    // Runs but never answers its health subject: failed after the start timeout, and the
    // process is stopped.
    let silent = script(dir.path(), "silent", "#!/bin/sh\nexec sleep 600\n", 0o755);
    lattice.apply(&spec("silent", 1, &silent)).await;
    let reason = lattice.failed("silent").await.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::HealthCheckFailed);
    assert!(
        reason.message.contains("did not answer healthy"),
        "{reason:?}"
    );
    assert_eq!(
        lattice.host.provider_process_id(&"silent".parse().unwrap()),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bad_new_revision_leaves_the_previous_one_serving() {
    let lattice = Lattice::start().await;
    let dir = tempfile::tempdir().unwrap();
    let id: ProviderId = "keyvalue".parse().unwrap();
    lattice.apply(&spec("keyvalue", 1, PROVIDER)).await;
    lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    let pid = lattice.host.provider_process_id(&id).unwrap();

    // Revision 2 names a file that does not exist: revision 1's process is not touched.
    let mut events = lattice.events("keyvalue").await;
    lattice
        .apply(&spec("keyvalue", 2, "/nonexistent/keyvalue"))
        .await;
    let event = within(events.next()).await.unwrap();
    let event = ProviderStatusEvent::decode(&event.payload).unwrap();
    assert_eq!(event.status.state, ProviderState::Running);
    let reason = event.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::FetchFailed);
    assert!(reason.message.contains("revision 2"), "{reason:?}");
    assert_eq!(lattice.host.provider_process_id(&id), Some(pid));
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(1.into()));

    // Revision 3 exits at once: it is started beside revision 1 (an upgrade overlaps them),
    // fails, and revision 1's process serves on, untouched.
    let exits = script(dir.path(), "exits", "#!/bin/sh\nexit 1\n", 0o755);
    lattice.apply(&spec("keyvalue", 3, &exits)).await;
    let event = within(events.next()).await.unwrap();
    let event = ProviderStatusEvent::decode(&event.payload).unwrap();
    assert_eq!(event.status.state, ProviderState::Running, "{event:?}");
    let reason = event.status.reason.unwrap();
    assert_eq!(reason.code, ReasonCode::ProviderExited);
    assert!(reason.message.contains("revision 3"), "{reason:?}");
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(1.into()));
    assert_eq!(lattice.host.provider_process_id(&id), Some(pid));
    assert!(alive(pid));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_follows_its_providers_health_and_its_links_come_back_after_a_restart() {
    let lattice = Lattice::start().await;
    let id: ProviderId = "keyvalue".parse().unwrap();
    lattice.greeter_on_keyvalue().await;
    let invoker = within(Invoker::new(
        lattice.nats.clone(),
        &lattice.lattice,
        &"greeter".parse().unwrap(),
    ))
    .await
    .unwrap();
    let hello = |name: &'static str| {
        let invoker = &invoker;
        async move {
            invoker
                .invoke::<_, (String,)>("lattice:greeter/greet@0.1.0", "hello", (name.to_owned(),))
                .await
                .map(|(answer,)| answer)
        }
    };
    assert_eq!(
        within(hello("Ada")).await.unwrap(),
        "Hi, Ada! You are visitor #1. (greeter v1)"
    );

    // Kill the provider: the component is unhealthy, naming it, while it restarts...
    let mut links = lattice
        .nats
        .subscribe("wasmbus.status.v2alpha1.default.link.host-1.greeter")
        .await
        .unwrap();
    let mut components = lattice
        .nats
        .subscribe("wasmbus.status.v2alpha1.default.component.host-1.greeter")
        .await
        .unwrap();
    lattice.nats.flush().await.unwrap();
    kill9(lattice.host.provider_process_id(&id).unwrap());
    let mut states = Vec::new();
    within(async {
        while let Some(message) = components.next().await {
            let event = lattice_ctl::ComponentStatusEvent::decode(&message.payload).unwrap();
            if event.status.state == ComponentState::Unhealthy {
                let reason = event.status.reason.clone().unwrap();
                assert_eq!(reason.code, ReasonCode::ProviderUnhealthy);
                assert_eq!(reason.provider_id.as_deref(), Some("keyvalue"));
                assert!(reason.message.contains("`keyvalue`"), "{reason:?}");
            }
            states.push(event.status.state);
            if event.status.state == ComponentState::Running {
                return;
            }
        }
    })
    .await;
    // ...and running again once the provider is.
    assert_eq!(states, [ComponentState::Unhealthy, ComponentState::Running]);

    // The restarted process (whose memory is new) gets the component's link again, and the
    // component's calls reach the bucket the link names.
    within(async {
        while let Some(message) = links.next().await {
            let event = lattice_ctl::LinkStatusEvent::decode(&message.payload).unwrap();
            if event.status.state == lattice_status::LinkState::Established {
                return;
            }
        }
    })
    .await;
    assert_eq!(
        within(hello("Grace")).await.unwrap(),
        "Hi, Grace! You are visitor #1. (greeter v1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_gets_host_data_on_stdin_and_a_cleared_environment() {
    let lattice = Lattice::start().await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().display().to_string();
    // Records what it was given, then exits (so it is restarted, until it is failed).
    let probe = script(
        dir.path(),
        "probe",
        &format!("#!/bin/sh\ncat > {out}/stdin.$$\nenv > {out}/env.$$\nexit 0\n"),
        0o755,
    );
    let spec = ProviderSpecDraft::new("probe", format!("file://{probe}"))
        .config_value("bucket", "b1")
        .validate()
        .unwrap();
    lattice.apply(&spec).await;
    lattice.failed("probe").await;

    let mut instances = std::collections::BTreeSet::new();
    let mut runs = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("stdin.") {
            runs += 1;
            let line = std::fs::read(&path).unwrap();
            assert!(
                line.ends_with(b"\r\n"),
                "base64(json) then CRLF, as 1.x hosts write"
            );
            let data = lattice_link::HostData::from_stdin_line(&line).unwrap();
            assert_eq!(data.provider_key, "probe");
            assert_eq!(data.host_id, "host-1");
            assert_eq!(data.lattice_rpc_prefix, "default");
            assert_eq!(data.link_name, "default");
            assert!(data.lattice_rpc_url.starts_with("nats://"));
            assert_eq!(data.config.get("bucket").map(String::as_str), Some("b1"));
            assert!(
                instances.insert(data.instance_id.clone()),
                "a fresh instance id per start"
            );
        } else if name.starts_with("env.") {
            let env = std::fs::read_to_string(&path).unwrap();
            for line in env.lines() {
                let key = line.split('=').next().unwrap();
                assert!(
                    !["HOME", "USER", "PATH"].contains(&key) && !key.starts_with("CARGO"),
                    "the host's environment leaked: {line}"
                );
            }
        }
    }
    assert_eq!(runs, 3, "started three times before it was failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upgrade_runs_the_new_revision_beside_the_old_until_it_is_healthy() {
    let lattice = Lattice::start().await;
    let id: ProviderId = "keyvalue".parse().unwrap();
    lattice.greeter_on_keyvalue().await;
    let old_pid = lattice.host.provider_process_id(&id).unwrap();

    let mut events = lattice.events("keyvalue").await;
    // Revision 2: it starts beside revision 1, is handed the component's link in its host
    // data, and replaces it once healthy on its own health subject; the provider never
    // leaves `running` (the one event is the switch).
    let v2 = ProviderSpecDraft::new("keyvalue", format!("file://{PROVIDER}"))
        .revision(2)
        .config_value("generation", "2")
        .validate()
        .unwrap();
    lattice.apply(&v2).await;
    let event = within(events.next()).await.unwrap();
    let event = ProviderStatusEvent::decode(&event.payload).unwrap();
    assert_eq!(event.previous, Some(ProviderState::Running));
    assert_eq!(event.status.state, ProviderState::Running);
    assert_eq!(event.status.reason, None);
    let entry = lattice
        .wait_for("keyvalue", |p| p.revision == Some(2.into()))
        .await;
    assert_eq!(entry.status.state, ProviderState::Running);
    let new_pid = lattice.host.provider_process_id(&id).unwrap();
    assert_ne!(new_pid, old_pid);
    // The promotion event is published before the old process is stopped; its stop is
    // observed through its process table entry.
    lattice_test_support::read_until(
        "the old provider process gone",
        DEADLINE,
        || async { alive(old_pid) },
        |alive| !alive,
        String::new,
    )
    .await;
    // The new process serves the component's calls with the link it was handed.
    let invoker = within(Invoker::new(
        lattice.nats.clone(),
        &lattice.lattice,
        &"greeter".parse().unwrap(),
    ))
    .await
    .unwrap();
    let (answer,) = within(invoker.invoke::<_, (String,)>(
        "lattice:greeter/greet@0.1.0",
        "hello",
        ("Ada".to_owned(),),
    ))
    .await
    .unwrap();
    assert_eq!(answer, "Hi, Ada! You are visitor #1. (greeter v1)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_candidate_is_never_judged_by_the_old_processes_health_answers() {
    let lattice = Lattice::start().await;
    let dir = tempfile::tempdir().unwrap();
    lattice.apply(&spec("keyvalue", 1, PROVIDER)).await;
    lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    // Revision 2 runs but answers no health subject at all (as a broken provider, or a 1.x
    // one on its instance subject). Revision 1 answers the provider-id subject all along;
    // that must not make revision 2 healthy. Never answering its own subject, it is tried by
    // replacement, fails, and revision 1 serves again.
    let silent = script(dir.path(), "silent", "#!/bin/sh\nexec sleep 600\n", 0o755);
    let mut events = lattice.events("keyvalue").await;
    lattice.apply(&spec("keyvalue", 2, &silent)).await;
    let seen = until_state(&mut events, ProviderState::Failed).await;
    let reason = seen.last().unwrap().status.reason.clone().unwrap();
    assert_eq!(reason.code, ReasonCode::HealthCheckFailed);
    assert!(reason.message.contains("revision 2"), "{reason:?}");
    until_state(&mut events, ProviderState::Running).await;
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(1.into()));
}

/// Issue 10, done-when: a provider upgrade under component load loses no invocation.
///
/// Several callers invoke the greeter (each invocation opens the linked bucket and increments
/// a counter through `wasi:keyvalue` on this provider, a real process) without pause while a
/// new provider revision is applied. Both processes are in the provider id's wRPC queue group
/// during the overlap, so each import call reaches exactly one of them; the old one is
/// stopped with SIGTERM after the new one serves and has its links, and drains the calls it
/// took. The provider keeps its buckets in memory: state is **not** carried from the old
/// process to the new one (the visit counts start again), so only lost calls are asserted,
/// not data.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_upgrade_under_component_load_loses_no_invocation() {
    use std::sync::atomic::{AtomicBool, Ordering};

    let lattice = Lattice::start().await;
    let id: ProviderId = "keyvalue".parse().unwrap();
    let component: lattice_spec::ComponentId = "greeter".parse().unwrap();
    lattice.greeter_on_keyvalue().await;
    let old_pid = lattice.host.provider_process_id(&id).unwrap();
    let served = || {
        lattice
            .host
            .invocation_counters(&component)
            .map_or(0, |(served, _)| served)
    };
    let wait_served = |at_least: u64, what: &'static str| {
        lattice_test_support::read_until(
            what,
            DEADLINE,
            move || async move { served() },
            move |n| *n >= at_least,
            String::new,
        )
    };

    // Six callers, each invoking without pause until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut callers = Vec::new();
    for caller in 0..6 {
        let invoker = within(Invoker::new(
            lattice.nats.clone(),
            &lattice.lattice,
            &component,
        ))
        .await
        .unwrap();
        let stop = stop.clone();
        callers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                answers.push(
                    invoker
                        .invoke::<_, (String,)>(
                            "lattice:greeter/greet@0.1.0",
                            "hello",
                            (format!("caller-{caller}"),),
                        )
                        .await
                        .map(|(answer,)| answer),
                );
            }
            answers
        }));
    }
    wait_served(50, "the callers running on revision 1").await;

    // Revision 2 while the load runs: it starts beside revision 1, takes over, and revision
    // 1's process is stopped.
    let before_upgrade = served();
    let v2 = ProviderSpecDraft::new("keyvalue", format!("file://{PROVIDER}"))
        .revision(2)
        .config_value("generation", "2")
        .validate()
        .unwrap();
    assert_eq!(lattice.apply(&v2).await, ApplyOutcome::Accepted);
    lattice
        .wait_for("keyvalue", |p| {
            p.revision == Some(2.into()) && p.status.state == ProviderState::Running
        })
        .await;
    let new_pid = lattice.host.provider_process_id(&id).unwrap();
    assert_ne!(new_pid, old_pid);
    lattice_test_support::read_until(
        "the old provider process gone",
        DEADLINE,
        || async { alive(old_pid) },
        |alive| !alive,
        String::new,
    )
    .await;
    let after_takeover = served();
    // The load ran through the upgrade, and goes on on the new process.
    wait_served(after_takeover + 50, "calls served after the takeover").await;
    stop.store(true, Ordering::SeqCst);
    let mut answers = Vec::new();
    for caller in callers {
        answers.extend(within(caller).await.unwrap());
    }

    let failed: Vec<_> = answers.iter().filter(|a| a.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} invocations failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(
        after_takeover > before_upgrade,
        "no invocation was served while the upgrade ran"
    );
    // The new process (whose memory is new) served: its counts started again.
    let restarted = answers
        .iter()
        .flatten()
        .filter(|a| a.contains("You are visitor #1."))
        .count();
    assert!(
        restarted >= 2,
        "visit #1 once per process expected: {restarted}"
    );
    let entry = lattice
        .wait_for("keyvalue", |p| p.status.state == ProviderState::Running)
        .await;
    assert_eq!(entry.revision, Some(2.into()));
    assert_eq!(lattice.host.provider_process_id(&id), Some(new_pid));
}
