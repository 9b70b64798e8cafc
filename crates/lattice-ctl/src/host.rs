//! Host discovery and host inventory with status.

use crate::reply::{Reply, ReplyPayload};
use lattice_spec::{
    ApiVersion, ArtifactRef, ComponentId, ContentDigest, HostId, LatticeName, LinkName,
    LinkTargetKind, ProviderId, Revision, WireMessage, WorkloadId,
};
use lattice_status::{ComponentStatus, LinkStatus, ProviderStatus};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Scatter/gather discovery: published on the ping subject, answered by every host with a
/// [`HostSummary`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostPingRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
}

impl HostPingRequest {
    /// A ping of the current version.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl WireMessage for HostPingRequest {
    const NAME: &'static str = "HostPingRequest";
}

/// A host's answer to a ping: who it is and which control API versions it speaks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostSummary {
    /// The host's id.
    pub host_id: HostId,
    /// The lattice the host belongs to.
    pub lattice: LatticeName,
    /// A human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// The host's labels (e.g. `zone=eu-1`), used for placement.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The host software's version.
    #[serde(default)]
    pub version: String,
    /// Every control API version the host speaks, e.g. `["v1", "v2alpha1"]`. Strings rather
    /// than an enum, so a newer host's versions are reported faithfully.
    pub api_versions: Vec<String>,
    /// Seconds since the host started.
    #[serde(default)]
    pub uptime_seconds: u64,
}

impl HostSummary {
    /// A summary of `host_id` in `lattice` speaking this build's API versions.
    #[must_use]
    pub fn new(host_id: HostId, lattice: LatticeName) -> Self {
        Self {
            host_id,
            lattice,
            friendly_name: String::new(),
            labels: BTreeMap::new(),
            version: String::new(),
            api_versions: ApiVersion::SUPPORTED
                .iter()
                .map(|v| (*v).to_owned())
                .collect(),
            uptime_seconds: 0,
        }
    }

    /// Whether the host speaks `version`.
    #[must_use]
    pub fn speaks(&self, version: ApiVersion) -> bool {
        self.api_versions.iter().any(|v| v == version.as_str())
    }
}

impl ReplyPayload for HostSummary {
    const REPLY_NAME: &'static str = "HostSummaryReply";
}

/// The reply to a [`HostPingRequest`].
pub type HostSummaryReply = Reply<HostSummary>;

/// Asks one host for its inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostInventoryRequest {
    /// The API version of this message.
    pub api_version: ApiVersion,
}

impl HostInventoryRequest {
    /// An inventory request of the current version.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl WireMessage for HostInventoryRequest {
    const NAME: &'static str = "HostInventoryRequest";
}

/// Everything on one host, with status: the source of truth when events were missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostInventory {
    /// The host's id.
    pub host_id: HostId,
    /// The lattice the host belongs to.
    pub lattice: LatticeName,
    /// The host's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Every component the host has accepted an apply for.
    #[serde(default)]
    pub components: Vec<ComponentInventory>,
    /// Every provider on the host.
    #[serde(default)]
    pub providers: Vec<ProviderInventory>,
    /// The sequence number of the last status event the host published; a client that saw a
    /// lower one has missed events.
    #[serde(default)]
    pub event_sequence: u64,
}

impl HostInventory {
    /// An empty inventory.
    #[must_use]
    pub fn new(host_id: HostId, lattice: LatticeName) -> Self {
        Self {
            host_id,
            lattice,
            labels: BTreeMap::new(),
            components: Vec::new(),
            providers: Vec::new(),
            event_sequence: 0,
        }
    }

    /// The component with `id`, if the host has it.
    #[must_use]
    pub fn component(&self, id: &ComponentId) -> Option<&ComponentInventory> {
        self.components.iter().find(|c| &c.component_id == id)
    }
}

impl ReplyPayload for HostInventory {
    const REPLY_NAME: &'static str = "HostInventoryReply";
}

/// The reply to a [`HostInventoryRequest`].
pub type HostInventoryReply = Reply<HostInventory>;

/// One revision of a component on a host and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct RevisionStatus {
    /// The spec revision.
    pub revision: Revision,
    /// The spec's canonical digest.
    pub spec_digest: ContentDigest,
    /// The artifact of that revision.
    pub artifact: ArtifactRef,
    /// Its status.
    pub status: ComponentStatus,
}

impl RevisionStatus {
    /// The status of `revision` (with its spec digest and artifact).
    #[must_use]
    pub fn new(
        revision: Revision,
        spec_digest: ContentDigest,
        artifact: ArtifactRef,
        status: ComponentStatus,
    ) -> Self {
        Self {
            revision,
            spec_digest,
            artifact,
            status,
        }
    }
}

/// A component on a host: the revision serving invocations (if any) and the revision most
/// recently applied.
///
/// While an upgrade is in flight, or after it failed, the two differ: `serving` is still the
/// old revision (`running`) and `desired` is the new one (`fetching` … or `failed` with its
/// reason). A component appears with `desired.status` `pending` the moment its apply is
/// accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ComponentInventory {
    /// The component's id.
    pub component_id: ComponentId,
    /// The revision most recently applied, and how far it got.
    pub desired: RevisionStatus,
    /// The revision handling invocations, if one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving: Option<RevisionStatus>,
    /// The component's maximum concurrent instances.
    pub scale: u32,
    /// The component's links and their status.
    #[serde(default)]
    pub links: Vec<LinkInventory>,
}

impl ComponentInventory {
    /// An entry for `component_id` whose most recent apply is `desired`, with nothing serving
    /// yet and no links.
    #[must_use]
    pub fn new(component_id: ComponentId, desired: RevisionStatus, scale: u32) -> Self {
        Self {
            component_id,
            desired,
            serving: None,
            scale,
            links: Vec::new(),
        }
    }

    /// Whether `revision` is the one serving invocations.
    #[must_use]
    pub fn is_serving(&self, revision: Revision) -> bool {
        self.serving
            .as_ref()
            .is_some_and(|s| s.revision == revision && s.status.state.is_serving())
    }
}

/// One link of a component and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LinkInventory {
    /// The link's name.
    pub name: LinkName,
    /// The link's target: the provider or component serving it; for an incoming link, the
    /// component itself.
    pub target: WorkloadId,
    /// What `target` names, when it is not a provider.
    #[serde(default, skip_serializing_if = "is_provider")]
    pub target_kind: LinkTargetKind,
    /// Set on an incoming link: the provider that calls the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProviderId>,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The interfaces covered.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// The link's status; a refusal carries the provider's kind and message.
    pub status: LinkStatus,
}

impl LinkInventory {
    /// The inventory entry of `link` of `component` with `status`.
    #[must_use]
    pub fn new(component: &ComponentId, link: &lattice_spec::LinkSpec, status: LinkStatus) -> Self {
        Self {
            name: link.name().clone(),
            target: link.target_id(component),
            target_kind: link.target_kind(),
            source: link.incoming_source().cloned(),
            wit_namespace: link.wit_namespace().to_owned(),
            wit_package: link.wit_package().to_owned(),
            interfaces: link.interfaces().to_vec(),
            status,
        }
    }
}

fn is_provider(kind: &LinkTargetKind) -> bool {
    *kind == LinkTargetKind::Provider
}

/// A provider on a host and its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ProviderInventory {
    /// The provider's id.
    pub provider_id: ProviderId,
    /// Where the provider came from, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactRef>,
    /// Its status.
    pub status: ProviderStatus,
    /// Free-form metadata.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The revision of the provider spec the status is for, when the provider was applied
    /// as a spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<Revision>,
    /// The canonical digest of that spec.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_digest: Option<ContentDigest>,
    /// How many times the host restarted the provider's process since the spec was applied.
    #[serde(default)]
    pub restarts: u32,
}

impl ProviderInventory {
    /// The entry of `provider_id` with `status`, and nothing else.
    #[must_use]
    pub fn new(provider_id: ProviderId, status: ProviderStatus) -> Self {
        Self {
            provider_id,
            artifact: None,
            status,
            annotations: BTreeMap::new(),
            revision: None,
            spec_digest: None,
            restarts: 0,
        }
    }
}

impl HostInventory {
    /// The provider with `id`, if the host has it.
    #[must_use]
    pub fn provider(&self, id: &ProviderId) -> Option<&ProviderInventory> {
        self.providers.iter().find(|p| &p.provider_id == id)
    }
}
