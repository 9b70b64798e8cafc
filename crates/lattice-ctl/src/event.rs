//! Status events: every status transition a host makes is published, so a scheduler can
//! follow an upgrade without polling.
//!
//! Each host numbers its events with one increasing `sequence`; a subscriber that sees a gap
//! (or that subscribed late) re-reads the host's inventory, which is the source of truth.
//!
//! On the wire each event is the `data` of a CloudEvent ([`crate::cloudevent`]):
//! [`WireMessage::encode`] writes the envelope and [`WireMessage::decode`] reads it, so no
//! event leaves without one. The types' own serde form is that `data`. Each event knows the
//! subject it is published on ([`ComponentStatusEvent::subject`], …).

use crate::{
    EventSource, EventSubject,
    cloudevent::{self, Attributes, EventType},
};
use lattice_spec::{
    ApiVersion, ComponentId, DecodeError, HostId, LatticeName, LinkName, ProviderId, Revision,
    WireMessage, WorkloadId,
};
use lattice_status::{
    ComponentState, ComponentStatus, LinkState, LinkStatus, ProviderState, ProviderStatus,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, now: the clock of every `*_ms` timestamp the kits write
/// (event origins, rollout events and records). 0 for a clock set before 1970.
///
/// The one clock read of the message crates: it is not I/O, needs no dependency, and sits
/// beside the fields it fills so that the host kit and the rollout engine stamp alike. Every
/// message constructor still takes its timestamp as an argument.
///
/// ```
/// let now = lattice_ctl::now_ms();
/// assert!(now > 1_700_000_000_000);
/// ```
#[must_use]
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Where and when an event happened; common to every status event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct EventOrigin {
    /// The lattice.
    pub lattice: LatticeName,
    /// The host that published the event.
    pub host_id: HostId,
    /// The host's event counter: one more than its previous event.
    pub sequence: u64,
    /// When the transition happened, in milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

impl EventOrigin {
    /// The origin of event number `sequence` from `host_id`.
    #[must_use]
    pub fn new(lattice: LatticeName, host_id: HostId, sequence: u64, timestamp_ms: u64) -> Self {
        Self {
            lattice,
            host_id,
            sequence,
            timestamp_ms,
        }
    }

    /// The CloudEvents `id` of the event: `{lattice}.{host}.{sequence}.{timestamp_ms}`. The
    /// host's sequence makes it unique within one run of the host, and the timestamp across
    /// restarts (which start the sequence again); identifiers never contain `.`.
    ///
    /// ```
    /// use lattice_ctl::EventOrigin;
    ///
    /// let origin = EventOrigin::new("default".parse()?, "host-a".parse()?, 17, 1_763_900_000_000);
    /// assert_eq!(origin.cloud_event_id(), "default.host-a.17.1763900000000");
    /// # Ok::<(), lattice_spec::IdError>(())
    /// ```
    #[must_use]
    pub fn cloud_event_id(&self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.lattice, self.host_id, self.sequence, self.timestamp_ms
        )
    }

    /// The subject an event about `source` from this origin is published on.
    fn subject(&self, source: EventSource) -> EventSubject {
        EventSubject {
            lattice: self.lattice.clone(),
            host_id: self.host_id.clone(),
            source,
        }
    }

    /// The envelope attributes of an event about `subject`, published by the host.
    fn attributes<'a>(&'a self, subject: &'a str) -> Attributes<'a> {
        Attributes {
            id: self.cloud_event_id(),
            source: self.host_id.as_str(),
            subject,
            timestamp_ms: self.timestamp_ms,
        }
    }
}

/// `WireMessage` for a host's status event: the CloudEvent of `$kind`, about `$about`.
macro_rules! host_event {
    ($event:ty, $name:literal, $kind:expr, |$this:ident| $about:expr) => {
        impl WireMessage for $event {
            const NAME: &'static str = $name;

            /// Reads the event from its CloudEvent, checking the `type` and `data` versions.
            fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
                cloudevent::decode(Self::NAME, $kind, bytes)
            }

            /// Writes the event as a CloudEvent.
            fn encode(&self) -> Result<bytes::Bytes, serde_json::Error> {
                let $this = self;
                cloudevent::encode($kind, &self.origin.attributes($about), self)
            }
        }
    };
}

/// One revision of a component changed status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ComponentStatusEvent {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// Where and when.
    #[serde(flatten)]
    pub origin: EventOrigin,
    /// The component.
    pub component_id: ComponentId,
    /// The revision whose status changed.
    pub revision: Revision,
    /// The state before the transition; absent for a revision's first status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ComponentState>,
    /// The new status.
    pub status: ComponentStatus,
}

impl ComponentStatusEvent {
    /// An event for `component_id` at `revision` moving from `previous` to `status`.
    #[must_use]
    pub fn new(
        origin: EventOrigin,
        component_id: ComponentId,
        revision: Revision,
        previous: Option<ComponentState>,
        status: ComponentStatus,
    ) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            origin,
            component_id,
            revision,
            previous,
            status,
        }
    }

    /// The subject the event is published on.
    #[must_use]
    pub fn subject(&self) -> EventSubject {
        self.origin
            .subject(EventSource::Component(self.component_id.clone()))
    }
}

host_event!(
    ComponentStatusEvent,
    "ComponentStatusEvent",
    EventType::ComponentStatus,
    |event| event.component_id.as_str()
);

/// A provider changed status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct ProviderStatusEvent {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// Where and when.
    #[serde(flatten)]
    pub origin: EventOrigin,
    /// The provider.
    pub provider_id: ProviderId,
    /// The state before the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<ProviderState>,
    /// The new status.
    pub status: ProviderStatus,
}

impl ProviderStatusEvent {
    /// An event for `provider_id` moving from `previous` to `status`.
    #[must_use]
    pub fn new(
        origin: EventOrigin,
        provider_id: ProviderId,
        previous: Option<ProviderState>,
        status: ProviderStatus,
    ) -> Self {
        Self {
            api_version: ApiVersion::CURRENT,
            origin,
            provider_id,
            previous,
            status,
        }
    }

    /// The subject the event is published on.
    #[must_use]
    pub fn subject(&self) -> EventSubject {
        self.origin
            .subject(EventSource::Provider(self.provider_id.clone()))
    }
}

host_event!(
    ProviderStatusEvent,
    "ProviderStatusEvent",
    EventType::ProviderStatus,
    |event| event.provider_id.as_str()
);

/// A link of a component changed status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct LinkStatusEvent {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// Where and when.
    #[serde(flatten)]
    pub origin: EventOrigin,
    /// The component whose spec holds the link (its source, unless the link is incoming).
    pub source_id: ComponentId,
    /// The revision of the component the link belongs to.
    pub revision: Revision,
    /// The link's name.
    pub name: LinkName,
    /// The link's target: the provider or component serving it; for an incoming link, the
    /// component itself.
    pub target: WorkloadId,
    /// Set on an incoming link: the provider that calls the component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<ProviderId>,
    /// The WIT namespace.
    pub wit_namespace: String,
    /// The WIT package.
    pub wit_package: String,
    /// The state before the transition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<LinkState>,
    /// The new status; a refusal carries the provider's kind and message.
    pub status: LinkStatus,
}

host_event!(
    LinkStatusEvent,
    "LinkStatusEvent",
    EventType::LinkStatus,
    |event| event.source_id.as_str()
);

impl LinkStatusEvent {
    /// An event for `link` of `source_id` at `revision` moving from `previous` to `status`.
    #[must_use]
    pub fn new(
        origin: EventOrigin,
        source_id: ComponentId,
        revision: Revision,
        link: &lattice_spec::LinkSpec,
        previous: Option<LinkState>,
        status: LinkStatus,
    ) -> Self {
        let owner = source_id.clone();
        Self {
            api_version: ApiVersion::CURRENT,
            origin,
            source_id,
            revision,
            name: link.name().clone(),
            target: link.target_id(&owner),
            source: link.incoming_source().cloned(),
            wit_namespace: link.wit_namespace().to_owned(),
            wit_package: link.wit_package().to_owned(),
            previous,
            status,
        }
    }

    /// The subject the event is published on.
    #[must_use]
    pub fn subject(&self) -> EventSubject {
        self.origin
            .subject(EventSource::Link(self.source_id.clone()))
    }
}
