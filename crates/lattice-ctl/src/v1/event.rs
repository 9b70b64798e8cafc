//! 1.x events: CloudEvents 1.0 in JSON, as wasmCloud 1.x hosts publish them on
//! `wasmbus.evt.{lattice}.{event}` and as wadm and `wash` read them.
//!
//! The envelope is a small typed struct rather than the `cloudevents-sdk` crate: the JSON
//! format is seven keys, and the SDK would bring `chrono`, `url` and `uuid` into a message
//! crate. Key order follows the SDK's serializer (`specversion`, `id`, `type`, `source`,
//! `datacontenttype`, `time`, `data`); the interop tests decode these events with the SDK
//! version the 1.x control-interface client uses.

use super::types::HostInventory;
use crate::cloudevent::civil_from_days;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

/// The CloudEvents `type` prefix of every 1.x lattice event.
pub const EVENT_TYPE_PREFIX: &str = "com.wasmcloud.lattice";
/// The periodic summary of a host; its `data` is the host's [`HostInventory`].
pub const HOST_HEARTBEAT: &str = "host_heartbeat";
/// A host started; its `data` is [`HostStarted`].
pub const HOST_STARTED: &str = "host_started";
/// A host stopped; its `data` is [`HostStopped`].
pub const HOST_STOPPED: &str = "host_stopped";

/// The data of a `host_heartbeat` event: the host's 1.x inventory, exactly as a 1.x host
/// sends it (wasmCloud 1.x serializes its `HostInventory`; wadm decodes it as its
/// `HostHeartbeat`, which needs `version` to be a semantic version).
pub type HostHeartbeat = HostInventory;

/// A CloudEvents 1.0 event in the JSON format, with `data` of type `T`.
///
/// ```
/// use lattice_ctl::v1::{CloudEvent, HOST_STOPPED, HostStopped};
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let time = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
/// let event = CloudEvent::new("NHOST", HOST_STOPPED, "evt-1", time, HostStopped::default());
/// assert_eq!(event.event_type, "com.wasmcloud.lattice.host_stopped");
/// assert_eq!(event.time, "2023-11-14T22:13:20.123000Z");
/// assert_eq!(event.event_name(), Some(HOST_STOPPED));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct CloudEvent<T> {
    /// The CloudEvents version, `1.0`.
    pub specversion: String,
    /// Unique per `source`.
    pub id: String,
    /// `com.wasmcloud.lattice.{event}`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Who published the event: the host id for host events.
    pub source: String,
    /// The media type of `data`: `application/json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datacontenttype: Option<String>,
    /// When the event happened, RFC 3339 in UTC.
    #[serde(default)]
    pub time: String,
    /// The payload.
    pub data: T,
}

impl<T> CloudEvent<T> {
    /// The 1.x event `event` (e.g. [`HOST_HEARTBEAT`]) from `source`, with JSON `data`.
    #[must_use]
    pub fn new(
        source: impl Into<String>,
        event: &str,
        id: impl Into<String>,
        time: SystemTime,
        data: T,
    ) -> Self {
        Self {
            specversion: "1.0".to_owned(),
            id: id.into(),
            event_type: format!("{EVENT_TYPE_PREFIX}.{event}"),
            source: source.into(),
            datacontenttype: Some("application/json".to_owned()),
            time: rfc3339(time),
            data,
        }
    }

    /// The event's name (`host_heartbeat`, …) when its type is a 1.x lattice event.
    #[must_use]
    pub fn event_name(&self) -> Option<&str> {
        self.event_type
            .strip_prefix(EVENT_TYPE_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
    }
}

/// The data of a `host_started` event, as a 1.x host sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostStarted {
    /// Human-friendly name.
    #[serde(default)]
    pub friendly_name: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Uptime in seconds (0 at start).
    #[serde(default)]
    pub uptime_seconds: u64,
    /// Host software version (a semantic version).
    #[serde(default)]
    pub version: String,
}

impl HostStarted {
    /// A start event for a host named `friendly_name` with `labels`, running `version`.
    #[must_use]
    pub fn new(
        friendly_name: impl Into<String>,
        labels: BTreeMap<String, String>,
        version: impl Into<String>,
    ) -> Self {
        Self {
            friendly_name: friendly_name.into(),
            labels,
            uptime_seconds: 0,
            version: version.into(),
        }
    }
}

/// The data of a `host_stopped` event, as a 1.x host sends it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostStopped {
    /// The host's labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl HostStopped {
    /// A stop event for a host with `labels`.
    #[must_use]
    pub fn new(labels: BTreeMap<String, String>) -> Self {
        Self { labels }
    }
}

/// `time` as RFC 3339 in UTC with microseconds (`2024-05-01T12:00:00.000123Z`); times before
/// the epoch are written as the epoch.
#[must_use]
pub fn rfc3339(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since.as_secs();
    let (days, second_of_day) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
        since.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_matches_known_dates() {
        let at = |s: u64, micros: u64| UNIX_EPOCH + Duration::from_micros(s * 1_000_000 + micros);
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000000Z");
        assert_eq!(rfc3339(at(951_782_400, 5)), "2000-02-29T00:00:00.000005Z");
        assert_eq!(rfc3339(at(1_709_251_199, 0)), "2024-02-29T23:59:59.000000Z");
        assert_eq!(rfc3339(at(4_102_444_800, 0)), "2100-01-01T00:00:00.000000Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_secs(1)),
            "1970-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn the_envelope_has_the_cloudevents_keys_in_the_sdk_order() {
        let event = CloudEvent::new(
            "NHOST",
            HOST_STARTED,
            "1",
            UNIX_EPOCH,
            HostStarted::new("h", BTreeMap::new(), "0.1.0"),
        );
        let json = serde_json::to_string(&event).unwrap();
        assert_eq!(
            json,
            r#"{"specversion":"1.0","id":"1","type":"com.wasmcloud.lattice.host_started","source":"NHOST","datacontenttype":"application/json","time":"1970-01-01T00:00:00.000000Z","data":{"friendly_name":"h","labels":{},"uptime_seconds":0,"version":"0.1.0"}}"#
        );
        let again: CloudEvent<HostStarted> = serde_json::from_str(&json).unwrap();
        assert_eq!(again, event);
    }
}
