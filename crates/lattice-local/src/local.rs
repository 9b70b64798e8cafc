//! [`LocalLattice`]: a nats-server of its own, hosts, providers and a client, started together
//! and stopped together.

use crate::{NatsServer, NatsServerBuilder, StartError};
use lattice_client::Client;
use lattice_host::{
    ComponentRuntime, Host, HostConfig, HostError, HostHandle, RevisionEchoRuntime,
};
use lattice_provider::{LinkHandler, ProviderError, ProviderHandle, ProviderServer};
use lattice_spec::{HostId, LatticeName, ProviderId};
use std::{fmt, sync::Arc};

/// An error of a runtime factory (see [`LocalLatticeBuilder::runtime`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Builds the runtime of one host, over that host's own connection.
type RuntimeFactory = Arc<
    dyn Fn(&async_nats::Client, &LatticeName) -> Result<Arc<dyn ComponentRuntime>, BoxError>
        + Send
        + Sync,
>;

/// Adjusts a host's configuration or its [`Host`] builder before it starts.
type Adjust<T> = Arc<dyn Fn(T) -> T + Send + Sync>;

/// A local lattice: its own `nats-server` (JetStream on, loopback), N hosts, providers served
/// by their link handlers, and a typed [`Client`] — for trying the lattice out (`lattice up`),
/// for demos, benchmarks and integration tests.
///
/// Dropping it stops the hosts and providers, then kills the server; [`shutdown`](Self::shutdown)
/// does the same and waits for the hosts' applies (within a grace period) and the providers
/// to finish.
///
/// ```no_run
/// use lattice_client::Discover;
/// use lattice_local::{AcceptAll, LocalLattice};
/// use std::sync::Arc;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let lattice = LocalLattice::builder()
///     .lattice("demo".parse()?)
///     .hosts(2)
///     .provider("keyvalue".parse()?, Arc::new(AcceptAll::new()))
///     .start()
///     .await?;
/// println!("export LATTICE_NATS_URL={}", lattice.url());
/// let hosts = lattice.client().discover_hosts(Discover::expecting(2)).await?;
/// assert_eq!(hosts.len(), 2);
/// lattice.shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
pub struct LocalLattice {
    // Field order is drop order: hosts and providers go before the server.
    hosts: Vec<HostHandle>,
    providers: Vec<(ProviderId, ProviderHandle)>,
    client: Client,
    nats: async_nats::Client,
    lattice: LatticeName,
    runtime: RuntimeFactory,
    setup: Adjust<Host>,
    server: NatsServer,
}

impl fmt::Debug for LocalLattice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLattice")
            .field("url", &self.url())
            .field("lattice", &self.lattice)
            .field("hosts", &self.host_ids().collect::<Vec<_>>())
            .field(
                "providers",
                &self.providers.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl LocalLattice {
    /// A builder: lattice `default`, no hosts, no providers, a `nats-server` on a free port,
    /// hosts running [`RevisionEchoRuntime`].
    pub fn builder() -> LocalLatticeBuilder {
        LocalLatticeBuilder::default()
    }

    /// The client URL of the lattice's `nats-server`.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The lattice's `nats-server` (its port, pid and log file).
    pub fn server(&self) -> &NatsServer {
        &self.server
    }

    /// The lattice name.
    pub fn lattice(&self) -> &LatticeName {
        &self.lattice
    }

    /// The connection of [`client`](Self::client), for raw requests next to the typed ones.
    pub fn nats(&self) -> &async_nats::Client {
        &self.nats
    }

    /// A typed client of the lattice.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The hosts started with the lattice, in the order they were named.
    pub fn hosts(&self) -> &[HostHandle] {
        &self.hosts
    }

    /// The ids of the hosts started with the lattice.
    pub fn host_ids(&self) -> impl Iterator<Item = &HostId> {
        self.hosts.iter().map(HostHandle::host_id)
    }

    /// The host `id`, if it started with the lattice.
    pub fn host(&self, id: &HostId) -> Option<&HostHandle> {
        self.hosts.iter().find(|host| host.host_id() == id)
    }

    /// A new connection to the lattice's server, named `name`.
    ///
    /// # Errors
    ///
    /// [`LocalLatticeError::Connect`] when the server does not accept it.
    pub async fn connect(&self, name: &str) -> Result<async_nats::Client, LocalLatticeError> {
        connect(&self.server.url(), name).await
    }

    /// Starts one more host with `config`, its runtime and setup as the lattice's other hosts
    /// (the caller owns it: it stops when the handle is dropped or shut down).
    ///
    /// # Errors
    ///
    /// As [`LocalLatticeBuilder::start`], for this host.
    pub async fn start_host(&self, config: HostConfig) -> Result<HostHandle, LocalLatticeError> {
        start_host(
            &self.server.url(),
            config,
            &self.runtime,
            self.setup.as_ref(),
        )
        .await
    }

    /// Serves `handler` as provider `id` on a connection of its own (the caller owns the
    /// handle).
    ///
    /// # Errors
    ///
    /// As [`LocalLatticeBuilder::start`], for this provider.
    pub async fn serve_provider(
        &self,
        id: ProviderId,
        handler: Arc<dyn LinkHandler>,
    ) -> Result<ProviderHandle, LocalLatticeError> {
        serve_provider(&self.server.url(), &self.lattice, id, None, handler).await
    }

    /// Stops the hosts (each lets its applies in flight finish for up to `grace`, see
    /// [`HostHandle::shutdown`](lattice_host::HostHandle::shutdown)), then the providers
    /// (each waits for its in-flight requests), then the server.
    pub async fn shutdown(self, grace: std::time::Duration) {
        let Self {
            hosts,
            providers,
            server,
            ..
        } = self;
        futures::future::join_all(hosts.into_iter().map(|host| host.shutdown(grace))).await;
        for (_, provider) in providers {
            provider.shutdown().await;
        }
        drop(server);
    }
}

/// Configures and starts a [`LocalLattice`]; from [`LocalLattice::builder`].
#[must_use]
pub struct LocalLatticeBuilder {
    server: NatsServerBuilder,
    lattice: LatticeName,
    hosts: Vec<HostId>,
    runtime: RuntimeFactory,
    configure: Adjust<HostConfig>,
    setup: Adjust<Host>,
    providers: Vec<(ProviderId, Option<HostId>, Arc<dyn LinkHandler>)>,
}

impl fmt::Debug for LocalLatticeBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalLatticeBuilder")
            .field("server", &self.server)
            .field("lattice", &self.lattice)
            .field("hosts", &self.hosts)
            .field(
                "providers",
                &self
                    .providers
                    .iter()
                    .map(|(id, host, _)| (id, host))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Default for LocalLatticeBuilder {
    fn default() -> Self {
        Self {
            server: NatsServer::builder(),
            lattice: LatticeName::new("default").expect("`default` is a valid lattice name"),
            hosts: Vec::new(),
            runtime: Arc::new(|_, _| Ok(Arc::new(RevisionEchoRuntime))),
            configure: Arc::new(|config| config),
            setup: Arc::new(|host| host),
            providers: Vec::new(),
        }
    }
}

impl LocalLatticeBuilder {
    /// Starts the server with `server` (a fixed port, another binary, …) instead of the
    /// default launcher (JetStream on, a free port).
    pub fn server(mut self, server: NatsServerBuilder) -> Self {
        self.server = server;
        self
    }

    /// The lattice the hosts and providers serve; default `default`.
    pub fn lattice(mut self, lattice: LatticeName) -> Self {
        self.lattice = lattice;
        self
    }

    /// Starts `count` hosts named `host-1` … `host-{count}` (instead of any named before).
    pub fn hosts(mut self, count: usize) -> Self {
        self.hosts = (1..=count)
            .map(|n| HostId::new(format!("host-{n}")).expect("`host-N` is a valid host id"))
            .collect();
        self
    }

    /// Starts a host named `id` too.
    pub fn host(mut self, id: HostId) -> Self {
        self.hosts.push(id);
        self
    }

    /// Builds each host's runtime over that host's connection (default:
    /// [`RevisionEchoRuntime`], which executes nothing and answers with the revision).
    ///
    /// ```no_run
    /// use lattice_host::{ComponentRuntime, RevisionEchoRuntime};
    /// use std::sync::Arc;
    ///
    /// let builder = lattice_local::LocalLattice::builder().runtime(|_nats, _lattice| {
    ///     Ok(Arc::new(RevisionEchoRuntime) as Arc<dyn ComponentRuntime>)
    /// });
    /// ```
    pub fn runtime(
        mut self,
        runtime: impl Fn(
            &async_nats::Client,
            &LatticeName,
        ) -> Result<Arc<dyn ComponentRuntime>, BoxError>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.runtime = Arc::new(runtime);
        self
    }

    /// Adjusts each host's configuration (labels, link reply timeout, …) before it starts.
    pub fn configure_hosts(
        mut self,
        configure: impl Fn(HostConfig) -> HostConfig + Send + Sync + 'static,
    ) -> Self {
        self.configure = Arc::new(configure);
        self
    }

    /// Adjusts each [`Host`] builder (fetcher, validator, configuration store) before it
    /// starts; also for hosts started later with [`LocalLattice::start_host`].
    pub fn setup_hosts(mut self, setup: impl Fn(Host) -> Host + Send + Sync + 'static) -> Self {
        self.setup = Arc::new(setup);
        self
    }

    /// Serves `handler` as provider `id`, lattice-wide.
    pub fn provider(mut self, id: ProviderId, handler: Arc<dyn LinkHandler>) -> Self {
        self.providers.push((id, None, handler));
        self
    }

    /// Serves `handler` as the instance of provider `id` on host `host` (as wasmCloud runs
    /// one per host): the host's link requests reach it on its host-scoped subject.
    pub fn provider_on_host(
        mut self,
        id: ProviderId,
        host: HostId,
        handler: Arc<dyn LinkHandler>,
    ) -> Self {
        self.providers.push((id, Some(host), handler));
        self
    }

    /// Starts the server, then the providers, then the hosts, and connects the client.
    ///
    /// ```no_run
    /// # async fn run() -> Result<(), lattice_local::LocalLatticeError> {
    /// let lattice = lattice_local::LocalLattice::builder().hosts(1).start().await?;
    /// println!("{} at {}", lattice.lattice(), lattice.url());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`LocalLatticeError::Server`] when `nats-server` cannot start (with what to install);
    /// [`LocalLatticeError::Connect`], [`LocalLatticeError::Runtime`],
    /// [`LocalLatticeError::Host`] or [`LocalLatticeError::Provider`] when a part cannot. What
    /// started before is stopped again.
    pub async fn start(self) -> Result<LocalLattice, LocalLatticeError> {
        let launcher = self.server;
        let server = tokio::task::spawn_blocking(move || launcher.start())
            .await
            .map_err(LocalLatticeError::Launcher)?
            .map_err(LocalLatticeError::Server)?;
        let url = server.url();
        let mut providers = Vec::with_capacity(self.providers.len());
        for (id, host, handler) in self.providers {
            let served = serve_provider(&url, &self.lattice, id.clone(), host, handler).await?;
            providers.push((id, served));
        }
        let mut hosts = Vec::with_capacity(self.hosts.len());
        for id in self.hosts {
            let config = (self.configure)(HostConfig::new(id, self.lattice.clone()));
            hosts.push(start_host(&url, config, &self.runtime, self.setup.as_ref()).await?);
        }
        let nats = connect(&url, "lattice-local client").await?;
        Ok(LocalLattice {
            hosts,
            providers,
            client: Client::new(nats.clone(), self.lattice.clone()),
            nats,
            lattice: self.lattice,
            runtime: self.runtime,
            setup: self.setup,
            server,
        })
    }
}

async fn connect(url: &str, name: &str) -> Result<async_nats::Client, LocalLatticeError> {
    async_nats::ConnectOptions::new()
        .name(name)
        .connect(url)
        .await
        .map_err(|source| LocalLatticeError::Connect {
            url: url.to_owned(),
            source,
        })
}

async fn start_host(
    url: &str,
    config: HostConfig,
    runtime: &RuntimeFactory,
    setup: &(dyn Fn(Host) -> Host + Send + Sync),
) -> Result<HostHandle, LocalLatticeError> {
    let host = config.host_id.clone();
    let nats = connect(url, &format!("lattice-local {host}")).await?;
    let runtime = runtime(&nats, &config.lattice).map_err(|source| LocalLatticeError::Runtime {
        host: host.clone(),
        source,
    })?;
    setup(Host::new(nats, config, runtime))
        .start()
        .await
        .map_err(|source| LocalLatticeError::Host { host, source })
}

async fn serve_provider(
    url: &str,
    lattice: &LatticeName,
    id: ProviderId,
    host: Option<HostId>,
    handler: Arc<dyn LinkHandler>,
) -> Result<ProviderHandle, LocalLatticeError> {
    let nats = connect(url, &format!("lattice-local provider {id}")).await?;
    let mut server = ProviderServer::new(nats, lattice.clone(), id.clone(), handler);
    if let Some(host) = host {
        server = server.on_host(host);
    }
    server
        .serve()
        .await
        .map_err(|source| LocalLatticeError::Provider {
            provider: id,
            source,
        })
}

/// A [`LocalLattice`] could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalLatticeError {
    /// `nats-server` could not start; the error says what to install or which port is taken.
    #[error("cannot start nats-server")]
    Server(#[source] StartError),
    /// The task starting `nats-server` panicked or was cancelled.
    #[error("the task starting nats-server failed")]
    Launcher(#[source] tokio::task::JoinError),
    /// A connection to the lattice's server failed.
    #[error("cannot connect to {url}")]
    Connect {
        /// The server's URL.
        url: String,
        /// What async-nats said.
        #[source]
        source: async_nats::ConnectError,
    },
    /// A host's runtime could not be built.
    #[error("cannot build the runtime of host `{host}`")]
    Runtime {
        /// The host.
        host: HostId,
        /// What the runtime factory said.
        #[source]
        source: BoxError,
    },
    /// A host could not start.
    #[error("host `{host}` cannot start")]
    Host {
        /// The host.
        host: HostId,
        /// Why.
        #[source]
        source: HostError,
    },
    /// A provider could not serve.
    #[error("provider `{provider}` cannot serve")]
    Provider {
        /// The provider.
        provider: ProviderId,
        /// Why.
        #[source]
        source: ProviderError,
    },
}

/// Which part of a [`LocalLattice`] could not start, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalLatticeErrorKind {
    /// The `nats-server` process.
    Server,
    /// A connection to it.
    Connect,
    /// A host's runtime.
    Runtime,
    /// A host.
    Host,
    /// A provider.
    Provider,
}

impl LocalLatticeError {
    /// Which part could not start.
    #[must_use]
    pub fn kind(&self) -> LocalLatticeErrorKind {
        match self {
            Self::Server(_) | Self::Launcher(_) => LocalLatticeErrorKind::Server,
            Self::Connect { .. } => LocalLatticeErrorKind::Connect,
            Self::Runtime { .. } => LocalLatticeErrorKind::Runtime,
            Self::Host { .. } => LocalLatticeErrorKind::Host,
            Self::Provider { .. } => LocalLatticeErrorKind::Provider,
        }
    }
}
