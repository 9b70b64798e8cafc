//! The CloudEvents 1.0 envelope every lattice event travels in, the event `type`s, and why
//! events are published where they are.
//!
//! # Subjects outside `wasmbus.evt`
//!
//! 1.x events are `wasmbus.evt.{lattice}.{event}`, and 1.x consumers take the token after
//! `evt` as the lattice. wadm keeps a stream on `wasmbus.evt.*.>` (`wasmbus_events`, file
//! storage, 70 s), sources it into a work queue whose subjects it rewrites by that token
//! (`wadm_event_consumer.evt.{lattice}.>`), and reads each lattice's events one at a time
//! from a durable consumer, acknowledging and skipping any that is not a CloudEvent of a `type`
//! it knows; its lattice observer also subscribes to `wasmbus.evt.*.>`. An event on
//! `wasmbus.evt.v2alpha1.…` (the first v2alpha1 subjects) was thus stored twice for a lattice
//! called `v2alpha1`, where no consumer reads it until it expires. Putting the version after
//! the lattice (`wasmbus.evt.{lattice}.v2alpha1.…`) would be read correctly, but every status
//! event and rollout record would still be written to wadm's streams and pulled, parsed and
//! skipped one by one in the queue that carries the heartbeats wadm acts on: work for events
//! no 1.x consumer can use.
//!
//! So lattice events have a prefix of their own, [`EVENT_PREFIX`](crate::EVENT_PREFIX)
//! (`wasmbus.status.v2alpha1`; subjects in [`EventSubject`](crate::EventSubject) and
//! [`RolloutSubject`](crate::RolloutSubject)): it keeps the `wasmbus.{kind}.{version}.{lattice}`
//! shape of control subjects, stays under `wasmbus.>` (where hosts' NATS permissions usually
//! already reach), never matches `wasmbus.evt.*.>` (nor wadm's multitenant
//! `*.wasmbus.evt.*.>`), and no 1.x subject starts with it. A tool that does want our events —
//! `nats sub 'wasmbus.status.>'`, a dashboard — finds the CloudEvents convention it knows.
//!
//! # The envelope
//!
//! Every wasmCloud 1.x event is a CloudEvent in the JSON format (`specversion`, `id`,
//! `source`, `type`, `time`, `datacontenttype`, `data`) whose `type` is
//! `com.wasmcloud.lattice.{event}`. Lattice events follow the same convention so that a
//! CloudEvents consumer reads them without special cases and never mistakes one for a 1.x
//! event:
//!
//! | attribute | value |
//! |---|---|
//! | `specversion` | `1.0` |
//! | `type` | `dev.lattice.{api_version}.{event}`, e.g. `dev.lattice.v2alpha1.component_status` ([`EventType`]): namespaced apart from `com.wasmcloud.*`, which 1.x consumers match exactly, and versioned like the subject |
//! | `source` | the host id for a host's status events (as 1.x hosts write it), [`ROLLOUT_EVENT_SOURCE`] for a scheduler's rollout events |
//! | `id` | `{lattice}.{host}.{sequence}.{timestamp_ms}` for a host's events ([`EventOrigin::cloud_event_id`](crate::EventOrigin::cloud_event_id)): the per-host sequence, and the time that tells a restarted host's events from its earlier run; `{lattice}.{app}.{timestamp_ms}.{hash}` for rollout events (FNV-1a of `data`). Unique without a random number generator |
//! | `subject` | the component, provider or application the event is about |
//! | `time` | RFC 3339 in UTC with milliseconds, from the event's `timestamp_ms` |
//! | `datacontenttype` | `application/json` |
//! | `data` | the event ([`ComponentStatusEvent`](crate::ComponentStatusEvent), …), which still carries its own `api_version` |
//!
//! Decoding checks `specversion`, the `type` (an event of another API version is
//! [`DecodeError::UnsupportedVersion`], one of another kind is `Malformed`) and `data` by the
//! usual rules (its `api_version`, unknown fields ignored, unknown enum values `Unknown`). The
//! other attributes are required but not interpreted: another implementation may number its
//! events differently.

use lattice_spec::{ApiVersion, DecodeError, decode_versioned};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;

/// The CloudEvents version of every lattice event.
pub const CLOUDEVENTS_SPEC_VERSION: &str = "1.0";

/// The namespace of every lattice event `type`: `dev.lattice.{api_version}.{event}`.
pub const EVENT_TYPE_NAMESPACE: &str = "dev.lattice";

/// The `source` of a scheduler's rollout events (hosts' events name the host).
pub const ROLLOUT_EVENT_SOURCE: &str = "lattice-rollout";

/// The media type of every lattice event's `data`.
const DATA_CONTENT_TYPE: &str = "application/json";

/// What a lattice event is, as its CloudEvents `type` says.
///
/// ```
/// use lattice_ctl::EventType;
///
/// assert_eq!(EventType::ComponentStatus.as_str(), "dev.lattice.v2alpha1.component_status");
/// assert_eq!(EventType::parse("dev.lattice.v2alpha1.link_status")?, EventType::LinkStatus);
/// // Another kind, or not a lattice event at all (a 1.x event):
/// assert_eq!(EventType::parse("dev.lattice.v2alpha1.host_weather")?, EventType::Unknown);
/// assert_eq!(EventType::parse("com.wasmcloud.lattice.component_scaled")?, EventType::Unknown);
/// // A lattice event of an API version this build does not speak:
/// assert!(EventType::parse("dev.lattice.v3.component_status").is_err());
/// # Ok::<(), lattice_spec::DecodeError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventType {
    /// A component revision changed status on a host ([`ComponentStatusEvent`](crate::ComponentStatusEvent)).
    ComponentStatus,
    /// A provider changed status on a host ([`ProviderStatusEvent`](crate::ProviderStatusEvent)).
    ProviderStatus,
    /// A link changed status on a host ([`LinkStatusEvent`](crate::LinkStatusEvent)).
    LinkStatus,
    /// A scheduler's rollout changed ([`RolloutStatusEvent`](crate::RolloutStatusEvent)).
    RolloutStatus,
    /// A `type` this build does not know: a newer peer's kind of event, or not a lattice
    /// event at all.
    Unknown,
}

impl EventType {
    /// The `type` attribute of this kind of event, in the version this build sends;
    /// `Unknown` has none and gives an empty string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ComponentStatus => "dev.lattice.v2alpha1.component_status",
            Self::ProviderStatus => "dev.lattice.v2alpha1.provider_status",
            Self::LinkStatus => "dev.lattice.v2alpha1.link_status",
            Self::RolloutStatus => "dev.lattice.v2alpha1.rollout_status",
            Self::Unknown => "",
        }
    }

    /// Reads a CloudEvents `type`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnsupportedVersion`] for a lattice event (`dev.lattice.{version}.…`) of
    /// a version this build does not speak. Anything else that is not a lattice event of this
    /// version is `Ok(Unknown)`.
    pub fn parse(event_type: &str) -> Result<Self, DecodeError> {
        let Some(rest) = event_type
            .strip_prefix(EVENT_TYPE_NAMESPACE)
            .and_then(|rest| rest.strip_prefix('.'))
        else {
            return Ok(Self::Unknown);
        };
        let Some((version, _)) = rest.split_once('.') else {
            return Ok(Self::Unknown);
        };
        if !ApiVersion::SUPPORTED.contains(&version) {
            return Err(DecodeError::UnsupportedVersion {
                message: "CloudEvent",
                found: version.to_owned(),
                supported: ApiVersion::SUPPORTED,
            });
        }
        Ok([
            Self::ComponentStatus,
            Self::ProviderStatus,
            Self::LinkStatus,
            Self::RolloutStatus,
        ]
        .into_iter()
        .find(|known| known.as_str() == event_type)
        .unwrap_or(Self::Unknown))
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown => f.write_str("unknown"),
            known => f.write_str(known.as_str()),
        }
    }
}

/// The CloudEvents attributes of an event, read without its `data`: enough to tell what an
/// event is before decoding it (a subscriber of several kinds dispatches on [`Self::kind`]).
///
/// ```
/// use lattice_ctl::{EventHeader, EventType};
///
/// let bytes = br#"{"specversion":"1.0","id":"default.h1.7.1","source":"h1",
///     "type":"dev.lattice.v2alpha1.provider_status","data":{}}"#;
/// let header = EventHeader::decode(bytes)?;
/// assert_eq!(header.kind, EventType::ProviderStatus);
/// assert_eq!(header.source, "h1");
/// # Ok::<(), lattice_spec::DecodeError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventHeader {
    /// What the event is.
    pub kind: EventType,
    /// The `type` as written (what an [`EventType::Unknown`] event called itself).
    pub event_type: String,
    /// The event's id, unique per `source`.
    pub id: String,
    /// Who published it.
    pub source: String,
    /// What it is about, when the producer said.
    pub subject: Option<String>,
    /// When it happened (RFC 3339), when the producer said.
    pub time: Option<String>,
}

/// The attributes as they arrive; `data` is skipped.
#[derive(Deserialize)]
struct HeaderRepr {
    specversion: String,
    id: String,
    source: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    time: Option<String>,
}

impl EventHeader {
    /// Reads the attributes of a CloudEvent in the JSON format.
    ///
    /// # Errors
    ///
    /// `Malformed` when the document is not a CloudEvents 1.0 event (a required attribute is
    /// missing, or `specversion` is not `1.0`); `UnsupportedVersion` for a lattice event of
    /// a version this build does not speak.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let repr: HeaderRepr =
            serde_json::from_slice(bytes).map_err(|source| DecodeError::Malformed {
                message: "CloudEvent",
                source,
            })?;
        check_spec_version("CloudEvent", &repr.specversion)?;
        Ok(Self {
            kind: EventType::parse(&repr.event_type)?,
            event_type: repr.event_type,
            id: repr.id,
            source: repr.source,
            subject: repr.subject,
            time: repr.time,
        })
    }
}

fn malformed(message: &'static str, why: impl fmt::Display) -> DecodeError {
    DecodeError::Malformed {
        message,
        source: <serde_json::Error as serde::de::Error>::custom(why),
    }
}

fn check_spec_version(message: &'static str, found: &str) -> Result<(), DecodeError> {
    if found == CLOUDEVENTS_SPEC_VERSION {
        Ok(())
    } else {
        Err(malformed(
            message,
            format_args!("specversion `{found}` is not CloudEvents {CLOUDEVENTS_SPEC_VERSION}"),
        ))
    }
}

/// The attributes an event is published with; the `type` comes with the event's kind.
pub(crate) struct Attributes<'a> {
    pub(crate) id: String,
    pub(crate) source: &'a str,
    pub(crate) subject: &'a str,
    pub(crate) timestamp_ms: u64,
}

/// The envelope as written.
#[derive(Serialize)]
struct Outgoing<'a, T> {
    specversion: &'static str,
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'static str,
    source: &'a str,
    datacontenttype: &'static str,
    subject: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    time: Option<String>,
    data: &'a T,
}

/// Writes `data` as a CloudEvent of kind `kind`.
pub(crate) fn encode<T: Serialize>(
    kind: EventType,
    attributes: &Attributes<'_>,
    data: &T,
) -> Result<bytes::Bytes, serde_json::Error> {
    let envelope = Outgoing {
        specversion: CLOUDEVENTS_SPEC_VERSION,
        id: &attributes.id,
        event_type: kind.as_str(),
        source: attributes.source,
        subject: attributes.subject,
        datacontenttype: DATA_CONTENT_TYPE,
        time: rfc3339_ms(attributes.timestamp_ms),
        data,
    };
    serde_json::to_vec(&envelope).map(bytes::Bytes::from)
}

/// The envelope as read in one pass, when everything is in order.
#[derive(Deserialize)]
struct Incoming<T> {
    specversion: String,
    #[serde(rename = "type")]
    event_type: String,
    // Required by CloudEvents, not interpreted here.
    #[serde(rename = "id")]
    _id: String,
    #[serde(rename = "source")]
    _source: String,
    data: T,
}

/// Reads a CloudEvent of kind `kind` whose `data` is the message `message`.
///
/// The common case is parsed once; only a failure pays for a second look that tells a
/// version problem (in the `type` or in `data.api_version`) from a shape problem.
pub(crate) fn decode<T: DeserializeOwned>(
    message: &'static str,
    kind: EventType,
    bytes: &[u8],
) -> Result<T, DecodeError> {
    match serde_json::from_slice::<Incoming<T>>(bytes) {
        Ok(event) => {
            check_spec_version(message, &event.specversion)?;
            check_kind(message, kind, &event.event_type)?;
            Ok(event.data)
        }
        Err(source) => {
            let header = EventHeader::decode(bytes)?;
            check_kind(message, kind, &header.event_type)?;
            #[derive(Deserialize)]
            struct Data {
                data: serde_json::Value,
            }
            let Ok(Data { data }) = serde_json::from_slice::<Data>(bytes) else {
                return Err(DecodeError::Malformed { message, source });
            };
            let data = serde_json::to_vec(&data)
                .map_err(|source| DecodeError::Malformed { message, source })?;
            decode_versioned(message, &data)
        }
    }
}

fn check_kind(message: &'static str, expected: EventType, found: &str) -> Result<(), DecodeError> {
    match EventType::parse(found)? {
        kind if kind == expected => Ok(()),
        _ => Err(malformed(
            message,
            format_args!("a `{found}` event is not a {message} (`{expected}`)"),
        )),
    }
}

/// `timestamp_ms` as RFC 3339 in UTC with milliseconds (`2025-11-23T12:13:20.123Z`), or
/// `None` past the year 9999, which RFC 3339 cannot write.
#[must_use]
pub(crate) fn rfc3339_ms(timestamp_ms: u64) -> Option<String> {
    // 10000-01-01T00:00:00Z
    const END_MS: u64 = 253_402_300_800_000;
    if timestamp_ms >= END_MS {
        return None;
    }
    let seconds = timestamp_ms / 1000;
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        timestamp_ms % 1000
    ))
}

/// The proleptic Gregorian date `days` after 1970-01-01 (H. Hinnant's `civil_from_days`).
/// Both event envelopes (ours and the 1.x one) format their times with it.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// 64-bit FNV-1a: a stable fingerprint for event ids (not a security boundary).
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The published schema of an event: the CloudEvents envelope around `T`. The `type` of each
/// message is pinned by [`crate::schema`].
#[derive(JsonSchema)]
#[allow(dead_code)] // Only its schema is used.
pub(crate) struct CloudEventSchema<T> {
    /// The CloudEvents version: `1.0`.
    specversion: String,
    /// Unique per `source`. Hosts write `{lattice}.{host}.{sequence}.{timestamp_ms}`;
    /// consumers must not interpret it.
    #[schemars(length(min = 1))]
    id: String,
    /// What the event is: `dev.lattice.{api_version}.{event}`.
    #[serde(rename = "type")]
    event_type: String,
    /// Who published the event: the host id for a host's status events (as wasmCloud 1.x
    /// hosts do), `lattice-rollout` for a scheduler's rollout events.
    #[schemars(length(min = 1))]
    source: String,
    /// The media type of `data`: `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    datacontenttype: Option<String>,
    /// What the event is about: the component, provider or application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    subject: Option<String>,
    /// When it happened, RFC 3339 in UTC (from the event's `timestamp_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("format" = "date-time"))]
    time: Option<String>,
    /// The event, with its own `api_version`.
    data: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_dates() {
        assert_eq!(rfc3339_ms(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339_ms(951_782_400_005).unwrap(),
            "2000-02-29T00:00:00.005Z"
        );
        assert_eq!(
            rfc3339_ms(1_763_900_000_123).unwrap(),
            "2025-11-23T12:13:20.123Z"
        );
        assert_eq!(
            rfc3339_ms(253_402_300_799_999).unwrap(),
            "9999-12-31T23:59:59.999Z"
        );
        assert_eq!(rfc3339_ms(253_402_300_800_000), None);
        assert_eq!(rfc3339_ms(u64::MAX), None);
    }

    #[test]
    fn types_are_namespaced_versioned_and_never_a_1x_type() {
        for kind in [
            EventType::ComponentStatus,
            EventType::ProviderStatus,
            EventType::LinkStatus,
            EventType::RolloutStatus,
        ] {
            let name = kind.as_str();
            assert!(name.starts_with("dev.lattice.v2alpha1."), "{name}");
            assert!(!name.starts_with("com.wasmcloud."), "{name}");
            assert_eq!(EventType::parse(name).unwrap(), kind);
        }
        // What wadm and the 1.x client match on is never one of ours.
        for foreign in [
            "com.wasmcloud.lattice.component_scaled",
            "com.wasmcloud.lattice.host_heartbeat",
            "com.wadm.manifest_published",
            "dev.lattice",
            "dev.lattice.v2alpha1",
            "dev.latticex.v2alpha1.component_status",
            "",
        ] {
            assert_eq!(
                EventType::parse(foreign).unwrap(),
                EventType::Unknown,
                "{foreign}"
            );
        }
        let err = EventType::parse("dev.lattice.v2beta1.component_status").unwrap_err();
        assert_eq!(
            err.kind(),
            lattice_spec::DecodeErrorKind::UnsupportedVersion
        );
    }

    #[test]
    fn a_header_needs_the_required_attributes_of_cloudevents_1_0() {
        let ok = br#"{"specversion":"1.0","id":"1","source":"h1","type":"dev.lattice.v2alpha1.link_status"}"#;
        assert_eq!(EventHeader::decode(ok).unwrap().kind, EventType::LinkStatus);
        for bad in [
            &br#"{"specversion":"0.3","id":"1","source":"h1","type":"dev.lattice.v2alpha1.link_status"}"#[..],
            br#"{"specversion":"1.0","source":"h1","type":"dev.lattice.v2alpha1.link_status"}"#,
            br#"{"specversion":"1.0","id":"1","type":"dev.lattice.v2alpha1.link_status"}"#,
            br#"{"specversion":"1.0","id":"1","source":"h1"}"#,
            // A pre-CloudEvents lattice event (what hosts published before): no envelope.
            br#"{"api_version":"v2alpha1","lattice":"default","host_id":"h1","sequence":1}"#,
        ] {
            let err = EventHeader::decode(bad).unwrap_err();
            assert_eq!(
                err.kind(),
                lattice_spec::DecodeErrorKind::Malformed,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fnv1a_is_the_reference_function() {
        // Test vectors of the FNV reference implementation.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
    }
}
