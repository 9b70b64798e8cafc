//! Secrets delivered and never exposed, end to end: a real nats-server, this crate's backend
//! as a process (its log at debug level captured), a host with the wasmtime runtime and its
//! own tracing at debug level captured, a real component (`examples/components/secret-reader`)
//! reading its secret through `wasmcloud:secrets`, a provider receiving the same secret sealed
//! in its link, and the scheduler rolling the component out.
//!
//! The secret's value is a unique marker. It must arrive (the component reads it, the provider
//! opens it) and appear nowhere else: not in the inventory, not in any status event, not in
//! the host's or the backend's logs, not in the rollout store — and not in the clear in any
//! message on the NATS server at all (a wiretap on `>`).

mod support;

use async_nats::jetstream;
use futures::StreamExt as _;
use lattice_client::{Client, Discover, WaitError};
use lattice_host::{Host, HostConfig, HostHandle, Invoker, LinkSecrets, NatsSecretsBackend};
use lattice_local::{AcceptAll, LinkCall, NatsServer};
use lattice_provider::{ProviderHandle, ProviderServer, secrets::open_link};
use lattice_rollout::{
    AppName, HostSelector, Placement, RolloutOptions, RolloutStore, Scheduler, Strategy,
};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft, SecretRefDraft};
use lattice_status::{ReasonCode, RolloutState, StatusReason};
use lattice_test_support::example_component_ref;
use nkeys::XKey;
use std::{
    sync::{Arc, Mutex},
    time::Duration,
};
use support::{BackendProcess, cli, keygen, marker, within};

const GREET: &str = "lattice:greeter/greet@0.1.0";

/// Every message the NATS server carried while the test ran: subject, headers, payload.
type Wiretap = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

struct Fixture {
    server: NatsServer,
    backend: Option<BackendProcess>,
    nats: async_nats::Client,
    lattice: LatticeName,
    client: Client,
    host: HostHandle,
    _provider: ProviderHandle,
    provider_calls: Arc<AcceptAll>,
    provider_key: XKey,
    host_key: String,
    wiretap: Wiretap,
    secret: String,
}

impl Fixture {
    /// Everything running, the secret `db/password` stored (through the CLI, from stdin) and
    /// readable by the component `reader` and the provider `db`. With `wiretap`, every message
    /// on the server is recorded — the tap is a subscriber to every subject, so a request
    /// nobody else answers waits for its timeout instead of failing with "no responders".
    async fn start(wiretap: bool) -> Self {
        let server = NatsServer::start().unwrap();
        let url = server.url();
        let nats = within(async_nats::connect(&url)).await.unwrap();
        let lattice: LatticeName = "secrets".parse().unwrap();

        let tapped = Wiretap::default();
        let mut all = if wiretap {
            Some(nats.subscribe(">").await.unwrap())
        } else {
            None
        };
        nats.flush().await.unwrap();
        let tap = tapped.clone();
        tokio::spawn(async move {
            let Some(all) = all.as_mut() else { return };
            while let Some(message) = all.next().await {
                let headers = format!("{:?}", message.headers);
                tap.lock().unwrap().push((
                    message.subject.to_string(),
                    headers,
                    message.payload.to_vec(),
                ));
            }
        });

        let backend = BackendProcess::start(&url, &keygen());
        let secret = marker("db-password");
        let (ok, _, err) = cli(&url, &["put", "db/password"], &secret);
        assert!(ok, "{err}");
        for (entity, key) in [
            ("reader", "db/password"),
            ("reader", "db/missing"),
            ("db", "db/password"),
        ] {
            let (ok, _, err) = cli(&url, &["allow", entity, key], "");
            assert!(ok, "{err}");
        }

        // The provider, with the xkey its host would generate for it.
        let provider_key = XKey::new();
        let provider_calls = Arc::new(AcceptAll::new());
        let provider = within(
            ProviderServer::new(
                within(async_nats::connect(&url)).await.unwrap(),
                lattice.clone(),
                "db".parse().unwrap(),
                provider_calls.clone(),
            )
            .instance_xkey(&provider_key)
            .on_host("host-1".parse().unwrap())
            .serve(),
        )
        .await
        .unwrap();

        let host_nats = within(async_nats::connect(&url)).await.unwrap();
        let backend_client = Arc::new(NatsSecretsBackend::new(host_nats.clone()));
        let link_secrets = LinkSecrets::new(backend_client.clone())
            .provider_key("db".parse().unwrap(), &provider_key.public_key())
            .unwrap();
        let host_key = link_secrets.host_public_key();
        let runtime = WasmtimeRuntime::builder(host_nats.clone(), &lattice)
            .build()
            .unwrap();
        let host = within(
            Host::new(
                host_nats,
                HostConfig::new("host-1".parse().unwrap(), lattice.clone())
                    .secrets_backend(backend_client)
                    .link_secrets(link_secrets),
                Arc::new(runtime),
            )
            .start(),
        )
        .await
        .unwrap();
        let client =
            Client::new(nats.clone(), lattice.clone()).with_timeout(Duration::from_secs(5));
        Self {
            server,
            backend: Some(backend),
            nats,
            lattice,
            client,
            host,
            _provider: provider,
            provider_calls,
            provider_key,
            host_key,
            wiretap: tapped,
            secret,
        }
    }

    /// The `reader` component at `revision`, reading `key` as its secret `db-password`, with
    /// a link to the provider `db` carrying `db/password` as the provider's `password`.
    fn reader(revision: u64, key: &str) -> ComponentSpec {
        ComponentSpecDraft::new(
            "reader",
            example_component_ref("secret-reader/secret-reader.wasm"),
        )
        .revision(revision)
        .secret(SecretRefDraft::new("db-password", "nats-kv", key))
        .link(
            LinkDraft::new("db", "wasi", "keyvalue", ["store"]).target_secret(SecretRefDraft::new(
                "password",
                "nats-kv",
                "db/password",
            )),
        )
        .validate()
        .unwrap()
    }

    /// What the component answers for its secret `name`: the value reversed.
    async fn read(&self, name: &str) -> String {
        let invoker = within(Invoker::new(
            self.nats.clone(),
            &self.lattice,
            &"reader".parse().unwrap(),
        ))
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(10));
        let (answer,) = within(invoker.invoke::<_, (String,)>(GREET, "hello", (name.to_owned(),)))
            .await
            .unwrap();
        answer
    }

    fn reversed_secret(&self) -> String {
        self.secret.chars().rev().collect()
    }

    async fn failed(&self, spec: &ComponentSpec) -> StatusReason {
        match within(
            self.client
                .apply_and_wait(self.host.host_id(), spec, Duration::from_secs(15)),
        )
        .await
        {
            Err(WaitError::Failed { reason, .. }) => reason,
            other => panic!("expected a failed apply, got {other:?}"),
        }
    }

    /// Asserts the marker is nowhere in the host's logs, the backend's logs or the clear
    /// traffic, and that each of them is not empty (so the check means something).
    fn assert_not_exposed(&self) {
        let secret = &self.secret;
        let logs =
            String::from_utf8_lossy(&lattice_test_support::captured_logs("debug").lock().unwrap())
                .into_owned();
        assert!(
            logs.contains("component secrets resolved") && logs.contains("secret fetched"),
            "the host logs at debug level"
        );
        assert!(!logs.contains(secret), "the host logged the secret");
        if let Some(backend) = &self.backend {
            let backend_logs = backend.logs();
            assert!(backend_logs.contains("secret served"), "{backend_logs}");
            assert!(
                !backend_logs.contains(secret),
                "the backend logged the secret"
            );
        }
        let tap = self.wiretap.lock().unwrap();
        for (subject, headers, payload) in tap.iter() {
            assert!(
                !String::from_utf8_lossy(payload).contains(secret) && !headers.contains(secret),
                "the secret travelled in the clear on `{subject}`"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_the_component_and_the_provider_and_nothing_else() {
    let logs = lattice_test_support::captured_logs("debug");
    let fixture = Fixture::start(true).await;
    let lattice = &fixture.lattice;

    // Rolled out by the scheduler, so the rollout store holds the spec.
    let store = within(RolloutStore::open(fixture.nats.clone(), lattice, 10))
        .await
        .unwrap();
    let scheduler = Scheduler::new(fixture.client.clone(), store)
        .with_discovery(Discover::expecting(1).window(Duration::from_secs(10)));
    let mut options = RolloutOptions::default();
    options.min_healthy = Duration::from_millis(100);
    options.per_host_deadline = Duration::from_secs(15);
    let app: AppName = "vault".parse().unwrap();
    let record = within(scheduler.rollout(
        &app,
        vec![Placement::new(
            Fixture::reader(1, "db/password"),
            HostSelector::All,
        )],
        Strategy::AllAtOnce,
        options,
    ))
    .await
    .unwrap();
    assert_eq!(record.state, RolloutState::Succeeded, "{record:?}");

    // Delivered: the component read it through wasmcloud:secrets ...
    assert_eq!(fixture.read("db-password").await, fixture.reversed_secret());
    assert_eq!(fixture.read("nope").await, "error: no such secret");
    // ... and the provider opened it from its link, sealed by the host for its xkey.
    let put = fixture
        .provider_calls
        .calls()
        .into_iter()
        .find_map(|call| match call {
            LinkCall::Put(put) => Some(put),
            _ => None,
        })
        .expect("the provider got the link");
    assert!(put.target_secrets.is_some(), "the secret travels sealed");
    let (_, target) = open_link(&put, &fixture.provider_key, Some(&fixture.host_key)).unwrap();
    assert_eq!(
        target.get("password").and_then(|v| v.as_string()),
        Some(fixture.secret.as_str())
    );

    // Never exposed: the inventory, ...
    let inventory = within(fixture.client.inventory(fixture.host.host_id()))
        .await
        .unwrap();
    let inventory = serde_json::to_string(&inventory).unwrap();
    assert!(
        inventory.contains(r#""component_id":"reader""#),
        "{inventory}"
    );
    assert!(!inventory.contains(&fixture.secret));
    assert!(!format!("{:?}", fixture.host.inventory()).contains(&fixture.secret));

    // ... every status event (component, link, rollout; v2alpha1 and 1.x), ...
    let events: Vec<Vec<u8>> = fixture
        .wiretap
        .lock()
        .unwrap()
        .iter()
        .filter(|(subject, _, _)| {
            subject.starts_with(&format!("wasmbus.status.v2alpha1.{lattice}."))
                || subject.starts_with(&format!("wasmbus.evt.{lattice}."))
        })
        .map(|(_, _, payload)| payload.clone())
        .collect();
    assert!(events.len() >= 5, "{} events", events.len());
    for event in &events {
        assert!(!String::from_utf8_lossy(event).contains(&fixture.secret));
    }

    // ... the rollout store (every message the bucket ever held), ...
    let js = jetstream::new(fixture.nats.clone());
    let mut stream = js
        .get_stream(format!("KV_{}", lattice_ctl::rollout::bucket(lattice)))
        .await
        .unwrap();
    let last = stream.info().await.unwrap().state.last_sequence;
    let mut contents = String::new();
    for sequence in 1..=last {
        if let Ok(message) = stream.get_raw_message(sequence).await {
            contents.push_str(&String::from_utf8_lossy(&message.payload));
        }
    }
    assert!(contents.contains("db/password"), "the store holds the spec");
    assert!(!contents.contains(&fixture.secret));

    // ... the logs and the traffic.
    assert!(
        fixture.wiretap.lock().unwrap().len() > 20,
        "the wiretap saw the traffic"
    );
    fixture.assert_not_exposed();
    drop(logs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_secret_or_a_down_backend_fails_the_apply_and_the_previous_revision_serves() {
    let _logs = lattice_test_support::captured_logs("debug");
    let mut fixture = Fixture::start(false).await;
    let host_id = fixture.host.host_id().clone();
    within(fixture.client.apply_and_wait(
        &host_id,
        &Fixture::reader(1, "db/password"),
        Duration::from_secs(15),
    ))
    .await
    .unwrap();
    assert_eq!(fixture.read("db-password").await, fixture.reversed_secret());

    // A key the backend does not have.
    let reason = fixture.failed(&Fixture::reader(2, "db/missing")).await;
    assert_eq!(reason.code, ReasonCode::SecretNotFound, "{reason:?}");
    assert_eq!(
        reason.message,
        "secret `db-password`: secret `db/missing` not found in backend `nats-kv`"
    );
    assert_eq!(fixture.read("db-password").await, fixture.reversed_secret());

    // A key the component may not read.
    let reason = fixture.failed(&Fixture::reader(3, "db/other")).await;
    assert_eq!(reason.code, ReasonCode::SecretDenied, "{reason:?}");
    assert!(reason.message.contains("db/other"), "{reason:?}");

    // The backend down.
    fixture.backend.take().unwrap().stop();
    let reason = fixture.failed(&Fixture::reader(4, "db/password")).await;
    assert_eq!(reason.code, ReasonCode::SecretsUnavailable, "{reason:?}");
    assert!(
        reason
            .message
            .contains("secrets backend `nats-kv` is unavailable"),
        "{reason:?}"
    );
    assert_eq!(fixture.read("db-password").await, fixture.reversed_secret());
    let inventory = within(fixture.client.inventory(&host_id)).await.unwrap();
    let serving = inventory
        .component(&"reader".parse().unwrap())
        .unwrap()
        .serving
        .clone()
        .unwrap();
    assert_eq!(serving.revision.0, 1, "revision 1 still serves");
    fixture.assert_not_exposed();
    drop(fixture.server);
}
