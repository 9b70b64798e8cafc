//! The validated component spec: [`ComponentSpec`], [`LinkSpec`], [`ConfigSpec`], [`SecretRef`].
//!
//! A value of these types has passed validation: it is built from a
//! [`ComponentSpecDraft`](crate::ComponentSpecDraft) by
//! [`validate`](crate::ComponentSpecDraft::validate), or decoded (decoding validates). Fields
//! are read through accessors so a valid spec cannot be edited into an invalid one; to change
//! a spec, turn it back into a draft with [`ComponentSpec::to_draft`].

use crate::{
    ArtifactRef, ComponentId, ConfigName, ContentDigest, LinkName, ProviderId, Revision,
    WorkloadId, draft::ComponentSpecDraft,
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
    ///         LinkDraft::incoming("http-server", "wasi", "http", ["incoming-handler"])
    ///             .source_config_value("address", "0.0.0.0:8080"),
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

    /// The component's links, outgoing and incoming.
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

    /// Every named configuration the spec uses — its own and its links' ends — each once.
    #[must_use]
    pub fn config_names(&self) -> std::collections::BTreeSet<&ConfigName> {
        self.configs().flat_map(|c| c.names.iter()).collect()
    }

    /// The named configurations the spec uses somewhere without a pin.
    #[must_use]
    pub fn unpinned_config_names(&self) -> std::collections::BTreeSet<&ConfigName> {
        self.configs()
            .flat_map(|c| c.names.iter().filter(|n| !c.pins.contains_key(*n)))
            .collect()
    }

    /// The same spec with every *unpinned* use of a name in `pins` pinned to its digest (in
    /// the component's configuration and both ends of every link). Pins already there stay:
    /// re-rolling a stored revision keeps the content it was rolled out with.
    #[must_use]
    pub fn with_config_pins(mut self, pins: &BTreeMap<ConfigName, ContentDigest>) -> Self {
        let pin = |config: &mut ConfigSpec| {
            for name in &config.names {
                if let Some(digest) = pins.get(name) {
                    config
                        .pins
                        .entry(name.clone())
                        .or_insert_with(|| digest.clone());
                }
            }
        };
        pin(&mut self.config);
        for link in &mut self.links {
            pin(&mut link.source_config);
            pin(&mut link.target_config);
        }
        self
    }

    fn configs(&self) -> impl Iterator<Item = &ConfigSpec> {
        std::iter::once(&self.config).chain(
            self.links
                .iter()
                .flat_map(|l| [&l.source_config, &l.target_config]),
        )
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
///
/// A named configuration may be *pinned* to the content digest it was resolved to (`pins`;
/// the bucket layout is described in `lattice_spec::configdata`): the spec's digest covers the pins, so
/// rotating a value inside a named configuration is a changed spec, and a host resolving a
/// pinned name reads exactly that content (or fails), whatever the name holds now. The
/// scheduler pins every named configuration when a rollout starts; an unpinned name is read
/// as it is when the host applies the spec (the 1.x behaviour).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ConfigSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) names: Vec<ConfigName>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) values: BTreeMap<String, String>,
    /// Content digests of named configurations (`name -> sha256:…` of the configuration's
    /// canonical JSON). Only names in `names`; absent when empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) pins: BTreeMap<ConfigName, ContentDigest>,
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

    /// The content digests named configurations are pinned to (see [`crate::configdata`]).
    #[must_use]
    pub fn pins(&self) -> &BTreeMap<ConfigName, ContentDigest> {
        &self.pins
    }

    /// The content digest `name` is pinned to, if it is.
    #[must_use]
    pub fn pin(&self, name: &ConfigName) -> Option<&ContentDigest> {
        self.pins.get(name)
    }

    /// The same configuration with `name` pinned to `digest`; a name the configuration does
    /// not use is ignored (a pin only ever narrows what a listed name resolves to).
    #[must_use]
    pub fn with_pin(mut self, name: &ConfigName, digest: ContentDigest) -> Self {
        if self.names.contains(name) {
            self.pins.insert(name.clone(), digest);
        }
        self
    }

    /// The same configuration without pins: every name resolves to its current content.
    #[must_use]
    pub fn without_pins(mut self) -> Self {
        self.pins.clear();
        self
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

lattice_status::wire_enum! {
    /// What an outgoing link's target is.
    #[derive(Default)]
    pub enum LinkTargetKind {
        /// A capability provider: the host sends it the link (put and delete) and waits for
        /// its answer.
        #[default]
        Provider = "provider",
        /// Another component: wRPC routes calls to it by its id, so there is no one to send
        /// the link to and nothing to wait for.
        Component = "component",
    }
}

impl LinkTargetKind {
    fn is_provider(&self) -> bool {
        *self == Self::Provider
    }
}

/// The other end of a link, seen from the component whose spec holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum LinkPeer {
    /// A capability provider.
    Provider(ProviderId),
    /// Another component.
    Component(ComponentId),
}

impl LinkPeer {
    /// The peer's id.
    #[must_use]
    pub fn id(&self) -> &str {
        match self {
            Self::Provider(id) => id.as_str(),
            Self::Component(id) => id.as_str(),
        }
    }

    /// The peer as a provider, if it is one.
    #[must_use]
    pub fn provider(&self) -> Option<&ProviderId> {
        match self {
            Self::Provider(id) => Some(id),
            Self::Component(_) => None,
        }
    }
}

impl fmt::Display for LinkPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Provider(id) => write!(f, "provider `{id}`"),
            Self::Component(id) => write!(f, "component `{id}`"),
        }
    }
}

/// Which way a link points, seen from the component whose spec holds it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LinkDirection {
    /// The component is the source: it calls `interfaces` (its imports) served by the target.
    Outgoing(LinkPeer),
    /// A provider is the source: it calls the component's exported `interfaces` (an HTTP
    /// server or messaging provider delivering requests). The provider's own settings, such
    /// as its listen address, are the link's `source_config`.
    Incoming(ProviderId),
}

/// One link of a component: either **outgoing** (the component uses `interfaces` of
/// `wit_namespace:wit_package` served by a provider or another component, its `target`) or
/// **incoming** (a provider, its `source`, calls the component's exports), with configuration
/// and secret references for both ends.
///
/// On the wire exactly one of `target` (outgoing; `target_kind` says whether it names a
/// provider, the default, or a component) and `source` (incoming; always a provider) is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct LinkSpec {
    pub(crate) name: LinkName,
    /// Set on an incoming link: the provider that calls the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) source: Option<ProviderId>,
    /// Set on an outgoing link: the provider or component that serves the interfaces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) target: Option<WorkloadId>,
    /// What `target` names; `provider` when absent.
    #[serde(default, skip_serializing_if = "LinkTargetKind::is_provider")]
    pub(crate) target_kind: LinkTargetKind,
    pub(crate) wit_namespace: String,
    pub(crate) wit_package: String,
    pub(crate) interfaces: Vec<String>,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) source_config: ConfigSpec,
    #[serde(default, skip_serializing_if = "ConfigSpec::is_empty")]
    pub(crate) target_config: ConfigSpec,
    /// Secrets for the source's end, by reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) source_secrets: Vec<SecretRef>,
    /// Secrets for the target's end, by reference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) target_secrets: Vec<SecretRef>,
}

impl LinkSpec {
    /// The link's name (`default` unless set).
    #[must_use]
    pub fn name(&self) -> &LinkName {
        &self.name
    }

    /// Which way the link points and what is at its other end.
    #[must_use]
    pub fn direction(&self) -> LinkDirection {
        match (&self.source, &self.target) {
            (Some(source), _) => LinkDirection::Incoming(source.clone()),
            (None, Some(target)) if self.target_kind == LinkTargetKind::Component => {
                LinkDirection::Outgoing(LinkPeer::Component(target.clone().into()))
            }
            (None, Some(target)) => {
                LinkDirection::Outgoing(LinkPeer::Provider(target.clone().into()))
            }
            (None, None) => unreachable!("validation requires a source or a target"),
        }
    }

    /// The other end of the link: its target when outgoing, its source when incoming.
    #[must_use]
    pub fn peer(&self) -> LinkPeer {
        match self.direction() {
            LinkDirection::Outgoing(peer) => peer,
            LinkDirection::Incoming(source) => LinkPeer::Provider(source),
        }
    }

    /// The provider at the other end, if any: the one a host sends this link's put and delete
    /// to. `None` for a link to another component.
    #[must_use]
    pub fn provider(&self) -> Option<ProviderId> {
        match self.peer() {
            LinkPeer::Provider(id) => Some(id),
            LinkPeer::Component(_) => None,
        }
    }

    /// Whether a provider calls the component over this link (see [`LinkDirection::Incoming`]).
    #[must_use]
    pub fn is_incoming(&self) -> bool {
        self.source.is_some()
    }

    /// The provider that calls the component, for an incoming link.
    #[must_use]
    pub fn incoming_source(&self) -> Option<&ProviderId> {
        self.source.as_ref()
    }

    /// What the link's target is: for an incoming link, the component itself.
    #[must_use]
    pub fn target_kind(&self) -> LinkTargetKind {
        if self.is_incoming() {
            LinkTargetKind::Component
        } else {
            self.target_kind
        }
    }

    /// The link's source, given the id of the component whose spec holds it.
    #[must_use]
    pub fn source_id(&self, component: &ComponentId) -> WorkloadId {
        match &self.source {
            Some(source) => source.clone().into(),
            None => component.clone().into(),
        }
    }

    /// The link's target, given the id of the component whose spec holds it.
    #[must_use]
    pub fn target_id(&self, component: &ComponentId) -> WorkloadId {
        match &self.target {
            Some(target) => target.clone(),
            None => component.clone().into(),
        }
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

    /// The interfaces: imports of the component when outgoing (e.g. `store`, `atomics`),
    /// exports when incoming (e.g. `incoming-handler`).
    #[must_use]
    pub fn interfaces(&self) -> &[String] {
        &self.interfaces
    }

    /// Configuration for the source's end (the component's when outgoing; the provider's,
    /// e.g. a listen address, when incoming).
    #[must_use]
    pub fn source_config(&self) -> &ConfigSpec {
        &self.source_config
    }

    /// Configuration for the target's end (the provider's when outgoing to one, e.g. a
    /// connection URL).
    #[must_use]
    pub fn target_config(&self) -> &ConfigSpec {
        &self.target_config
    }

    /// Secrets for the source's end, by reference.
    #[must_use]
    pub fn source_secrets(&self) -> &[SecretRef] {
        &self.source_secrets
    }

    /// Secrets for the target's end, by reference.
    #[must_use]
    pub fn target_secrets(&self) -> &[SecretRef] {
        &self.target_secrets
    }

    /// What identifies this link within its component.
    #[must_use]
    pub fn key(&self) -> LinkKey {
        LinkKey {
            source: self.source.clone(),
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

/// What identifies a link within one component: its source, WIT namespace, package and link
/// name — wasmCloud's link key. A component may have a `default` link for `wasi:http` and
/// another for `wasi:keyvalue`, and an outgoing `wasi:http` link beside an incoming one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkKey {
    /// The provider that is the source of an incoming link; `None` when the component itself
    /// is the source.
    pub source: Option<ProviderId>,
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
        )?;
        match &self.source {
            Some(source) => write!(f, " from `{source}`"),
            None => Ok(()),
        }
    }
}
