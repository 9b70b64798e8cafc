//! Subjects of the v2alpha1 control interface and its events, built and parsed in one place
//! so that hosts, clients and tools never format a subject by hand.
//!
//! - control: `wasmbus.ctl.v2alpha1.{lattice}.{resource}.{op}[.{host_id}]`
//! - a host's status events: `wasmbus.status.v2alpha1.{lattice}.{component|provider|link}.{host_id}.{id}`
//! - a scheduler's rollout events: `wasmbus.status.v2alpha1.{lattice}.rollout.{app}`
//!
//! The version sits in the subject as well as in every message, so v1 and v2alpha1 hosts can
//! share a lattice: a 1.x host never sees a v2alpha1 request, and a client can tell from
//! "no responders" that a host does not speak a version.
//!
//! Events are not under 1.x's `wasmbus.evt`: [`crate::cloudevent`] says why.

use crate::AppName;
use lattice_spec::{ComponentId, HostId, IdError, LatticeName, ProviderId};
use std::{fmt, str::FromStr};

/// The control subject prefix, up to and including the version.
pub const CTL_PREFIX: &str = "wasmbus.ctl.v2alpha1";
/// The event subject prefix, up to and including the version: outside the 1.x event
/// subjects (`wasmbus.evt.{lattice}.…`), which 1.x consumers such as wadm read with the
/// token after `evt` as the lattice ([why](crate::cloudevent#subjects-outside-wasmbusevt)).
pub const EVENT_PREFIX: &str = "wasmbus.status.v2alpha1";

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
    /// Apply a provider spec on one host (`…{lattice}.provider.apply.{host}`).
    ApplyProviderSpec {
        /// The lattice.
        lattice: LatticeName,
        /// The host addressed.
        host_id: HostId,
    },
    /// Delete a provider spec on one host (`…{lattice}.provider.delete.{host}`).
    DeleteProviderSpec {
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
            | Self::DeleteComponentSpec { lattice, .. }
            | Self::ApplyProviderSpec { lattice, .. }
            | Self::DeleteProviderSpec { lattice, .. } => lattice,
        }
    }

    /// The host addressed, unless the subject addresses every host.
    #[must_use]
    pub fn host_id(&self) -> Option<&HostId> {
        match self {
            Self::HostPing { .. } => None,
            Self::HostInventory { host_id, .. }
            | Self::ApplyComponentSpec { host_id, .. }
            | Self::DeleteComponentSpec { host_id, .. }
            | Self::ApplyProviderSpec { host_id, .. }
            | Self::DeleteProviderSpec { host_id, .. } => Some(host_id),
        }
    }

    fn resource_op(&self) -> &'static str {
        match self {
            Self::HostPing { .. } => "host.ping",
            Self::HostInventory { .. } => "host.inventory",
            Self::ApplyComponentSpec { .. } => "component.apply",
            Self::DeleteComponentSpec { .. } => "component.delete",
            Self::ApplyProviderSpec { .. } => "provider.apply",
            Self::DeleteProviderSpec { .. } => "provider.delete",
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

/// What is wrong with a subject, as a value to `match` on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SubjectErrorKind {
    /// See [`SubjectError::Shape`].
    Shape,
    /// See [`SubjectError::Id`].
    Id,
}

impl SubjectError {
    /// The kind of problem.
    #[must_use]
    pub fn kind(&self) -> SubjectErrorKind {
        match self {
            Self::Shape { .. } => SubjectErrorKind::Shape,
            Self::Id(_) => SubjectErrorKind::Id,
        }
    }
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
                    ("provider", "apply") => Ok(Self::ApplyProviderSpec { lattice, host_id }),
                    ("provider", "delete") => Ok(Self::DeleteProviderSpec { lattice, host_id }),
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

/// The subject a host's status event is published on:
/// `wasmbus.status.v2alpha1.{lattice}.{component|provider|link}.{host_id}.{id}`.
///
/// ```
/// use lattice_ctl::{EventSource, EventSubject};
///
/// let subject = EventSubject {
///     lattice: "default".parse()?,
///     host_id: "host-a".parse()?,
///     source: EventSource::Component("web".parse()?),
/// };
/// assert_eq!(subject.to_string(), "wasmbus.status.v2alpha1.default.component.host-a.web");
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
            "{EVENT_PREFIX}.{}.{}.{}.{}",
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
        const EXPECTED: &str = "v2alpha1 status event";
        let shape = || SubjectError::Shape {
            subject: subject.to_owned(),
            expected: EXPECTED,
        };
        let [lattice, resource, host, id] = tokens(subject, EVENT_PREFIX, EXPECTED)?[..] else {
            return Err(shape());
        };
        let source = match resource {
            "component" => EventSource::Component(id.parse()?),
            "provider" => EventSource::Provider(id.parse()?),
            "link" => EventSource::Link(id.parse()?),
            _ => return Err(shape()),
        };
        Ok(Self {
            lattice: lattice.parse()?,
            host_id: host.parse()?,
            source,
        })
    }
}

/// A subscription filter over a host's status events; unset parts match anything.
///
/// ```
/// use lattice_ctl::EventFilter;
///
/// let lattice = "default".parse()?;
/// assert_eq!(EventFilter::all(&lattice).to_string(), "wasmbus.status.v2alpha1.default.*.*.*");
/// let one = EventFilter::component(&lattice, &"web".parse()?);
/// assert_eq!(one.to_string(), "wasmbus.status.v2alpha1.default.*.*.web");
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
        // Always the full status-subject shape (three tokens after the lattice), so a
        // scheduler's rollout events (two) never reach a status-event subscriber.
        write!(
            f,
            "{EVENT_PREFIX}.{}.*.{}.{}",
            self.lattice,
            self.host_id.as_ref().map_or("*", HostId::as_str),
            self.component_id.as_ref().map_or("*", ComponentId::as_str),
        )
    }
}

/// The subject a scheduler publishes a rollout's events on:
/// `wasmbus.status.v2alpha1.{lattice}.rollout.{app}`.
///
/// ```
/// use lattice_ctl::RolloutSubject;
///
/// let subject = RolloutSubject::new("default".parse()?, "shop".parse()?);
/// assert_eq!(subject.to_string(), "wasmbus.status.v2alpha1.default.rollout.shop");
/// assert_eq!(subject.to_string().parse::<RolloutSubject>().ok(), Some(subject));
/// assert_eq!(RolloutSubject::every_app(&"default".parse()?), "wasmbus.status.v2alpha1.default.rollout.*");
/// # Ok::<(), lattice_spec::IdError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct RolloutSubject {
    /// The lattice.
    pub lattice: LatticeName,
    /// The application rolled out.
    pub app: AppName,
}

impl RolloutSubject {
    /// The subject of `app`'s rollout events in `lattice`.
    #[must_use]
    pub fn new(lattice: LatticeName, app: AppName) -> Self {
        Self { lattice, app }
    }

    /// A subscription to the rollout events of every application of `lattice`.
    #[must_use]
    pub fn every_app(lattice: &LatticeName) -> String {
        format!("{EVENT_PREFIX}.{lattice}.rollout.*")
    }
}

impl fmt::Display for RolloutSubject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{EVENT_PREFIX}.{}.rollout.{}", self.lattice, self.app)
    }
}

impl FromStr for RolloutSubject {
    type Err = SubjectError;

    fn from_str(subject: &str) -> Result<Self, SubjectError> {
        const EXPECTED: &str = "v2alpha1 rollout event";
        match tokens(subject, EVENT_PREFIX, EXPECTED)?[..] {
            [lattice, "rollout", app] => Ok(Self::new(lattice.parse()?, app.parse()?)),
            _ => Err(SubjectError::Shape {
                subject: subject.to_owned(),
                expected: EXPECTED,
            }),
        }
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
            CtlSubject::ApplyProviderSpec {
                lattice: lattice(),
                host_id: host_id.clone(),
            },
            CtlSubject::DeleteProviderSpec {
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
        for bad in [
            "wasmbus.status.v2alpha1.default.host.h1.x",
            "wasmbus.status.v2alpha1.default.component.h1",
            "wasmbus.status.v2alpha1.default.component.h1.web.extra",
            "wasmbus.status.v2alpha1.default.rollout.shop",
            // The subjects of the first v2alpha1 releases.
            "wasmbus.evt.v2alpha1.default.component.status.h1.web",
        ] {
            assert!(bad.parse::<EventSubject>().is_err(), "{bad}");
        }
        for bad in [
            "wasmbus.status.v2alpha1.default.rollout",
            "wasmbus.status.v2alpha1.default.rollout.shop.eu",
            "wasmbus.status.v2alpha1.default.component.h1.web",
            "wasmbus.evt.v2alpha1.default.rollout.shop",
        ] {
            assert!(bad.parse::<RolloutSubject>().is_err(), "{bad}");
        }
    }

    #[test]
    fn event_subjects_round_trip_and_filters_match_them() {
        let host_id = HostId::new("h1").unwrap();
        let web = ComponentId::new("web").unwrap();
        let all = EventFilter::all(&lattice()).to_string();
        let of_web = EventFilter::component(&lattice(), &web)
            .on_host(&host_id)
            .to_string();
        assert_eq!(of_web, "wasmbus.status.v2alpha1.prod-eu.*.h1.web");
        for source in [
            EventSource::Component(web.clone()),
            EventSource::Provider(ProviderId::new("kv").unwrap()),
            EventSource::Link(web.clone()),
        ] {
            let subject = EventSubject {
                lattice: lattice(),
                host_id: host_id.clone(),
                source: source.clone(),
            };
            let text = subject.to_string();
            assert_eq!(text.parse::<EventSubject>().unwrap(), subject);
            assert!(nats_match(&all, &text), "{text}");
            assert_eq!(
                nats_match(&of_web, &text),
                !matches!(source, EventSource::Provider(_)),
                "{text}"
            );
        }
        let rollout = RolloutSubject::new(lattice(), AppName::new("shop").unwrap());
        let text = rollout.to_string();
        assert_eq!(text, "wasmbus.status.v2alpha1.prod-eu.rollout.shop");
        assert_eq!(text.parse::<RolloutSubject>().unwrap(), rollout);
        assert!(nats_match(&RolloutSubject::every_app(&lattice()), &text));
        assert!(
            !nats_match(&all, &text),
            "status subscribers get no rollout events"
        );
        assert!(!nats_match(
            &RolloutSubject::every_app(&lattice()),
            &EventSubject {
                lattice: lattice(),
                host_id,
                source: EventSource::Component(web),
            }
            .to_string()
        ));
    }

    /// The subscriptions 1.x consumers hold on events: wadm's stream (single- and
    /// multi-tenant), and `wash` / the 1.x control-interface client on one lattice.
    const V1_EVENT_SUBSCRIPTIONS: [&str; 3] = [
        "wasmbus.evt.*.>",
        "*.wasmbus.evt.*.>",
        "wasmbus.evt.v2alpha1.>",
    ];

    /// No subject or filter of ours is read by a 1.x event consumer (with any lattice name,
    /// including `v2alpha1`, which the first v2alpha1 event subjects were read as), and no
    /// 1.x event subject — whatever its lattice — is read as one of ours.
    #[test]
    fn a_1x_lattice_name_is_never_confused_with_our_events() {
        arbtest::arbtest(|u| {
            let lattice: LatticeName = u.arbitrary()?;
            let host: HostId = u.arbitrary()?;
            let component: ComponentId = u.arbitrary()?;
            let provider: ProviderId = u.arbitrary()?;
            let app: AppName = u.arbitrary()?;
            let ours = [
                EventSubject {
                    lattice: lattice.clone(),
                    host_id: host.clone(),
                    source: EventSource::Component(component.clone()),
                }
                .to_string(),
                EventSubject {
                    lattice: lattice.clone(),
                    host_id: host.clone(),
                    source: EventSource::Provider(provider),
                }
                .to_string(),
                EventSubject {
                    lattice: lattice.clone(),
                    host_id: host.clone(),
                    source: EventSource::Link(component.clone()),
                }
                .to_string(),
                RolloutSubject::new(lattice.clone(), app).to_string(),
                EventFilter::all(&lattice).to_string(),
                EventFilter::component(&lattice, &component)
                    .on_host(&host)
                    .to_string(),
                RolloutSubject::every_app(&lattice),
            ];
            for subject in &ours {
                for v1 in V1_EVENT_SUBSCRIPTIONS {
                    assert!(!nats_match(v1, subject), "{v1} would read {subject}");
                }
            }
            // A 1.x event of a lattice with any name, e.g. `status` or `v2alpha1`.
            let event: ComponentId = u.arbitrary()?;
            for v1_lattice in [lattice.as_str(), "v2alpha1", "status", "wasmbus"] {
                let v1 = format!("wasmbus.evt.{v1_lattice}.{event}");
                assert!(v1.parse::<EventSubject>().is_err(), "{v1}");
                assert!(v1.parse::<RolloutSubject>().is_err(), "{v1}");
                for filter in &ours[4..] {
                    assert!(!nats_match(filter, &v1), "{filter} would read {v1}");
                }
            }
            Ok(())
        })
        .budget_ms(500);
    }

    #[test]
    fn the_subject_matcher_of_these_tests_follows_nats() {
        assert!(nats_match(
            "wasmbus.evt.*.>",
            "wasmbus.evt.v2alpha1.default.x"
        ));
        assert!(nats_match(
            "wasmbus.evt.*.>",
            "wasmbus.evt.default.host_heartbeat"
        ));
        assert!(!nats_match("wasmbus.evt.*.>", "wasmbus.evt.default"));
        assert!(nats_match("a.*.c", "a.b.c"));
        assert!(!nats_match("a.*.c", "a.b.c.d"));
        assert!(!nats_match("a.*", "a"));
    }

    /// Whether the NATS subscription `pattern` receives `subject` (`*`: one token, `>`: one
    /// or more trailing tokens). A filter given as `subject` matches when it is covered.
    fn nats_match(pattern: &str, subject: &str) -> bool {
        let mut subject = subject.split('.');
        for token in pattern.split('.') {
            match (token, subject.next()) {
                (">", Some(_)) => return true,
                (_, None) => return false,
                ("*", Some(_)) => {}
                (literal, Some(other)) if literal == other || other == "*" => {}
                _ => return false,
            }
        }
        subject.next().is_none()
    }
}
