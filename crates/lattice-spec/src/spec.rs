//! The validated component spec: [`ComponentSpec`], [`LinkSpec`], [`ConfigSpec`], [`SecretRef`].
//!
//! A value of these types has passed validation: it is built from a
//! [`ComponentSpecDraft`](crate::ComponentSpecDraft) by
//! [`validate`](crate::ComponentSpecDraft::validate), or decoded (decoding validates). Fields
//! are read through accessors so a valid spec cannot be edited into an invalid one; to change
//! a spec, turn it back into a draft with [`ComponentSpec::to_draft`].

use crate::{
    ArtifactRef, ComponentId, ConfigName, ContentDigest, LinkName, ProviderId, Revision,
    draft::ComponentSpecDraft,
};
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use std::{collections::BTreeMap, fmt, num::NonZeroU32};

/// The whole desired state of one component: artifact, scale, configuration, secret
/// references and all of its links, at one revision.
///
/// Applying the same spec twice changes nothing: hosts compare [`ComponentSpec::digest`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ComponentSpec {
    pub(crate) id: ComponentId,
    pub(crate) revision: Revision,
    pub(crate) artifact: ArtifactRef,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) digest: Option<ContentDigest>,
    pub(crate) scale: NonZeroU32,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) config: ConfigSpec,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) secrets: Vec<SecretRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) links: Vec<LinkSpec>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) annotations: BTreeMap<String, String>,
}

impl ComponentSpec {
    /// The component's id.
    ///
    /// ```
    /// use lattice_spec::{ComponentSpecDraft, LinkDraft};
    ///
    /// let spec = ComponentSpecDraft::new("http-hello", "ghcr.io/acme/hello:1.0.0")
    ///     .revision(3)
    ///     .scale(2)
    ///     .config_value("greeting", "hello")
    ///     .link(
    ///         LinkDraft::new("http-server", "wasi", "http", ["incoming-handler"])
    ///             .target_config_value("address", "0.0.0.0:8080"),
    ///     )
    ///     .validate()?;
    /// assert_eq!(spec.id(), "http-hello");
    /// assert_eq!(spec.links().len(), 1);
    /// # Ok::<(), lattice_spec::SpecErrors>(())
    /// ```
    #[must_use]
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// The revision of this desired state.
    #[must_use]
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Where the component's code comes from.
    #[must_use]
    pub fn artifact(&self) -> &ArtifactRef {
        &self.artifact
    }

    /// The digest the fetched artifact must have, when pinned.
    #[must_use]
    pub fn digest_pin(&self) -> Option<&ContentDigest> {
        self.digest.as_ref()
    }

    /// How many instances may run at once on one host.
    #[must_use]
    pub fn scale(&self) -> NonZeroU32 {
        self.scale
    }

    /// The component's own configuration.
    #[must_use]
    pub fn config(&self) -> &ConfigSpec {
        &self.config
    }

    /// The secrets the component may read, by reference.
    #[must_use]
    pub fn secrets(&self) -> &[SecretRef] {
        &self.secrets
    }

    /// The component's outgoing links.
    #[must_use]
    pub fn links(&self) -> &[LinkSpec] {
        &self.links
    }

    /// The link with `key`, if the spec has one.
    #[must_use]
    pub fn link(&self, key: &LinkKey) -> Option<&LinkSpec> {
        self.links.iter().find(|link| &link.key() == key)
    }

    /// Free-form metadata. Not part of the digest: changing only annotations is no change.
    #[must_use]
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// A draft with the same content, to edit and validate again.
    #[must_use]
    pub fn to_draft(&self) -> ComponentSpecDraft {
        ComponentSpecDraft::from(self)
    }
}

impl<'de> Deserialize<'de> for ComponentSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ComponentSpecDraft::deserialize(deserializer)?
            .validate()
            .map_err(serde::de::Error::custom)
    }
}

/// Configuration: names of configurations in the lattice's store (merged left to right) and
/// inline values (which win over named ones).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConfigSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) names: Vec<ConfigName>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) values: BTreeMap<String, String>,
}

impl ConfigSpec {
    /// Named configurations, in merge order.
    #[must_use]
    pub fn names(&self) -> &[ConfigName] {
        &self.names
    }

    /// Inline values.
    #[must_use]
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// Whether there is no configuration at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.names.is_empty() && self.values.is_empty()
    }
}

/// A reference to a secret held by a secrets backend. Never the secret's value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct SecretRef {
    pub(crate) name: String,
    pub(crate) backend: String,
    pub(crate) key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) version: Option<String>,
}

impl SecretRef {
    /// The name the component asks for.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The secrets backend that holds it (e.g. `nats-kv`, `vault`).
    #[must_use]
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The secret's key in its backend.
    #[must_use]
    pub fn key(&self) -> &str {
        &self.key
    }

    /// A field within the secret, when it is structured.
    #[must_use]
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// A specific version of the secret, when pinned.
    #[must_use]
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }
}

/// One outgoing link: the component uses `interfaces` of `wit_namespace:wit_package` served by
/// `target`, with configuration for both ends.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LinkSpec {
    pub(crate) name: LinkName,
    pub(crate) target: ProviderId,
    pub(crate) wit_namespace: String,
    pub(crate) wit_package: String,
    pub(crate) interfaces: Vec<String>,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) source_config: ConfigSpec,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) target_config: ConfigSpec,
}

impl LinkSpec {
    /// The link's name (`default` unless set).
    #[must_use]
    pub fn name(&self) -> &LinkName {
        &self.name
    }

    /// The provider (or component) that serves the interfaces.
    #[must_use]
    pub fn target(&self) -> &ProviderId {
        &self.target
    }

    /// The WIT namespace, e.g. `wasi`.
    #[must_use]
    pub fn wit_namespace(&self) -> &str {
        &self.wit_namespace
    }

    /// The WIT package, e.g. `keyvalue`.
    #[must_use]
    pub fn wit_package(&self) -> &str {
        &self.wit_package
    }

    /// The interfaces used, e.g. `store`, `atomics`.
    #[must_use]
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Configuration for the component's end of the link.
    #[must_use]
    pub fn source_config(&self) -> &ConfigSpec {
        &self.source_config
    }

    /// Configuration for the provider's end (e.g. a listen address).
    #[must_use]
    pub fn target_config(&self) -> &ConfigSpec {
        &self.target_config
    }

    /// What identifies this link within its component.
    #[must_use]
    pub fn key(&self) -> LinkKey {
        LinkKey {
            wit_namespace: self.wit_namespace.clone(),
            wit_package: self.wit_package.clone(),
            name: self.name.clone(),
        }
    }

    /// The fully qualified interfaces, e.g. `wasi:keyvalue/store`.
    pub fn qualified_interfaces(&self) -> impl Iterator<Item = String> + '_ {
        self.interfaces
            .iter()
            .map(|interface| format!("{}:{}/{interface}", self.wit_namespace, self.wit_package))
    }
}

/// What identifies a link within one component: WIT namespace, package and link name (as in
/// wasmCloud, a component may have a `default` link for `wasi:http` and another for
/// `wasi:keyvalue`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The link name.
    pub name: LinkName,
}

impl fmt::Display for LinkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} ({})",
            self.wit_namespace, self.wit_package, self.name
        )
    }
}
