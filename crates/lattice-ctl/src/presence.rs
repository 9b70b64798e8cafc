//! A host's presence: a small message each host publishes on its own subject when it starts,
//! with every heartbeat, and when it stops, so that a client can keep a directory of the live
//! hosts (the host writes no lattice-wide state: it only publishes; a client may capture the
//! subjects in a JetStream stream that keeps the last message per host).
//!
//! Subject: `wasmbus.status.v2alpha1.{lattice}.host.{host_id}` — two tokens after the
//! lattice, so status-event subscribers (three tokens, [`EventFilter`](crate::EventFilter))
//! never see it, and distinct from a rollout's `….rollout.{app}`.

use crate::subject::{EVENT_PREFIX, SubjectError};
use lattice_spec::{ApiVersion, HostId, LatticeName, WireMessage};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// What a host says about itself on its presence subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub struct HostPresence {
    /// The API version of this message.
    pub api_version: ApiVersion,
    /// The host.
    pub host_id: HostId,
    /// The lattice the host belongs to.
    pub lattice: LatticeName,
    /// Whether the host is serving or has stopped.
    pub state: PresenceState,
    /// How often the host publishes its presence while it serves, in milliseconds (0: only
    /// when it starts and stops). A reader judges a host whose last presence is much older
    /// than this as gone without saying so (killed).
    #[serde(default)]
    pub heartbeat_interval_ms: u64,
    /// When the host published this, in milliseconds since the Unix epoch (the host's clock).
    #[serde(default)]
    pub timestamp_ms: u64,
}

impl HostPresence {
    /// A presence of `host_id` in `lattice`, stamped now.
    #[must_use]
    pub fn new(
        host_id: HostId,
        lattice: LatticeName,
        state: PresenceState,
        heartbeat_interval_ms: u64,
    ) -> Self {
        Self {
            api_version: ApiVersion::default(),
            host_id,
            lattice,
            state,
            heartbeat_interval_ms,
            timestamp_ms: crate::now_ms(),
        }
    }

    /// The subject this presence is published on.
    #[must_use]
    pub fn subject(&self) -> PresenceSubject {
        PresenceSubject {
            lattice: self.lattice.clone(),
            host_id: self.host_id.clone(),
        }
    }
}

impl WireMessage for HostPresence {
    const NAME: &'static str = "HostPresence";
}

/// Whether a host is serving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PresenceState {
    /// The host serves its control subjects (published at start and with every heartbeat).
    Alive,
    /// The host stopped (published once, when it stops gracefully).
    Stopped,
    /// A state from a newer host that this version does not know.
    #[serde(other)]
    Unknown,
}

/// The subject a host publishes its [`HostPresence`] on:
/// `wasmbus.status.v2alpha1.{lattice}.host.{host_id}`.
///
/// ```
/// use lattice_ctl::PresenceSubject;
///
/// let subject = PresenceSubject { lattice: "default".parse()?, host_id: "host-a".parse()? };
/// assert_eq!(subject.to_string(), "wasmbus.status.v2alpha1.default.host.host-a");
/// assert_eq!(subject.to_string().parse::<PresenceSubject>().ok(), Some(subject));
/// assert_eq!(PresenceSubject::every_host(&"default".parse()?), "wasmbus.status.v2alpha1.default.host.*");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PresenceSubject {
    /// The lattice.
    pub lattice: LatticeName,
    /// The host.
    pub host_id: HostId,
}

impl PresenceSubject {
    /// The subject filter matching every host's presence in `lattice`.
    #[must_use]
    pub fn every_host(lattice: &LatticeName) -> String {
        format!("{EVENT_PREFIX}.{lattice}.host.*")
    }
}

impl fmt::Display for PresenceSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EVENT_PREFIX}.{}.host.{}", self.lattice, self.host_id)
    }
}

impl FromStr for PresenceSubject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        const EXPECTED: &str = "v2alpha1 host presence";
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: EXPECTED,
        };
        let rest = subject
            .strip_prefix(EVENT_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .ok_or_else(shape)?;
        match rest.split('.').collect::<Vec<_>>().as_slice() {
            [lattice, "host", host] => Ok(Self {
                lattice: lattice.parse()?,
                host_id: host.parse()?,
            }),
            _ => Err(shape()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_presence_round_trips_and_an_unknown_state_decodes_to_unknown() {
        let presence = HostPresence::new(
            "host-a".parse().unwrap(),
            "default".parse().unwrap(),
            PresenceState::Alive,
            30_000,
        );
        let bytes = presence.encode().unwrap();
        assert_eq!(HostPresence::decode(&bytes).unwrap(), presence);
        let newer =
            br#"{"api_version":"v2alpha1","host_id":"h","lattice":"l","state":"draining","x":1}"#;
        let decoded = HostPresence::decode(newer).unwrap();
        assert_eq!(decoded.state, PresenceState::Unknown);
        assert_eq!(decoded.heartbeat_interval_ms, 0);
    }

    #[test]
    fn other_status_subjects_are_not_presence_subjects() {
        for subject in [
            "wasmbus.status.v2alpha1.default.rollout.shop",
            "wasmbus.status.v2alpha1.default.component.h.web",
            "wasmbus.ctl.v2alpha1.default.host.ping",
        ] {
            assert!(subject.parse::<PresenceSubject>().is_err(), "{subject}");
        }
    }
}
