//! How a host is configured: identity, the link reply bound and its policy, and where named
//! configuration comes from.

use lattice_spec::{ConfigName, ConfigSpec, HostId, LatticeName};
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
/// scheduler writes it.
pub trait ConfigStore: Send + Sync + 'static {
    /// The values of configuration `name`, if it exists.
    fn get(&self, name: &ConfigName) -> Option<BTreeMap<String, String>>;
}

/// An in-memory [`ConfigStore`], for tests, demos and hosts that receive configuration some
/// other way.
#[derive(Clone, Debug, Default)]
pub struct StaticConfigStore {
    configs: Arc<RwLock<BTreeMap<ConfigName, BTreeMap<String, String>>>>,
}

impl StaticConfigStore {
    /// Sets configuration `name`.
    pub fn put(&self, name: ConfigName, values: BTreeMap<String, String>) {
        self.configs
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name, values);
    }
}

impl ConfigStore for StaticConfigStore {
    fn get(&self, name: &ConfigName) -> Option<BTreeMap<String, String>> {
        self.configs
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

/// Merges named configurations (left to right) and then inline values (which win).
///
/// # Errors
///
/// The name of the first configuration that does not exist.
pub(crate) fn resolve(
    store: &dyn ConfigStore,
    config: &ConfigSpec,
) -> Result<BTreeMap<String, String>, ConfigName> {
    let mut values = BTreeMap::new();
    for name in config.names() {
        values.extend(store.get(name).ok_or_else(|| name.clone())?);
    }
    values.extend(config.values().clone());
    Ok(values)
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
    /// How provider processes applied as provider specs are supervised.
    pub providers: crate::ProviderSupervision,
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
}
