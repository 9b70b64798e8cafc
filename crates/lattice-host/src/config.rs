//! How a host is configured: identity, the link reply bound and its policy, and where named
//! configuration comes from.

use futures::future::BoxFuture;
use lattice_spec::{ConfigName, ConfigSpec, ContentDigest, HostId, LatticeName};
use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
    time::Duration,
};

/// What a host does with a link whose provider did not answer within the bound (for example a
/// provider built with an SDK that predates link replies).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum UnacknowledgedLinks {
    /// Record the link as `unacknowledged` and carry on with the upgrade (the default: 1.x
    /// providers never reply, and refusing them would make every upgrade fail).
    #[default]
    Accept,
    /// Treat silence as a refusal: the upgrade fails and the old revision keeps serving.
    Fail,
}

/// What a host does with the lattice-wide 1.x operations (`link.*`, `config.*`): in 1.x one
/// host answers them for the whole lattice and writes lattice-wide state, which a lattice host
/// never does (links and configuration names travel in each component's spec; the scheduler
/// owns named configuration).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum V1LatticeWide {
    /// Do not subscribe (the default): in a lattice that also has 1.x hosts, they answer
    /// (and the first reply is the one a 1.x client takes, so a refusal from a lattice host
    /// would race with their success); in a lattice of lattice hosts only, the NATS server
    /// answers the 1.x client at once with "no responders".
    #[default]
    Leave,
    /// Answer each request with `success: false` and a message saying why this host does
    /// not perform it — for a lattice with no 1.x hosts, so 1.x tools get an explanation.
    Refuse,
}

/// Where a host reads named configurations from. Hosts only *read* lattice-wide state; the
/// scheduler (and `lattice config`) writes it.
///
/// Asynchronous, because a real store is remote ([`crate::NatsConfigStore`] reads the
/// lattice's `CONFIGDATA_{lattice}` bucket); every failure is typed, so the component's
/// status says which configuration to fix and how, and the revision it runs keeps serving.
pub trait ConfigStore: Send + Sync + 'static {
    /// The values of configuration `name`: with `pin`, exactly the content with that digest
    /// (see [`lattice_spec::configdata`]), whatever the name holds now; without, its current
    /// content.
    ///
    /// # Errors
    ///
    /// [`ConfigError`]: the configuration (or its pinned content) does not exist, is not a
    /// JSON object of strings, does not match its pin, or the store cannot be reached.
    fn get<'a>(
        &'a self,
        name: &'a ConfigName,
        pin: Option<&'a ContentDigest>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, ConfigError>>;
}

/// Why a named configuration could not be resolved: the configuration bucket's own error, so
/// a host and the tools that write the bucket report a configuration problem the same way.
/// Never carries a configuration value.
pub type ConfigError = lattice_nats::ConfigBucketError;

/// An in-memory [`ConfigStore`], for tests, demos and hosts that receive configuration some
/// other way. It keeps every content ever put, so a pinned name resolves to the content it
/// was pinned to after the name was put again (as the bucket's pinned copies do).
#[derive(Clone, Debug, Default)]
pub struct StaticConfigStore {
    configs: Arc<RwLock<StaticConfigs>>,
}

#[derive(Debug, Default)]
struct StaticConfigs {
    current: BTreeMap<ConfigName, BTreeMap<String, String>>,
    pinned: BTreeMap<(ConfigName, String), BTreeMap<String, String>>,
}

impl StaticConfigStore {
    /// Sets configuration `name`.
    pub fn put(&self, name: ConfigName, values: BTreeMap<String, String>) {
        let mut configs = self.configs.write().unwrap_or_else(|e| e.into_inner());
        let digest = lattice_spec::configdata::content_digest(&values);
        configs
            .pinned
            .insert((name.clone(), digest.as_str().to_owned()), values.clone());
        configs.current.insert(name, values);
    }
}

impl ConfigStore for StaticConfigStore {
    fn get<'a>(
        &'a self,
        name: &'a ConfigName,
        pin: Option<&'a ContentDigest>,
    ) -> BoxFuture<'a, Result<BTreeMap<String, String>, ConfigError>> {
        let configs = self.configs.read().unwrap_or_else(|e| e.into_inner());
        let found = match pin {
            None => configs
                .current
                .get(name)
                .cloned()
                .ok_or_else(|| ConfigError::Missing { name: name.clone() }),
            Some(digest) => configs
                .pinned
                .get(&(name.clone(), digest.as_str().to_owned()))
                .cloned()
                .ok_or_else(|| ConfigError::MissingPinned {
                    name: name.clone(),
                    digest: digest.clone(),
                }),
        };
        Box::pin(std::future::ready(found))
    }
}

/// Merges named configurations (left to right, each at its pin if it has one) and then
/// inline values (which win).
///
/// # Errors
///
/// The first configuration that could not be resolved, and why.
pub(crate) async fn resolve(
    store: &dyn ConfigStore,
    config: &ConfigSpec,
) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut values = BTreeMap::new();
    for name in config.names() {
        values.extend(store.get(name, config.pin(name)).await?);
    }
    values.extend(config.values().clone());
    Ok(values)
}

/// The status reason of a component whose configuration could not be resolved: what to fix,
/// never a value.
pub(crate) fn reason(error: &ConfigError) -> lattice_status::StatusReason {
    lattice_status::StatusReason::new(lattice_status::ReasonCode::StartFailed, explain(error))
}

/// The error with its causes (a JetStream failure's own message says why the bucket could not
/// be read).
pub(crate) fn explain(error: &ConfigError) -> String {
    let mut message = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(source) = cause {
        message.push_str(": ");
        message.push_str(&source.to_string());
        cause = source.source();
    }
    message
}

/// A host's identity and behaviour.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct HostConfig {
    /// The host's id.
    pub host_id: HostId,
    /// The lattice it belongs to.
    pub lattice: LatticeName,
    /// A human-friendly name.
    pub friendly_name: String,
    /// Labels for placement.
    pub labels: BTreeMap<String, String>,
    /// How long to wait for a provider's answer to a link request.
    pub link_reply_timeout: Duration,
    /// What to do when a provider does not answer in time.
    pub unacknowledged_links: UnacknowledgedLinks,
    /// How often the host publishes the 1.x `host_heartbeat` event (one is also published
    /// at start); zero publishes only the one at start.
    pub heartbeat_interval: Duration,
    /// What to do with lattice-wide 1.x link and configuration operations.
    pub v1_lattice_wide: V1LatticeWide,
    /// How link secret references are resolved and sealed; without it, a link with secret
    /// references is refused (`invalid_configuration`), never sent without them.
    pub link_secrets: Option<crate::LinkSecrets>,
    /// How long fetch, validate, instantiate and the drain of in-flight invocations may
    /// each take in an apply.
    pub deadlines: HostDeadlines,
    /// Where the secrets a component's spec names are resolved when it is applied; without
    /// it, a component with secret references fails (`secrets_unavailable`).
    pub secrets_backend: Option<std::sync::Arc<dyn crate::SecretsBackend>>,
    /// How provider processes applied as provider specs are supervised.
    pub providers: crate::ProviderSupervision,
}

/// How long each bounded step of an apply may take. When a bound fires, the apply fails with
/// its own reason (`fetch_timeout`, `validate_timeout`, `instantiate_timeout`,
/// `drain_timeout`), the previous revision keeps serving with its links as they were, and
/// the component's apply lock is released, so the next apply (a rollback's) starts at once.
///
/// The defaults are generous upper bounds for a healthy host; they exist so that a hung step
/// ends, not to pace a normal one:
///
/// | step | default | why |
/// |---|---|---|
/// | fetch | 90 s | above the OCI registry fetcher's own 60 s deadline, which fails sooner with `fetch_failed` naming the registry; this bound catches fetchers without one |
/// | validate | 30 s | parsing and validating a component is linear and takes well under a second for tens of MB |
/// | instantiate | 60 s | includes compiling the component (Cranelift), which takes seconds to tens of seconds for a large component on a small machine |
/// | drain | 35 s | above the wasmtime runtime's default 30 s execution deadline, so an invocation the runtime lets run to its limit ends (or traps) first; invocations that arrive meanwhile are held, so lower it together with the runtime's deadline |
///
/// ```
/// use lattice_host::HostDeadlines;
/// use std::time::Duration;
///
/// let deadlines = HostDeadlines::default().with_fetch(Duration::from_secs(20));
/// assert_eq!(deadlines.fetch, Duration::from_secs(20));
/// assert_eq!(deadlines.drain, Duration::from_secs(35));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostDeadlines {
    /// Fetching the artifact (and checking its digest pin).
    pub fetch: Duration,
    /// Validating the artifact against the spec's links.
    pub validate: Duration,
    /// Compiling and instantiating the new revision.
    pub instantiate: Duration,
    /// Waiting for the invocations in flight on the serving revision to finish, once the
    /// upgrade paused it (before the swap).
    pub drain: Duration,
}

impl Default for HostDeadlines {
    fn default() -> Self {
        Self {
            fetch: Duration::from_secs(90),
            validate: Duration::from_secs(30),
            instantiate: Duration::from_secs(60),
            drain: Duration::from_secs(35),
        }
    }
}

impl HostDeadlines {
    /// The same bounds with `fetch` for the fetch.
    #[must_use]
    pub fn with_fetch(mut self, fetch: Duration) -> Self {
        self.fetch = fetch;
        self
    }

    /// The same bounds with `validate` for the validation.
    #[must_use]
    pub fn with_validate(mut self, validate: Duration) -> Self {
        self.validate = validate;
        self
    }

    /// The same bounds with `instantiate` for the instantiation.
    #[must_use]
    pub fn with_instantiate(mut self, instantiate: Duration) -> Self {
        self.instantiate = instantiate;
        self
    }

    /// The same bounds with `drain` for the drain of in-flight invocations.
    #[must_use]
    pub fn with_drain(mut self, drain: Duration) -> Self {
        self.drain = drain;
        self
    }
}

/// How often 1.x hosts publish their heartbeat, and the default here.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(30);

impl HostConfig {
    /// A host `host_id` in `lattice`, waiting 2 s for link replies and accepting silent
    /// providers as `unacknowledged`, with a 1.x heartbeat every 30 s.
    #[must_use]
    pub fn new(host_id: HostId, lattice: LatticeName) -> Self {
        Self {
            friendly_name: host_id.to_string(),
            host_id,
            lattice,
            labels: BTreeMap::new(),
            link_reply_timeout: Duration::from_secs(2),
            unacknowledged_links: UnacknowledgedLinks::default(),
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            v1_lattice_wide: V1LatticeWide::default(),
            link_secrets: None,
            deadlines: HostDeadlines::default(),
            secrets_backend: None,
            providers: crate::ProviderSupervision::default(),
        }
    }

    /// Sets how provider processes are supervised (health polling, restarts, stopping).
    #[must_use]
    pub fn provider_supervision(mut self, supervision: crate::ProviderSupervision) -> Self {
        self.providers = supervision;
        self
    }

    /// Sets how link secret references are resolved and sealed for providers.
    #[must_use]
    pub fn link_secrets(mut self, secrets: crate::LinkSecrets) -> Self {
        self.link_secrets = Some(secrets);
        self
    }

    /// Sets where the secrets components name are resolved (usually the same backend as
    /// [`link_secrets`](Self::link_secrets)'s).
    #[must_use]
    pub fn secrets_backend(mut self, backend: std::sync::Arc<dyn crate::SecretsBackend>) -> Self {
        self.secrets_backend = Some(backend);
        self
    }

    /// Sets how often the 1.x `host_heartbeat` event is published (zero: only at start).
    #[must_use]
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.heartbeat_interval = interval;
        self
    }

    /// Sets what to do with lattice-wide 1.x link and configuration operations.
    #[must_use]
    pub fn v1_lattice_wide(mut self, policy: V1LatticeWide) -> Self {
        self.v1_lattice_wide = policy;
        self
    }

    /// Sets a label.
    #[must_use]
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// Sets how long to wait for a provider's answer to a link request.
    #[must_use]
    pub fn link_reply_timeout(mut self, timeout: Duration) -> Self {
        self.link_reply_timeout = timeout;
        self
    }

    /// Sets what to do when a provider does not answer in time.
    #[must_use]
    pub fn unacknowledged_links(mut self, policy: UnacknowledgedLinks) -> Self {
        self.unacknowledged_links = policy;
        self
    }

    /// Sets how long fetch, validate, instantiate and the drain may each take
    /// ([`HostDeadlines`]; its defaults otherwise).
    #[must_use]
    pub fn deadlines(mut self, deadlines: HostDeadlines) -> Self {
        self.deadlines = deadlines;
        self
    }
}
