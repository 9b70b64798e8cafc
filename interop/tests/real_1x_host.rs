//! Opt-in: lattice against a **real** wasmCloud 1.x host — `wasmcloud-host` 0.27.1, the host
//! library of wasmCloud v1.9.2, built into a small binary (see `interop/README.md`) — on a
//! real nats-server with JetStream:
//!
//! - discovery in a mixed lattice: the lattice client lists the 1.x host as speaking `v1`
//!   and host-kit hosts as speaking `v1` and `v2alpha1`; the official 1.x client lists all;
//! - the lattice client's 1.x fallback applies a spec to the real host, and a later revision
//!   without a link deletes that link there;
//! - a rollout across host-kit hosts and the real host rolls forward, then back; a rollout
//!   to a new artifact succeeds there.
//!
//! The rollout tests call the real host's `shop` over wRPC: its code says which artifact it
//! is, so they assert the code that serves, not only what the inventory reports (a 1.x host
//! can report a new reference while its old code serves; see `interop/README.md`, "What the
//! real host showed").
//!
//! Every test is ignored unless asked for, and needs the binary's path in
//! `LATTICE_1X_HOST`: `LATTICE_1X_HOST=/path/to/host1x cargo test --manifest-path
//! interop/Cargo.toml -- --ignored`. Without it, an ignored test panics instead of passing.

use futures::StreamExt;
use futures::future::BoxFuture;
use lattice_client::{Applied, Client, Discover};
use lattice_host::{Host, HostConfig, HostHandle, Invoker, RevisionEchoRuntime};
use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal};
use lattice_provider::{LinkHandler, ProviderHandle, ProviderServer};
use lattice_rollout::{
    FailureCode, HostSelector, Placement, RolloutOptions, RolloutRecord, RolloutStore, Scheduler,
    Strategy,
};
use lattice_spec::{ComponentSpec, ComponentSpecDraft, HostId, LatticeName, LinkDraft, Revision};
use lattice_status::{ComponentState, RolloutState};
use lattice_test_support::NatsServer;
use std::{
    collections::{BTreeMap, BTreeSet},
    future::Future,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};
use wasmcloud_control_interface::{Client as V1Client, ClientBuilder, HostInventory};

/// Every await in a test sits under this bound.
const BOUND: Duration = Duration::from_secs(60);

/// How long a real 1.x host may take to answer its first ping.
const READY: Duration = Duration::from_secs(30);

/// How long a real 1.x host may take to exit after SIGINT before it is killed.
const STOP: Duration = Duration::from_secs(5);

const LATTICE: &str = "interop";

async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

/// The real 1.x host binary, from `LATTICE_1X_HOST`.
fn host_binary() -> PathBuf {
    let Some(path) = std::env::var_os("LATTICE_1X_HOST") else {
        panic!(
            "LATTICE_1X_HOST is not set: these tests need a real wasmCloud 1.x host binary \
             (wasmcloud-host 0.27.1 built as described in interop/README.md); run them with \
             LATTICE_1X_HOST=/path/to/host1x cargo test --manifest-path interop/Cargo.toml -- --ignored"
        );
    };
    let path = PathBuf::from(path);
    assert!(
        path.is_file(),
        "LATTICE_1X_HOST={} is not a file (see interop/README.md)",
        path.display()
    );
    path
}

/// A real wasmCloud 1.x host process: stopped with SIGINT (killed if it does not stop in
/// time) and reaped when dropped.
struct RealHost {
    child: Child,
    id: String,
    log: PathBuf,
}

impl RealHost {
    /// Starts the binary on `nats_url` in `lattice` with a fresh host key (so its id is known
    /// before it answers), its output in a log file in `dir`.
    fn spawn(nats_url: &str, lattice: &str, dir: &std::path::Path) -> Self {
        let binary = host_binary();
        let key = nkeys::KeyPair::new_server();
        let id = key.public_key();
        let log = dir.join(format!("host1x-{id}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(&binary)
            .env("LATTICE", lattice)
            .env("NATS_URL", nats_url)
            .env("HOST_SEED", key.seed().unwrap())
            .env(
                "RUST_LOG",
                std::env::var("LATTICE_1X_HOST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        Self { child, id, log }
    }

    fn host_id(&self) -> HostId {
        self.id.parse().expect("a 1.x host id is a valid host id")
    }

    /// The end of the host's log, for failure messages.
    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Pings the lattice until this host answers its 1.x `host.ping`, and returns its answer.
    /// Each round gathers answers for a short window; no fixed sleep.
    async fn wait_ready(&mut self, nats: &async_nats::Client, lattice: &str) -> serde_json::Value {
        let subject = format!("wasmbus.ctl.v1.{lattice}.host.ping");
        let deadline = tokio::time::Instant::now() + READY;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("the 1.x host exited ({status}):\n{}", self.log_tail());
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the 1.x host did not answer host.ping within {READY:?}:\n{}",
                self.log_tail()
            );
            let inbox = nats.new_inbox();
            let mut answers = nats.subscribe(inbox.clone()).await.unwrap();
            nats.publish_with_reply(subject.clone(), inbox, Vec::new().into())
                .await
                .unwrap();
            let round = tokio::time::Instant::now() + Duration::from_millis(250);
            while let Ok(Some(answer)) = tokio::time::timeout_at(round, answers.next()).await {
                let Ok(reply) = serde_json::from_slice::<serde_json::Value>(&answer.payload) else {
                    continue;
                };
                if reply["response"]["id"] == self.id.as_str() {
                    return reply;
                }
            }
        }
    }
}

impl Drop for RealHost {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-INT", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + STOP;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                // A poll interval inside the deadline.
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // wasmcloud-host 0.27.1 logs a graceful stop within milliseconds, but after a
        // component update one of its tasks keeps a runtime worker busy and the process does
        // not exit; it has nothing left to clean up by then.
        eprintln!(
            "the 1.x host {} logged its stop but did not exit within {STOP:?} of SIGINT; killing it",
            self.id
        );
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real nats-server, a real 1.x host on it, host-kit hosts, the lattice client and the
/// official 1.x client. Fields drop in order: hosts before the server.
struct Lattice {
    real: RealHost,
    hosts: Vec<HostHandle>,
    client: Client,
    v1: V1Client,
    dir: tempfile::TempDir,
    server: NatsServer,
}

impl Lattice {
    /// Starts the server and the real 1.x host, waits until it answers, then starts the
    /// host-kit hosts `ids`.
    async fn start(ids: &[&str]) -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .expect("nats-server starts");
        let dir = tempfile::tempdir().unwrap();
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let mut real = RealHost::spawn(&server.url(), LATTICE, dir.path());
        within(real.wait_ready(&nats, LATTICE)).await;
        let lattice: LatticeName = LATTICE.parse().unwrap();
        let mut hosts = Vec::new();
        for id in ids {
            let nats = within(async_nats::connect(server.url())).await.unwrap();
            let config = HostConfig::new(id.parse().unwrap(), lattice.clone()).label("role", *id);
            hosts.push(
                within(Host::new(nats, config, Arc::new(RevisionEchoRuntime)).start())
                    .await
                    .expect("host starts"),
            );
        }
        let v1_nats = within(async_nats_1x::connect(server.url()))
            .await
            .expect("the 1.x client connects");
        let v1 = ClientBuilder::new(v1_nats)
            .lattice(LATTICE)
            .timeout(Duration::from_secs(5))
            .auction_timeout(Duration::from_millis(500))
            .build();
        Self {
            real,
            hosts,
            client: Client::new(nats, lattice).with_v1_fallback(true),
            v1,
            dir,
            server,
        }
    }

    /// The real host's inventory, read with the official client.
    async fn real_inventory(&self) -> HostInventory {
        let reply = within(self.v1.get_host_inventory(&self.real.id))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "the real host did not answer host.get: {e}\nits log ends:\n{}",
                    self.real.log_tail()
                )
            });
        assert!(reply.succeeded(), "{}", reply.message());
        reply.into_data().expect("an inventory")
    }

    /// Reads the real host's inventory with the official client until `done` holds.
    async fn real_inventory_until(
        &self,
        what: &str,
        done: impl Fn(&HostInventory) -> bool,
    ) -> HostInventory {
        lattice_test_support::read_until(
            what,
            BOUND,
            || self.real_inventory(),
            done,
            || self.real.log_tail(),
        )
        .await
    }

    /// The lattice's 1.x links, read with the official client until `done` holds. A 1.x host
    /// lists the links its watch of the lattice's KV bucket has seen, so they show up shortly
    /// after the write.
    async fn links_until(
        &self,
        what: &str,
        done: impl Fn(&[wasmcloud_control_interface::Link]) -> bool,
    ) -> Vec<wasmcloud_control_interface::Link> {
        let read = || async {
            let reply = within(self.v1.get_links()).await.unwrap();
            assert!(reply.succeeded(), "{}", reply.message());
            reply.into_data().unwrap_or_default()
        };
        lattice_test_support::read_until(
            what,
            BOUND,
            read,
            |links: &Vec<_>| done(links),
            || self.real.log_tail(),
        )
        .await
    }

    /// A `file://` reference to a copy of the committed component `interop/components/{name}.wasm`
    /// in this lattice's directory (the real host loads files; the copy gives each lattice
    /// its own references).
    fn component(&self, name: &str) -> String {
        let path = self.dir.path().join(format!("{name}.wasm"));
        if !path.exists() {
            let committed = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("components")
                .join(format!("{name}.wasm"));
            std::fs::copy(&committed, &path)
                .unwrap_or_else(|e| panic!("cannot copy {}: {e}", committed.display()));
        }
        format!("file://{}", path.display())
    }

    /// Waits until the lattice holds exactly the `kv` link of `shop`, and asserts that the
    /// configuration it names sets `url`.
    async fn assert_kv_link_url(&self, url: &str) {
        let links = self
            .links_until("the kv link on the real host", |links| {
                link_names(links, "shop") == BTreeSet::from(["default->kv".to_owned()])
            })
            .await;
        let config = within(self.v1.get_config(&links[0].target_config()[0]))
            .await
            .unwrap();
        assert_eq!(config.into_data().unwrap_or_default()["url"], url);
    }

    /// What the `shop` running on the real host answers (its code says its version).
    /// The lattice hosts of these tests serve another export, so only the real host answers.
    async fn real_shop_answer(&self) -> String {
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        let invoker = Invoker::new(nats, &LATTICE.parse().unwrap(), &"shop".parse().unwrap())
            .await
            .unwrap();
        let (answer,) = within(invoker.invoke::<_, (String,)>(
            "lattice:greeter/greet@0.1.0",
            "hello",
            ("test".to_owned(),),
        ))
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the real host's shop did not answer: {e}\nits log ends:\n{}",
                self.real.log_tail()
            )
        });
        answer
    }
}

fn annotation<'a>(inventory: &'a HostInventory, component: &str, key: &str) -> Option<&'a str> {
    inventory
        .components()
        .iter()
        .find(|c| c.id() == component)
        .and_then(|c| c.annotations())
        .and_then(|a| a.get(key))
        .map(String::as_str)
}

fn link_names(links: &[wasmcloud_control_interface::Link], source: &str) -> BTreeSet<String> {
    links
        .iter()
        .filter(|l| l.source_id() == source)
        .map(|l| format!("{}->{}", l.name(), l.target()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real wasmCloud 1.x host binary: set LATTICE_1X_HOST (see interop/README.md)"]
async fn a_mixed_lattice_is_discovered_by_the_lattice_client_and_the_official_client() {
    let lattice = Lattice::start(&["host-a", "host-b"]).await;

    let hosts = within(lattice.client.discover_hosts(Discover::expecting(3)))
        .await
        .unwrap();
    let versions: BTreeMap<String, Vec<String>> = hosts
        .iter()
        .map(|h| (h.host_id.to_string(), h.api_versions.clone()))
        .collect();
    let both = vec!["v1".to_owned(), "v2alpha1".to_owned()];
    assert_eq!(
        versions,
        BTreeMap::from([
            (lattice.real.id.clone(), vec!["v1".to_owned()]),
            ("host-a".to_owned(), both.clone()),
            ("host-b".to_owned(), both),
        ]),
        "{hosts:#?}"
    );
    let real = hosts
        .iter()
        .find(|h| h.host_id == lattice.real.host_id())
        .unwrap();
    // host1x reports the wasmCloud release it embeds (see interop/README.md).
    assert_eq!(real.version, "1.9.2", "{real:?}");
    assert!(!real.friendly_name.is_empty(), "{real:?}");
    assert_eq!(real.labels["hostcore.os"], std::env::consts::OS, "{real:?}");

    let replies = within(lattice.v1.get_hosts()).await.unwrap();
    let listed: BTreeSet<String> = replies
        .into_iter()
        .map(|reply| {
            assert!(reply.succeeded(), "{}", reply.message());
            let host = reply.into_data().expect("a host");
            assert_eq!(host.lattice(), LATTICE);
            host.id().to_owned()
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            lattice.real.id.clone(),
            "host-a".to_owned(),
            "host-b".to_owned()
        ])
    );
    // The official client parses the real host's inventory as it parses ours.
    let inventory = lattice.real_inventory().await;
    assert_eq!(inventory.host_id(), lattice.real.id);
    assert!(inventory.components().is_empty(), "{inventory:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real wasmCloud 1.x host binary: set LATTICE_1X_HOST (see interop/README.md)"]
async fn the_1x_fallback_applies_a_spec_to_a_real_host_and_removes_a_dropped_link() {
    let lattice = Lattice::start(&[]).await;
    let real = lattice.real.host_id();
    let greeter = lattice_test_support::example_component_ref("greeter/greeter-v1.wasm");
    let spec = |revision: u64, with_cache: bool| -> ComponentSpec {
        let mut draft = ComponentSpecDraft::new("greeter", greeter.clone())
            .revision(revision)
            .config_value("greeting", "Hello")
            .link(
                LinkDraft::new("kv", "wasi", "keyvalue", ["store", "atomics"])
                    .target_config_value("url", "redis://kv"),
            );
        if with_cache {
            draft =
                draft.link(LinkDraft::new("cache", "wasi", "keyvalue", ["store"]).name("cache"));
        }
        draft.validate().unwrap()
    };

    let first = spec(1, true);
    let report = within(lattice.client.apply_and_wait(&real, &first, BOUND))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", lattice.real.log_tail()));
    assert_eq!(report.applied, Applied::V1Fallback { lost: vec![] });
    assert_eq!(report.status.state, ComponentState::Running);

    // The real host runs it, with the revision and digest the fallback annotated.
    let inventory = lattice.real_inventory().await;
    let described = inventory
        .components()
        .iter()
        .find(|c| c.id() == "greeter")
        .unwrap_or_else(|| panic!("{inventory:#?}"));
    assert_eq!(described.image_ref(), greeter);
    assert_eq!(described.max_instances(), 1);
    assert_eq!(
        annotation(&inventory, "greeter", "lattice.dev/revision"),
        Some("1")
    );
    assert_eq!(
        annotation(&inventory, "greeter", "lattice.dev/spec-digest"),
        Some(first.digest().to_string().as_str())
    );
    assert_eq!(
        within(
            lattice
                .client
                .serving_revision(&real, &"greeter".parse().unwrap())
        )
        .await
        .unwrap(),
        Some((Revision(1), ComponentState::Running))
    );
    // Both links are in the lattice, their inline configuration put under a generated name.
    let links = lattice
        .links_until("both links", |links| {
            link_names(links, "greeter").len() == 2
        })
        .await;
    assert_eq!(
        link_names(&links, "greeter"),
        BTreeSet::from(["cache->cache".to_owned(), "default->kv".to_owned()])
    );
    let kv = links.iter().find(|l| l.target() == "kv").unwrap();
    assert_eq!(kv.interfaces(), &["store", "atomics"]);
    let config = within(lattice.v1.get_config(&kv.target_config()[0]))
        .await
        .unwrap();
    assert_eq!(
        config.into_data().unwrap_or_default()["url"],
        "redis://kv",
        "{kv:?}"
    );

    // Revision 2 drops the cache link: the fallback finds it among the lattice's links and
    // deletes it on the real host. (The deletes are sent before the fallback follows the
    // component, so they are checked first.)
    let second = spec(2, false);
    let result = within(
        lattice
            .client
            .apply_and_wait(&real, &second, Duration::from_secs(10)),
    )
    .await;
    let links = lattice
        .links_until("the cache link deleted", |links| {
            link_names(links, "greeter").len() == 1
        })
        .await;
    assert_eq!(
        link_names(&links, "greeter"),
        BTreeSet::from(["default->kv".to_owned()])
    );
    // Was a known bug (the revision annotation of a scale that changes neither count nor
    // configuration names was ignored); fixed by revision-scoped configuration names.
    let inventory = lattice.real_inventory().await;
    let report = result.unwrap_or_else(|e| {
        panic!(
            "revision 2: {e}\nthe real host's components: {:#?}\nits log:\n{}",
            inventory
                .components()
                .iter()
                .map(|c| (c.id(), c.image_ref(), c.annotations()))
                .collect::<Vec<_>>(),
            lattice.real.log_tail()
        )
    });
    assert!(report.applied.is_fallback());
    assert_eq!(
        annotation(&inventory, "greeter", "lattice.dev/revision"),
        Some("2")
    );
}

/// Refuses links whose `url` is `redis://refused`; records every put it is handed: the
/// sending host (none for a 1.x host's publish) and the `url`.
#[derive(Default)]
struct Kv(tokio::sync::watch::Sender<Vec<(Option<HostId>, String)>>);

impl LinkHandler for Kv {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        self.0.send_modify(|puts| {
            puts.push((
                link.host_id.clone(),
                link.target_config.get("url").cloned().unwrap_or_default(),
            ));
        });
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

/// The `shop` application of the rollout tests, a `kv` provider the lattice hosts link it to,
/// and a scheduler that expects every host of the lattice.
struct Shop {
    scheduler: Scheduler,
    kv: Arc<Kv>,
    _provider: ProviderHandle,
}

impl Shop {
    async fn start(lattice: &Lattice) -> Self {
        let nats = within(async_nats::connect(lattice.server.url()))
            .await
            .unwrap();
        let kv = Arc::new(Kv::default());
        let provider = within(
            ProviderServer::new(
                nats.clone(),
                LATTICE.parse().unwrap(),
                "kv".parse().unwrap(),
                kv.clone(),
            )
            .serve(),
        )
        .await
        .unwrap();
        let store = within(RolloutStore::open(
            nats.clone(),
            &LATTICE.parse().unwrap(),
            10,
        ))
        .await
        .unwrap();
        let everyone = lattice.hosts.len() + 1;
        let client = Client::new(nats, LATTICE.parse().unwrap()).with_v1_fallback(true);
        let scheduler = Scheduler::new(client, store)
            .with_discovery(Discover::expecting(everyone).window(Duration::from_secs(10)));
        Self {
            scheduler,
            kv,
            _provider: provider,
        }
    }

    /// Rolls out `shop` from the artifact `shop-{version}` with the link's `url`.
    async fn rollout(&self, lattice: &Lattice, version: &str, url: &str) -> RolloutRecord {
        self.rollout_of(lattice, version, version, url).await
    }

    /// A rollout of `shop` from artifact `artifact`, with configuration of `version`.
    async fn rollout_of(
        &self,
        lattice: &Lattice,
        artifact: &str,
        version: &str,
        url: &str,
    ) -> RolloutRecord {
        let spec = ComponentSpecDraft::new("shop", shop_artifact(lattice, artifact))
            .config_value("greeting", version)
            .link(
                LinkDraft::new("kv", "wasi", "keyvalue", ["store"])
                    .target_config_value("url", url)
                    .target_config_value("address", format!("0.0.0.0:80{version}")),
            )
            .validate()
            .unwrap();
        let mut options = RolloutOptions::default();
        options.min_healthy = Duration::from_millis(100);
        options.per_host_deadline = Duration::from_secs(15);
        options.progress_deadline = Duration::from_secs(50);
        within(self.scheduler.rollout(
            &"shop".parse().unwrap(),
            vec![Placement::new(spec, HostSelector::All)],
            Strategy::AllAtOnce,
            options,
        ))
        .await
        .unwrap()
    }
}

fn shop_artifact(lattice: &Lattice, version: &str) -> String {
    lattice.component(&format!("shop-{version}"))
}

/// `shop` on the real host, read with the official client: its artifact and the revision it
/// is annotated with.
fn shop_on(inventory: &HostInventory) -> Option<(String, Option<String>)> {
    inventory
        .components()
        .iter()
        .find(|c| c.id() == "shop")
        .map(|c| {
            (
                c.image_ref().to_owned(),
                c.annotations()
                    .and_then(|a| a.get("lattice.dev/revision"))
                    .cloned(),
            )
        })
}

/// Every host-kit host serves `shop` at one of `revisions`, running.
async fn assert_lattice_hosts_serve(lattice: &Lattice, revisions: &[Revision]) {
    for host in &lattice.hosts {
        let inventory = within(lattice.client.inventory(host.host_id()))
            .await
            .unwrap();
        let serving = inventory
            .component(&"shop".parse().unwrap())
            .and_then(|c| c.serving.clone())
            .unwrap_or_else(|| panic!("{} serves no shop", host.host_id()));
        assert!(
            revisions.contains(&serving.revision),
            "{}: {serving:?}",
            host.host_id()
        );
        assert_eq!(serving.status.state, ComponentState::Running);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real wasmCloud 1.x host binary: set LATTICE_1X_HOST (see interop/README.md)"]
async fn a_rollout_over_lattice_hosts_and_a_real_1x_host_rolls_forward_and_back() {
    let lattice = Lattice::start(&["host-1", "host-2"]).await;
    let shop = Shop::start(&lattice).await;

    let first = shop.rollout(&lattice, "1", "redis://a").await;
    assert_eq!(
        first.state,
        RolloutState::Succeeded,
        "{:?}\n{}",
        first.failure,
        lattice.real.log_tail()
    );
    assert_eq!(first.hosts.len(), 3, "{:?}", first.hosts);
    assert!(first.hosts.contains_key(&lattice.real.host_id()));
    let shop_1 = shop_artifact(&lattice, "1");
    assert_eq!(
        shop_on(&lattice.real_inventory().await),
        Some((shop_1.clone(), Some("1".to_owned())))
    );
    assert_eq!(lattice.real_shop_answer().await, "shop 1");
    assert_lattice_hosts_serve(&lattice, &[Revision(1)]).await;
    lattice
        .links_until("the kv link on the real host", |links| {
            link_names(links, "shop") == BTreeSet::from(["default->kv".to_owned()])
        })
        .await;
    // The real host also published the link, in the 1.x shape and with no host, on the
    // provider's lattice-wide subject (its backwards-compatible copy): the kit provider took
    // it, as it takes the lattice hosts' puts.
    let puts = within(shop.kv.0.subscribe().wait_for(|puts| {
        puts.iter().filter(|(host, _)| host.is_none()).count() >= 1
            && puts.iter().filter(|(host, _)| host.is_some()).count() >= 2
    }))
    .await
    .unwrap()
    .clone();
    assert!(puts.iter().all(|(_, url)| url == "redis://a"), "{puts:?}");

    // Revision 2's link is refused by the provider on the lattice hosts (a 1.x host does not
    // wait for providers and accepts it): the rollout fails and every host is restored.
    let failed = shop.rollout(&lattice, "2", "redis://refused").await;
    assert_eq!(failed.state, RolloutState::RolledBack, "{failed:?}");
    assert_eq!(
        failed.failure.as_ref().unwrap().code,
        FailureCode::LinkRefused
    );
    let restored = failed.rollback_revision.unwrap();
    assert_lattice_hosts_serve(&lattice, &[Revision(1), restored]).await;
    // The real host runs revision 1's artifact again, and its link configuration is
    // revision 1's.
    lattice
        .real_inventory_until("shop-1 back on the real host", |inventory| {
            shop_on(inventory).is_some_and(|(image, _)| image == shop_1)
        })
        .await;
    lattice.assert_kv_link_url("redis://a").await;
    assert_eq!(
        shop_on(&lattice.real_inventory().await),
        Some((shop_1, Some(restored.to_string()))),
        "the real host does not show the restored revision"
    );
    // Revision 1's code serves there again, not only its reference.
    assert_eq!(lattice.real_shop_answer().await, "shop 1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real wasmCloud 1.x host binary: set LATTICE_1X_HOST (see interop/README.md)"]
async fn a_rollout_to_a_new_artifact_succeeds_on_a_real_1x_host() {
    let lattice = Lattice::start(&["host-1"]).await;
    let shop = Shop::start(&lattice).await;
    let first = shop.rollout(&lattice, "1", "redis://a").await;
    assert_eq!(first.state, RolloutState::Succeeded, "{:?}", first.failure);
    assert_eq!(lattice.real_shop_answer().await, "shop 1");

    // A 1.x host keeps the old code serving if asked to replace it in place (see
    // `V1ApplyPlan`): the fallback stops the old artifact and starts the new one.
    let second = shop.rollout(&lattice, "2", "redis://b").await;
    assert_eq!(
        second.state,
        RolloutState::Succeeded,
        "{:?}\nthe real host: {:?}",
        second.failure,
        shop_on(&lattice.real_inventory().await)
    );
    assert_eq!(
        shop_on(&lattice.real_inventory().await),
        Some((shop_artifact(&lattice, "2"), Some("2".to_owned())))
    );
    assert_eq!(lattice.real_shop_answer().await, "shop 2");
    assert_lattice_hosts_serve(&lattice, &[Revision(2)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a real wasmCloud 1.x host binary: set LATTICE_1X_HOST (see interop/README.md)"]
async fn a_rollout_that_keeps_the_artifact_rolls_forward_and_back_on_a_real_1x_host() {
    let lattice = Lattice::start(&["host-1", "host-2"]).await;
    let shop = Shop::start(&lattice).await;

    let first = shop.rollout_of(&lattice, "1", "1", "redis://a").await;
    assert_eq!(first.state, RolloutState::Succeeded, "{:?}", first.failure);
    assert_eq!(first.hosts.len(), 3, "{:?}", first.hosts);
    let shop_1 = shop_artifact(&lattice, "1");
    assert_eq!(
        shop_on(&lattice.real_inventory().await),
        Some((shop_1.clone(), Some("1".to_owned())))
    );

    // Revision 2 changes configuration and the link, not the artifact; the provider refuses
    // its link on the lattice hosts, so every host — the real 1.x host included — is restored.
    let failed = shop.rollout_of(&lattice, "1", "2", "redis://refused").await;
    assert_eq!(
        failed.state,
        RolloutState::RolledBack,
        "{failed:?}\n{}",
        lattice.real.log_tail()
    );
    let restored = failed.rollback_revision.unwrap();
    assert_lattice_hosts_serve(&lattice, &[Revision(1), restored]).await;
    assert_eq!(
        shop_on(&lattice.real_inventory().await),
        Some((shop_1, Some(restored.to_string()))),
        "the real host does not show the restored revision"
    );
    lattice.assert_kv_link_url("redis://a").await;
    // The re-created instance serves.
    assert_eq!(lattice.real_shop_answer().await, "shop 1");
}
