//! 1.x control subjects (`wasmbus.ctl.v1.{lattice}.…`), the subscriptions a host needs to
//! answer them, and 1.x event subjects (`wasmbus.evt.{lattice}.{event}`).

use crate::SubjectError;
use lattice_spec::{HostId, LatticeName};
use std::{fmt, str::FromStr};

/// The 1.x control subject prefix, up to and including the version.
pub const V1_PREFIX: &str = "wasmbus.ctl.v1";

/// A 1.x control subject.
///
/// ```
/// use lattice_ctl::v1::V1Subject;
///
/// let subject = V1Subject::ScaleComponent { lattice: "default".parse()?, host_id: "NHOST".parse()? };
/// assert_eq!(subject.to_string(), "wasmbus.ctl.v1.default.component.scale.NHOST");
/// assert_eq!(subject.to_string().parse::<V1Subject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum V1Subject {
    /// `….host.ping`: every host answers with a `CtlResponse<Host>`.
    HostPing {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….host.get.{host_id}`: one host's `CtlResponse<HostInventory>`.
    HostInventory {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….component.scale.{host_id}`: a `ScaleComponentCommand`.
    ScaleComponent {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….component.update.{host_id}`: an `UpdateComponentCommand`.
    UpdateComponent {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….link.put`: a `Link`.
    LinkPut {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….link.del`: a `DeleteLinkRequest`.
    LinkDelete {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….config.put.{name}`: a JSON object of string values.
    ConfigPut {
        /// The lattice.
        lattice: LatticeName,
        /// The configuration's name. 1.x allows any subject token here.
        name: String,
    },
    /// `….link.get`: every link of the lattice.
    LinkGet {
        /// The lattice.
        lattice: LatticeName,
    },
    /// `….config.get.{name}`: one named configuration.
    ConfigGet {
        /// The lattice.
        lattice: LatticeName,
        /// The configuration's name.
        name: String,
    },
    /// `….config.del.{name}`: delete one named configuration.
    ConfigDelete {
        /// The lattice.
        lattice: LatticeName,
        /// The configuration's name.
        name: String,
    },
    /// `….provider.start.{host_id}`: start a provider on one host.
    ProviderStart {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….provider.stop.{host_id}`: stop a provider on one host.
    ProviderStop {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….label.put.{host_id}`: set a label on one host.
    LabelPut {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….label.del.{host_id}`: remove a label from one host.
    LabelDelete {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// `….host.stop.{host_id}`: stop one host.
    HostStop {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
}

/// A subscription a host makes to serve 1.x requests: a subject filter and, for operations
/// that one host answers for the whole lattice, the queue group.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct V1Subscription {
    /// The subject filter (may contain wildcards).
    pub subject: String,
    /// The queue group, for lattice-wide operations that exactly one subscriber answers.
    pub queue_group: Option<String>,
}

impl V1Subject {
    /// The lattice the subject belongs to.
    #[must_use]
    pub fn lattice(&self) -> &LatticeName {
        match self {
            Self::HostPing { lattice }
            | Self::HostInventory { lattice, .. }
            | Self::ScaleComponent { lattice, .. }
            | Self::UpdateComponent { lattice, .. }
            | Self::LinkPut { lattice }
            | Self::LinkDelete { lattice }
            | Self::ConfigPut { lattice, .. }
            | Self::LinkGet { lattice }
            | Self::ConfigGet { lattice, .. }
            | Self::ConfigDelete { lattice, .. }
            | Self::ProviderStart { lattice, .. }
            | Self::ProviderStop { lattice, .. }
            | Self::LabelPut { lattice, .. }
            | Self::LabelDelete { lattice, .. }
            | Self::HostStop { lattice, .. } => lattice,
        }
    }

    /// The operation, as 1.x names it in the subject: `host.ping`, `component.scale`, ….
    #[must_use]
    pub fn operation(&self) -> &'static str {
        match self {
            Self::HostPing { .. } => "host.ping",
            Self::HostInventory { .. } => "host.get",
            Self::ScaleComponent { .. } => "component.scale",
            Self::UpdateComponent { .. } => "component.update",
            Self::LinkPut { .. } => "link.put",
            Self::LinkDelete { .. } => "link.del",
            Self::ConfigPut { .. } => "config.put",
            Self::LinkGet { .. } => "link.get",
            Self::ConfigGet { .. } => "config.get",
            Self::ConfigDelete { .. } => "config.del",
            Self::ProviderStart { .. } => "provider.start",
            Self::ProviderStop { .. } => "provider.stop",
            Self::LabelPut { .. } => "label.put",
            Self::LabelDelete { .. } => "label.del",
            Self::HostStop { .. } => "host.stop",
        }
    }

    /// What a host subscribes to in order to answer the 1.x requests addressed to it, as 1.x
    /// hosts do: the lattice-wide ping, and `{kind}.*.{host_id}` for the component, provider,
    /// label and host operations (inventory, scale, update, start, stop, …).
    ///
    /// ```
    /// use lattice_ctl::v1::V1Subject;
    ///
    /// let subjects = V1Subject::host_subscriptions(&"default".parse()?, &"NHOST".parse()?);
    /// assert_eq!(subjects[0], "wasmbus.ctl.v1.default.host.ping");
    /// assert!(subjects.contains(&"wasmbus.ctl.v1.default.component.*.NHOST".to_owned()));
    /// # Ok::<(), lattice_spec::IdError>(())
    /// ```
    #[must_use]
    pub fn host_subscriptions(lattice: &LatticeName, host_id: &HostId) -> [String; 5] {
        let addressed = |kind: &str| format!("{V1_PREFIX}.{lattice}.{kind}.*.{host_id}");
        [
            format!("{V1_PREFIX}.{lattice}.host.ping"),
            addressed("component"),
            addressed("provider"),
            addressed("label"),
            addressed("host"),
        ]
    }

    /// The lattice-wide link and configuration operations (`link.*`, `config.>`), each in a
    /// queue group so that one subscriber answers. The groups are *not* the ones 1.x hosts
    /// use, so a 1.x host in the same lattice still receives every request.
    #[must_use]
    pub fn lattice_wide_subscriptions(lattice: &LatticeName) -> [V1Subscription; 2] {
        [
            V1Subscription {
                subject: format!("{V1_PREFIX}.{lattice}.link.*"),
                queue_group: Some(format!("lattice.{V1_PREFIX}.{lattice}.link")),
            },
            V1Subscription {
                subject: format!("{V1_PREFIX}.{lattice}.config.>"),
                queue_group: Some(format!("lattice.{V1_PREFIX}.{lattice}.config")),
            },
        ]
    }
}

impl fmt::Display for V1Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{V1_PREFIX}.{}.", self.lattice())?;
        match self {
            Self::HostPing { .. } => f.write_str("host.ping"),
            Self::HostInventory { host_id, .. } => write!(f, "host.get.{host_id}"),
            Self::ScaleComponent { host_id, .. } => write!(f, "component.scale.{host_id}"),
            Self::UpdateComponent { host_id, .. } => write!(f, "component.update.{host_id}"),
            Self::LinkPut { .. } => f.write_str("link.put"),
            Self::LinkDelete { .. } => f.write_str("link.del"),
            Self::ConfigPut { name, .. } => write!(f, "config.put.{name}"),
            Self::LinkGet { .. } => f.write_str("link.get"),
            Self::ConfigGet { name, .. } => write!(f, "config.get.{name}"),
            Self::ConfigDelete { name, .. } => write!(f, "config.del.{name}"),
            Self::ProviderStart { host_id, .. } => write!(f, "provider.start.{host_id}"),
            Self::ProviderStop { host_id, .. } => write!(f, "provider.stop.{host_id}"),
            Self::LabelPut { host_id, .. } => write!(f, "label.put.{host_id}"),
            Self::LabelDelete { host_id, .. } => write!(f, "label.del.{host_id}"),
            Self::HostStop { host_id, .. } => write!(f, "host.stop.{host_id}"),
        }
    }
}

impl FromStr for V1Subject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: "1.x control",
        };
        let rest = subject
            .strip_prefix(V1_PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(shape)?;
        let tokens: Vec<&str> = rest.split('.').collect();
        let (lattice, tail) = tokens.split_first().ok_or_else(shape)?;
        let lattice: LatticeName = lattice.parse()?;
        Ok(match tail {
            ["host", "ping"] => Self::HostPing { lattice },
            ["host", "get", host] => Self::HostInventory {
                lattice,
                host_id: host.parse()?,
            },
            ["component", "scale", host] => Self::ScaleComponent {
                lattice,
                host_id: host.parse()?,
            },
            ["component", "update", host] => Self::UpdateComponent {
                lattice,
                host_id: host.parse()?,
            },
            ["link", "put"] => Self::LinkPut { lattice },
            ["link", "del"] => Self::LinkDelete { lattice },
            ["config", "put", name] if is_subject_token(name) => Self::ConfigPut {
                lattice,
                name: (*name).to_owned(),
            },
            ["link", "get"] => Self::LinkGet { lattice },
            ["config", "get", name] if is_subject_token(name) => Self::ConfigGet {
                lattice,
                name: (*name).to_owned(),
            },
            ["config", "del", name] if is_subject_token(name) => Self::ConfigDelete {
                lattice,
                name: (*name).to_owned(),
            },
            ["provider", "start", host] => Self::ProviderStart {
                lattice,
                host_id: host.parse()?,
            },
            ["provider", "stop", host] => Self::ProviderStop {
                lattice,
                host_id: host.parse()?,
            },
            ["label", "put", host] => Self::LabelPut {
                lattice,
                host_id: host.parse()?,
            },
            ["label", "del", host] => Self::LabelDelete {
                lattice,
                host_id: host.parse()?,
            },
            ["host", "stop", host] => Self::HostStop {
                lattice,
                host_id: host.parse()?,
            },
            _ => return Err(shape()),
        })
    }
}

/// The prefix of 1.x events. It carries no version: 1.x events are CloudEvents whose `type`
/// says what they are.
pub const V1_EVENT_PREFIX: &str = "wasmbus.evt";

/// A 1.x event subject, `wasmbus.evt.{lattice}.{event}` (e.g. `host_heartbeat`), where
/// wadm's event stream and `wash` listen.
///
/// ```
/// use lattice_ctl::v1::{HOST_HEARTBEAT, V1EventSubject};
///
/// let subject = V1EventSubject::new("default".parse()?, HOST_HEARTBEAT);
/// assert_eq!(subject.to_string(), "wasmbus.evt.default.host_heartbeat");
/// assert_eq!(subject.to_string().parse::<V1EventSubject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct V1EventSubject {
    /// The lattice.
    pub lattice: LatticeName,
    /// The event's name, the last part of its CloudEvents `type`.
    pub event: String,
}

impl V1EventSubject {
    /// The subject of `event` in `lattice`.
    #[must_use]
    pub fn new(lattice: LatticeName, event: impl Into<String>) -> Self {
        Self {
            lattice,
            event: event.into(),
        }
    }
}

impl fmt::Display for V1EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{V1_EVENT_PREFIX}.{}.{}", self.lattice, self.event)
    }
}

impl FromStr for V1EventSubject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: "1.x event",
        };
        let rest = subject
            .strip_prefix(V1_EVENT_PREFIX)
            .and_then(|r| r.strip_prefix('.'))
            .ok_or_else(shape)?;
        let Some((lattice, event)) = rest.split_once('.') else {
            return Err(shape());
        };
        if !is_subject_token(event) {
            return Err(shape());
        }
        Ok(Self {
            lattice: lattice.parse()?,
            event: event.to_owned(),
        })
    }
}

/// Whether `token` can stand as one subject token.
fn is_subject_token(token: &str) -> bool {
    !token.is_empty() && !token.contains(['.', '*', '>', ' ', '\t', '\r', '\n'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_match_the_1x_client_and_round_trip() {
        let lattice = LatticeName::new("default").unwrap();
        let host_id = HostId::new("NBCD").unwrap();
        let cases = [
            (
                V1Subject::HostPing {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.host.ping",
            ),
            (
                V1Subject::HostInventory {
                    lattice: lattice.clone(),
                    host_id: host_id.clone(),
                },
                "wasmbus.ctl.v1.default.host.get.NBCD",
            ),
            (
                V1Subject::ScaleComponent {
                    lattice: lattice.clone(),
                    host_id: host_id.clone(),
                },
                "wasmbus.ctl.v1.default.component.scale.NBCD",
            ),
            (
                V1Subject::UpdateComponent {
                    lattice: lattice.clone(),
                    host_id,
                },
                "wasmbus.ctl.v1.default.component.update.NBCD",
            ),
            (
                V1Subject::LinkPut {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.link.put",
            ),
            (
                V1Subject::LinkDelete {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.link.del",
            ),
            (
                V1Subject::ConfigPut {
                    lattice: lattice.clone(),
                    name: "redis-prod".into(),
                },
                "wasmbus.ctl.v1.default.config.put.redis-prod",
            ),
            (
                V1Subject::LinkGet {
                    lattice: lattice.clone(),
                },
                "wasmbus.ctl.v1.default.link.get",
            ),
            (
                V1Subject::ConfigGet {
                    lattice: lattice.clone(),
                    name: "c".into(),
                },
                "wasmbus.ctl.v1.default.config.get.c",
            ),
            (
                V1Subject::ConfigDelete {
                    lattice: lattice.clone(),
                    name: "c".into(),
                },
                "wasmbus.ctl.v1.default.config.del.c",
            ),
            (
                V1Subject::ProviderStart {
                    lattice: lattice.clone(),
                    host_id: HostId::new("NBCD").unwrap(),
                },
                "wasmbus.ctl.v1.default.provider.start.NBCD",
            ),
            (
                V1Subject::ProviderStop {
                    lattice: lattice.clone(),
                    host_id: HostId::new("NBCD").unwrap(),
                },
                "wasmbus.ctl.v1.default.provider.stop.NBCD",
            ),
            (
                V1Subject::LabelPut {
                    lattice: lattice.clone(),
                    host_id: HostId::new("NBCD").unwrap(),
                },
                "wasmbus.ctl.v1.default.label.put.NBCD",
            ),
            (
                V1Subject::LabelDelete {
                    lattice: lattice.clone(),
                    host_id: HostId::new("NBCD").unwrap(),
                },
                "wasmbus.ctl.v1.default.label.del.NBCD",
            ),
            (
                V1Subject::HostStop {
                    lattice,
                    host_id: HostId::new("NBCD").unwrap(),
                },
                "wasmbus.ctl.v1.default.host.stop.NBCD",
            ),
        ];
        for (subject, text) in cases {
            assert_eq!(subject.to_string(), text);
            assert_eq!(text.parse::<V1Subject>().unwrap(), subject);
            assert!(
                text.ends_with(&format!(".{}", subject.operation()))
                    || text.contains(&format!(".{}.", subject.operation()))
            );
        }
        assert!(
            "wasmbus.ctl.v1.default.component.auction"
                .parse::<V1Subject>()
                .is_err()
        );
        assert!(
            "wasmbus.ctl.v1.default.config.put.a*b"
                .parse::<V1Subject>()
                .is_err()
        );
        assert!(
            "wasmbus.ctl.v2alpha1.default.host.ping"
                .parse::<V1Subject>()
                .is_err()
        );
    }
}

#[cfg(test)]
mod event_subject_tests {
    use super::*;

    #[test]
    fn event_subjects_round_trip_and_reject_other_shapes() {
        let subject: V1EventSubject = "wasmbus.evt.default.host_started".parse().unwrap();
        assert_eq!(subject.event, "host_started");
        assert_eq!(subject.lattice.as_str(), "default");
        for bad in [
            "wasmbus.evt.default",
            "wasmbus.evt.default.a.b",
            "wasmbus.ctl.v1.default.host.ping",
            "wasmbus.evt.default.*",
        ] {
            assert!(bad.parse::<V1EventSubject>().is_err(), "{bad}");
        }
    }
}
