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
}

impl HostConfig {
    /// A host `host_id` in `lattice`, waiting 2 s for link replies and accepting silent
    /// providers as `unacknowledged`.
    #[must_use]
    pub fn new(host_id: HostId, lattice: LatticeName) -> Self {
        Self {
            friendly_name: host_id.to_string(),
            host_id,
            lattice,
            labels: BTreeMap::new(),
            link_reply_timeout: Duration::from_secs(2),
            unacknowledged_links: UnacknowledgedLinks::default(),
        }
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
