//! Applications and their revisions: what a scheduler stores and rolls out.

use lattice_spec::{ComponentId, ComponentSpec, HostId, ProviderId, ProviderSpec, Revision};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The name of an application, as the wire contract defines it (rollout subjects and events).
pub use lattice_ctl::AppName;

/// Which hosts a component runs on: `all`, `{hosts: [...]}` or `{labels: {...}}` (plain
/// maps, so YAML needs no tags).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SelectorRepr", into = "SelectorRepr")]
#[non_exhaustive]
pub enum HostSelector {
    /// Exactly these hosts.
    Hosts(Vec<HostId>),
    /// Every host whose labels include all of these.
    Labels(BTreeMap<String, String>),
    /// Every host of the lattice.
    All,
}

/// The wire form of a [`HostSelector`].
#[derive(Clone, Serialize, Deserialize)]
#[serde(untagged)]
enum SelectorRepr {
    Word(String),
    Hosts { hosts: Vec<HostId> },
    Labels { labels: BTreeMap<String, String> },
}

impl TryFrom<SelectorRepr> for HostSelector {
    type Error = String;
    fn try_from(repr: SelectorRepr) -> Result<Self, String> {
        match repr {
            SelectorRepr::Word(word) if word == "all" => Ok(Self::All),
            SelectorRepr::Word(word) => Err(format!(
                "unknown host selector `{word}`: use `all`, `{{hosts: [...]}}` or `{{labels: {{...}}}}`"
            )),
            SelectorRepr::Hosts { hosts } => Ok(Self::Hosts(hosts)),
            SelectorRepr::Labels { labels } => Ok(Self::Labels(labels)),
        }
    }
}

impl From<HostSelector> for SelectorRepr {
    fn from(selector: HostSelector) -> Self {
        match selector {
            HostSelector::All => Self::Word("all".to_owned()),
            HostSelector::Hosts(hosts) => Self::Hosts { hosts },
            HostSelector::Labels(labels) => Self::Labels { labels },
        }
    }
}

impl HostSelector {
    /// The hosts, among `available` (id, labels), that this selector picks, sorted by id.
    #[must_use]
    pub fn select(&self, available: &[(HostId, BTreeMap<String, String>)]) -> Vec<HostId> {
        let mut hosts: Vec<HostId> = available
            .iter()
            .filter(|(id, labels)| match self {
                Self::Hosts(wanted) => wanted.contains(id),
                Self::Labels(wanted) => wanted.iter().all(|(k, v)| labels.get(k) == Some(v)),
                Self::All => true,
            })
            .map(|(id, _)| id.clone())
            .collect();
        hosts.sort();
        hosts
    }
}

/// One component of an application and where it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Placement {
    /// The component's desired state. Its revision is replaced by the application's.
    pub spec: ComponentSpec,
    /// Where it runs.
    pub hosts: HostSelector,
}

impl Placement {
    /// `spec` on the hosts `hosts` selects.
    #[must_use]
    pub fn new(spec: ComponentSpec, hosts: HostSelector) -> Self {
        Self { spec, hosts }
    }
}

/// One capability provider of an application and where it runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderPlacement {
    /// The provider's desired state. Its revision is replaced by the application's.
    pub spec: ProviderSpec,
    /// Where it runs.
    pub hosts: HostSelector,
}

impl ProviderPlacement {
    /// `spec` on the hosts `hosts` selects.
    #[must_use]
    pub fn new(spec: ProviderSpec, hosts: HostSelector) -> Self {
        Self { spec, hosts }
    }
}

/// One stored revision of an application: every component, at one revision number.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AppRevision {
    /// The application.
    pub app: AppName,
    /// The revision number; every component spec carries it.
    pub revision: Revision,
    /// The components and their placement.
    pub components: Vec<Placement>,
    /// When it was stored, in milliseconds since the Unix epoch.
    pub created_ms: u64,
    /// Set on a revision written by a rollback: the stable revision whose content it restores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restores: Option<Revision>,
    /// The capability providers and their placement (each spec carries the revision too).
    /// A host's providers run before its components; see [`crate::plan::plan`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<ProviderPlacement>,
}

impl AppRevision {
    /// `components` as revision `revision` of `app`: every spec is re-stamped with `revision`.
    ///
    /// # Errors
    ///
    /// Never for specs that were valid; the re-stamped spec is validated again.
    pub fn new(
        app: AppName,
        revision: Revision,
        components: Vec<Placement>,
    ) -> Result<Self, lattice_spec::SpecErrors> {
        let components = components
            .into_iter()
            .map(|placement| {
                let spec = placement.spec.to_draft().revision(revision.0).validate()?;
                Ok(Placement {
                    spec,
                    hosts: placement.hosts,
                })
            })
            .collect::<Result<_, lattice_spec::SpecErrors>>()?;
        let created_ms = crate::record::now_ms();
        Ok(Self {
            app,
            revision,
            components,
            created_ms,
            restores: None,
            providers: Vec::new(),
        })
    }

    /// The same revision with `providers`, each spec re-stamped with the revision.
    ///
    /// # Errors
    ///
    /// Never for specs that were valid; the re-stamped spec is validated again.
    pub fn with_providers(
        mut self,
        providers: Vec<ProviderPlacement>,
    ) -> Result<Self, lattice_spec::SpecErrors> {
        self.providers = providers
            .into_iter()
            .map(|placement| {
                let spec = placement
                    .spec
                    .to_draft()
                    .revision(self.revision.0)
                    .validate()?;
                Ok(ProviderPlacement {
                    spec,
                    hosts: placement.hosts,
                })
            })
            .collect::<Result<_, lattice_spec::SpecErrors>>()?;
        Ok(self)
    }

    /// The same content at a new revision number, marked as restoring `self` (a rollback).
    ///
    /// # Errors
    ///
    /// As [`AppRevision::new`].
    pub fn restored_as(&self, revision: Revision) -> Result<Self, lattice_spec::SpecErrors> {
        let mut restored = Self::new(self.app.clone(), revision, self.components.clone())?
            .with_providers(self.providers.clone())?;
        restored.restores = Some(self.revision);
        Ok(restored)
    }

    /// The provider with `id`, if the application has it.
    #[must_use]
    pub fn provider(&self, id: &ProviderId) -> Option<&ProviderPlacement> {
        self.providers.iter().find(|p| p.spec.id() == id)
    }

    /// The component with `id`, if the application has it.
    #[must_use]
    pub fn component(&self, id: &ComponentId) -> Option<&Placement> {
        self.components.iter().find(|p| p.spec.id() == id)
    }
}
