//! A supervised provider's own secrets, end to end: a real nats-server (JetStream), the real
//! secrets backend (`lattice-secrets-kv`'s server, run in this test process on that
//! nats-server, asked by the host's `NatsSecretsBackend` over wasmCloud's secrets protocol),
//! and this crate's `lattice-provider-keyvalue` binary started by a lattice host from a
//! `ProviderSpec` that references a secret.
//!
//! The secret's value is a unique marker. The provider must receive it (in the host data on
//! stdin; the provider reports a SHA-256 of its `probe` secret in its health answers), at the
//! first start and again after a restart. It must appear nowhere else: not in the host's
//! tracing output at debug level, not in the inventory, not in any status event, and not in
//! the clear in any message on the NATS server (a wiretap on every subject but inboxes). A revision naming a missing
//! secret fails with `secret_not_found`, naming backend and key, while the running revision
//! keeps running. A component's link to the provider carrying the same secret is sealed to the
//! xkey the host generated for the provider, and the provider opens it with the seed from its
//! host data.

use futures::StreamExt as _;
use lattice_client::Client;
use lattice_ctl::{ProviderInventory, ProviderStatusEvent};
use lattice_host::{Host, HostConfig, LinkSecrets, NatsSecretsBackend, ProviderSupervision};
use lattice_link::{HealthCheckResponse, SecretValue};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_secrets_kv::{SecretsAdmin, SecretsServer, ServerConfig};
use lattice_spec::{
    ComponentSpecDraft, LatticeName, LinkDraft, ProviderId, ProviderSpec, ProviderSpecDraft,
    SecretRefDraft, WireMessage,
};
use lattice_status::{ProviderState, ReasonCode};
use lattice_test_support::{NatsServer, example_component_ref};
use std::{
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

const DEADLINE: Duration = Duration::from_secs(30);
const PROVIDER: &str = env!("CARGO_BIN_EXE_lattice-provider-keyvalue");
const BACKEND: &str = "nats-kv";

async fn within<F: Future>(future: F) -> F::Output {
    match tokio::time::timeout(DEADLINE, future).await {
        Ok(output) => output,
        Err(_) => {
            let logs = lattice_test_support::captured_logs("debug,async_nats=info");
            let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
            let tail: String = logs.lines().rev().take(40).collect::<Vec<_>>().join("\n");
            panic!("timed out; the last log lines, newest first:\n{tail}");
        }
    }
}

/// Every message tapped: subject, headers, payload.
type Wiretap = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

fn spec(revision: u64, key: &str) -> ProviderSpec {
    ProviderSpecDraft::new("keyvalue", format!("file://{PROVIDER}"))
        .revision(revision)
        .secret(SecretRefDraft::new("probe", BACKEND, key))
        .validate()
        .unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// The provider's health answer, on its provider-id subject.
async fn health(nats: &async_nats::Client) -> HealthCheckResponse {
    let reply = within(nats.request("wasmbus.rpc.default.keyvalue.health", "".into()))
        .await
        .unwrap();
    serde_json::from_slice(&reply.payload).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_supervised_provider_gets_its_secret_on_stdin_only_and_a_missing_one_keeps_the_old_revision()
 {
    let logs = lattice_test_support::captured_logs("debug,async_nats=info");
    let server = NatsServer::start().expect("nats-server starts");
    let url = server.url();
    let nats = within(async_nats::connect(&url)).await.unwrap();
    let lattice: LatticeName = "default".parse().unwrap();

    // Every message on the server's non-inbox subjects, from before anything runs (a tap on
    // `_INBOX.>` would answer the "no responders" probes hosts and providers confirm their
    // subscriptions with; the replies that matter, the inventory's, are checked below).
    let wiretap = Wiretap::default();
    for subjects in ["wasmbus.>", "wasmcloud.>", "$JS.>", "$KV.>"] {
        let mut tapped = nats.subscribe(subjects).await.unwrap();
        let tap = wiretap.clone();
        tokio::spawn(async move {
            while let Some(message) = tapped.next().await {
                tap.lock().unwrap().push((
                    message.subject.to_string(),
                    format!("{:?}", message.headers),
                    message.payload.to_vec(),
                ));
            }
        });
    }
    nats.flush().await.unwrap();

    // The backend, the secret stored and readable by the provider id only.
    let backend_nats = within(async_nats::connect(&url)).await.unwrap();
    let _backend = within(SecretsServer::start(
        backend_nats.clone(),
        ServerConfig::new(nkeys::XKey::new()),
    ))
    .await
    .unwrap();
    let marker = format!(
        "probe-MARKER-{:032x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let admin = SecretsAdmin::new(backend_nats);
    within(admin.put("probe/value", &SecretValue::String(marker.clone())))
        .await
        .unwrap();
    within(admin.allow("keyvalue", &["probe/value", "probe/missing"]))
        .await
        .unwrap();

    // The host, asking the backend over NATS.
    let host_nats = within(async_nats::connect(&url)).await.unwrap();
    let secrets = Arc::new(NatsSecretsBackend::new(host_nats.clone()));
    let runtime = WasmtimeRuntime::new(host_nats.clone(), &lattice).unwrap();
    let config = HostConfig::new("host-1".parse().unwrap(), lattice.clone())
        .link_reply_timeout(Duration::from_secs(2))
        .secrets_backend(secrets.clone())
        .link_secrets(LinkSecrets::new(secrets))
        .provider_supervision(
            ProviderSupervision::default()
                .start_poll_interval(Duration::from_millis(100))
                .health_interval(Duration::from_millis(200))
                .health_timeout(Duration::from_millis(500))
                .start_timeout(Duration::from_secs(5))
                .backoff(Duration::from_millis(100), Duration::from_millis(400))
                .quick_exits(3, Duration::from_secs(5))
                .stop_timeout(Duration::from_secs(3))
                .nats_url(url.clone()),
        );
    let host = within(Host::new(host_nats, config, Arc::new(runtime)).start())
        .await
        .unwrap();
    let client = Client::new(nats.clone(), lattice.clone());
    let on_host = client.host(host.host_id());
    let id: ProviderId = "keyvalue".parse().unwrap();
    let wait_for = |condition: fn(&ProviderInventory) -> bool| {
        let on_host = on_host.clone();
        let id = id.clone();
        async move {
            within(on_host.wait_for_provider(&id, |p| p.is_some_and(condition)))
                .await
                .unwrap()
                .unwrap()
        }
    };
    let expected = lattice_provider_keyvalue::probe_message(marker.as_bytes());

    // Revision 1: its secret resolves; the process has it.
    within(on_host.apply_provider(&spec(1, "probe/value")))
        .await
        .unwrap();
    wait_for(|p| p.status.state == ProviderState::Running && p.revision == Some(1.into())).await;
    assert_eq!(health(&nats).await.message.as_deref(), Some(&*expected));
    let pid = host.provider_process_id(&id).expect("a process runs");

    // Revision 2 names a secret the backend does not have: that revision fails, naming the
    // backend and key; revision 1's process keeps running and serving.
    within(on_host.apply_provider(&spec(2, "probe/missing")))
        .await
        .unwrap();
    let entry = wait_for(|p| {
        p.status
            .reason
            .as_ref()
            .is_some_and(|r| r.code == ReasonCode::SecretNotFound)
    })
    .await;
    let reason = entry.status.reason.as_ref().unwrap();
    assert!(
        reason.message.contains(BACKEND) && reason.message.contains("probe/missing"),
        "{reason:?}"
    );
    assert_eq!(entry.status.state, ProviderState::Running, "{entry:?}");
    assert_eq!(entry.revision, Some(1.into()));
    assert_eq!(host.provider_process_id(&id), Some(pid));
    assert_eq!(health(&nats).await.message.as_deref(), Some(&*expected));

    // A restart resolves the secret again and hands it to the new process. (The inventory
    // still says `running` during the backoff: wait for the `running` event that follows the
    // restart's `starting`.)
    let mut events = nats
        .subscribe("wasmbus.status.v2alpha1.default.provider.host-1.keyvalue")
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut seen = Vec::new();
    within(async {
        while let Some(message) = events.next().await {
            let event = ProviderStatusEvent::decode(&message.payload).unwrap();
            seen.push(event.status.state);
            if seen.ends_with(&[ProviderState::Starting, ProviderState::Running]) {
                return;
            }
        }
    })
    .await;
    let restarted = wait_for(|p| p.status.state == ProviderState::Running && p.restarts == 1).await;
    assert_eq!(restarted.revision, Some(1.into()));
    assert_ne!(host.provider_process_id(&id), Some(pid));
    assert_eq!(health(&nats).await.message.as_deref(), Some(&*expected));

    // A component's link to the provider with a secret: the host seals it to the xkey it
    // generated for the provider (registered with its `LinkSecrets` when it started the
    // process; this test never calls `provider_key`), and the provider opens it with the seed
    // from its host data (it refuses a link whose secrets do not open).
    let greeter =
        ComponentSpecDraft::new("greeter", example_component_ref("greeter/greeter-v1.wasm"))
            .config_value("greeting", "Hi")
            .link(
                LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                    .target_config_value("bucket", "visits")
                    .target_secret(SecretRefDraft::new("probe", BACKEND, "probe/value")),
            )
            .validate()
            .unwrap();
    within(client.apply_and_wait(host.host_id(), &greeter, DEADLINE))
        .await
        .unwrap();
    assert_eq!(
        health(&nats).await.message.as_deref(),
        Some(&*format!("{expected}, link-{expected}"))
    );

    // Never exposed: the inventory, the status events, every message on NATS, the logs.
    let inventory = within(on_host.inventory()).await.unwrap();
    let inventory = serde_json::to_string(&inventory).unwrap();
    assert!(inventory.contains(r#""keyvalue""#), "{inventory}");
    assert!(!inventory.contains(&marker), "{inventory}");
    nats.flush().await.unwrap();
    let tapped = wiretap.lock().unwrap().clone();
    let events: Vec<_> = tapped
        .iter()
        .filter(|(subject, _, _)| subject.starts_with("wasmbus.status."))
        .collect();
    assert!(
        events
            .iter()
            .any(|(_, _, payload)| contains(payload, "secret_not_found")),
        "the failure event was tapped"
    );
    for (subject, headers, payload) in &tapped {
        assert!(
            !contains(payload, &marker) && !headers.contains(&marker),
            "the secret travelled in the clear on `{subject}`"
        );
    }
    let logs = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        logs.contains("provider secrets resolved"),
        "debug logs were captured"
    );
    assert!(!logs.contains(&marker), "the secret is in the host's logs");

    drop(host);
    drop(server);
}
