//! A wasmtime `ComponentRuntime` (see [`lattice_host::ComponentRuntime`]) for the lattice host kit:
//! real WebAssembly components, every export served over wRPC, linked imports called over
//! wRPC, WASI and `wasi:config` provided by the host.
//!
//! ```no_run
//! use lattice_host::{Host, HostConfig};
//! use lattice_runtime_wasmtime::{Limits, WasmtimeRuntime};
//! use std::{sync::Arc, time::Duration};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
//! let lattice = "default".parse()?;
//! let runtime = WasmtimeRuntime::new(nats.clone(), &lattice)?
//!     .limits(Limits::default().max_memory_bytes(32 << 20).deadline(Duration::from_secs(5)));
//! let host = Host::new(nats, HostConfig::new("host-a".parse()?, lattice), Arc::new(runtime))
//!     .start()
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! # How a revision is prepared and served
//!
//! - **Before the pause.** [`instantiate`](lattice_host::ComponentRuntime::instantiate)
//!   compiles the component (on the blocking pool), links its imports, pre-instantiates it
//!   (`InstancePre`) and instantiates it once on trial — so a component that traps in its start
//!   function or wants more memory than allowed fails the apply (`instantiate_failed`,
//!   `resource_limit`) while the old revision keeps serving, and the host's pause window never
//!   includes compilation.
//! - **One engine per runtime** (so per host), shared by every component and revision —
//!   or per process: [`WasmtimeRuntime::for_host`] makes the runtime of another host in the
//!   same process over that host's own connection, sharing the engine, its epoch thread and
//!   its compiled components.
//! - **Compiled once per engine.** Compiled components are kept per engine, keyed by the
//!   artifact's content digest (the validator's [`ValidatedComponent::digest`]), the 16 most
//!   recently used: a rollback to a revision compiled before does not compile again, and
//!   10,000 hosts in one process sharing an engine compile a component once, not 10,000 times
//!   (concurrent applies of one component wait for one compilation).
//! - **A fresh instance per invocation**, from the `InstancePre`, as wasmCloud 1.x does:
//!   invocations never share state, a trap cannot poison later calls, and the limits are per
//!   invocation. `benches/` measures what this costs against calling an already instantiated
//!   export.
//! - **Exports.** Every function the component exports — in exported interfaces and at the top
//!   level — is listed by [`ComponentInstance::exports`](lattice_host::ComponentInstance) and
//!   served by the host under the wRPC prefix `{lattice}.{component}` with the instance and
//!   function names of the WIT. Functions of exported resources (`[method]…`,
//!   `[constructor]…`) are not served: a resource cannot outlive the per-invocation instance.
//! - **Imports.** See the `imports` module: WASI (`io`, `clocks`, `random`, `cli`,
//!   `filesystem`, `sockets`), `wasi:config/store` (the spec's resolved configuration) and
//!   `wasi:logging/logging` (to `tracing`) are the host's; any other import must be covered by
//!   a link and is called over wRPC on the link's target.
//! - **Limits** ([`Limits`]): memory and tables through a resource limiter, fuel when enabled,
//!   a wall-clock deadline through epoch interruption. Hitting one is a
//!   [`RuntimeErrorKind::ResourceLimit`](lattice_host::RuntimeErrorKind); a trap answers the
//!   invocation with an error and the next invocation runs in a new instance.

mod compiled;
mod imports;
mod instance;
mod limits;
mod logging;
mod secrets;
mod store;

pub use limits::Limits;

use crate::instance::WasmtimeInstance;
use bytes::Bytes;
use futures::future::BoxFuture;
use lattice_artifact::ValidatedComponent;
use lattice_host::{
    ComponentInstance, ComponentRuntime, RuntimeError, RuntimeErrorKind, wrpc_transport_nats,
};
use lattice_spec::{ComponentSpec, LatticeName};
use std::{
    collections::{BTreeMap, HashMap},
    fmt,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the engine's epoch advances: the resolution of [`Limits::deadline`].
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Runs components with wasmtime. Cheap to clone; one per host.
#[derive(Clone)]
pub struct WasmtimeRuntime {
    inner: Arc<RuntimeInner>,
    limits: Limits,
    import_timeout: Duration,
}

impl fmt::Debug for WasmtimeRuntime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WasmtimeRuntime")
            .field("lattice", &self.inner.lattice)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// What every runtime sharing an engine shares: the engine, its epoch thread (stopped when
/// the last runtime goes) and its compiled components.
pub(crate) struct SharedEngine {
    ticking: Arc<AtomicBool>,
    pub(crate) compiled: compiled::CompiledCache,
}

impl Drop for SharedEngine {
    fn drop(&mut self) {
        self.ticking.store(false, Ordering::Relaxed);
    }
}

/// What every revision on the host shares: the engine, the NATS connection import calls go
/// over, and one wRPC client per link target.
pub(crate) struct RuntimeInner {
    pub(crate) engine: Engine,
    pub(crate) shared: Arc<SharedEngine>,
    nats: async_nats::Client,
    lattice: LatticeName,
    targets: tokio::sync::Mutex<HashMap<String, Arc<wrpc_transport_nats::Client>>>,
}

impl RuntimeInner {
    /// The wRPC client of a link target (`{lattice}.{target}`), made once per target.
    pub(crate) async fn target_client(
        &self,
        target: &str,
    ) -> Result<Arc<wrpc_transport_nats::Client>, RuntimeError> {
        let mut targets = self.targets.lock().await;
        if let Some(client) = targets.get(target) {
            return Ok(client.clone());
        }
        let client = wrpc_transport_nats::Client::new(
            self.nats.clone(),
            lattice_host::wrpc::prefix(&self.lattice, target),
            None,
        )
        .await
        .map_err(|e| {
            RuntimeError::with_kind(
                RuntimeErrorKind::Transport,
                format!("cannot create the wRPC client of `{target}`: {e:#}"),
            )
        })?;
        let client = Arc::new(client);
        targets.insert(target.to_owned(), client.clone());
        Ok(client)
    }
}

impl WasmtimeRuntime {
    /// A runtime whose components call their linked imports over `nats` in `lattice`, with
    /// the default [`Limits`]: `WasmtimeRuntime::builder(nats, lattice).build()`.
    ///
    /// # Errors
    ///
    /// A [`RuntimeError`] when wasmtime cannot create its engine on this machine.
    pub fn new(nats: async_nats::Client, lattice: &LatticeName) -> Result<Self, RuntimeError> {
        Self::builder(nats, lattice).build()
    }

    /// Like [`WasmtimeRuntime::new`], with fuel metering compiled in when `fuel` is true
    /// (needed for [`Limits::fuel`]; it slows execution down, so it is off by default). With
    /// fuel on, the limits start as the defaults with one billion units of fuel per instance;
    /// [`WasmtimeRuntime::limits`] replaces them.
    ///
    /// # Errors
    ///
    /// A [`RuntimeError`] when wasmtime cannot create its engine on this machine.
    pub fn with_fuel(
        nats: async_nats::Client,
        lattice: &LatticeName,
        fuel: bool,
    ) -> Result<Self, RuntimeError> {
        Self::builder(nats, lattice).fuel(fuel).build()
    }

    /// A builder for the settings that shape the engine: fuel metering and the pooling
    /// allocator.
    #[must_use]
    pub fn builder(nats: async_nats::Client, lattice: &LatticeName) -> RuntimeBuilder {
        RuntimeBuilder {
            nats,
            lattice: lattice.clone(),
            fuel: false,
            pooled_instances: None,
            limits: None,
        }
    }

    /// Sets the limits of every instance. [`Limits::fuel`] takes effect only on a runtime
    /// made by [`WasmtimeRuntime::with_fuel`].
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets how long one import call over wRPC may take (default 10 s); a call that takes
    /// longer traps the instance.
    #[must_use]
    pub fn import_timeout(mut self, timeout: Duration) -> Self {
        self.import_timeout = timeout;
        self
    }

    /// The engine every component of this runtime is compiled with.
    #[must_use]
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The runtime of another host in this process, whose components call their imports over
    /// that host's connection `nats` in `lattice`, with this runtime's limits and import
    /// timeout, sharing this runtime's engine, epoch thread and compiled components: many
    /// hosts in one process (a test, a benchmark, the scale harness) compile a component
    /// once and run one epoch thread, not one per host.
    ///
    /// ```no_run
    /// use lattice_host::{Host, HostConfig};
    /// use lattice_runtime_wasmtime::WasmtimeRuntime;
    /// use std::sync::Arc;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let lattice = "default".parse()?;
    /// let first = async_nats::connect("nats://127.0.0.1:4222").await?;
    /// let template = WasmtimeRuntime::new(first.clone(), &lattice)?;
    /// let mut hosts = Vec::new();
    /// for n in 0..100 {
    ///     let nats = async_nats::connect("nats://127.0.0.1:4222").await?;
    ///     let runtime = template.for_host(nats.clone(), &lattice);
    ///     let config = HostConfig::new(format!("host-{n}").parse()?, lattice.clone());
    ///     hosts.push(Host::new(nats, config, Arc::new(runtime)).start().await?);
    /// }
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn for_host(&self, nats: async_nats::Client, lattice: &LatticeName) -> WasmtimeRuntime {
        WasmtimeRuntime {
            inner: Arc::new(RuntimeInner {
                engine: self.inner.engine.clone(),
                shared: self.inner.shared.clone(),
                nats,
                lattice: lattice.clone(),
                targets: tokio::sync::Mutex::new(HashMap::new()),
            }),
            limits: self.limits,
            import_timeout: self.import_timeout,
        }
    }

    /// How many times this runtime's engine compiled a component (for every runtime sharing
    /// it, see [`WasmtimeRuntime::for_host`]); an apply served from the compiled components
    /// kept does not count.
    #[must_use]
    pub fn compilations(&self) -> u64 {
        self.inner.shared.compiled.compilations()
    }
}

/// Builds a [`WasmtimeRuntime`]; see [`WasmtimeRuntime::builder`].
#[derive(Debug)]
pub struct RuntimeBuilder {
    nats: async_nats::Client,
    lattice: LatticeName,
    fuel: bool,
    pooled_instances: Option<u32>,
    limits: Option<Limits>,
}

impl RuntimeBuilder {
    /// Compiles fuel metering in (for [`Limits::fuel`]); off by default, since it slows
    /// execution down.
    #[must_use]
    pub fn fuel(mut self, fuel: bool) -> Self {
        self.fuel = fuel;
        self
    }

    /// Instantiates from a pool of `instances` preallocated slots (wasmtime's pooling
    /// allocator) instead of allocating each instance's memory on demand: instantiation,
    /// which every invocation pays, gets cheaper. At most `instances` instances run at once
    /// across the host; an invocation beyond that fails with `ResourceLimit`. Each slot
    /// reserves (not commits) address space for [`Limits::max_memory_bytes`] plus guard
    /// pages, so the limits are fixed when the engine is built. Off by default.
    #[must_use]
    pub fn pooling(mut self, instances: u32) -> Self {
        self.pooled_instances = Some(instances);
        self
    }

    /// The limits of every instance (default [`Limits::default`], with one billion units of
    /// fuel when fuel is on).
    #[must_use]
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Creates the engine and the runtime.
    ///
    /// # Errors
    ///
    /// A [`RuntimeError`] when wasmtime cannot create its engine on this machine.
    pub fn build(self) -> Result<WasmtimeRuntime, RuntimeError> {
        let limits = self.limits.unwrap_or_else(|| {
            if self.fuel {
                Limits::default().fuel(Some(1_000_000_000))
            } else {
                Limits::default()
            }
        });
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        config.consume_fuel(self.fuel);
        if let Some(instances) = self.pooled_instances {
            let mut pool = PoolingAllocationConfig::default();
            pool.total_component_instances(instances)
                .total_core_instances(instances)
                .total_memories(instances)
                .total_tables(instances)
                // Components made of several modules, or with multi-memory modules, fit.
                .max_memories_per_module(4)
                .max_memories_per_component(16)
                .max_tables_per_module(4)
                .max_memory_size(limits.max_memory_bytes);
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        }
        let engine = Engine::new(&config).map_err(|e| {
            RuntimeError::with_kind(
                RuntimeErrorKind::Other,
                format!("cannot create the wasmtime engine: {e:#}"),
            )
        })?;
        let ticking = Arc::new(AtomicBool::new(true));
        {
            let (engine, ticking) = (engine.clone(), ticking.clone());
            std::thread::Builder::new()
                .name("lattice-epoch".into())
                .spawn(move || {
                    while ticking.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                })
                .map_err(|e| RuntimeError::new(format!("cannot start the epoch thread: {e}")))?;
        }
        Ok(WasmtimeRuntime {
            inner: Arc::new(RuntimeInner {
                engine,
                shared: Arc::new(SharedEngine {
                    ticking,
                    compiled: compiled::CompiledCache::default(),
                }),
                nats: self.nats,
                lattice: self.lattice,
                targets: tokio::sync::Mutex::new(HashMap::new()),
            }),
            limits,
            import_timeout: Duration::from_secs(10),
        })
    }
}

impl ComponentRuntime for WasmtimeRuntime {
    fn instantiate<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        component: &'a ValidatedComponent,
        bytes: Bytes,
        config: &'a BTreeMap<String, String>,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        Box::pin(async move {
            let instance = WasmtimeInstance::prepare(
                self.inner.clone(),
                spec,
                &component.digest,
                bytes,
                config,
                &lattice_host::SecretMap::new(),
                self.limits,
                self.import_timeout,
            )
            .await?;
            Ok(Arc::new(instance) as Arc<dyn ComponentInstance>)
        })
    }

    /// Serves the secrets to the component through `wasmcloud:secrets/store` and `reveal`.
    fn instantiate_with_secrets<'a>(
        &'a self,
        spec: &'a ComponentSpec,
        component: &'a ValidatedComponent,
        bytes: Bytes,
        config: &'a BTreeMap<String, String>,
        secrets: &'a lattice_host::SecretMap,
    ) -> BoxFuture<'a, Result<Arc<dyn ComponentInstance>, RuntimeError>> {
        Box::pin(async move {
            let instance = WasmtimeInstance::prepare(
                self.inner.clone(),
                spec,
                &component.digest,
                bytes,
                config,
                secrets,
                self.limits,
                self.import_timeout,
            )
            .await?;
            Ok(Arc::new(instance) as Arc<dyn ComponentInstance>)
        })
    }
}
