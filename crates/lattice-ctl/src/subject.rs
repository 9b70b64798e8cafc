//! Subjects of the v2alpha1 control interface and its events, built and parsed in one place
//! so that hosts, clients and tools never format a subject by hand.
//!
//! - control: `wasmbus.ctl.v2alpha1.{lattice}.{resource}.{op}[.{host_id}]`
//! - events: `wasmbus.evt.v2alpha1.{lattice}.{resource}.status.{host_id}.{id}`
//!
//! The version sits in the subject as well as in every message, so v1 and v2alpha1 hosts can
//! share a lattice: a 1.x host never sees a v2alpha1 request, and a client can tell from
//! "no responders" that a host does not speak a version.

use lattice_spec::{ComponentId, HostId, IdError, LatticeName, ProviderId};
use std::{fmt, str::FromStr};

/// The control subject prefix, up to and including the version.
pub const CTL_PREFIX: &str = "wasmbus.ctl.v2alpha1";
/// The event subject prefix, up to and including the version.
pub const EVT_PREFIX: &str = "wasmbus.evt.v2alpha1";

/// A control-interface subject: one operation, addressed to one host or to all.
///
/// ```
/// use lattice_ctl::CtlSubject;
///
/// let subject = CtlSubject::ApplyComponentSpec { lattice: "default".parse()?, host_id: "host-a".parse()? };
/// assert_eq!(subject.to_string(), "wasmbus.ctl.v2alpha1.default.component.apply.host-a");
/// assert_eq!(subject.to_string().parse::<CtlSubject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CtlSubject {
    /// Scatter/gather host discovery: every host answers.
    HostPing {
        /// The lattice.
        lattice: LatticeName,
    },
    /// One host's inventory with status.
    HostInventory {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// Apply a component spec on one host.
    ApplyComponentSpec {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// Delete a component spec on one host.
    DeleteComponentSpec {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
}

impl CtlSubject {
    /// The subjects a host subscribes to to serve every operation addressed to it: the ping
    /// and `…{lattice}.*.*.{host_id}`.
    #[must_use]
    pub fn host_subscriptions(lattice: &LatticeName, host_id: &HostId) -> [String; 2] {
        [
            Self::HostPing {
                lattice: lattice.clone(),
            }
            .to_string(),
            format!("{CTL_PREFIX}.{lattice}.*.*.{host_id}"),
        ]
    }

    /// The lattice the subject belongs to.
    #[must_use]
    pub fn lattice(&self) -> &LatticeName {
        match self {
            Self::HostPing { lattice }
            | Self::HostInventory { lattice, .. }
            | Self::ApplyComponentSpec { lattice, .. }
            | Self::DeleteComponentSpec { lattice, .. } => lattice,
        }
    }

    /// The host addressed, unless the subject addresses every host.
    #[must_use]
    pub fn host_id(&self) -> Option<&HostId> {
        match self {
            Self::HostPing { .. } => None,
            Self::HostInventory { host_id, .. }
            | Self::ApplyComponentSpec { host_id, .. }
            | Self::DeleteComponentSpec { host_id, .. } => Some(host_id),
        }
    }

    fn resource_op(&self) -> &'static str {
        match self {
            Self::HostPing { .. } => "host.ping",
            Self::HostInventory { .. } => "host.inventory",
            Self::ApplyComponentSpec { .. } => "component.apply",
            Self::DeleteComponentSpec { .. } => "component.delete",
        }
    }
}

impl fmt::Display for CtlSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CTL_PREFIX}.{}.{}", self.lattice(), self.resource_op())?;
        match self.host_id() {
            Some(host_id) => write!(f, ".{host_id}"),
            None => Ok(()),
        }
    }
}

/// A string that is not a subject of this interface.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    /// Not a subject of the expected form.
    #[error("`{subject}` is not a {expected} subject")]
    Shape {
        /// The offending subject.
        subject: String,
        /// Which kind of subject was expected.
        expected: &'static str,
    },
    /// A token is not a valid identifier.
    #[error("invalid subject: {0}")]
    Id(#[from] IdError),
}

fn tokens<'a>(
    subject: &'a str,
    prefix: &str,
    expected: &'static str,
) -> Result<Vec<&'a str>, SubjectError> {
    subject
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .map(|rest| rest.split('.').collect())
        .ok_or_else(|| SubjectError::Shape {
            subject: subject.to_owned(),
            expected,
        })
}

impl FromStr for CtlSubject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        const EXPECTED: &str = "v2alpha1 control";
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: EXPECTED,
        };
        match tokens(subject, CTL_PREFIX, EXPECTED)?.as_slice() {
            [lattice, "host", "ping"] => Ok(Self::HostPing {
                lattice: lattice.parse()?,
            }),
            [lattice, resource, op, host] => {
                let (lattice, host_id) = (lattice.parse()?, host.parse()?);
                match (*resource, *op) {
                    ("host", "inventory") => Ok(Self::HostInventory { lattice, host_id }),
                    ("component", "apply") => Ok(Self::ApplyComponentSpec { lattice, host_id }),
                    ("component", "delete") => Ok(Self::DeleteComponentSpec { lattice, host_id }),
                    _ => Err(shape()),
                }
            }
            _ => Err(shape()),
        }
    }
}

/// What a status event is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventSource {
    /// A component (one revision of it) on a host.
    Component(ComponentId),
    /// A provider on a host.
    Provider(ProviderId),
    /// A link of a component on a host (the link itself is named in the event body).
    Link(ComponentId),
}

impl EventSource {
    fn resource(&self) -> &'static str {
        match self {
            Self::Component(_) => "component",
            Self::Provider(_) => "provider",
            Self::Link(_) => "link",
        }
    }

    fn id(&self) -> &str {
        match self {
            Self::Component(id) | Self::Link(id) => id.as_str(),
            Self::Provider(id) => id.as_str(),
        }
    }
}

/// The subject a status event is published on:
/// `wasmbus.evt.v2alpha1.{lattice}.{component|provider|link}.status.{host_id}.{id}`.
///
/// ```
/// use lattice_ctl::{EventSource, EventSubject};
///
/// let subject = EventSubject {
///     lattice: "default".parse()?,
///     host_id: "host-a".parse()?,
///     source: EventSource::Component("web".parse()?),
/// };
/// assert_eq!(subject.to_string(), "wasmbus.evt.v2alpha1.default.component.status.host-a.web");
/// assert_eq!(subject.to_string().parse::<EventSubject>().ok(), Some(subject));
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventSubject {
    /// The lattice.
    pub lattice: LatticeName,
    /// The host that published the event.
    pub host_id: HostId,
    /// What the event is about.
    pub source: EventSource,
}

impl fmt::Display for EventSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{EVT_PREFIX}.{}.{}.status.{}.{}",
            self.lattice,
            self.source.resource(),
            self.host_id,
            self.source.id()
        )
    }
}

impl FromStr for EventSubject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        const EXPECTED: &str = "v2alpha1 event";
        match tokens(subject, EVT_PREFIX, EXPECTED)?.as_slice() {
            [lattice, resource, "status", host, id] => {
                let source = match *resource {
                    "component" => EventSource::Component(id.parse()?),
                    "provider" => EventSource::Provider(id.parse()?),
                    "link" => EventSource::Link(id.parse()?),
                    _ => {
                        return Err(SubjectError::Shape {
                            subject: subject.to_owned(),
                            expected: EXPECTED,
                        });
                    }
                };
                Ok(Self {
                    lattice: lattice.parse()?,
                    host_id: host.parse()?,
                    source,
                })
            }
            _ => Err(SubjectError::Shape {
                subject: subject.to_owned(),
                expected: EXPECTED,
            }),
        }
    }
}

/// A subscription filter over status events; unset parts match anything.
///
/// ```
/// use lattice_ctl::EventFilter;
///
/// let lattice = "default".parse()?;
/// assert_eq!(EventFilter::all(&lattice).to_string(), "wasmbus.evt.v2alpha1.default.*.status.*.*");
/// let one = EventFilter::component(&lattice, &"web".parse()?);
/// assert_eq!(one.to_string(), "wasmbus.evt.v2alpha1.default.*.status.*.web");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventFilter {
    lattice: LatticeName,
    host_id: Option<HostId>,
    component_id: Option<ComponentId>,
}

impl EventFilter {
    /// Every status event (component, provider, link) of the lattice.
    #[must_use]
    pub fn all(lattice: &LatticeName) -> Self {
        Self {
            lattice: lattice.clone(),
            host_id: None,
            component_id: None,
        }
    }

    /// Component and link events of one component, on every host.
    #[must_use]
    pub fn component(lattice: &LatticeName, component_id: &ComponentId) -> Self {
        Self {
            lattice: lattice.clone(),
            host_id: None,
            component_id: Some(component_id.clone()),
        }
    }

    /// Restricts the filter to one host.
    #[must_use]
    pub fn on_host(mut self, host_id: &HostId) -> Self {
        self.host_id = Some(host_id.clone());
        self
    }
}

impl fmt::Display for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Always the full status-subject shape, so other event kinds of the lattice (a
        // scheduler's rollout events, say) never reach a status-event subscriber.
        write!(
            f,
            "{EVT_PREFIX}.{}.*.status.{}.{}",
            self.lattice,
            self.host_id.as_ref().map_or("*", HostId::as_str),
            self.component_id.as_ref().map_or("*", ComponentId::as_str),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lattice() -> LatticeName {
        LatticeName::new("prod-eu").unwrap()
    }

    #[test]
    fn every_control_subject_round_trips() {
        let host_id = HostId::new("NAB2BQZ6Q").unwrap();
        for subject in [
            CtlSubject::HostPing { lattice: lattice() },
            CtlSubject::HostInventory {
                lattice: lattice(),
                host_id: host_id.clone(),
            },
            CtlSubject::ApplyComponentSpec {
                lattice: lattice(),
                host_id: host_id.clone(),
            },
            CtlSubject::DeleteComponentSpec {
                lattice: lattice(),
                host_id: host_id.clone(),
            },
        ] {
            assert_eq!(subject.to_string().parse::<CtlSubject>().unwrap(), subject);
        }
    }

    #[test]
    fn host_subscriptions_cover_its_subjects_only() {
        let host = HostId::new("h1").unwrap();
        let [ping, addressed] = CtlSubject::host_subscriptions(&lattice(), &host);
        assert_eq!(ping, "wasmbus.ctl.v2alpha1.prod-eu.host.ping");
        assert_eq!(addressed, "wasmbus.ctl.v2alpha1.prod-eu.*.*.h1");
    }

    #[test]
    fn foreign_subjects_are_refused() {
        for bad in [
            "wasmbus.ctl.v1.default.host.ping",
            "wasmbus.ctl.v2alpha1.default.host.stop.h1",
            "wasmbus.ctl.v2alpha1.default.component.apply",
            "wasmbus.ctl.v2alpha1.default.host.ping.extra",
        ] {
            assert!(
                matches!(bad.parse::<CtlSubject>(), Err(SubjectError::Shape { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            "wasmbus.ctl.v2alpha1.default.component.apply.h*".parse::<CtlSubject>(),
            Err(SubjectError::Id(_))
        ));
        assert!(
            "wasmbus.evt.v2alpha1.default.host.status.h1.x"
                .parse::<EventSubject>()
                .is_err()
        );
    }

    #[test]
    fn event_subjects_round_trip_and_filters_match_them() {
        let host_id = HostId::new("h1").unwrap();
        let web = ComponentId::new("web").unwrap();
        for source in [
            EventSource::Component(web.clone()),
            EventSource::Provider(ProviderId::new("kv").unwrap()),
            EventSource::Link(web.clone()),
        ] {
            let subject = EventSubject {
                lattice: lattice(),
                host_id: host_id.clone(),
                source,
            };
            assert_eq!(
                subject.to_string().parse::<EventSubject>().unwrap(),
                subject
            );
        }
        let filter = EventFilter::component(&lattice(), &web)
            .on_host(&host_id)
            .to_string();
        assert_eq!(filter, "wasmbus.evt.v2alpha1.prod-eu.*.status.h1.web");
    }
}
