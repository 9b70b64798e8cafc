//! A real lattice for the host kit's tests: its own nats-server, hosts, recording providers,
//! real component binaries on disk, the typed client and a wRPC invoker.

#![allow(dead_code, unreachable_pub)]

use lattice_client::{Client, EventStream};
use lattice_ctl::EventFilter;
use lattice_host::{HostConfig, HostHandle, Invoker, StaticConfigStore};
use lattice_link::{LinkErrorKind, LinkRefusal};
use lattice_local::{AcceptAll, LinkCall, LocalLattice};
use lattice_provider::ProviderHandle;
use lattice_spec::{ComponentId, ComponentSpec, ComponentSpecDraft, LatticeName, LinkDraft};
use std::{collections::BTreeMap, future::Future, path::PathBuf, sync::Arc, time::Duration};

/// Every await in a test sits under this bound.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future` under [`BOUND`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

pub struct Lattice {
    /// The lattice's own nats-server; the tests start their hosts and providers on it.
    pub local: LocalLattice,
    pub nats: async_nats::Client,
    pub client: Client,
    pub lattice: LatticeName,
    pub dir: tempfile::TempDir,
    pub configs: StaticConfigStore,
}

impl Lattice {
    pub async fn start() -> Self {
        let configs = StaticConfigStore::default();
        let store = configs.clone();
        let local = within(
            LocalLattice::builder()
                .lattice("test".parse().unwrap())
                .setup_hosts(move |host| host.config_store(Arc::new(store.clone())))
                .start(),
        )
        .await
        .expect("nats-server");
        let nats = local.nats().clone();
        let lattice = local.lattice().clone();
        let client = local.client().clone().with_timeout(Duration::from_secs(5));
        Self {
            local,
            nats,
            client,
            lattice,
            dir: tempfile::tempdir().unwrap(),
            configs,
        }
    }

    /// Writes a real component importing `imports` and returns its `file://` reference.
    /// `web`: a component importing `wasi:keyvalue/store`, linked to the provider `kv`.
    pub fn web_with_kv(&self) -> ComponentSpec {
        ComponentSpecDraft::new("web", self.component("web", &["wasi:keyvalue/store@0.2.0"]))
            .link(LinkDraft::new("kv", "wasi", "keyvalue", ["store"]))
            .validate()
            .unwrap()
    }

    /// The status events of `component` on every host of the lattice.
    pub async fn component_events(&self, component: &ComponentId) -> EventStream {
        within(
            self.client
                .events(&EventFilter::component(&self.lattice, component)),
        )
        .await
        .unwrap()
    }

    pub fn component(&self, name: &str, imports: &[&str]) -> String {
        self.file(
            name,
            &lattice_artifact::testing::component_importing(imports),
        )
    }

    /// Writes `bytes` and returns the `file://` reference.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path: PathBuf = self.dir.path().join(format!("{name}.wasm"));
        std::fs::write(&path, bytes).unwrap();
        format!("file://{}", path.display())
    }

    /// Applies `spec` on `host` and follows it (bounded by [`BOUND`] and a 10 s deadline).
    pub async fn apply_and_wait(
        &self,
        host: &lattice_spec::HostId,
        spec: &lattice_spec::ComponentSpec,
    ) -> Result<lattice_client::WaitReport, lattice_client::WaitError> {
        within(
            self.client
                .apply_and_wait(host, spec, Duration::from_secs(10)),
        )
        .await
    }

    pub fn config(&self, id: &str) -> HostConfig {
        HostConfig::new(id.parse().unwrap(), self.lattice.clone())
            .link_reply_timeout(Duration::from_millis(500))
    }

    pub async fn host(&self, id: &str) -> HostHandle {
        self.host_with(self.config(id)).await
    }

    pub async fn host_with(&self, config: HostConfig) -> HostHandle {
        within(self.local.start_host(config))
            .await
            .expect("host starts")
    }

    pub async fn provider(&self, id: &str) -> (ProviderHandle, Arc<AcceptAll>) {
        let handler = Arc::new(AcceptAll::new());
        (
            within(
                self.local
                    .serve_provider(id.parse().unwrap(), handler.clone()),
            )
            .await
            .expect("provider serves"),
            handler,
        )
    }

    pub async fn invoker(&self, component: &str) -> Invoker {
        let component: ComponentId = component.parse().unwrap();
        within(Invoker::new(self.nats.clone(), &self.lattice, &component))
            .await
            .unwrap()
    }
}

/// What a provider saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Put {
        name: String,
        package: String,
        target_config: BTreeMap<String, String>,
    },
    Delete {
        name: String,
        package: String,
    },
}

/// What the tests look at in an [`AcceptAll`] provider's calls, and the refusal they ask of it.
pub trait Recorded {
    /// The calls so far, as [`Call`]s.
    fn recorded(&self) -> Vec<Call>;

    /// Refuses puts whose target configuration has `key` = `value` ("address already in use").
    fn refuse_address(&self, key: &str, value: &str);
}

impl Recorded for AcceptAll {
    fn recorded(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter_map(|call| match call {
                LinkCall::Put(link) => Some(Call::Put {
                    name: link.name.to_string(),
                    package: link.wit_package,
                    target_config: link.target_config,
                }),
                LinkCall::Delete(link) => Some(Call::Delete {
                    name: link.name.to_string(),
                    package: link.wit_package,
                }),
                _ => None,
            })
            .collect()
    }

    fn refuse_address(&self, key: &str, value: &str) {
        self.refuse_when(
            key,
            value,
            LinkRefusal {
                kind: LinkErrorKind::ResourceUnavailable,
                message: format!("address already in use: {value}"),
            },
        );
    }
}
