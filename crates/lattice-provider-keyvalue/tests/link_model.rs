//! The link model end to end, with real parts: a nats-server, hosts running the wasmtime
//! runtime, the key-value provider, the example components, and a TCP "line server" provider
//! (below, built on the provider kit) that is the **source** of its links, as wasmCloud's HTTP
//! server is: its listen address is in the link's `source_config`, and every line a client
//! sends it becomes a wRPC call of the linked component's `greet.hello` export.
//!
//! - a component → component link: the relay component's import is served by the greeter;
//! - a provider-source link whose listen address changes in an upgrade (re-put in the pause);
//! - two instances of the line server, one per host, where one refuses: that host's upgrade
//!   fails with its refusal, which the other instance's acceptance cannot mask;
//! - a link with a secret reference: resolved by the host, sealed for the provider's xkey,
//!   opened by the provider, and never in the host's inventory.

use lattice_client::{Client, WaitError};
use lattice_host::{Host, HostConfig, HostHandle, Invoker, LinkSecrets, StaticSecrets};
use lattice_link::{LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal};
use lattice_link::{SecretMap, SecretValue};
use lattice_provider::secrets::{self, XKey};
use lattice_provider::{BoxFuture, LinkHandler, ProviderHandle, ProviderServer};
use lattice_runtime_wasmtime::WasmtimeRuntime;
use lattice_spec::{
    ComponentId, ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft, ProviderId,
};
use lattice_status::{LinkState, ReasonCode};
use lattice_test_support::{NatsServer, example_component_ref};
use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

const DEADLINE: Duration = Duration::from_secs(20);
const GREET: &str = "lattice:greeter/greet@0.1.0";
const RELAY: &str = "lattice:greeter/relay@0.1.0";

async fn within<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(DEADLINE, future)
        .await
        .expect("timed out")
}

/// A free loopback address (the listener is dropped; the provider binds it next).
fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// The line server: a provider that is the source of its links.

/// One link's listener: the address and the task accepting on it (aborted on drop).
struct Listener {
    address: String,
    task: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Listens on each link's `source_config.address`; for every line received, calls the linked
/// component's `greet.hello(line)` over wRPC and writes the answer back.
struct LineServer {
    id: ProviderId,
    nats: async_nats::Client,
    lattice: LatticeName,
    /// Per link (target component, link name): its listener.
    listeners: Mutex<HashMap<(String, String), Listener>>,
    /// The instance's xkey, which opens link secrets.
    key: XKey,
    /// The secrets of every link put, opened.
    secrets: Arc<Mutex<Vec<SecretMap>>>,
}

impl LinkHandler for LineServer {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            assert_eq!(
                link.source_id, self.id,
                "the line server is its links' source"
            );
            let Some(address) = link.source_config.get("address") else {
                return Err(LinkRefusal {
                    kind: LinkErrorKind::InvalidConfiguration,
                    message: "source_config has no `address`".into(),
                });
            };
            let (source_secrets, _) =
                secrets::open_link(link, &self.key, None).map_err(|e| LinkRefusal {
                    kind: LinkErrorKind::InvalidConfiguration,
                    message: e.to_string(),
                })?;
            self.secrets.lock().unwrap().push(source_secrets);
            let key = (link.target.to_string(), link.name.to_string());
            if let Some(current) = self.listeners.lock().unwrap().get(&key)
                && current.address == *address
            {
                return Ok(());
            }
            // A changed address: the old listener closes before the new one binds.
            self.listeners.lock().unwrap().remove(&key);
            let listener = TcpListener::bind(address).await.map_err(|e| LinkRefusal {
                kind: LinkErrorKind::ResourceUnavailable,
                message: format!("cannot listen on {address}: {e}"),
            })?;
            let target = ComponentId::from(link.target.clone());
            let invoker = Invoker::new(self.nats.clone(), &self.lattice, &target)
                .await
                .map_err(|e| LinkRefusal {
                    kind: LinkErrorKind::Internal,
                    message: e.to_string(),
                })?;
            let task = tokio::spawn(serve_lines(listener, Arc::new(invoker)));
            self.listeners.lock().unwrap().insert(
                key,
                Listener {
                    address: address.clone(),
                    task,
                },
            );
            Ok(())
        })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            let key = (link.target.to_string(), link.name.to_string());
            self.listeners.lock().unwrap().remove(&key);
            Ok(())
        })
    }
}

async fn serve_lines(listener: TcpListener, invoker: Arc<Invoker>) {
    while let Ok((stream, _)) = listener.accept().await {
        let invoker = invoker.clone();
        tokio::spawn(async move {
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                let answer = match invoker
                    .invoke::<_, (String,)>(GREET, "hello", (line,))
                    .await
                {
                    Ok((answer,)) => answer,
                    Err(e) => format!("error: {e}"),
                };
                if write
                    .write_all(format!("{answer}\n").as_bytes())
                    .await
                    .is_err()
                {
                    break;
                }
            }
        });
    }
}

/// Sends `name` to the line server at `address` and returns its answer.
async fn ask(address: &str, name: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(address).await?;
    let (read, mut write) = stream.into_split();
    write.write_all(format!("{name}\n").as_bytes()).await?;
    let mut answer = String::new();
    BufReader::new(read).read_line(&mut answer).await?;
    Ok(answer.trim_end().to_owned())
}

// ---------------------------------------------------------------------------------------------

struct Lattice {
    server: NatsServer,
    lattice: LatticeName,
    nats: async_nats::Client,
    _keyvalue: lattice_provider_keyvalue::RunningProvider,
}

impl Lattice {
    async fn start() -> Self {
        let server = NatsServer::start().expect("nats-server starts");
        let nats = within(async_nats::connect(server.url())).await.unwrap();
        let lattice: LatticeName = "default".parse().unwrap();
        let keyvalue = within(lattice_provider_keyvalue::start(
            nats.clone(),
            &lattice,
            &"keyvalue".parse().unwrap(),
        ))
        .await
        .unwrap();
        Self {
            server,
            lattice,
            nats,
            _keyvalue: keyvalue,
        }
    }

    async fn connect(&self) -> async_nats::Client {
        within(async_nats::connect(self.server.url()))
            .await
            .unwrap()
    }

    async fn host(&self, id: &str) -> HostHandle {
        let config = HostConfig::new(id.parse().unwrap(), self.lattice.clone())
            .link_reply_timeout(Duration::from_secs(2));
        self.host_with(config).await
    }

    async fn host_with(&self, config: HostConfig) -> HostHandle {
        let nats = self.connect().await;
        let runtime = WasmtimeRuntime::new(nats.clone(), &self.lattice).unwrap();
        within(Host::new(nats, config, Arc::new(runtime)).start())
            .await
            .unwrap()
    }

    /// Starts a line server instance, on `host` when given.
    async fn line_server(&self, host: Option<&str>) -> ProviderHandle {
        self.line_server_with(host, XKey::new(), Arc::default())
            .await
    }

    /// Starts a line server instance with its xkey, recording the secrets it opens.
    async fn line_server_with(
        &self,
        host: Option<&str>,
        key: XKey,
        secrets: Arc<Mutex<Vec<SecretMap>>>,
    ) -> ProviderHandle {
        let id: ProviderId = "line-server".parse().unwrap();
        let nats = self.connect().await;
        let handler = LineServer {
            id: id.clone(),
            nats: nats.clone(),
            lattice: self.lattice.clone(),
            listeners: Mutex::default(),
            key,
            secrets,
        };
        let mut server = ProviderServer::new(nats, self.lattice.clone(), id, Arc::new(handler));
        if let Some(host) = host {
            server = server.on_host(host.parse().unwrap());
        }
        within(server.serve()).await.unwrap()
    }

    fn client(&self) -> Client {
        Client::new(self.nats.clone(), self.lattice.clone())
    }

    async fn apply(&self, host: &HostHandle, spec: &ComponentSpec) {
        within(self.client().apply_and_wait(host.host_id(), spec, DEADLINE))
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "{} revision {} did not run: {e}",
                    spec.id(),
                    spec.revision()
                )
            });
    }

    async fn invoker(&self, component: &str) -> Invoker {
        within(Invoker::new(
            self.nats.clone(),
            &self.lattice,
            &component.parse().unwrap(),
        ))
        .await
        .unwrap()
    }
}

fn greeter(revision: u64, file: &str) -> ComponentSpecDraft {
    ComponentSpecDraft::new("greeter", example_component_ref(file))
        .revision(revision)
        .config_value("greeting", "Hello")
        .link(
            LinkDraft::new("keyvalue", "wasi", "keyvalue", ["store", "atomics"])
                .target_config_value("bucket", format!("visits-{revision}")),
        )
}

/// The greeter with an incoming link from the line server listening on `address`.
fn served_greeter(revision: u64, file: &str, address: &str) -> ComponentSpec {
    greeter(revision, file)
        .link(
            LinkDraft::incoming("line-server", "lattice", "greeter", ["greet"])
                .source_config_value("address", address),
        )
        .validate()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_component_calls_another_component_over_a_component_link() {
    let lattice = Lattice::start().await;
    let host = lattice.host("host-1").await;
    lattice
        .apply(
            &host,
            &greeter(1, "greeter/greeter-v1.wasm").validate().unwrap(),
        )
        .await;
    let relay = ComponentSpecDraft::new("relay", example_component_ref("relay/relay.wasm"))
        .link(LinkDraft::to_component(
            "greeter",
            "lattice",
            "greeter",
            ["greet"],
        ))
        .validate()
        .unwrap();
    lattice.apply(&host, &relay).await;

    // Both components' code runs: the relay's call crosses wRPC to the greeter.
    let invoker = lattice.invoker("relay").await;
    let (answer,) = within(invoker.invoke::<_, (String,)>(RELAY, "relay", ("Ada".to_owned(),)))
        .await
        .unwrap();
    assert_eq!(
        answer,
        "relayed: Hello, Ada! You are visitor #1. (greeter v1)"
    );

    // The link is established without a provider to ask, and the inventory says what it is.
    let inventory = within(lattice.client().inventory(host.host_id()))
        .await
        .unwrap();
    let component = inventory
        .components
        .iter()
        .find(|c| c.component_id == "relay")
        .unwrap();
    let link = &component.links[0];
    assert_eq!(link.target, "greeter");
    assert_eq!(link.target_kind, lattice_spec::LinkTargetKind::Component);
    assert_eq!(link.status.state, LinkState::Established);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_source_link_moves_to_a_new_address_in_an_upgrade() {
    let lattice = Lattice::start().await;
    let _line_server = lattice.line_server(None).await;
    let host = lattice.host("host-1").await;
    let (first, second) = (free_address(), free_address());

    lattice
        .apply(&host, &served_greeter(1, "greeter/greeter-v1.wasm", &first))
        .await;
    assert_eq!(
        within(ask(&first, "Ada")).await.unwrap(),
        "Hello, Ada! You are visitor #1. (greeter v1)"
    );

    // Revision 2: new code and the listen address moved. The changed link is re-put while
    // invocations are paused, so the provider listens on the new address as v2 takes over.
    lattice
        .apply(
            &host,
            &served_greeter(2, "greeter/greeter-v2.wasm", &second),
        )
        .await;
    assert_eq!(
        within(ask(&second, "Ada")).await.unwrap(),
        "visit 1: Hello, Ada. Welcome back! (greeter v2)"
    );
    assert!(
        within(ask(&first, "Ada")).await.is_err(),
        "the old address still answers"
    );

    // Revision 3 asks for an address that is taken: the provider refuses, the upgrade fails
    // with its own words, and revision 2 keeps serving on its address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_address = taken.local_addr().unwrap().to_string();
    let spec = served_greeter(3, "greeter/greeter-v2.wasm", &taken_address);
    let error = within(
        lattice
            .client()
            .apply_and_wait(host.host_id(), &spec, DEADLINE),
    )
    .await
    .unwrap_err();
    let WaitError::Failed { reason, .. } = error else {
        panic!("expected a failed upgrade, got {error}");
    };
    assert_eq!(reason.code, ReasonCode::LinkRefused, "{reason}");
    assert!(
        reason
            .message
            .contains(&format!("cannot listen on {taken_address}")),
        "{reason}"
    );
    assert_eq!(
        within(ask(&second, "Grace")).await.unwrap(),
        "visit 2: Hello, Grace. Welcome back! (greeter v2)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_refusal_of_one_hosts_instance_is_not_masked_by_another() {
    let lattice = Lattice::start().await;
    // One line server instance per host, as 1.x runs providers. Both run on this machine, so
    // once host-a's instance listens on the address, host-b's cannot ("address in use").
    let _a_instance = lattice.line_server(Some("host-a")).await;
    let _b_instance = lattice.line_server(Some("host-b")).await;
    let host_a = lattice.host("host-a").await;
    let host_b = lattice.host("host-b").await;
    let address = free_address();
    let spec = served_greeter(1, "greeter/greeter-v1.wasm", &address);

    lattice.apply(&host_a, &spec).await;
    // Host-b's request reaches host-b's instance only: host-a's instance, which already holds
    // the address for the same link and would accept, never answers it.
    let error = within(
        lattice
            .client()
            .apply_and_wait(host_b.host_id(), &spec, DEADLINE),
    )
    .await
    .unwrap_err();
    let WaitError::Failed { reason, .. } = error else {
        panic!("expected host-b's upgrade to fail, got {error}");
    };
    assert_eq!(reason.code, ReasonCode::LinkRefused, "{reason}");
    assert!(reason.message.contains("cannot listen on"), "{reason}");
    assert_eq!(
        within(ask(&address, "Ada")).await.unwrap(),
        "Hello, Ada! You are visitor #1. (greeter v1)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_link_secret_reaches_the_provider_sealed_and_nowhere_else() {
    let lattice = Lattice::start().await;
    let key = XKey::new();
    let opened = Arc::new(Mutex::new(Vec::new()));
    let _line_server = lattice
        .line_server_with(
            None,
            XKey::from_seed(&key.seed().unwrap()).unwrap(),
            opened.clone(),
        )
        .await;
    let values = StaticSecrets::default();
    values.put(
        "static",
        "line-token",
        SecretValue::String("s3cr3t-token".into()),
    );
    let secrets = LinkSecrets::new(Arc::new(values))
        .provider_key("line-server".parse().unwrap(), &key.public_key())
        .unwrap();
    let host = lattice
        .host_with(
            HostConfig::new("host-1".parse().unwrap(), lattice.lattice.clone())
                .link_secrets(secrets),
        )
        .await;
    let address = free_address();
    let with_secret = |revision: u64, key: &str| {
        greeter(revision, "greeter/greeter-v1.wasm")
            .link(
                LinkDraft::incoming("line-server", "lattice", "greeter", ["greet"])
                    .source_config_value("address", &address)
                    .source_secret(lattice_spec::SecretRefDraft::new("token", "static", key)),
            )
            .validate()
            .unwrap()
    };

    lattice.apply(&host, &with_secret(1, "line-token")).await;
    let seen = opened.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0]["token"].as_string(), Some("s3cr3t-token"));
    // The value is in no status the host reports.
    let inventory = within(lattice.client().inventory(host.host_id()))
        .await
        .unwrap();
    assert!(!format!("{inventory:?}").contains("s3cr3t"));

    // A reference to a secret that does not exist: refused by the host, naming the key.
    let error = within(lattice.client().apply_and_wait(
        host.host_id(),
        &with_secret(2, "no-such-token"),
        DEADLINE,
    ))
    .await
    .unwrap_err();
    let WaitError::Failed { reason, .. } = error else {
        panic!("expected a failed upgrade, got {error}");
    };
    assert_eq!(reason.code, ReasonCode::LinkRefused, "{reason}");
    assert!(reason.message.contains("no-such-token"), "{reason}");
    // The secret is resolved before the pause: the provider was not touched at all (no
    // delete, no put without its secret, no restore).
    assert_eq!(
        opened.lock().unwrap().len(),
        1,
        "the provider's link was touched"
    );
    assert_eq!(
        within(ask(&address, "Ada")).await.unwrap(),
        "Hello, Ada! You are visitor #1. (greeter v1)"
    );
}
