//! [`Host`]: building and starting a host, and the [`HostHandle`] to observe and stop it.

use crate::{
    config::{ConfigStore, HostConfig},
    runtime::ComponentRuntime,
    server,
    state::HostState,
};
use lattice_artifact::{
    ArtifactFetcher, ComponentValidator, DefaultFetcher, FileFetcher, WasmComponentValidator,
};
use lattice_ctl::HostInventory;
use lattice_spec::{ComponentId, HostId};
use std::{sync::Arc, time::Duration};

/// A host being configured. Start it with [`Host::start`].
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use lattice_host::{Host, HostConfig, RevisionEchoRuntime};
/// use std::sync::Arc;
///
/// let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
/// let config = HostConfig::new("host-a".parse()?, "default".parse()?);
/// let host = Host::new(nats, config, Arc::new(RevisionEchoRuntime)).start().await?;
/// println!("serving as {}", host.host_id());
/// # Ok(()) }
/// ```
pub struct Host {
    nats: async_nats::Client,
    config: HostConfig,
    runtime: Arc<dyn ComponentRuntime>,
    fetcher: Arc<dyn ArtifactFetcher>,
    validator: Arc<dyn ComponentValidator>,
    configs: Arc<dyn ConfigStore>,
}

/// A host could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// Subscribing to the control subjects failed.
    #[error("cannot subscribe to the control subjects")]
    Subscribe(#[source] async_nats::SubscribeError),
}

/// Why a host could not start, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostErrorKind {
    /// A control subject is not one the server accepts (an invalid lattice or host id for
    /// this server).
    InvalidSubject,
    /// The NATS connection failed.
    Transport,
}

impl HostErrorKind {
    /// Whether starting again may succeed: a transport failure may be transient.
    #[must_use]
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Transport)
    }
}

impl HostError {
    /// The kind of failure.
    #[must_use]
    pub fn kind(&self) -> HostErrorKind {
        match self {
            Self::Subscribe(e) => match e.kind() {
                async_nats::SubscribeErrorKind::InvalidSubject => HostErrorKind::InvalidSubject,
                _ => HostErrorKind::Transport,
            },
        }
    }
}

impl Host {
    /// A host over `nats` configured by `config`, executing invocations with `runtime`. It
    /// fetches local files and OCI image layouts with the default fetcher (relative paths
    /// from the working directory), validates with [`WasmComponentValidator`], and reads
    /// named configuration from the lattice's `CONFIGDATA_{lattice}` bucket
    /// ([`NatsConfigStore`](crate::NatsConfigStore)) unless told otherwise.
    #[must_use]
    pub fn new(
        nats: async_nats::Client,
        config: HostConfig,
        runtime: Arc<dyn ComponentRuntime>,
    ) -> Self {
        let configs = Arc::new(crate::NatsConfigStore::new(nats.clone(), &config.lattice));
        Self {
            nats,
            config,
            runtime,
            fetcher: Arc::new(DefaultFetcher::new().with_files(FileFetcher::new("."))),
            validator: Arc::new(WasmComponentValidator::new()),
            configs,
        }
    }

    /// Uses `fetcher` to fetch artifacts.
    #[must_use]
    pub fn fetcher(mut self, fetcher: Arc<dyn ArtifactFetcher>) -> Self {
        self.fetcher = fetcher;
        self
    }

    /// Uses `validator` to validate artifacts.
    #[must_use]
    pub fn validator(mut self, validator: Arc<dyn ComponentValidator>) -> Self {
        self.validator = validator;
        self
    }

    /// Reads named configuration from `configs`.
    #[must_use]
    pub fn config_store(mut self, configs: Arc<dyn ConfigStore>) -> Self {
        self.configs = configs;
        self
    }

    /// Subscribes to the host's control subjects and starts serving. Returns once the
    /// subscriptions are live, so the host answers a ping sent right after.
    ///
    /// # Errors
    ///
    /// [`HostError::Subscribe`] when the subscriptions cannot be made.
    pub async fn start(self) -> Result<HostHandle, HostError> {
        let state = Arc::new(HostState::new(
            self.config,
            self.nats,
            self.fetcher,
            self.validator,
            self.runtime,
            self.configs,
        ));
        let task = server::serve(state.clone())
            .await
            .map_err(HostError::Subscribe)?;
        let heartbeat = crate::v1::spawn_heartbeat(state.clone());
        Ok(HostHandle {
            state,
            task,
            heartbeat,
            stopped: false,
        })
    }
}

/// A running host. [`HostHandle::shutdown`] stops it gracefully: no new requests, the
/// applies and deletes in flight finish (within a grace period), then every component stops
/// and the 1.x `host_stopped` event is published. Dropping the handle does the same at once:
/// work in flight is cancelled at its next await point.
pub struct HostHandle {
    state: Arc<HostState>,
    task: tokio::task::JoinHandle<()>,
    heartbeat: tokio::task::JoinHandle<()>,
    stopped: bool,
}

/// How a [`HostHandle::shutdown`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Shutdown {
    /// How many of the host's tasks (applies, deletes, request handlers) were still running
    /// when the grace period ended, and were cancelled; 0 when everything finished.
    pub cancelled: usize,
}

impl HostHandle {
    /// The host's id.
    #[must_use]
    pub fn host_id(&self) -> &HostId {
        &self.state.config.host_id
    }

    /// The host's inventory, as it would answer an inventory request.
    #[must_use]
    pub fn inventory(&self) -> HostInventory {
        self.state.inventory()
    }

    /// How long the last upgrade of `component` held invocations.
    #[must_use]
    pub fn last_pause_window(&self, component: &ComponentId) -> Option<Duration> {
        let slot = self.state.slot(component)?;
        *slot.last_pause.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many invocations `component` served, and how many times one was held by a pause.
    #[must_use]
    pub fn invocation_counters(&self, component: &ComponentId) -> Option<(u64, u64)> {
        Some(self.state.slot(component)?.gate.counters())
    }

    /// Stops the host gracefully: it stops taking control requests and publishing
    /// heartbeats, lets the applies, deletes and requests in flight finish for up to `grace`
    /// (an upgrade mid-pause completes or rolls back as it would), cancels what is still
    /// running then, and stops every component and publishes the 1.x `host_stopped` event.
    /// When it returns, none of the host's tasks runs any more.
    pub async fn shutdown(mut self, grace: Duration) -> Shutdown {
        self.task.abort();
        self.heartbeat.abort();
        // It answers no more pings: discovery must not wait for it.
        crate::v1::publish_presence(&self.state, lattice_ctl::PresenceState::Stopped).await;
        let tasks = &self.state.tasks;
        tasks.close();
        let cancelled = match tokio::time::timeout(grace, tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => {
                let running = tasks.len();
                tracing::warn!(
                    running,
                    ?grace,
                    "host tasks outlasted the shutdown grace period; cancelling them"
                );
                self.state.cancel.cancel();
                tasks.wait().await;
                running
            }
        };
        // Providers get their shutdown request, SIGTERM, then SIGKILL.
        crate::provider::stop_all(&self.state).await;
        self.stop();
        Shutdown { cancelled }
    }

    /// The process id of the provider's current process, when the host runs one.
    #[must_use]
    pub fn provider_process_id(&self, provider: &lattice_spec::ProviderId) -> Option<u32> {
        self.state.providers.pid(provider)
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        self.task.abort();
        self.heartbeat.abort();
        self.state.tasks.close();
        self.state.cancel.cancel();
        crate::v1::publish_stopped(&self.state);
        self.state.stop_all();
        crate::provider::cancel_all(&self.state);
    }
}

impl Drop for HostHandle {
    fn drop(&mut self) {
        self.stop();
    }
}
