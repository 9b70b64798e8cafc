//! The published wasmCloud 1.x control-interface client (`wasmcloud-control-interface`
//! 3.0.1, the one `wash` and wadm use) against lattice hosts on a real nats-server: it lists
//! every host, parses every inventory, scales and updates a component, and receives the host
//! heartbeat as a CloudEvent it parses with the CloudEvents SDK it uses itself.

use futures::StreamExt;
use lattice_host::{Host, HostConfig, HostHandle, RevisionEchoRuntime, V1LatticeWide};
use lattice_spec::{ComponentSpecDraft, LatticeName};
use lattice_test_support::NatsServer;
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    future::Future,
    sync::Arc,
    time::Duration,
};
use wasmcloud_control_interface::{Client as V1Client, ClientBuilder, HostInventory};

/// Every await in a test sits under this bound.
const BOUND: Duration = Duration::from_secs(30);

/// How long the official client gathers ping replies. It always waits this long.
const AUCTION: Duration = Duration::from_millis(500);

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// A real nats-server, lattice hosts on it, and the official 1.x client.
struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    dir: tempfile::TempDir,
    v1: V1Client,
    v1_nats: async_nats_1x::Client,
}

impl Lattice {
    async fn start() -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .expect("nats-server starts");
        let v1_nats = within(async_nats_1x::connect(server.url()))
            .await
            .expect("the 1.x client connects");
        let v1 = ClientBuilder::new(v1_nats.clone())
            .lattice("interop")
            .timeout(Duration::from_secs(5))
            .auction_timeout(AUCTION)
            .build();
        Self {
            server,
            lattice: "interop".parse().unwrap(),
            dir: tempfile::tempdir().unwrap(),
            v1,
            v1_nats,
        }
    }

    async fn nats(&self) -> async_nats::Client {
        within(async_nats::connect(self.server.url()))
            .await
            .unwrap()
    }

    fn config(&self, id: &str) -> HostConfig {
        HostConfig::new(id.parse().unwrap(), self.lattice.clone()).label("role", id)
    }

    async fn host(&self, config: HostConfig) -> HostHandle {
        within(Host::new(self.nats().await, config, Arc::new(RevisionEchoRuntime)).start())
            .await
            .expect("host starts")
    }

    /// Writes a real WebAssembly component and returns its `file://` reference.
    fn component(&self, name: &str) -> String {
        let path = self.dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, lattice_artifact::testing::component_importing(&[])).unwrap();
        format!("file://{}", path.display())
    }

    /// Asks for `host`'s inventory with the official client until `done` holds for it.
    async fn inventory_until(
        &self,
        host: &str,
        what: &str,
        done: impl Fn(&HostInventory) -> bool,
    ) -> HostInventory {
        let read = || async {
            let reply = within(self.v1.get_host_inventory(host)).await.unwrap();
            assert!(reply.succeeded(), "{}", reply.message());
            reply.into_data().expect("an inventory")
        };
        lattice_test_support::read_until(what, BOUND, read, done, String::new).await
    }
}

fn component_ids(inventory: &HostInventory) -> Vec<&str> {
    inventory.components().iter().map(|c| c.id()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_lists_every_host_and_parses_each_inventory() {
    let lattice = Lattice::start().await;
    let ids = ["host-a", "host-b", "host-c"];
    let mut hosts = Vec::new();
    for id in ids {
        hosts.push(lattice.host(lattice.config(id)).await);
    }
    let client = lattice_client::Client::new(lattice.nats().await, lattice.lattice.clone());
    let web = ComponentSpecDraft::new("web", lattice.component("web"))
        .revision(3)
        .scale(2)
        .validate()
        .unwrap();
    let api = ComponentSpecDraft::new("api", lattice.component("api"))
        .validate()
        .unwrap();
    for (host, spec) in [("host-a", &web), ("host-c", &web), ("host-c", &api)] {
        within(client.apply_and_wait(&host.parse().unwrap(), spec, Duration::from_secs(20)))
            .await
            .unwrap();
    }

    let started = tokio::time::Instant::now();
    let replies = within(lattice.v1.get_hosts()).await.unwrap();
    assert!(
        started.elapsed() >= AUCTION,
        "the client gathers for its whole window"
    );
    let listed: BTreeSet<String> = replies
        .into_iter()
        .map(|reply| {
            assert!(reply.succeeded(), "{}", reply.message());
            let host = reply.into_data().expect("a host");
            assert_eq!(host.lattice(), "interop");
            assert_eq!(host.labels()["role"], host.id());
            assert_eq!(host.friendly_name(), host.id());
            assert!(host.uptime_human().is_some());
            assert!(semver::Version::parse(host.version().unwrap()).is_ok());
            host.id().to_owned()
        })
        .collect();
    assert_eq!(listed, BTreeSet::from(ids.map(String::from)));

    let expected: BTreeMap<&str, Vec<&str>> = BTreeMap::from([
        ("host-a", vec!["web"]),
        ("host-b", vec![]),
        ("host-c", vec!["api", "web"]),
    ]);
    for (host, components) in expected {
        let reply = within(lattice.v1.get_host_inventory(host)).await.unwrap();
        assert!(reply.succeeded(), "{}", reply.message());
        let inventory = reply.into_data().expect("an inventory");
        assert_eq!(inventory.host_id(), host);
        assert_eq!(inventory.labels()["role"], host);
        assert!(semver::Version::parse(inventory.version()).is_ok());
        assert_eq!(component_ids(&inventory), components, "{inventory:#?}");
        if let Some(described) = inventory.components().iter().find(|c| c.id() == "web") {
            assert_eq!(described.image_ref(), web.artifact().to_string());
            assert_eq!((described.revision(), described.max_instances()), (3, 2));
            assert_eq!(
                described.annotations().unwrap()["lattice.dev/revision"],
                "3"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_client_scales_and_updates_a_component_on_a_lattice_host() {
    let lattice = Lattice::start().await;
    let _host = lattice.host(lattice.config("host-a")).await;
    let (first, second) = (lattice.component("web-1"), lattice.component("web-2"));

    let reply = within(
        lattice
            .v1
            .scale_component("host-a", &first, "web", 3, None, vec![], false),
    )
    .await
    .unwrap();
    assert!(reply.succeeded(), "{}", reply.message());
    lattice
        .inventory_until("host-a", "web at 3", |i| {
            i.components()
                .iter()
                .any(|c| c.id() == "web" && c.max_instances() == 3 && c.revision() == 1)
        })
        .await;

    let reply = within(lattice.v1.update_component("host-a", "web", &second, None))
        .await
        .unwrap();
    assert!(reply.succeeded(), "{}", reply.message());
    lattice
        .inventory_until("host-a", "web on the second artifact", |i| {
            i.components()
                .iter()
                .any(|c| c.image_ref() == second && c.revision() == 2 && c.max_instances() == 3)
        })
        .await;

    let reply =
        within(
            lattice
                .v1
                .scale_component("host-a", &second, "web", 0, None, vec![], false),
        )
        .await
        .unwrap();
    assert!(reply.succeeded(), "{}", reply.message());
    lattice
        .inventory_until("host-a", "web stopped", |i| i.components().is_empty())
        .await;

    // Provider operations are refused with the reason, not left unanswered.
    let reply = within(
        lattice
            .v1
            .start_provider("host-a", "ghcr.io/a/p:1", "p", None, vec![]),
    )
    .await
    .unwrap();
    assert!(!reply.succeeded());
    assert!(
        reply.message().contains("provider.start"),
        "{}",
        reply.message()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lattice_wide_link_operations_are_refused_with_the_reason_when_configured() {
    let lattice = Lattice::start().await;
    let link = wasmcloud_control_interface::Link::builder()
        .source_id("web")
        .target("kv")
        .name("default")
        .wit_namespace("wasi")
        .wit_package("keyvalue")
        .interfaces(vec!["store".into()])
        .build()
        .unwrap();

    // By default lattice hosts leave lattice-wide operations to 1.x hosts; with none in the
    // lattice, the request fails at once instead of waiting out its timeout.
    let _quiet = lattice.host(lattice.config("host-a")).await;
    let started = tokio::time::Instant::now();
    let error = within(lattice.v1.put_link(link.clone())).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5), "{error}");
    assert!(error.to_string().contains("no responders"), "{error}");

    let _refusing = lattice
        .host(
            lattice
                .config("host-b")
                .v1_lattice_wide(V1LatticeWide::Refuse),
        )
        .await;
    let reply = within(lattice.v1.put_link(link)).await.unwrap();
    assert!(!reply.succeeded());
    assert!(
        reply.message().contains("`link.put` is not supported"),
        "{}",
        reply.message()
    );
    let reply = within(lattice.v1.put_config(
        "redis",
        HashMap::from([("url".to_owned(), "redis://".to_owned())]),
    ))
    .await
    .unwrap();
    assert!(!reply.succeeded());
    assert!(
        reply.message().contains("`config.put` is not supported"),
        "{}",
        reply.message()
    );
}

/// The data of a `host_heartbeat` as wadm decodes it (`HostHeartbeat` in wadm's
/// `crates/wadm/src/events/types.rs`): `version` must be a semantic version and
/// `friendly_name`, `labels`, `uptime_human`, `components` and `providers` are required.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct WadmHostHeartbeat {
    components: Vec<wasmcloud_control_interface::ComponentDescription>,
    providers: Vec<wasmcloud_control_interface::ProviderDescription>,
    #[serde(default, alias = "id")]
    host_id: String,
    #[serde(default)]
    issuer: String,
    friendly_name: String,
    labels: HashMap<String, String>,
    version: semver::Version,
    uptime_human: String,
    uptime_seconds: u64,
}

/// The data of a `host_started` as wadm decodes it (`HostStarted`).
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct WadmHostStarted {
    labels: HashMap<String, String>,
    friendly_name: String,
}

fn json_data(event: &cloudevents::Event) -> serde_json::Value {
    match event.data() {
        Some(cloudevents::Data::Json(value)) => value.clone(),
        other => panic!("the data is not JSON: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_is_a_cloudevent_the_1x_client_and_wadm_parse() {
    use cloudevents::AttributesReader;

    let lattice = Lattice::start().await;
    // The client's receiver drops anything that is not a CloudEvent for the SDK.
    let mut events = within(
        lattice
            .v1
            .events_receiver(vec!["host_started".into(), "host_heartbeat".into()]),
    )
    .await
    .unwrap();
    // The receiver's subscriptions are live once the server echoed a later message.
    let probe = lattice.v1_nats.new_inbox();
    let mut echo = lattice.v1_nats.subscribe(probe.clone()).await.unwrap();
    lattice
        .v1_nats
        .publish(probe, Vec::new().into())
        .await
        .unwrap();
    within(echo.next()).await.unwrap();

    let _host = lattice
        .host(
            lattice
                .config("host-a")
                .heartbeat_interval(Duration::from_millis(200)),
        )
        .await;
    let client = lattice_client::Client::new(lattice.nats().await, lattice.lattice.clone());
    let web = ComponentSpecDraft::new("web", lattice.component("web"))
        .validate()
        .unwrap();

    let mut started = false;
    let mut applied = false;
    loop {
        let event = within(events.recv()).await.expect("the receiver is open");
        assert_eq!(event.source(), "host-a");
        assert_eq!(event.specversion().as_str(), "1.0");
        assert!(event.time().is_some(), "a time the SDK parsed");
        match event.ty() {
            "com.wasmcloud.lattice.host_started" => {
                let data: WadmHostStarted = serde_json::from_value(json_data(&event)).unwrap();
                assert_eq!(data.friendly_name, "host-a");
                started = true;
            }
            "com.wasmcloud.lattice.host_heartbeat" => {
                let data = json_data(&event);
                let inventory: HostInventory = serde_json::from_value(data.clone()).unwrap();
                let wadm: WadmHostHeartbeat = serde_json::from_value(data).unwrap();
                assert_eq!(wadm.host_id, "host-a");
                assert_eq!(wadm.labels["role"], "host-a");
                if component_ids(&inventory) == ["web"] {
                    assert_eq!(wadm.components[0].image_ref(), web.artifact().to_string());
                    break;
                }
                if !applied {
                    within(client.apply_and_wait(
                        &"host-a".parse().unwrap(),
                        &web,
                        Duration::from_secs(20),
                    ))
                    .await
                    .unwrap();
                    applied = true;
                }
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert!(started, "host_started came before the heartbeats");
}
