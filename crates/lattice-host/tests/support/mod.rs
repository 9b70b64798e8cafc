//! A real lattice for the host kit's tests: its own nats-server, hosts, a recording provider,
//! real component binaries on disk, the typed client and a wRPC invoker.

#![allow(dead_code, unreachable_pub)]

use futures::future::BoxFuture;
use lattice_client::Client;
use lattice_host::{Host, HostConfig, HostHandle, Invoker, RevisionEchoRuntime, StaticConfigStore};
use lattice_link::{
    HealthCheckResponse, LinkDeleteRequest, LinkErrorKind, LinkPutRequest, LinkRefusal,
};
use lattice_provider::{LinkHandler, ProviderHandle, ProviderServer};
use lattice_spec::{ComponentId, LatticeName};
use lattice_test_support::NatsServer;
use std::{
    collections::BTreeMap,
    future::Future,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::Notify;

/// Every await in a test sits under this bound.
pub const BOUND: Duration = Duration::from_secs(20);

/// Awaits `future` under [`BOUND`].
pub async fn within<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .expect("timed out")
}

pub struct Lattice {
    pub server: NatsServer,
    pub nats: async_nats::Client,
    pub client: Client,
    pub lattice: LatticeName,
    pub dir: tempfile::TempDir,
    pub configs: StaticConfigStore,
}

impl Lattice {
    pub async fn start() -> Self {
        let server = tokio::task::spawn_blocking(NatsServer::start)
            .await
            .unwrap()
            .expect("nats-server");
        let nats = within(async_nats::connect(server.url()))
            .await
            .expect("connect");
        let lattice: LatticeName = "test".parse().unwrap();
        let client =
            Client::new(nats.clone(), lattice.clone()).with_timeout(Duration::from_secs(5));
        Self {
            server,
            nats,
            client,
            lattice,
            dir: tempfile::tempdir().unwrap(),
            configs: StaticConfigStore::default(),
        }
    }

    /// Writes a real component importing `imports` and returns its `file://` reference.
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
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        within(
            Host::new(nats, config, Arc::new(RevisionEchoRuntime))
                .config_store(Arc::new(self.configs.clone()))
                .start(),
        )
        .await
        .expect("host starts")
    }

    pub async fn provider(&self, id: &str) -> (ProviderHandle, Arc<RecordingProvider>) {
        let handler = Arc::new(RecordingProvider::default());
        let nats = within(async_nats::connect(self.server.url()))
            .await
            .unwrap();
        let server = ProviderServer::new(
            nats,
            self.lattice.clone(),
            id.parse().unwrap(),
            handler.clone(),
        );
        (
            within(server.serve()).await.expect("provider serves"),
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

/// A provider that records every call and refuses puts whose target configuration has
/// `refuse_key` = `refuse_value` ("address already in use").
#[derive(Default)]
pub struct RecordingProvider {
    pub calls: Mutex<Vec<Call>>,
    pub refuse: Mutex<Option<(String, String)>>,
    pub changed: Notify,
}

impl RecordingProvider {
    pub fn refuse_when(&self, key: &str, value: &str) {
        *self.refuse.lock().unwrap() = Some((key.to_owned(), value.to_owned()));
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

impl LinkHandler for RecordingProvider {
    fn put_link<'a>(&'a self, link: &'a LinkPutRequest) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(Call::Put {
                name: link.name.to_string(),
                package: link.wit_package.clone(),
                target_config: link.target_config.clone(),
            });
            self.changed.notify_waiters();
            let refuse = self.refuse.lock().unwrap().clone();
            match refuse {
                Some((key, value)) if link.target_config.get(&key) == Some(&value) => {
                    Err(LinkRefusal {
                        kind: LinkErrorKind::ResourceUnavailable,
                        message: format!("address already in use: {value}"),
                    })
                }
                _ => Ok(()),
            }
        })
    }

    fn delete_link<'a>(
        &'a self,
        link: &'a LinkDeleteRequest,
    ) -> BoxFuture<'a, Result<(), LinkRefusal>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(Call::Delete {
                name: link.name.to_string(),
                package: link.wit_package.clone(),
            });
            self.changed.notify_waiters();
            Ok(())
        })
    }

    fn health<'a>(&'a self) -> BoxFuture<'a, HealthCheckResponse> {
        Box::pin(async { HealthCheckResponse::healthy() })
    }
}
